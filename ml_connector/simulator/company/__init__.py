"""The simulated QuickBooks company file: lists, transactions, and the bookkeeping rules QuickBooks enforces.

This module knows nothing about qbXML. It is the "database" behind the request processor
(`processor.py`), kept separate so tests and the seeder can build and inspect a company directly
(`company.customers[list_id].balance`) and so the rules (unique names, balances, payment application)
live in one place instead of being smeared across XML handling.

The package is split by entity like the request processor: `records.py` (the records and status
errors), `core.py` (state, clock, identities, names), `customers.py`, `lists.py` (accounts, payment methods,
items), `transactions.py` (invoices, payments) and `persistence.py` (JSON); `CompanyFile` combines them.
The package exports `CompanyFile` and the three names its callers outside the simulator use with it
(`NewInvoiceLine`, `NewApplication`, `StatusError`); the simulator's own modules import records, errors and
helpers from `records.py`, where they are defined.

Rules are reported by raising `StatusError(code, message)`, which the processor turns into the
statusCode/statusMessage of one `*Rs` -- exactly how QuickBooks reports a business-rule failure (the
request processor itself keeps running).

Identity and time behave like QuickBooks Desktop:
- ListID / TxnID are ``<hex counter>-<unix seconds>``; lists share one counter starting at 0x80000001
  (so an id never names two objects, which the fault switches rely on), transactions and their lines share
  another, written without padding as QuickBooks does (``1A2B-1710000000``).
- EditSequence is a numeric string (unix seconds of the change), forced to grow on every modification so
  two edits within one second still invalidate older copies.
- TimeCreated/TimeModified are written in the company's local time zone with the *standard-time* offset,
  even in summer (QuickBooks' DST quirk, see PROTOCOL.md section 10); date filters compare wall-clock times.
- The clock is injectable so tests and the seeder are deterministic.
"""

from __future__ import annotations

from ml_connector.simulator.company.customers import CustomerBook
from ml_connector.simulator.company.persistence import Persistence
from ml_connector.simulator.company.records import NewApplication, NewInvoiceLine, StatusError
from ml_connector.simulator.company.transactions import TransactionBook

__all__ = ["CompanyFile", "NewApplication", "NewInvoiceLine", "StatusError"]


class CompanyFile(CustomerBook, TransactionBook, Persistence):
    """One QuickBooks company file. Not thread-safe by itself: callers hold `lock` (the processor does)."""
