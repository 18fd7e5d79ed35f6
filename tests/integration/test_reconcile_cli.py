"""`ml-connector reconcile`: what a bookkeeper reads after a payout, and the exit status a script checks.

The command runs as an operator runs it (a subprocess), against the fake Stripe over HTTP and a database
holding what the payment and ledger workflows recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from ml_connector.fakestripe import FakeStripeServer
from ml_connector.storage.engine import make_engine, migrate
from tests.harness import PASSWORD, USERNAME
from tests.reconcile_support import API_KEY, BANK, CLEARING, StripeMonth, csv_rows, record_books, spoil

pytestmark = pytest.mark.slow

COMPANY = "acme"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeStripeServer]:
    with FakeStripeServer() as running:
        yield running


@dataclass
class Run:
    code: int
    out: str
    err: str


def reconcile(database_url: str, server: FakeStripeServer, *args: str, **env: str) -> Run:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MLC_")}
    environment.update(
        MLC_DATABASE_URL=database_url,
        MLC_QBWC_USERNAME=USERNAME,
        MLC_QBWC_PASSWORD=PASSWORD,
        MLC_COMPANY_ID=COMPANY,
        MLC_TEMPORAL_ADDRESS="127.0.0.1:1",  # never asked: the report needs no Temporal
        MLC_STRIPE_API_KEY=API_KEY,
        MLC_STRIPE_API_BASE=server.url,
        MLC_CLEARING_ACCOUNT=CLEARING,
        MLC_BANK_ACCOUNT=BANK,
        MLC_LOG_LEVEL="warning",
    )
    environment.update(env)
    environment = {k: v for k, v in environment.items() if v}
    done = subprocess.run(
        [sys.executable, "-m", "ml_connector.cli", "reconcile", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert API_KEY not in done.stdout + done.stderr
    return Run(done.returncode, done.stdout, done.stderr)


def books(database_url: str, month: StripeMonth, **spoilt: object) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    postings = month.expected()
    if spoilt:
        postings = spoil(postings, **spoilt)  # type: ignore[arg-type]
    record_books(engine, COMPANY, month, postings)
    engine.dispose()


def test_a_payout_with_a_wrong_amount_and_a_missing_posting_shows_both_and_exits_1(database_url, server):
    month = StripeMonth.make(server)
    wrong = f"payment:{month.charges[1].id}"
    missing = f"refund:{month.refund_id}"
    books(database_url, month, wrong=wrong, missing=missing, by=Decimal("-1.00"))
    expected = {p.key: p for p in month.expected()}

    table = reconcile(database_url, server, "--payout", month.payout_id)
    as_csv = reconcile(database_url, server, "--payout", month.payout_id, "--format", "csv")
    as_json = reconcile(database_url, server, "--payout", month.payout_id, "--format", "json")

    assert (table.code, as_csv.code, as_json.code) == (1, 1, 1)
    assert month.payout_id in table.out.splitlines()[0]
    assert "NOT balanced: 2 row(s) with a difference" in table.out
    for posting in expected.values():
        assert posting.balance_txn_id in table.out
        if posting.key != missing:
            assert posting.qb_txn_id in table.out

    rows = {(r["type"], r["source"]): r for r in csv_rows(as_csv.out)}
    assert len(rows) == len(expected) == 8  # 3 payments, 3 fees, a refund, the payout
    by_key = {
        "payment": lambda p: ("charge", p.source_id),
        "fee": lambda p: ("fee", p.source_id),
        "refund": lambda p: ("refund", p.source_id),
        "payout": lambda p: ("payout", p.source_id),
    }
    for posting in expected.values():
        row = rows[by_key[posting.kind](posting)]
        assert row["stripe_id"] == posting.balance_txn_id
        assert row["stripe_amount"] == f"{posting.amount:f}"
        if posting.key == wrong:
            assert (row["qb_txn_id"], row["qb_amount"], row["difference"], row["status"]) == (
                posting.qb_txn_id,
                f"{posting.amount - 1:f}",
                "1.00",
                "different",
            )
        elif posting.key == missing:
            assert (row["qb_txn_id"], row["qb_amount"], row["difference"], row["status"]) == (
                "",
                "",
                f"{posting.amount:f}",
                "missing",
            )
        else:
            assert (row["qb_txn_id"], row["qb_amount"], row["difference"], row["status"]) == (
                posting.qb_txn_id,
                f"{posting.amount:f}",
                "0.00",
                "matched",
            )

    report = json.loads(as_json.out)
    assert report["totals"]["balanced"] is False
    assert sorted(r["status"] for r in report["rows"] if r["difference"] != "0.00") == [
        "different",
        "missing",
    ]
    assert {r["qb_txn_id"] for r in report["rows"]} == {
        p.qb_txn_id for k, p in expected.items() if k != missing
    } | {None}


def test_a_month_booked_exactly_is_balanced_and_exits_0_even_with_a_payout_still_in_transit(
    database_url, server, tmp_path
):
    month = StripeMonth.make(server)
    month.pay(4_000)
    server.fake.advance_time(3 * 86400)
    in_transit, _ = month.run_payout(paid=False)
    books(database_url, month)
    first, last = month.days()
    out = tmp_path / "month.csv"

    table = reconcile(database_url, server, "--from", first.isoformat(), "--to", last.isoformat())
    saved = reconcile(
        database_url,
        server,
        "--from",
        first.isoformat(),
        "--to",
        last.isoformat(),
        "--format",
        "csv",
        "--output",
        str(out),
    )

    assert table.code == 0, table.out + table.err
    assert "Balanced: every difference is 0.00" in table.out
    assert saved.code == 0
    assert f"written to {out}; balanced" in saved.out
    rows = csv_rows(out.read_text())
    assert [r["status"] for r in rows if r["source"] == in_transit] == ["in_transit"]
    assert {r["status"] for r in rows if r["source"] != in_transit} == {"matched"}
    assert len(rows) == 11  # 4 payments, 4 fees, a refund, two payouts


def test_a_date_range_before_any_payment_reports_nothing_and_is_balanced(database_url, server):
    month = StripeMonth.make(server)
    books(database_url, month)
    first, _ = month.days()
    earlier = (first - timedelta(days=40)).isoformat()
    run = reconcile(database_url, server, "--from", earlier, "--to", earlier, "--format", "json")
    assert run.code == 0
    assert json.loads(run.out)["rows"] == []


def test_transactions_before_the_ledger_start_are_left_out_and_counted_in_the_title(database_url, server):
    month = StripeMonth.make(server)
    books(database_url, month)
    _, payout_day = month.days()
    run = reconcile(
        database_url,
        server,
        "--payout",
        month.payout_id,
        "--format",
        "json",
        MLC_LEDGER_START=payout_day.isoformat(),
    )
    report = json.loads(run.out)
    assert run.code == 0
    assert [r["type"] for r in report["rows"]] == ["payout"]
    assert f"4 balance transaction(s) created before the ledger start {payout_day}" in report["title"]


def test_without_a_ledger_start_stripe_history_before_the_first_booked_payment_is_left_out(
    database_url, server
):
    month = StripeMonth.make(server)  # history from before ml-connector: three payments, a refund, a payout
    first, _ = month.days()
    server.fake.advance_time(10 * 86400)
    new = month.pay(3_000)
    engine = make_engine(database_url)
    migrate(engine)
    booked = [
        p for p in month.expected() if p.source_id == new.id or p.balance_txn_id == new.balance_transaction
    ]
    record_books(engine, COMPANY, month, booked)
    engine.dispose()
    _, last = month.days()

    run = reconcile(
        database_url, server, "--from", first.isoformat(), "--to", last.isoformat(), "--format", "json"
    )

    report = json.loads(run.out)
    assert run.code == 0, run.err
    assert [(r["type"], r["status"]) for r in report["rows"]] == [("charge", "matched"), ("fee", "matched")]
    assert "5 balance transaction(s) created before the ledger start" in report["title"]
    assert "the day before the first payment booked into the clearing account" in report["title"]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {}, "say what to reconcile: --payout po_… (one payout) or --from and --to"),
        (("--from", "2026-03-31", "--to", "2026-03-01"), {}, "--to 2026-03-01 is before --from 2026-03-31"),
        (("--from", "2026-03-01"), {}, "a date range needs both --from"),
        (("--payout", "po_1", "--from", "2026-03-01", "--to", "2026-03-02"), {}, "not both"),
        (("--payout", "ch_123"), {}, "'ch_123' is not a Stripe payout id"),
        (("--payout", "po_doesnotexist"), {}, "Stripe has no payout po_doesnotexist: No such payout"),
        (("--payout", "po_1"), {"MLC_CLEARING_ACCOUNT": ""}, "clearing-account mode is off"),
        (("--payout", "po_1", "--company", "globex"), {}, "unknown company 'globex'; configured: acme"),
        (("--payout", "po_1"), {"MLC_STRIPE_API_KEY": ""}, "MLC_STRIPE_API_KEY is not set"),
        (("--from", "31/03/2026", "--to", "2026-04-01"), {}, "'31/03/2026' is not a date like 2026-01-31"),
    ],
    ids=[
        "nothing",
        "backwards",
        "half-range",
        "both",
        "not-a-payout",
        "unknown-payout",
        "clearing-off",
        "unknown-company",
        "no-stripe",
        "bad-date",
    ],
)
def test_a_report_that_cannot_be_made_exits_2_with_a_clear_message(tmp_path, server, args, env, message):
    run = reconcile(f"sqlite:///{tmp_path / 'mlc.db'}", server, *args, **env)
    assert run.code == 2
    assert message in run.err
    assert run.out == ""


def test_help_says_what_the_exit_status_means() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ml_connector.cli", "reconcile", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MLC_LOG_LEVEL": "warning"},
    )
    assert done.returncode == 0
    assert "0  balanced: every difference is 0.00" in done.stdout
    assert "1  some row differs" in done.stdout
    assert "2  no report" in done.stdout


def test_the_command_is_listed_by_ml_connector_help(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ml_connector.cli", "--help"], capture_output=True, text=True, timeout=60
    )
    assert "reconcile" in done.stdout
