"""The Stripe balance, automatic payouts and disputes.

Balance: ``GET /v1/balance`` sums the nets of the balance transactions: ``available`` once their
``available_on`` has passed, ``pending`` before. A payout debits ``available`` when it is created.

Payouts are automatic, as on most accounts: ``POST /_fake/payouts/run`` (see ``app.py``) sweeps every
available balance transaction not yet paid out into one payout (``payout.created``), whose own balance
transaction (type ``payout``) takes the amount out. ``GET /v1/balance_transactions?payout=po_…`` lists
what it swept plus its own transaction, as Stripe does for automatic payouts. ``/_fake/payouts/{id}/status``
moves it on: ``in_transit`` → ``paid`` (``payout.paid``), or ``failed`` (``payout.failed``; a
``payout_failure`` balance transaction returns the money, even after ``paid``, as a bank return does).

Disputes: ``POST /_fake/disputes`` opens one on a charge (``charge.dispute.created``); Stripe withdraws
the disputed amount plus a 15.00 dispute fee at once (an ``adjustment`` balance transaction, reporting
category ``dispute``; ``charge.dispute.funds_withdrawn``). ``/_fake/disputes/{id}/close`` with
``won`` returns the amount (category ``dispute_reversal``; ``charge.dispute.funds_reinstated``; the fee
is not returned) or ``lost`` keeps it; both end with ``charge.dispute.closed``.
"""

from __future__ import annotations

import weakref
from collections import defaultdict

from ml_connector.fakestripe import objects
from ml_connector.fakestripe.context import Call
from ml_connector.fakestripe.errors import invalid, state_error
from ml_connector.fakestripe.money import available_on, settle
from ml_connector.fakestripe.params import reject_unknown
from ml_connector.fakestripe.resources import list_matching
from ml_connector.fakestripe.store import Obj, Store, previous_attributes

DISPUTE_FEE = 1500
PAYOUT_DAYS = 2
_DAY = 86400
_OPEN_DISPUTE = "needs_response"

# balance transaction id -> payout id, per store: which payout swept which transaction. Kept beside the
# store (not in the objects) because it is not a field of Stripe's balance transaction JSON.
_SWEPT: weakref.WeakKeyDictionary[Store, dict[str, str]] = weakref.WeakKeyDictionary()


def swept(store: Store) -> dict[str, str]:
    with store.lock:
        mapping = _SWEPT.setdefault(store, {})
        known = {txn["id"] for txn in store.all("balance_transaction", False)} | {
            txn["id"] for txn in store.all("balance_transaction", True)
        }
        for txn_id in [t for t in mapping if t not in known]:  # forgotten by /_fake/reset
            del mapping[txn_id]
        return mapping


def _txn(store: Store, livemode: bool, *, amount: int, fee: int, currency: str, source: str, txn_type: str,
         category: str, description: str, available: int | None = None, fee_description: str | None = None) -> Obj:
    created = store.now()
    settled, settled_in, rate = settle(amount, currency)  # a dispute of a eur charge moves usd
    txn = objects.balance_transaction(
        store.new_id("balance_transaction"), created, amount=settled, fee=fee, currency=settled_in,
        description=description, source=source, txn_type=txn_type,
        available_on=available if available is not None else available_on(created), livemode=livemode,
        exchange_rate=rate,
    )
    txn["reporting_category"] = category
    if fee and fee_description:
        txn["fee_details"][0]["description"] = fee_description
    return store.add(txn)


# -- balance --------------------------------------------------------------------------------------


def balance_of(store: Store, livemode: bool) -> Obj:
    with store.lock:
        now = store.now()
        available: dict[str, int] = defaultdict(int)
        pending: dict[str, int] = defaultdict(int)
        for txn in store.all("balance_transaction", livemode):
            bucket = available if txn["available_on"] <= now else pending
            bucket[txn["currency"]] += txn["net"]
        currencies = sorted(set(available) | set(pending)) or ["usd"]

        def entries(bucket: dict[str, int]) -> list[Obj]:
            return [{"amount": bucket[c], "currency": c, "source_types": {"card": bucket[c]}} for c in currencies]

        return {
            "object": "balance",
            "available": entries(available),
            "connect_reserved": [{"amount": 0, "currency": c} for c in currencies],
            "instant_available": None,
            "issuing": None,
            "livemode": livemode,
            "pending": entries(pending),
            "refund_and_dispute_prefunding": None,
        }


def retrieve_balance(call: Call) -> Obj:
    reject_unknown(call.params, ())
    return balance_of(call.store, call.livemode)


# -- payouts --------------------------------------------------------------------------------------


def _payout(object_id: str, created: int, livemode: bool, *, amount: int, currency: str, txn_id: str) -> Obj:
    return {
        "id": object_id,
        "object": "payout",
        "amount": amount,
        "application_fee": None,
        "application_fee_amount": None,
        "arrival_date": (created // _DAY + PAYOUT_DAYS) * _DAY,
        "automatic": True,
        "balance_transaction": txn_id,
        "created": created,
        "currency": currency,
        "description": "STRIPE PAYOUT",
        "destination": None,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "livemode": livemode,
        "metadata": {},
        "method": "standard",
        "original_payout": None,
        "payout_method": None,
        "reconciliation_status": "completed",
        "reversed_by": None,
        "source_type": "card",
        "statement_descriptor": None,
        "status": "pending",
        "trace_id": {"status": "pending", "value": None},
        "type": "bank_account",
    }


def run_payout(store: Store, livemode: bool, currency: str = "usd") -> Obj:
    """An automatic payout of everything available in ``currency``; a 400 when nothing is."""
    with store.lock:
        now = store.now()
        mapping = swept(store)
        due = [
            txn for txn in store.all("balance_transaction", livemode)
            if txn["currency"] == currency and txn["available_on"] <= now and txn["id"] not in mapping
            and txn["type"] not in ("payout", "payout_failure")
        ]
        amount = sum(txn["net"] for txn in due)
        if amount <= 0:
            raise invalid(f"There is no available {currency} balance to pay out.", code="balance_insufficient")
        payout_id = store.new_id("payout")
        own = _txn(store, livemode, amount=-amount, fee=0, currency=currency, source=payout_id, txn_type="payout",
                   category="payout", description="STRIPE PAYOUT", available=now)
        for txn in due:
            mapping[txn["id"]] = payout_id
        mapping[own["id"]] = payout_id
        payout = store.add(_payout(payout_id, now, livemode, amount=amount, currency=currency, txn_id=own["id"]))
        store.record_event("payout.created", payout, None)
        return store.present(payout)


_NEXT = {"pending": {"in_transit", "paid", "failed", "canceled"}, "in_transit": {"paid", "failed"},
         "paid": {"failed"}}


def set_payout_status(store: Store, livemode: bool, payout_id: str, status: str) -> Obj:
    with store.lock:
        payout = store.get("payout", payout_id, livemode)
        if status not in _NEXT.get(payout["status"], set()):
            raise state_error(f"A payout with status {payout['status']} cannot become {status}.")
        before = store.present(payout)
        payout["status"] = status
        if status in ("failed", "canceled"):
            back = _txn(store, livemode, amount=payout["amount"], fee=0, currency=payout["currency"],
                        source=payout_id, txn_type="payout_failure" if status == "failed" else "payout_cancel",
                        category="payout_reversal", description="STRIPE PAYOUT RETURNED", available=store.now())
            payout["failure_balance_transaction"] = back["id"]
            if status == "failed":
                payout.update(failure_code="account_closed",
                              failure_message="The bank account has been closed.")
        if status == "paid":
            payout["trace_id"] = {"status": "supported", "value": f"TRACE{payout_id[-8:].upper()}"}
        store.record_event("payout.updated", payout, None, previous_attributes(before, store.present(payout)))
        if status in ("paid", "failed", "canceled"):
            store.record_event(f"payout.{status}", payout, None)
        return store.present(payout)


def list_payouts(call: Call) -> Obj:
    return list_matching(call, "payout", "/v1/payouts", equal=("status",), allowed=("arrival_date", "destination"))


def balance_transactions_of_payout(call: Call, payout_id: str, items: list[Obj]) -> list[Obj]:
    """Filter for ``?payout=``: only automatic payouts can be listed this way, as in Stripe."""
    payout = call.store.get("payout", payout_id, call.livemode, param="payout")
    if not payout["automatic"]:
        raise invalid("Balance transaction history can only be filtered on automatic transfers.",
                      param="payout")
    mapping = swept(call.store)
    return [txn for txn in items if mapping.get(txn["id"]) == payout_id]


# -- disputes -------------------------------------------------------------------------------------


def _dispute(object_id: str, created: int, livemode: bool, *, ch: Obj, reason: str) -> Obj:
    return {
        "id": object_id,
        "object": "dispute",
        "amount": ch["amount"],
        "balance_transactions": [],
        "charge": ch["id"],
        "created": created,
        "currency": ch["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {name: None for name in (
            "access_activity_log", "billing_address", "cancellation_policy", "customer_email_address",
            "customer_name", "product_description", "receipt", "refund_policy", "service_date",
            "uncategorized_text")},
        "evidence_details": {"due_by": created + 7 * _DAY, "enhanced_eligibility": {}, "has_evidence": False,
                             "past_due": False, "submission_count": 0},
        "is_charge_refundable": False,
        "livemode": livemode,
        "metadata": {},
        "network_reason_code": "10.4",
        "payment_intent": ch["payment_intent"],
        "payment_method_details": {"card": {"brand": "visa", "case_type": "chargeback",
                                            "network_reason_code": "10.4"}, "type": "card"},
        "reason": reason,
        "status": _OPEN_DISPUTE,
    }


def open_dispute(store: Store, livemode: bool, charge_id: str, reason: str = "fraudulent") -> Obj:
    with store.lock:
        ch = store.get("charge", charge_id, livemode, param="charge")
        if ch["status"] != "succeeded":
            raise invalid(f"Charge {charge_id} has not succeeded and cannot be disputed.", param="charge")
        if ch["disputed"]:
            raise invalid(f"Charge {charge_id} is already disputed.", param="charge")
        dispute = store.add(_dispute(store.new_id("dispute"), store.now(), livemode, ch=ch, reason=reason))
        ch["disputed"] = True
        store.record_event("charge.dispute.created", dispute, None)
        txn = _txn(store, livemode, amount=-dispute["amount"], fee=DISPUTE_FEE, currency=dispute["currency"],
                   source=dispute["id"], txn_type="adjustment", category="dispute",
                   description=f"Chargeback withdrawal for {charge_id}", fee_description="Dispute fee")
        dispute["balance_transactions"].append(store.present(txn))
        store.record_event("charge.dispute.funds_withdrawn", dispute, None)
        return store.present(dispute)


def close_dispute(store: Store, livemode: bool, dispute_id: str, outcome: str) -> Obj:
    if outcome not in ("won", "lost"):
        raise invalid("outcome must be won or lost.", param="outcome")
    with store.lock:
        dispute = store.get("dispute", dispute_id, livemode)
        if dispute["status"] in ("won", "lost"):
            raise state_error(f"Dispute {dispute_id} is already closed ({dispute['status']}).")
        before = store.present(dispute)
        dispute["status"] = outcome
        if outcome == "won":
            txn = _txn(store, livemode, amount=dispute["amount"], fee=0, currency=dispute["currency"],
                       source=dispute_id, txn_type="adjustment", category="dispute_reversal",
                       description=f"Chargeback reversal for {dispute['charge']}")
            dispute["balance_transactions"].append(store.present(txn))
            store.record_event("charge.dispute.funds_reinstated", dispute, None)
        store.record_event("charge.dispute.updated", dispute, None,
                           previous_attributes(before, store.present(dispute)))
        store.record_event("charge.dispute.closed", dispute, None)
        return store.present(dispute)


def list_disputes(call: Call) -> Obj:
    return list_matching(call, "dispute", "/v1/disputes", equal=("charge",), allowed=("payment_intent",))


