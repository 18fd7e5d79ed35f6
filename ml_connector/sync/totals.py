"""What a run of pages adds up to: counts, the newest TimeModified read, the oldest one to read again.

One value, folded with :meth:`PageTotals.combine`, whether the parts are customers of one page (in the
activity), pages of one poll (in the workflow), or the invoice pages and the deletions of one poll. Folding the
same way everywhere is what keeps the watermark rule in one place: move forward to ``newest``, unless something
failed, then back to ``hold`` (``watermark.next_watermark``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ml_connector.sync.watermark import earliest, next_watermark

# A page whose every Stripe request failed, and that had at least this many, is failed as a whole: it is an
# outage (a bad key, Stripe down), not a few bad records, and the activity's retry is the right answer.
OUTAGE_MIN_REQUESTS = 3


@dataclass(frozen=True)
class PageTotals:
    """Counts per outcome, the newest wall clock read, the oldest wall clock that must be read again, and
    the Stripe requests spent."""

    counts: Mapping[str, int] = field(default_factory=dict)
    newest: str | None = None
    hold: str | None = None
    stripe_requests: int = 0

    def combine(self, other: PageTotals) -> PageTotals:
        counts = dict(self.counts)
        for name, count in other.counts.items():
            counts[name] = counts.get(name, 0) + count
        return PageTotals(
            counts=counts,
            newest=next_watermark(self.newest, other.newest, None),
            hold=earliest(self.hold, other.hold),
            stripe_requests=self.stripe_requests + other.stripe_requests,
        )

    @staticmethod
    def counted(outcome: str) -> PageTotals:
        """One record that ended as ``outcome``."""
        return PageTotals(counts={outcome: 1})

    @staticmethod
    def failed(wall_clock: str | None, outcome: str = "failed") -> PageTotals:
        """One record whose Stripe side failed: counted, and held so that the next poll reads it again."""
        return PageTotals(counts={outcome: 1}, hold=wall_clock)

    def add(
        self, outcome: str, *, failed: bool, wall_clock: str | None, failed_as: str = "failed"
    ) -> PageTotals:
        """These totals and one more record: counted as ``outcome``, or, when its Stripe side ``failed``, as
        ``failed_as`` and held at its ``wall_clock``."""
        return self.combine(
            PageTotals.failed(wall_clock, failed_as) if failed else PageTotals.counted(outcome)
        )

    def count(self, outcome: str) -> int:
        return self.counts.get(outcome, 0)


def is_outage(attempted: int, failed: int) -> bool:
    """Whether a page's failures mean Stripe is unusable rather than a few records are bad."""
    return attempted >= OUTAGE_MIN_REQUESTS and failed == attempted
