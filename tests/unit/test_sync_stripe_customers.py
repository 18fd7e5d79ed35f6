"""A customer born in Stripe, as QuickBooks can store it; and the watermark of each poll."""

from __future__ import annotations

from datetime import datetime

from ml_connector.qbxml.values import parse_qb_datetime
from ml_connector.sync.link_field import LinkField
from ml_connector.sync.stripe_customers import StripeCustomer, base_name, name_candidates, qb_fields
from ml_connector.sync.watermark import advance, next_watermark, query_from


def test_names_are_fitted_to_41_windows_1252_characters_without_colons():
    customer = StripeCustomer(id="cus_1", name="Łódź Trading: Export & Import Division of the North 🚚")
    name = base_name(customer)
    assert len(name) <= 41
    assert ":" not in name and "🚚" not in name
    assert name.startswith("Lodz Trading- Export")


def test_a_name_in_use_gets_a_counter_and_finally_the_stripe_id():
    names = list(name_candidates(StripeCustomer(id="cus_NW01", name="Northwind Traders")))
    assert names[:3] == ["Northwind Traders", "Northwind Traders (2)", "Northwind Traders (3)"]
    assert names[-1] == "cus_NW01"


def test_a_customer_without_a_name_is_named_by_email_or_id():
    assert base_name(StripeCustomer(id="cus_1", email="ap@example.com")) == "ap@example.com"
    assert base_name(StripeCustomer(id="cus_1", name="💼")) == "cus_1"


def test_our_own_customers_echoing_back_are_recognised():
    echo = StripeCustomer.from_api(
        {"id": "cus_1", "metadata": {"qb_list_id": "8000-1", "qb_company": "acme"}}
    )
    assert echo.came_from_quickbooks("acme")
    assert not StripeCustomer(id="cus_2").came_from_quickbooks("acme")


def test_in_notes_mode_the_stripe_id_travels_with_the_add():
    fields = qb_fields(
        StripeCustomer(id="cus_1", name="Zoë"), name="Zoë", field=LinkField("notes"), adding=True
    )
    assert fields.notes == "Stripe customer: cus_1"
    assert (
        qb_fields(StripeCustomer(id="cus_1"), name=None, field=LinkField("notes"), adding=False).notes is None
    )


def test_a_metadata_only_change_does_not_change_what_quickbooks_was_told():
    plain = StripeCustomer.from_api({"id": "cus_1", "name": "Zoë", "metadata": {}})
    tagged = StripeCustomer.from_api({"id": "cus_1", "name": "Zoë", "metadata": {"qb_list_id": "8000-1"}})
    assert plain.fingerprint() == tagged.fingerprint()


def test_the_next_poll_rereads_an_overlap_in_quickbooks_wall_clock():
    assert query_from(None) is None
    assert query_from("2026-07-13T15:17:54") == datetime(2026, 7, 13, 15, 15, 54)


def test_the_watermark_moves_forward_but_stops_at_unfinished_work():
    seen = [
        parse_qb_datetime("2026-07-13T15:17:54-05:00"),
        None,
        parse_qb_datetime("2026-07-13T16:00:00-05:00"),
    ]
    assert advance("2026-07-01T00:00:00", seen) == "2026-07-13T16:00:00"
    assert next_watermark("2026-07-01T00:00:00", "2026-07-13T16:00:00", None) == "2026-07-13T16:00:00"
    assert next_watermark("2026-07-01T00:00:00", "2026-07-13T16:00:00", "2026-07-05T09:00:00") == (
        "2026-07-05T09:00:00"
    )
    assert next_watermark("2026-07-01T00:00:00", None, None) == "2026-07-01T00:00:00"
