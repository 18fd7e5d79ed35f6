"""Accounts, payment methods and items: the lists a transaction refers to.

Each has its own name space (31 characters; accounts are unique among siblings, as ``Parent:Child`` full
names make them). Account balances are derived from the transactions rather than stored.
"""

from __future__ import annotations

from decimal import Decimal

from ml_connector.simulator.company.core import CompanyCore, by_name
from ml_connector.simulator.company.records import ITEM_KINDS, ZERO, Account, Item, PaymentMethod


class ListBook(CompanyCore):
    """The account, payment-method and item lists of a company file (a mixin of `CompanyFile`)."""

    def find_account(self, list_id: str | None = None, full_name: str | None = None) -> Account | None:
        if list_id is not None:
            return self.accounts.get(list_id)
        if full_name is None:
            return None
        key = full_name.casefold()
        return next((a for a in self.accounts.values() if self.account_full_name(a).casefold() == key), None)

    def account_full_name(self, account: Account) -> str:
        """``Parent:Child`` for a sub-account, the name for a top-level one."""
        names = [account.name]
        parent_id = account.parent_id
        while parent_id is not None:
            parent = self.accounts[parent_id]
            names.append(parent.name)
            parent_id = parent.parent_id
        return ":".join(reversed(names))

    def add_account(
        self,
        name: str,
        account_type: str,
        *,
        is_active: bool = True,
        special_account_type: str | None = None,
        account_number: str | None = None,
        bank_number: str | None = None,
        desc: str | None = None,
        parent_id: str | None = None,
    ) -> Account:
        """A sub-account when ``parent_id`` is given; names are unique among an account's siblings."""
        self._check_unique_name((a for a in self.accounts.values() if a.parent_id == parent_id), name)
        account = self._new_list_record(
            Account,
            name=name,
            account_type=account_type,
            is_active=is_active,
            special_account_type=special_account_type,
            account_number=account_number,
            bank_number=bank_number,
            desc=desc,
            parent_id=parent_id,
        )
        self.accounts[account.list_id] = account
        return account

    def account_balance(self, account: Account) -> Decimal:
        """Derived from the transactions: AR carries open invoices less unused payments; a deposit account
        carries the payments deposited into it, at their home-currency value (TotalAmount × ExchangeRate).
        Other accounts have no postings in this simulator. Not modelled: QuickBooks' separate A/R account per
        foreign currency (here A/R adds each customer's amounts as they are) and exchange gains/losses."""
        if account.account_type == "AccountsReceivable":
            invoices = sum(
                (i.balance_remaining for i in self.invoices.values() if i.ar_account_id == account.list_id),
                ZERO,
            )
            unused = sum(
                (
                    p.unused_payment
                    for p in self.receive_payments.values()
                    if p.ar_account_id == account.list_id
                ),
                ZERO,
            )
            return invoices - unused
        return sum(
            (
                p.home_amount
                for p in self.receive_payments.values()
                if p.deposit_to_account_id == account.list_id
            ),
            ZERO,
        )

    def default_ar_account(self) -> Account | None:
        return next((a for a in self.accounts.values() if a.account_type == "AccountsReceivable"), None)

    def undeposited_funds(self) -> Account | None:
        return next((a for a in self.accounts.values() if a.special_account_type == "UndepositedFunds"), None)

    def find_payment_method(
        self, list_id: str | None = None, full_name: str | None = None
    ) -> PaymentMethod | None:
        if list_id is not None:
            return self.payment_methods.get(list_id)
        return by_name(self.payment_methods.values(), full_name)

    def add_payment_method(
        self, name: str, payment_method_type: str | None = None, *, is_active: bool = True
    ) -> PaymentMethod:
        self._check_unique_name(self.payment_methods.values(), name)
        method = self._new_list_record(
            PaymentMethod,
            name=name,
            is_active=is_active,
            payment_method_type=payment_method_type,
        )
        self.payment_methods[method.list_id] = method
        return method

    def find_item(self, list_id: str | None = None, full_name: str | None = None) -> Item | None:
        if list_id is not None:
            return self.items.get(list_id)
        return by_name(self.items.values(), full_name)

    def add_item(
        self,
        kind: str,
        name: str,
        *,
        desc: str | None = None,
        price: Decimal | None = None,
        account_id: str | None = None,
        is_active: bool = True,
    ) -> Item:
        if kind not in ITEM_KINDS:
            raise ValueError("kind must be ItemService, ItemNonInventory or ItemOtherCharge")
        self._check_unique_name(self.items.values(), name)
        item = self._new_list_record(
            Item,
            kind=kind,
            name=name,
            is_active=is_active,
            desc=desc,
            price=price,
            account_id=account_id,
        )
        self.items[item.list_id] = item
        return item
