"""The words a payment leaves behind: its workflow status, and the actions and outcomes of its audit trail.

They are read by people (the Web UI's ``PaymentStatus`` search attribute, the status page, ``ml-connector
replay``), by the metrics collector and by the next run of the same payment (``activities/audit.py`` reads
the posting actions back to know whether the payment is in QuickBooks already). So each value is written
once here, and never changes: an audit row written last year must still mean what it meant.
"""

from __future__ import annotations

from enum import StrEnum


class PaymentStatus(StrEnum):
    """Where a payment's workflow stands: its ``status`` query, its ``PaymentStatus`` search attribute (the
    final ones) and its result."""

    RECEIVED = "received"
    AWAITING_EXCHANGE_RATE = "awaiting exchange rate"
    READING_INVOICE = "reading invoice"
    POSTING = "posting"
    RETRYING = "retrying"
    POSTED = "posted"
    HELD = "held"
    FAILED = "failed"
    SKIPPED = "skipped"
    REFUSED = "refused"
    HANDED_OVER = "handed_over"


class Action(StrEnum):
    """What an audit row says happened to a payment (``AuditEntry.action``)."""

    # A posting attempt and how it ended; the audit trail is the payment's memory across runs.
    POSTING = "payment.posting"
    POSTED = "payment.posted"
    UNAPPLIED = "payment.unapplied"
    FOUND = "payment.found_in_quickbooks"
    POST_FAILED = "payment.post_failed"
    # The queue could not establish whether a ReceivePaymentAdd ran (its answer was lost): like a bare POSTING,
    # it leaves the attempt open, so the next round (or run) searches QuickBooks before posting again.
    UNCERTAIN = "payment.uncertain"
    # Why a payment was not (yet) booked.
    IGNORED = "payment.ignored"
    REFUSED = "payment.refused"
    HELD = "payment.held"
    FAILED = "payment.failed"
    AWAITING_EXCHANGE_RATE = "payment.awaiting_exchange_rate"
    EXCHANGE_RATE_MISSING = "payment.exchange_rate_missing"
    STRIPE_UNREACHABLE = "payment.stripe_unreachable"
    INVOICE_READ_FAILED = "payment.invoice_read_failed"
    DUPLICATE_CHECK_FAILED = "payment.duplicate_check_failed"
    SETUP_FAILED = "payment.setup_failed"
    CUSTOMER_CREATED = "customer.created"
    CUSTOMER_CREATE_FAILED = "customer.create_failed"
    # Posted, with something a person should look at.
    BALANCE_CHECK = "payment.balance_check"
    WRITEBACK_FAILED = "payment.writeback_failed"


class Outcome(StrEnum):
    """How the audited action turned out (``AuditEntry.outcome``)."""

    OK = "ok"
    PENDING = "pending"
    FAILED = "failed"
    HELD = "held"
    SKIPPED = "skipped"
    REFUSED = "refused"


# Actions that close a posting attempt: after one of these the attempt's outcome is known.
SETTLING = (Action.POSTED, Action.UNAPPLIED, Action.FOUND, Action.POST_FAILED)
IN_QUICKBOOKS = (Action.POSTED, Action.UNAPPLIED, Action.FOUND)
