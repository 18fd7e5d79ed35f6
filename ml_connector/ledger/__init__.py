"""The accountant's logic for clearing-account mode: which QuickBooks postings Stripe's money becomes,
and the reconciliation that proves the books follow Stripe. Pure functions over plain values, no I/O;
the I/O that feeds them (Stripe, our database) lives in :mod:`.io` and nothing here imports it.

- :mod:`.model` — Stripe's balance transactions, payouts and disputes as frozen values, plus the
  adapter from the SDK's objects; the bookkeeping policy (accounts, fee mode, lost-dispute handling).
- :mod:`.ids` — deterministic ExternalGUID / RefNumber / memo for every posting (no double posting).
- :mod:`.postings` — ``plan(...)``: balance transactions in, postings (and refusals) out.
- :mod:`.requests` — a posting as qbXML request fragments.
- :mod:`.reconcile` and :mod:`.render` — the report rows and their text, CSV and JSON forms.
- :mod:`.io` — the I/O: the Stripe reader, the planner's inputs, the reconciliation report of a company.
"""
