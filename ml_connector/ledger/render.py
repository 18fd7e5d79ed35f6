"""The reconciliation report as a text table (the CLI), CSV (a spreadsheet) and JSON (the status page).

Money is printed with exactly two decimals and never passes through float, JSON included (strings).
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

from ml_connector.ledger.reconcile import ReconReport, ReconRow

COLUMNS = (
    "date", "stripe_id", "type", "source", "stripe_amount", "qb_txn_id", "qb_type", "qb_amount", "difference",
    "status", "note",
)


def _amount(value: Decimal | None) -> str:
    return "" if value is None else f"{value.quantize(Decimal('0.01')):f}"


def _cells(row: ReconRow) -> list[str]:
    return [
        row.txn_date.isoformat() if row.txn_date else "",
        " ".join(row.balance_txn_ids) if len(row.balance_txn_ids) <= 1 else
        f"{row.balance_txn_ids[0]} (+{len(row.balance_txn_ids) - 1})",
        row.stripe_type,
        row.source_id,
        _amount(row.stripe_amount),
        row.qb_txn_id or "",
        row.qb_type or "",
        _amount(row.qb_amount),
        _amount(row.difference),
        row.status,
        row.note,
    ]


def to_text(report: ReconReport) -> str:
    header = list(COLUMNS[:-1])
    body = [_cells(r)[:-1] for r in report.rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    right = {4, 7, 8}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                               strict=True)))

    out = [report.title, line(header), "  ".join("-" * w for w in widths)]
    out.extend(line(b) for b in body)
    out.append("")
    out.append(f"Stripe total {_amount(report.stripe_total)}   QuickBooks total {_amount(report.qb_total)}   "
               f"difference {_amount(report.difference_total)}")
    if report.unposted_total:
        out.append(f"Not in QuickBooks by design (payouts in transit or failed): {_amount(report.unposted_total)}")
    problems = [r for r in report.rows if r.difference != 0]
    out.append("Balanced: every difference is 0.00" if not problems else
               f"NOT balanced: {len(problems)} row(s) with a difference")
    return "\n".join(out) + "\n"


def to_csv(report: ReconReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in report.rows:
        cells = _cells(row)
        cells[1] = " ".join(row.balance_txn_ids)
        writer.writerow(cells)
    return buffer.getvalue()


def to_json(report: ReconReport) -> str:
    data = {
        "title": report.title,
        "rows": [
            {
                "date": row.txn_date.isoformat() if row.txn_date else None,
                "stripe_ids": list(row.balance_txn_ids),
                "type": row.stripe_type,
                "source": row.source_id,
                "stripe_amount": _amount(row.stripe_amount),
                "qb_txn_id": row.qb_txn_id,
                "qb_type": row.qb_type,
                "qb_amount": _amount(row.qb_amount) or None,
                "difference": _amount(row.difference),
                "status": row.status,
                "note": row.note,
            }
            for row in report.rows
        ],
        "totals": {
            "stripe": _amount(report.stripe_total),
            "quickbooks": _amount(report.qb_total),
            "difference": _amount(report.difference_total),
            "not_posted_by_design": _amount(report.unposted_total),
            "balanced": report.balanced,
        },
    }
    return json.dumps(data, indent=2)
