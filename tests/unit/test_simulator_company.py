"""The simulated company file: QuickBooks-shaped identity and time, list rules, persistence and seeding."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from ml_connector.simulator.company import CompanyFile, NewApplication, NewInvoiceLine, StatusError
from ml_connector.simulator.seed import AWKWARD_CUSTOMER_NAMES, VENDOR_NAME_CLASH, seed_company

SUMMER = datetime(2024, 7, 1, 16, 0, tzinfo=UTC)  # 12:00 EDT in New York
WINTER = datetime(2024, 1, 15, 16, 0, tzinfo=UTC)  # 11:00 EST


class SteppableClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def test_list_and_transaction_ids_have_quickbooks_shape() -> None:
    company = CompanyFile(clock=lambda: SUMMER)
    seed_company(company, customers=3, open_invoices=2, now=SUMMER)
    for list_id in company.customers:
        assert re.fullmatch(r"[0-9A-F]{8}-\d{10}", list_id)
    for txn_id, invoice in company.invoices.items():
        assert re.fullmatch(r"[0-9A-F]+-\d{10}", txn_id)
        assert all(re.fullmatch(r"[0-9A-F]+-\d{10}", line.txn_line_id) for line in invoice.lines)
    numbers = [i.txn_number for i in company.invoices.values()]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


def test_edit_sequence_changes_on_every_modification_even_within_one_second() -> None:
    company = CompanyFile(clock=lambda: SUMMER)
    customer = company.add_customer("Acme Corp")
    seen = {customer.edit_sequence}
    for phone in ("555-0100", "555-0101", "555-0102"):
        company.edit_customer(customer.list_id, Phone=phone)
        assert customer.edit_sequence.isdigit()
        seen.add(customer.edit_sequence)
    assert len(seen) == 4


def test_times_are_local_wall_clock_with_the_standard_offset_even_in_summer() -> None:
    company = CompanyFile()
    assert company.format_datetime(SUMMER) == "2024-07-01T12:00:00-05:00"
    assert company.format_datetime(WINTER) == "2024-01-15T11:00:00-05:00"
    pacific = CompanyFile(time_zone="America/Los_Angeles")
    assert pacific.format_datetime(SUMMER) == "2024-07-01T09:00:00-08:00"


def test_clock_must_be_timezone_aware() -> None:
    company = CompanyFile(clock=lambda: datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        company.add_customer("Acme Corp")


def test_customer_names_are_unique_across_customers_vendors_and_letter_case() -> None:
    company = CompanyFile(clock=lambda: SUMMER)
    company.add_other_entity("Vendor", "Northwind Traders")
    company.add_customer("Acme Corp")
    for clash in ("Northwind Traders", "ACME corp"):
        with pytest.raises(StatusError) as failure:
            company.add_customer(clash)
        assert failure.value.code == 3100
        assert failure.value.message == f'The name "{clash}" of the list element is already in use.'


def test_jobs_carry_the_parent_path_and_follow_a_parent_rename() -> None:
    company = CompanyFile(clock=lambda: SUMMER)
    parent = company.add_customer("Acme Corp")
    job = company.add_customer("Website", parent_id=parent.list_id)
    other = company.add_customer("Globex")
    same_name_job = company.add_customer("Website", parent_id=other.list_id)
    assert (job.full_name, job.sublevel) == ("Acme Corp:Website", 1)
    assert same_name_job.full_name == "Globex:Website"
    company.edit_customer(parent.list_id, name="Acme Corporation")
    assert job.full_name == "Acme Corporation:Website"
    assert company.find_customer(full_name="acme corporation:website") is job


def test_names_longer_than_41_characters_are_refused_with_3070() -> None:
    company = CompanyFile(clock=lambda: SUMMER)
    with pytest.raises(StatusError) as failure:
        company.add_customer("x" * 42)
    assert failure.value.code == 3070


def test_a_saved_company_loads_back_identically_and_keeps_numbering(tmp_path: Path) -> None:
    clock = SteppableClock(SUMMER)
    company = CompanyFile("Sandbox & Co", clock=clock)
    result = seed_company(company, customers=20, jobs=3, open_invoices=15, now=SUMMER)
    company.remember_message_set("set-1", ['<CustomerAddRs statusCode="0" statusSeverity="Info"/>'])
    path = tmp_path / "company.json"
    company.save(path)
    loaded = CompanyFile.load(path, clock=clock)
    assert loaded.to_json() == company.to_json()
    assert loaded.recall_message_set("set-1") == company.last_message_set
    fresh = loaded.add_customer("Brand New Customer")
    assert fresh.list_id not in company.customers
    invoice = loaded.add_invoice(result.customer_ids[0], [NewInvoiceLine(amount=Decimal("10.00"))])
    used = [i.txn_number for i in company.invoices.values()]
    used += [p.txn_number for p in company.receive_payments.values()]
    assert invoice.txn_number == max(used) + 1
    assert loaded.find_customer(full_name=company.customers[result.job_ids[0]].full_name) is not None


def test_seeding_is_deterministic_for_a_seed_and_a_moment() -> None:
    first, second = CompanyFile(clock=lambda: SUMMER), CompanyFile(clock=lambda: SUMMER)
    seed_company(first, customers=50, jobs=5, open_invoices=40, seed=7, now=SUMMER)
    seed_company(second, customers=50, jobs=5, open_invoices=40, seed=7, now=SUMMER)
    assert first.to_json() == second.to_json()
    third = CompanyFile(clock=lambda: SUMMER)
    seed_company(third, customers=50, jobs=5, open_invoices=40, seed=8, now=SUMMER)
    assert third.to_json() != first.to_json()


def test_seeding_10000_customers_gives_each_its_own_name() -> None:
    """The benches seed companies this large (bench/customer_sync.py); how long it takes is theirs to print."""
    company = CompanyFile(clock=lambda: SUMMER)
    result = seed_company(company, customers=10_000, jobs=100, open_invoices=2_000, now=SUMMER)
    assert len(result.customer_ids) == 10_000 and len(company.customers) == 10_100
    assert len({c.full_name.casefold() for c in company.customers.values()}) == 10_100


def test_seeded_company_has_the_awkward_cases_the_connector_must_survive() -> None:
    company = CompanyFile(clock=lambda: SUMMER)
    result = seed_company(company, customers=200, jobs=4, open_invoices=100, now=SUMMER)
    names = {company.customers[i].name for i in result.customer_ids}
    assert set(AWKWARD_CUSTOMER_NAMES) <= names
    assert max(len(n) for n in AWKWARD_CUSTOMER_NAMES) == 41
    assert company.other_entities[result.vendor_id].name == VENDOR_NAME_CLASH
    with pytest.raises(StatusError) as failure:
        company.add_customer(VENDOR_NAME_CLASH)
    assert failure.value.code == 3100
    assert any(not c.is_active for c in company.customers.values())
    assert all(company.customers[j].parent_id for j in result.job_ids)
    assert {"Accounts Receivable", "Undeposited Funds", "Checking"} <= {
        a.name for a in company.accounts.values()
    }
    assert company.find_payment_method(full_name="Stripe") is not None
    assert all(1 <= len(i.lines) <= 3 and i.due_date > i.txn_date for i in company.invoices.values())
    assert result.payment_ids, "some invoices are partly paid"
    assert all(company.invoices[i].balance_remaining > 0 for i in result.invoice_ids)


def test_seeded_balances_add_up_to_the_cent() -> None:
    company = CompanyFile(clock=lambda: SUMMER)
    seed_company(company, customers=100, jobs=10, open_invoices=300, now=SUMMER)
    for invoice in company.invoices.values():
        lines = sum((line.amount for line in invoice.lines), Decimal("0.00"))
        paid = sum(
            (a.amount for p in company.receive_payments.values() for a in p.applications
             if a.invoice_txn_id == invoice.txn_id),
            Decimal("0.00"),
        )  # fmt: skip
        assert invoice.subtotal == lines
        assert invoice.balance_remaining == lines - paid
        assert invoice.balance_remaining.as_tuple().exponent == -2
    for customer in company.customers.values():
        expected = sum((i.balance_remaining for i in company.invoices_of(customer.list_id)), Decimal("0.00"))
        assert customer.balance == expected


def test_deleting_a_payment_reopens_the_invoice_and_deleting_an_invoice_frees_its_payment() -> None:
    company = CompanyFile(clock=lambda: SUMMER)
    result = seed_company(company, customers=2, open_invoices=0, now=SUMMER)
    customer_id = result.customer_ids[0]
    invoice = company.add_invoice(customer_id, [NewInvoiceLine(amount=Decimal("100.00"))])
    payment = company.add_receive_payment(
        customer_id,
        total_amount=Decimal("40.00"),
        applications=[NewApplication(invoice.txn_id, Decimal("40.00"))],
    )
    assert company.customers[customer_id].balance == Decimal("60.00")
    company.delete_transaction(payment.txn_id)
    assert invoice.balance_remaining == Decimal("100.00") and not invoice.payments
    payment = company.add_receive_payment(
        customer_id,
        total_amount=Decimal("40.00"),
        applications=[NewApplication(invoice.txn_id, Decimal("40.00"))],
    )
    company.delete_transaction(invoice.txn_id)
    assert payment.unused_payment == Decimal("40.00")
    assert company.customers[customer_id].balance == Decimal("-40.00")
