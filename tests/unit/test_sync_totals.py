"""How pages add up: counts summed, the newest wall clock kept, the oldest failure held, requests summed."""

from __future__ import annotations

from ml_connector.sync.totals import PageTotals, is_outage
from ml_connector.sync.watermark import next_watermark


def test_combine_sums_counts_keeps_the_newest_and_the_oldest_hold():
    a = PageTotals({"create": 2, "unchanged": 1}, "2026-03-01T10:00:00", None, 3)
    b = PageTotals({"create": 1, "failed": 1}, "2026-03-01T09:00:00", "2026-03-01T08:30:00", 2)
    c = PageTotals({"failed": 1}, None, "2026-03-01T08:00:00", 1)
    total = a.combine(b).combine(c)
    assert dict(total.counts) == {"create": 3, "unchanged": 1, "failed": 2}
    assert total.newest == "2026-03-01T10:00:00"
    assert total.hold == "2026-03-01T08:00:00"
    assert total.stripe_requests == 6


def test_combine_leaves_both_sides_untouched_and_empty_is_neutral():
    a = PageTotals({"create": 1}, "2026-03-01T10:00:00", None, 1)
    assert a.combine(PageTotals()) == a
    assert PageTotals().combine(a) == a
    a.combine(PageTotals.counted("create"))
    assert dict(a.counts) == {"create": 1}


def test_a_failed_record_is_counted_and_held_under_its_own_outcome_name():
    failed = PageTotals.failed("2026-03-01T08:00:00", "deleted.failed")
    assert dict(failed.counts) == {"deleted.failed": 1}
    assert failed.hold == "2026-03-01T08:00:00"
    assert PageTotals.failed(None).count("failed") == 1
    assert PageTotals.counted("update").count("failed") == 0


def test_the_watermark_after_a_fold_moves_forward_unless_something_is_held():
    clean = PageTotals(newest="2026-03-01T10:00:00").combine(PageTotals(newest="2026-03-01T11:00:00"))
    assert next_watermark("2026-03-01T09:00:00", clean.newest, clean.hold) == "2026-03-01T11:00:00"
    held = clean.combine(PageTotals.failed("2026-03-01T10:30:00"))
    assert next_watermark("2026-03-01T09:00:00", held.newest, held.hold) == "2026-03-01T10:30:00"


def test_an_outage_is_every_request_of_a_page_failing_and_at_least_three_of_them():
    assert is_outage(3, 3)
    assert is_outage(100, 100)
    assert not is_outage(2, 2)  # two bad records are records, not an outage
    assert not is_outage(10, 9)
    assert not is_outage(0, 0)


def test_add_counts_a_record_by_its_outcome_or_as_failed_and_held():
    totals = PageTotals().add("create", failed=False, wall_clock="2026-03-01T10:00:00")
    totals = totals.add("update", failed=True, wall_clock="2026-03-01T09:00:00")
    totals = totals.add("deleted.withdraw", failed=True, wall_clock=None, failed_as="deleted.failed")
    assert dict(totals.counts) == {"create": 1, "failed": 1, "deleted.failed": 1}
    assert totals.hold == "2026-03-01T09:00:00"  # a success holds nothing; a failure without a time neither
    assert totals.newest is None  # the page's newest is what it read, not what it counted
