"""Sans-IO qbXML 13.0 for QuickBooks Desktop: pure functions that build requests and read responses.

Nothing here touches the network, a database or Temporal. Modules:

* ``envelope`` - message sets: wrap fragments with requestIDs, split responses, iterator Continue;
* ``errors`` - status codes (``classify``) and the exception hierarchy;
* ``text`` / ``values`` - Windows-1252 text rules, money, dates and QuickBooks-local date-times;
* ``host``, ``customers``, ``invoices``, ``payments``, ``dataext``, ``accounts`` - one module per entity;
* ``nodes`` - the element building/reading helpers those modules share.
"""
