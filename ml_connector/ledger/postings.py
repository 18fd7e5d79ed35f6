"""Which QuickBooks postings Stripe's balance transactions become, in clearing-account mode.

The clearing account mirrors the Stripe balance: every balance transaction moves it by exactly its
``net``, and every posting here says by how much (``clearing_amount``), so at any time::

    clearing balance == Stripe balance (available + pending) + payouts created but not yet paid

The scheme, one balance transaction at a time (``reporting_category``):

============================  ===============================================================
charge                        the payment (ReceivePaymentAdd, made by the payment workflow) is
                              deposited to the clearing account for the gross amount; the fee is a
                              journal entry *Stripe fees* ← clearing, one per charge or one per
                              payout (``LedgerPolicy.fee_mode``)
refund                        a credit memo on the refund item, paid out of clearing by a card
                              refund (ARRefundCreditCard) — see :mod:`ml_connector.qbxml.credits`
dispute (funds withdrawn)     journal entry: A/R for the customer (the chargeback makes the customer
                              owe the money again) and the dispute fee ← clearing
dispute_reversal (won)        journal entry: clearing ← A/R for the customer (and a returned fee)
lost dispute                  no money moves at Stripe; the customer's A/R stays open (``reopen``)
                              or is written off to ``write_off_account`` (``write_off``)
payout                        one deposit into the bank *from* clearing for exactly the payout,
                              posted once the payout is paid, so the bank feed matches one line
payout_reversal (failed)      when the payout had been paid: journal entry clearing ← bank
anything else (adjustments)   journal entry between clearing and ``adjustments_account``
============================  ===============================================================

Postings are keyed by the Stripe ids they post (:mod:`.ids`), so planning twice gives the same keys
and the workflow posts a key only once. Money the clearing account cannot hold (a balance in another
currency than the home currency; a foreign-currency payment while multicurrency is off) is refused
with the reason the audit entry shows, never converted silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from ml_connector.ledger import ids
from ml_connector.ledger.model import (
    CHARGE,
    DISPUTE,
    DISPUTE_REVERSAL,
    FEE,
    PAYOUT,
    PAYOUT_REVERSAL,
    REFUND,
    BalanceTxn,
    ChargeContext,
    Dispute,
    LedgerPolicy,
    Payout,
    money,
)
from ml_connector.qbxml.credits import ARRefundCreditCardAdd, CreditMemoAdd, RefundAppliedTo
from ml_connector.qbxml.deposits import DepositAdd, DepositLine
from ml_connector.qbxml.journal import JournalEntryAdd, JournalLine

PostingKind = Literal[
    "payment", "fee", "payout_fees", "refund", "dispute", "dispute_won", "dispute_lost", "payout",
    "payout_failed", "adjustment",
]
SkipReason = Literal["refused", "waiting", "in_transit", "nets_out"]

ZERO = Decimal("0.00")


@dataclass(frozen=True, kw_only=True)
class PaymentDeposit:
    """What the payment workflow records for a charge: a ReceivePayment deposited to the clearing
    account. ``amount`` is in ``currency`` (the customer's, when multicurrency is on); ``exchange_rate``
    converts it to the home currency."""

    deposit_to_account_name: str
    amount: Decimal
    currency: str
    exchange_rate: Decimal | None
    customer_list_id: str | None
    invoice_txn_id: str | None


@dataclass(frozen=True, kw_only=True)
class RefundEntry:
    """A credit memo, then a card refund of it out of the clearing account (needs the memo's TxnID)."""

    credit_memo: CreditMemoAdd
    refund_from_account_name: str
    payment_method_name: str | None

    def refund(self, credit_memo_txn_id: str) -> ARRefundCreditCardAdd:
        memo = self.credit_memo
        return ARRefundCreditCardAdd(
            **memo.posting_fields(),
            customer_list_id=memo.customer_list_id,
            refund_from_account_name=self.refund_from_account_name,
            ar_account_name=memo.ar_account_name,
            payment_method_name=self.payment_method_name,
            applied=(RefundAppliedTo(credit_memo_txn_id, memo.amount),),
        )


Entry = JournalEntryAdd | DepositAdd | RefundEntry | PaymentDeposit


@dataclass(frozen=True, kw_only=True)
class Posting:
    key: str
    kind: PostingKind
    balance_txn_ids: tuple[str, ...]
    source_id: str
    txn_date: date
    clearing_amount: Decimal
    """Signed effect on the clearing account in the home currency (what Stripe's balance moved by)."""
    entry: Entry

    @property
    def external_guid(self) -> str:
        return ids.external_guid(self.key)

    @property
    def ref_number(self) -> str:
        return ids.ref_number(self.key)


@dataclass(frozen=True)
class Skipped:
    """A balance transaction that is (not yet) in QuickBooks, and why."""

    balance_txn_id: str
    reason: SkipReason
    message: str
    amount: Decimal  # its net, home currency when it is in the home currency


@dataclass(frozen=True)
class LedgerPlan:
    postings: tuple[Posting, ...]
    skipped: tuple[Skipped, ...] = field(default=())

    def by_key(self) -> dict[str, Posting]:
        return {p.key: p for p in self.postings}

    def clearing_total(self) -> Decimal:
        return sum((p.clearing_amount for p in self.postings), ZERO)


# ----------------------------------------------------------------------------------- helpers


def _entry(
    key: str,
    txn_date: date,
    memo: str,
    components: Iterable[tuple[str, Decimal, str | None]],
) -> JournalEntryAdd:
    """A balanced entry from signed debit amounts per (account, entity): positive debits, negative credits."""
    merged: dict[tuple[str, str | None], Decimal] = {}
    for account, debit, entity in components:
        merged[(account, entity)] = merged.get((account, entity), ZERO) + debit
    debits = tuple(
        JournalLine(account_name=a, amount=v, entity_list_id=e, memo=memo) for (a, e), v in merged.items() if v > 0
    )
    credits = tuple(
        JournalLine(account_name=a, amount=-v, entity_list_id=e, memo=memo) for (a, e), v in merged.items() if v < 0
    )
    return JournalEntryAdd(
        debits=debits, credits=credits, txn_date=txn_date, ref_number=ids.ref_number(key), memo=memo,
        external_guid=ids.external_guid(key),
    )


class _Planner:
    def __init__(
        self,
        policy: LedgerPolicy,
        charges: Mapping[str, ChargeContext],
        payouts: Mapping[str, Payout],
    ) -> None:
        self.policy = policy
        self.charges = charges
        self.payouts = payouts
        self.postings: list[Posting] = []
        self.skipped: list[Skipped] = []
        self.payout_fees: dict[str, list[BalanceTxn]] = {}

    @property
    def home(self) -> str:
        return self.policy.home_currency.lower()

    def amount(self, minor: int) -> Decimal:
        return money(minor, self.home)

    def skip(self, txn: BalanceTxn, reason: SkipReason, message: str) -> None:
        amount = self.amount(txn.net) if txn.currency == self.home else ZERO
        self.skipped.append(Skipped(txn.id, reason, message, amount))

    def post(
        self, kind: PostingKind, stripe_id: str, txn_ids: tuple[str, ...], txn_date: date, clearing: Decimal,
        entry: Entry,
    ) -> None:
        self.postings.append(
            Posting(
                key=ids.posting_key(kind, stripe_id), kind=kind, balance_txn_ids=txn_ids, source_id=stripe_id,
                txn_date=txn_date, clearing_amount=clearing, entry=entry,
            )
        )

    def foreign(self, txn: BalanceTxn) -> tuple[str, int] | None:
        """(currency, minor amount) the customer paid in, when it is not the home currency."""
        currency = (txn.presentment_currency or txn.currency).lower()
        if currency == self.home:
            return None
        return currency, abs(txn.presentment_amount if txn.presentment_amount is not None else txn.amount)

    # -- one balance transaction ---------------------------------------------------------------------

    def plan(self, txn: BalanceTxn) -> None:
        if txn.currency != self.home:
            self.skip(
                txn, "refused",
                f"{txn.id}: the Stripe balance is in {txn.currency.upper()} but the QuickBooks home currency is "
                f"{self.home.upper()}; the clearing account only holds home-currency money",
            )
            return
        category = txn.reporting_category
        if category == CHARGE:
            self.charge(txn)
        elif category == REFUND:
            self.refund(txn)
        elif category in (DISPUTE, DISPUTE_REVERSAL):
            self.dispute(txn, won=category == DISPUTE_REVERSAL)
        elif category == PAYOUT:
            self.payout(txn)
        elif category == PAYOUT_REVERSAL:
            self.payout_reversal(txn)
        elif category == FEE:
            self.standalone_fee(txn)
        else:
            self.adjustment(txn)

    def charge(self, txn: BalanceTxn) -> None:
        foreign = self.foreign(txn)
        rate: Decimal | None = None
        currency, paid = self.home, self.amount(txn.amount)
        if foreign is not None:
            if not self.policy.multicurrency:
                self.skip(
                    txn, "refused",
                    f"{txn.id}: payment {txn.source_id} is in {foreign[0].upper()}, not the home currency "
                    f"{self.home.upper()}, and QuickBooks multicurrency is off",
                )
                return
            if txn.exchange_rate is None:
                self.skip(txn, "refused", f"{txn.id}: a {foreign[0].upper()} payment without an exchange rate")
                return
            currency, paid, rate = foreign[0], money(foreign[1], foreign[0]), txn.exchange_rate
        charge_id = txn.charge_id or txn.source_id or txn.id
        context = self.charges.get(charge_id)
        self.post(
            "payment", charge_id, (txn.id,), txn.txn_date, self.amount(txn.amount),
            PaymentDeposit(
                deposit_to_account_name=self.policy.clearing_account, amount=paid, currency=currency,
                exchange_rate=rate, customer_list_id=context.customer_list_id if context else None,
                invoice_txn_id=context.invoice_txn_id if context else None,
            ),
        )
        self.fee(txn, charge_id)

    def fee(self, txn: BalanceTxn, what: str) -> None:
        if txn.fee == 0:
            return
        if self.policy.fee_mode == "per_payout" and txn.reporting_category == CHARGE:
            if txn.payout_id is None:
                self.skipped.append(
                    Skipped(txn.id, "waiting", f"{txn.id}: fee of {what} waits for its payout", ZERO)
                )
            else:
                self.payout_fees.setdefault(txn.payout_id, []).append(txn)
            return
        key = ids.posting_key("fee", txn.id)
        fee = self.amount(txn.fee)
        memo = f"Stripe fee {txn.id} for {what}"
        entry = _entry(key, txn.txn_date, memo, [
            (self.policy.fees_account, fee, None), (self.policy.clearing_account, -fee, None),
        ])
        self.post("fee", txn.id, (txn.id,), txn.txn_date, -fee, entry)

    def context_for(self, txn: BalanceTxn) -> ChargeContext | None:
        context = self.charges.get(txn.charge_id or "")
        if context is None:
            self.skip(
                txn, "waiting",
                f"{txn.id}: charge {txn.charge_id or '(unknown)'} is not recorded in QuickBooks yet",
            )
        return context

    def refund(self, txn: BalanceTxn) -> None:
        context = self.context_for(txn)
        if context is None:
            return
        refund_id = txn.source_id or txn.id
        key = ids.posting_key("refund", refund_id)
        home_amount = self.amount(-txn.amount)
        foreign = self.foreign(txn)
        if foreign is not None and not self.policy.multicurrency:
            self.skip(txn, "refused", f"{txn.id}: refund in {foreign[0].upper()} while multicurrency is off")
            return
        amount = money(foreign[1], foreign[0]) if foreign else home_amount
        invoice = f" of invoice {context.invoice_ref_number}" if context.invoice_ref_number else ""
        memo = f"Stripe refund {refund_id} of charge {context.charge_id}{invoice}"
        credit_memo = CreditMemoAdd(
            customer_list_id=context.customer_list_id, item_name=self.policy.refund_item, amount=amount,
            description=memo, ar_account_name=self.policy.ar_account, txn_date=txn.txn_date,
            ref_number=ids.ref_number(key), memo=memo,
            exchange_rate=txn.exchange_rate if foreign else None, external_guid=ids.external_guid(key),
        )
        entry = RefundEntry(
            credit_memo=credit_memo, refund_from_account_name=self.policy.clearing_account,
            payment_method_name=self.policy.payment_method,
        )
        self.post("refund", refund_id, (txn.id,), txn.txn_date, -home_amount, entry)
        self.fee(txn, refund_id)

    def dispute(self, txn: BalanceTxn, *, won: bool) -> None:
        if self.foreign(txn) is not None:
            self.skip(txn, "refused", f"{txn.id}: dispute of a foreign-currency charge needs a bookkeeper")
            return
        context = self.context_for(txn)
        if context is None:
            return
        kind: PostingKind = "dispute_won" if won else "dispute"
        key = ids.posting_key(kind, txn.id)
        what = "reinstated (dispute won)" if won else "withdrawn by dispute"
        memo = f"Stripe {txn.source_id or txn.id}: funds {what} on charge {context.charge_id} ({txn.id})"
        entry = _entry(key, txn.txn_date, memo, [
            (self.policy.clearing_account, self.amount(txn.net), None),
            (self.policy.ar_account, -self.amount(txn.amount), context.customer_list_id),
            (self.policy.fees_account, self.amount(txn.fee), None),
        ])
        self.post(kind, txn.id, (txn.id,), txn.txn_date, self.amount(txn.net), entry)

    def payout(self, txn: BalanceTxn) -> None:
        payout_id = txn.source_id or txn.id
        payout = self.payouts.get(payout_id)
        if payout is None or not payout.deposit_posted:
            status = payout.status if payout else "unknown"
            reason: SkipReason = "nets_out" if payout and payout.status in ("failed", "canceled") else "in_transit"
            self.skip(txn, reason, f"{txn.id}: payout {payout_id} is {status}; nothing reached the bank")
            return
        amount = self.amount(-txn.amount)
        key = ids.posting_key("payout", payout_id)
        memo = f"Stripe payout {payout_id}"
        deposit = DepositAdd(
            deposit_to_account_name=self.policy.bank_account, txn_date=payout.arrival_date, memo=memo,
            external_guid=ids.external_guid(key),
            lines=(DepositLine(account_name=self.policy.clearing_account, amount=amount, memo=memo),),
        )
        self.post("payout", payout_id, (txn.id,), payout.arrival_date, -amount, deposit)
        self.fee(txn, payout_id)

    def payout_reversal(self, txn: BalanceTxn) -> None:
        payout_id = txn.source_id or txn.id
        payout = self.payouts.get(payout_id)
        if payout is None or not payout.was_paid:
            self.skip(txn, "nets_out", f"{txn.id}: payout {payout_id} failed before it was paid")
            return
        key = ids.posting_key("payout_failed", payout_id)
        memo = f"Stripe payout {payout_id} failed; returned to the Stripe balance ({txn.id})"
        amount = self.amount(txn.amount)
        entry = _entry(key, txn.txn_date, memo, [
            (self.policy.clearing_account, amount, None), (self.policy.bank_account, -amount, None),
        ])
        self.post("payout_failed", payout_id, (txn.id,), txn.txn_date, amount, entry)
        self.fee(txn, payout_id)

    def standalone_fee(self, txn: BalanceTxn) -> None:
        key = ids.posting_key("fee", txn.id)
        memo = f"Stripe {txn.description or txn.type} ({txn.id})"
        entry = _entry(key, txn.txn_date, memo, [
            (self.policy.clearing_account, self.amount(txn.net), None),
            (self.policy.fees_account, -self.amount(txn.net), None),
        ])
        self.post("fee", txn.id, (txn.id,), txn.txn_date, self.amount(txn.net), entry)

    def adjustment(self, txn: BalanceTxn) -> None:
        if txn.net == 0:
            self.skip(txn, "nets_out", f"{txn.id}: {txn.reporting_category} moved no money")
            return
        key = ids.posting_key("adjustment", txn.id)
        account = self.policy.adjustments_account or self.policy.fees_account
        memo = f"Stripe {txn.reporting_category} {txn.source_id or ''} ({txn.id})".replace("  ", " ")
        entry = _entry(key, txn.txn_date, memo, [
            (self.policy.clearing_account, self.amount(txn.net), None), (account, -self.amount(txn.net), None),
        ])
        self.post("adjustment", txn.id, (txn.id,), txn.txn_date, self.amount(txn.net), entry)

    # -- per payout and per dispute ------------------------------------------------------------------

    def flush_payout_fees(self) -> None:
        for payout_id, txns in sorted(self.payout_fees.items()):
            total = sum((self.amount(t.fee) for t in txns), ZERO)
            payout = self.payouts.get(payout_id)
            txn_date = payout.arrival_date if payout else max(t.txn_date for t in txns)
            txn_ids = tuple(sorted(t.id for t in txns))
            if total == 0:
                continue
            key = ids.posting_key("payout_fees", payout_id)
            memo = f"Stripe fees of {len(txns)} charges in payout {payout_id}"
            entry = _entry(key, txn_date, memo, [
                (self.policy.fees_account, total, None), (self.policy.clearing_account, -total, None),
            ])
            self.post("payout_fees", payout_id, txn_ids, txn_date, -total, entry)

    def lost_dispute(self, dispute: Dispute) -> None:
        if dispute.status != "lost" or self.policy.lost_dispute != "write_off":
            return
        context = self.charges.get(dispute.charge_id)
        if context is None or dispute.closed_on is None or dispute.currency != self.home:
            return
        key = ids.posting_key("dispute_lost", dispute.id)
        amount = self.amount(dispute.amount)
        memo = f"Stripe dispute {dispute.id} lost on charge {dispute.charge_id}: written off"
        entry = _entry(key, dispute.closed_on, memo, [
            (self.policy.write_off_account, amount, None), (self.policy.ar_account, -amount, context.customer_list_id),
        ])
        self.post("dispute_lost", dispute.id, (), dispute.closed_on, ZERO, entry)


def plan(
    txns: Iterable[BalanceTxn],
    policy: LedgerPolicy,
    *,
    charges: Mapping[str, ChargeContext],
    payouts: Mapping[str, Payout] | None = None,
    disputes: Iterable[Dispute] = (),
) -> LedgerPlan:
    """The postings for ``txns`` under ``policy``, in date order; the same input always gives the same plan.

    ``charges`` maps charge ids to what the payment workflow recorded (the customer is needed for
    refunds and disputes; without it those wait). ``payouts`` holds the payouts the transactions refer
    to; a payout deposit is posted only once the payout is paid.
    """
    planner = _Planner(policy, charges, payouts or {})
    seen: set[str] = set()
    for txn in sorted(txns, key=lambda t: (t.created, t.id)):
        if txn.id in seen:
            continue
        seen.add(txn.id)
        planner.plan(txn)
    planner.flush_payout_fees()
    for dispute in sorted(disputes, key=lambda d: d.id):
        planner.lost_dispute(dispute)
    postings = sorted(planner.postings, key=lambda p: p.txn_date)  # stable: keeps event order within a day
    return LedgerPlan(postings=tuple(postings), skipped=tuple(planner.skipped))
