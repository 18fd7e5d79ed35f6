"""Which companies post foreign-currency payments: MLC_MULTICURRENCY, or a company's own `multicurrency`."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine

from activities.audit import AuditActivities
from ml_connector.config import ConfigError, Settings, load_settings

CREDENTIALS = {"MLC_QBWC_USERNAME": "acme", "MLC_QBWC_PASSWORD": "s3cret-password", "MLC_COMPANY_ID": "acme"}


def _audit(settings: Settings) -> AuditActivities:
    """Built the way worker.build_activities builds it."""
    companies = [c for c in settings.companies if c.ledger is not None]
    return AuditActivities(
        create_engine("sqlite://"),
        settings.posting,
        {c.id: c.ledger.clearing_account for c in companies if c.ledger is not None},
        {c.id: c.ledger.multicurrency for c in companies if c.ledger is not None},
    )


def test_multicurrency_is_off_unless_configured():
    settings = load_settings(CREDENTIALS)
    assert settings.posting.multicurrency is False
    assert _audit(settings).payment_config("acme").multicurrency is False


def test_mlc_multicurrency_turns_it_on_for_payments_without_clearing_account_mode():
    settings = load_settings({**CREDENTIALS, "MLC_MULTICURRENCY": "true"})
    config = _audit(settings).payment_config("acme")
    assert config.multicurrency is True and config.clearing_account == ""


def test_a_company_in_clearing_account_mode_uses_its_own_multicurrency_setting(tmp_path: Path):
    path = tmp_path / "mlc.toml"
    path.write_text(
        '[[companies]]\nid = "euro"\nqbwc_username = "e"\nqbwc_password = "password-e"\n'
        'clearing_account = "Stripe Clearing"\nbank_account = "Checking"\nmulticurrency = true\n'
        '[[companies]]\nid = "home"\nqbwc_username = "h"\nqbwc_password = "password-h"\n'
    )
    audit = _audit(load_settings({"MLC_CONFIG": str(path)}))
    euro, home = audit.payment_config("euro"), audit.payment_config("home")
    assert (euro.multicurrency, euro.deposit_account) == (True, "Stripe Clearing")
    assert (home.multicurrency, home.deposit_account) == (False, "Undeposited Funds")


def test_a_wrong_multicurrency_value_is_reported():
    with pytest.raises(ConfigError, match="MLC_MULTICURRENCY"):
        load_settings({**CREDENTIALS, "MLC_MULTICURRENCY": "maybe"})
