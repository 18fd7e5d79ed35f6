"""The ledger's I/O: what the pure ledger modules plan from and report on, read from Stripe and our database.

Kept apart from the pure modules one level up so that ``ml_connector.ledger`` stays a package of functions
over plain values, and so that neither the Stripe side (``ml_connector.stripe``) nor the tables
(``ml_connector.storage``) import the ledger.

- :mod:`.stripe_reader` — balance transactions, payouts and disputes read from the Stripe API.
- :mod:`.inputs` — the planner's other inputs (charge links, payouts, disputes), shared by the ledger
  activities and the reconciliation report so both plan from exactly the same values.
- :mod:`.store` — the ledger's rows in our database: charge links and the postings made.
- :mod:`.report` — the reconciliation report of one company (``ml-connector reconcile``, ``/reconcile``).
"""
