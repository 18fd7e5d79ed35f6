"""Deterministic sample data for the QuickBooks simulator: the company a bookkeeper would really have.

Real files are messy, and the connector must cope: names with apostrophes, ampersands and accents
(including characters outside Windows-1252), names at the 41-character limit, a vendor whose name a new
Stripe customer will want (3100 on CustomerAdd), inactive customers, jobs under customers, and open
invoices of which some are already partly paid. Everything derives from `seed` and `now`, so a test or a
demo gets the same company every time; records are backdated over the year before `now` so modified-date
filters have something to select.

Seeding writes through `CompanyFile` directly (no qbXML), which keeps 10,000 customers well under a second.
"""

from __future__ import annotations

import itertools
import random
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from ml_connector.simulator.company import CompanyFile
from ml_connector.simulator.company.records import NewApplication, NewInvoiceLine, money

AWKWARD_CUSTOMER_NAMES = (
    "O'Brien & Sons",
    "Café Zoë",
    "Łódź Trading",
    "Müller & Töchter GmbH",
    'The "Quoted" <Angle> Company',
    "Smith, Jones; Partners",
    "Abernathy-Vandersloot Holdings Group, LLC",  # exactly 41 characters, QuickBooks' limit
)
VENDOR_NAME_CLASH = "Northwind Traders"
"""A vendor, so a customer of this name cannot be added (3100): the clash the connector must handle."""

_FIRST = (
    "Acme",
    "Apex",
    "Blue",
    "Bright",
    "Cedar",
    "Coastal",
    "Copper",
    "Crescent",
    "Delta",
    "Eagle",
    "Evergreen",
    "Falcon",
    "Golden",
    "Granite",
    "Harbor",
    "Highland",
    "Horizon",
    "Iron",
    "Juniper",
    "Keystone",
    "Lakeside",
    "Liberty",
    "Maple",
    "Meridian",
    "Summit",
    "Northern",
    "Oak",
    "Pacific",
    "Pioneer",
    "Prairie",
    "Quantum",
    "Redwood",
    "Riverside",
    "Sierra",
    "Silver",
    "Spruce",
    "Sterling",
    "Tidewater",
    "Valley",
    "Willow",
)
_SECOND = (
    "Analytics",
    "Bakery",
    "Builders",
    "Cafe",
    "Clinic",
    "Consulting",
    "Design",
    "Dental",
    "Electric",
    "Engineering",
    "Farms",
    "Fitness",
    "Florist",
    "Foods",
    "Freight",
    "Gallery",
    "Garage",
    "Health",
    "Imports",
    "Interiors",
    "Labs",
    "Landscaping",
    "Legal",
    "Logistics",
    "Marine",
    "Media",
    "Motors",
    "Optics",
    "Outfitters",
    "Pharmacy",
    "Plumbing",
    "Printing",
    "Realty",
    "Robotics",
    "Roofing",
    "Software",
    "Studios",
    "Supply",
    "Textiles",
    "Ventures",
)
_SUFFIX = ("Inc", "LLC", "Ltd", "Co", "Group", "Partners", "& Co", "Corp")
_GIVEN = (
    "Ana",
    "Ben",
    "Chloé",
    "Dmitri",
    "Emma",
    "Farah",
    "Giulia",
    "Hiro",
    "Ines",
    "Jamal",
    "Kai",
    "Lena",
    "Mateo",
    "Nora",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tariq",
    "Uma",
    "Viktor",
    "Wen",
    "Yara",
)
_FAMILY = (
    "Anderson",
    "Brown",
    "Chen",
    "Dubois",
    "Evans",
    "Fischer",
    "García",
    "Hughes",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "López",
    "Murphy",
    "Nakamura",
    "O'Neil",
    "Patel",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Walsh",
)
_STREETS = (
    "Main St",
    "Oak Ave",
    "Harbor Blvd",
    "2nd Street",
    "Elm Court",
    "Market St",
    "Sunset Dr",
    "Pine Rd",
)
_CITIES = (
    ("Boston", "MA", "02108"),
    ("Austin", "TX", "73301"),
    ("Denver", "CO", "80202"),
    ("Portland", "OR", "97201"),
    ("Chicago", "IL", "60601"),
    ("Miami", "FL", "33101"),
    ("Seattle", "WA", "98101"),
    ("Newark", "NJ", "07102"),
)


@dataclass(frozen=True, slots=True)
class ChartIds:
    """ListIDs of the fixed lists every seeded company has."""

    accounts_receivable: str
    undeposited_funds: str
    checking: str
    stripe_clearing: str
    income: str
    stripe_payment_method: str
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SeedResult:
    chart: ChartIds
    customer_ids: tuple[str, ...]
    job_ids: tuple[str, ...]
    invoice_ids: tuple[str, ...]
    payment_ids: tuple[str, ...]
    vendor_id: str


_ITEMS = (
    ("ItemService", "Consulting", "Consulting (hourly)", "150.00"),
    ("ItemService", "Implementation", "Implementation package", "1200.00"),
    ("ItemService", "Support Plan", "Monthly support plan", "99.00"),
    ("ItemNonInventory", "Hardware Kit", "Starter hardware kit", "249.95"),
)
"""The seeded items (kind, name, description, price), all posting to Services Income."""


def seed_chart_of_accounts(company: CompanyFile) -> ChartIds:
    """Accounts, payment methods and items; enough for invoices and Stripe payments. Run once per file."""
    receivable = company.add_account(
        "Accounts Receivable", "AccountsReceivable", special_account_type="AccountsReceivable"
    )
    undeposited = company.add_account(
        "Undeposited Funds", "OtherCurrentAsset", special_account_type="UndepositedFunds"
    )
    checking = company.add_account("Checking", "Bank", account_number="1000", bank_number="021000021")
    clearing = company.add_account("Stripe Clearing", "Bank", desc="Stripe balance before payout")
    income = company.add_account("Services Income", "Income")
    company.add_account("Merchant Fees", "Expense")
    stripe = company.add_payment_method("Stripe", "OtherCreditCard")
    company.add_payment_method("Check", "Check")
    company.add_payment_method("Cash", "Cash")
    items = tuple(
        company.add_item(kind, name, desc=desc, price=Decimal(price), account_id=income.list_id)
        for kind, name, desc, price in _ITEMS
    )
    return ChartIds(
        accounts_receivable=receivable.list_id,
        undeposited_funds=undeposited.list_id,
        checking=checking.list_id,
        stripe_clearing=clearing.list_id,
        income=income.list_id,
        stripe_payment_method=stripe.list_id,
        items=tuple(i.list_id for i in items),
    )


class _SteppingClock:
    """Hands out evenly spaced moments, so seeded records look created over a year, in a fixed order."""

    def __init__(self, start: datetime, step: timedelta) -> None:
        self._next = start
        self._step = step

    def __call__(self) -> datetime:
        moment = self._next
        self._next += self._step
        return moment


def seed_company(
    company: CompanyFile,
    *,
    customers: int,
    jobs: int = 0,
    open_invoices: int,
    seed: int = 1,
    now: datetime | None = None,
) -> SeedResult:
    """Fill an empty company: the chart of accounts, `customers` top-level customers (the awkward names
    first), `jobs` sub-customers, one vendor whose name clashes, and `open_invoices` open invoices of 1-3
    lines, about a quarter of them partly paid by Stripe. Deterministic for a given `seed` and `now`."""
    rng = random.Random(seed)
    end = now or company.now()
    events = 20 + customers + jobs + 2 * open_invoices
    clock = _SteppingClock(end - timedelta(days=365), timedelta(days=365) / events)
    with company.lock, company.clock_override(clock):
        chart = seed_chart_of_accounts(company)
        vendor = company.add_other_entity("Vendor", VENDOR_NAME_CLASH)
        customer_ids = [_add_customer(company, rng, name, i) for i, name in enumerate(_names(rng, customers))]
        job_ids = [
            company.add_customer(
                f"Project {i // max(1, len(customer_ids)) + 1}",
                parent_id=customer_ids[i % len(customer_ids)],
                fields={"JobDesc": f"Engagement {i + 1}", "JobStatus": "InProgress"},
            ).list_id
            for i in range(jobs if customer_ids else 0)
        ]
        billable = [c for c in customer_ids + job_ids if company.customers[c].is_active]
        invoice_ids: list[str] = []
        payment_ids: list[str] = []
        for number in range(open_invoices if billable else 0):
            invoice_id = _add_invoice(company, rng, chart, rng.choice(billable), 1001 + number)
            invoice_ids.append(invoice_id)
            if rng.random() < 0.25:
                payment_ids.append(_pay_part(company, rng, chart, invoice_id, number))
    return SeedResult(
        chart, tuple(customer_ids), tuple(job_ids), tuple(invoice_ids), tuple(payment_ids), vendor.list_id
    )


def _names(rng: random.Random, count: int) -> list[str]:
    special = list(AWKWARD_CUSTOMER_NAMES[:count])
    combos = list(itertools.product(_FIRST, _SECOND, _SUFFIX))
    rng.shuffle(combos)
    generated = (f"{a} {b} {c}" for a, b, c in combos)
    numbered = (f"{a} {b} {n}" for n in itertools.count(2) for a, b in itertools.product(_FIRST, _SECOND))
    return special + list(itertools.islice(itertools.chain(generated, numbered), count - len(special)))


def _slug(name: str) -> str:
    ascii_only = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_only.lower() if ch.isalnum())[:30] or "customer"


def _add_customer(company: CompanyFile, rng: random.Random, name: str, index: int) -> str:
    given, family = rng.choice(_GIVEN), rng.choice(_FAMILY)
    city, state, postal = rng.choice(_CITIES)
    address = {
        "Addr1": name,
        "Addr2": f"{rng.randint(1, 9999)} {rng.choice(_STREETS)}",
        "City": city,
        "State": state,
        "PostalCode": postal,
        "Country": "US",
    }
    fields = {
        "CompanyName": name,
        "FirstName": given,
        "LastName": family,
        "Phone": f"(555) {rng.randint(100, 999)}-{rng.randint(0, 9999):04d}",
        "Email": f"billing@{_slug(name)}.example.com",
    }
    if rng.random() < 0.3:
        fields["Notes"] = "Prefers email invoices; net 30."
    inactive = index >= len(AWKWARD_CUSTOMER_NAMES) and rng.random() < 0.05
    return company.add_customer(
        name, is_active=not inactive, fields=fields, addresses={"BillAddress": address}
    ).list_id


def _add_invoice(
    company: CompanyFile, rng: random.Random, chart: ChartIds, customer_id: str, number: int
) -> str:
    lines = []
    for _ in range(rng.randint(1, 3)):
        item = company.items[rng.choice(chart.items)]
        quantity = Decimal(rng.randint(1, 10))
        lines.append(NewInvoiceLine(item_id=item.list_id, quantity=quantity, rate=item.price))
    txn_date: date = company.now().astimezone(company.zone).date()
    return company.add_invoice(
        customer_id,
        lines,
        ar_account_id=chart.accounts_receivable,
        txn_date=txn_date,
        ref_number=str(number),
        due_date=txn_date + timedelta(days=30),
    ).txn_id


def _pay_part(company: CompanyFile, rng: random.Random, chart: ChartIds, invoice_id: str, number: int) -> str:
    invoice = company.invoices[invoice_id]
    share = Decimal(rng.randint(10, 60)) / 100
    amount = max(money(invoice.balance_remaining * share), Decimal("0.01"))
    return company.add_receive_payment(
        invoice.customer_id,
        total_amount=amount,
        applications=[NewApplication(invoice_id, amount)],
        payment_method_id=chart.stripe_payment_method,
        ref_number=f"ch_seed{number:06d}",
        memo="Partial payment (seeded)",
        txn_date=invoice.txn_date + timedelta(days=rng.randint(0, 10)),
    ).txn_id
