"""Pure decisions of the customer and invoice sync: no I/O, no clocks, no Temporal.

* ``customers`` - what a QuickBooks customer should look like in Stripe, and whether anything must be sent;
* ``link_field`` - where the Stripe customer id lives on the QuickBooks customer (custom field or Notes);
* ``invoices`` - what a QuickBooks invoice should look like in Stripe, and which transition it needs;
* ``stripe_customers`` - what a Stripe-born customer should look like in QuickBooks (names, 3100, charset);
* ``watermark`` - the modified-since window of each poll.

Activities and workflows call these; tests exercise them directly.
"""
