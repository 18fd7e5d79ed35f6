"""What must exist in the QuickBooks company file before we post: accounts, a payment method, an item.

A posting that names an account, payment method or item QuickBooks does not have is refused (3140), so
the payment and ledger workflows first make sure the lists they refer to exist (``workflows/qb_setup.py``
finds or creates each one, once per name). This module says *which* ones a configuration needs, and how:

- ``create``: ours to create when missing (the Stripe clearing account, the fees account, the refund item
  …). Off for accounts that belong to the bookkeeper and that a typo must not invent: the bank account
  payouts land in and the A/R account. Those are only looked up, and a clear problem names the setting.
- ``account_type``: the qbXML AccountType to create with; an existing account of another type is accepted
  when it can do the job (see :mod:`ml_connector.ledger.listcheck`).

Undeposited Funds is never a need: QuickBooks has it built in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ml_connector.ledger.settings import LedgerSettings

ACCOUNT = "account"
PAYMENT_METHOD = "payment_method"
ITEM = "item"
KINDS = (ACCOUNT, PAYMENT_METHOD, ITEM)
UNDEPOSITED_FUNDS = "Undeposited Funds"


@dataclass(frozen=True)
class ListNeed:
    """One account, payment method or item a posting refers to, by its QuickBooks FullName.

    Plain fields only: it travels through Temporal's JSON converter as workflow and activity input.
    ``item_account`` is the (income) account of an item, created before the item when missing; ``purpose``
    says in problem texts what the name is configured for ("the clearing account (MLC_CLEARING_ACCOUNT)").
    """

    kind: str  # account | payment_method | item
    name: str
    account_type: str = ""  # qbXML AccountType: Bank, Expense, Income, OtherCurrentAsset, …
    item_account: str = ""
    create: bool = True
    purpose: str = ""

    @property
    def label(self) -> str:
        what = {ACCOUNT: "account", PAYMENT_METHOD: "payment method", ITEM: "item"}.get(self.kind, self.kind)
        return f'{what} "{self.name}"' + (f" ({self.purpose})" if self.purpose else "")


def payment_needs(payment_method: str, deposit_account: str, *, clearing: bool = False) -> list[ListNeed]:
    """What a ReceivePaymentAdd refers to: the payment method, and the deposit account unless it is
    QuickBooks' built-in Undeposited Funds. A missing deposit account is created as OtherCurrentAsset
    (a holding account; an existing Bank account is accepted as well) — or, when it is the clearing
    account (``clearing``), as Bank, exactly as the ledger would create it, whichever comes first."""
    needs = []
    if payment_method.strip():
        needs.append(ListNeed(PAYMENT_METHOD, payment_method, purpose="MLC_PAYMENT_METHOD"))
    if deposit_account.strip() and deposit_account.strip().casefold() != UNDEPOSITED_FUNDS.casefold():
        needs.append(
            ListNeed(ACCOUNT, deposit_account, "Bank", purpose="the clearing account (MLC_CLEARING_ACCOUNT)")
            if clearing
            else ListNeed(
                ACCOUNT, deposit_account, "OtherCurrentAsset", purpose="deposit account (MLC_DEPOSIT_ACCOUNT)"
            )
        )
    return needs


def ledger_needs(settings: LedgerSettings, payment_method: str) -> list[ListNeed]:
    """What clearing-account mode posts to (issue 7): payments, fees, refunds, disputes and payouts."""
    needs = [
        ListNeed(
            ACCOUNT, settings.clearing_account, "Bank", purpose="clearing account (MLC_CLEARING_ACCOUNT)"
        ),
        ListNeed(
            ACCOUNT, settings.bank_account, "Bank", create=False, purpose="bank account (MLC_BANK_ACCOUNT)"
        ),
        ListNeed(
            ACCOUNT, settings.fees_account, "Expense", purpose="Stripe fees account (MLC_STRIPE_FEES_ACCOUNT)"
        ),
        ListNeed(
            ACCOUNT,
            settings.ar_account,
            "AccountsReceivable",
            create=False,
            purpose="A/R account (MLC_AR_ACCOUNT)",
        ),
    ]
    if settings.lost_dispute == "write_off":
        needs.append(
            ListNeed(
                ACCOUNT,
                settings.write_off_account,
                "Expense",
                purpose="write-off account (MLC_WRITE_OFF_ACCOUNT)",
            )
        )
    needs.append(
        ListNeed(
            ACCOUNT,
            settings.refund_income_account,
            "Income",
            purpose="refund income account (MLC_REFUND_INCOME_ACCOUNT)",
        )
    )
    needs.append(
        ListNeed(
            ITEM,
            settings.refund_item,
            item_account=settings.refund_income_account,
            purpose="refund item (MLC_REFUND_ITEM)",
        )
    )
    if payment_method.strip():
        needs.append(ListNeed(PAYMENT_METHOD, payment_method, purpose="MLC_PAYMENT_METHOD"))
    return needs


_REFERENCE = re.compile(r'invalid reference to (?:QuickBooks )?(?P<list>[A-Za-z ]+?) "(?P<name>[^"]*)"')
_LIST_KINDS = {"account": ACCOUNT, "payment method": PAYMENT_METHOD, "item": ITEM}


def needs_named_in(status_message: str, needs: Sequence[ListNeed]) -> list[ListNeed]:
    """The needs a 3140 ("There is an invalid reference to QuickBooks Account "Stripe Fees" in the …")
    names, so the caller can forget them and the next run checks QuickBooks again.

    When the message names no list element we know (QuickBooks words it in several ways), every need of
    the kind it mentions is returned, and with no kind at all every need: re-checking costs one query per
    kind, posting against a stale memory costs a refusal per posting.
    """
    match = _REFERENCE.search(status_message)
    if match is not None:
        kind = _LIST_KINDS.get(match["list"].strip().casefold())
        named = match["name"].casefold()
        exact = [n for n in needs if n.name.casefold() == named and (kind is None or n.kind == kind)]
        if exact:
            return exact
        if kind is not None:
            return [n for n in needs if n.kind == kind]
    text = status_message.casefold()
    mentioned = [n for n in needs if f'"{n.name.casefold()}"' in text]
    return mentioned or list(needs)
