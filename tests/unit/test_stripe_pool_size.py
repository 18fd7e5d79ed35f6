"""How many threads a worker gives the sync's Stripe requests (activities/sync_pages.py)."""

from __future__ import annotations

from activities.sync_pages import stripe_threads


def test_the_stripe_pool_is_sized_so_the_rate_limit_not_the_round_trip_sets_the_pace():
    """Half a second a request at the configured rate (Stripe's round trips are a few hundred ms), bounded."""
    assert stripe_threads(100) == 50  # live mode
    assert stripe_threads(25) == 13  # test mode
    assert stripe_threads(1) == 8 and stripe_threads(None) == 8
    assert stripe_threads(1_000) == 64
