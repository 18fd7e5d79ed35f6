"""Clearing-account mode is configured by MLC_* variables or per company in TOML, and mistakes are named."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ml_connector.cli.check import required_events
from ml_connector.config import ConfigError, load_settings
from ml_connector.stripe.endpoints import missing_events

BASE = {"MLC_QBWC_USERNAME": "acme-qbwc", "MLC_QBWC_PASSWORD": "long enough password"}


def test_without_a_clearing_account_the_mode_is_off_and_payments_keep_their_deposit_account() -> None:
    settings = load_settings(BASE)
    assert settings.companies[0].ledger is None
    assert settings.clearing_company is None
    assert "payout.paid" not in required_events(settings)


def test_setting_a_clearing_account_turns_the_mode_on_with_documented_defaults() -> None:
    settings = load_settings({**BASE, "MLC_CLEARING_ACCOUNT": "Stripe Clearing", "MLC_BANK_ACCOUNT": "Checking"})
    ledger = settings.companies[0].ledger
    assert ledger is not None
    assert (ledger.clearing_account, ledger.bank_account, ledger.fees_account) == (
        "Stripe Clearing", "Checking", "Stripe Fees"
    )
    assert (ledger.fee_mode, ledger.lost_dispute, ledger.multicurrency, ledger.ledger_start) == (
        "per_charge", "reopen", False, None
    )
    policy = ledger.policy(home_currency="usd", payment_method="Stripe")
    assert policy.clearing_account == "Stripe Clearing" and policy.refund_item == "Stripe Refund"
    assert settings.clearing_company == "default"


def test_the_webhook_endpoint_must_also_send_refund_dispute_and_payout_events_in_clearing_mode() -> None:
    settings = load_settings({**BASE, "MLC_CLEARING_ACCOUNT": "Stripe Clearing", "MLC_BANK_ACCOUNT": "Checking"})
    needed = required_events(settings)
    assert {"payout.paid", "payout.failed", "charge.dispute.closed", "refund.created"} <= set(needed)
    assert "payout.paid" in missing_events(["payment_intent.succeeded", "charge.succeeded"], needed)
    assert missing_events(["*"], needed) == []


def test_every_mistake_is_reported_at_once_naming_both_spellings() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({
            **BASE,
            "MLC_CLEARING_ACCOUNT": "Checking",
            "MLC_FEE_MODE": "weekly",
            "MLC_LOST_DISPUTE": "ignore",
            "MLC_LEDGER_START": "last tuesday",
        })
    message = str(raised.value)
    assert "bank_account (MLC_BANK_ACCOUNT)" in message
    assert "fee_mode (MLC_FEE_MODE): 'weekly'" in message
    assert "lost_dispute (MLC_LOST_DISPUTE): 'ignore'" in message
    assert "ledger_start (MLC_LEDGER_START)" in message


def test_the_clearing_account_cannot_be_the_bank_account() -> None:
    with pytest.raises(ConfigError, match="must be its own account"):
        load_settings({**BASE, "MLC_CLEARING_ACCOUNT": "checking", "MLC_BANK_ACCOUNT": "Checking"})


def test_toml_keys_per_company_override_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "companies.toml"
    config.write_text(
        """
[[companies]]
id = "acme"
qbwc_username = "acme-qbwc"
qbwc_password = "long enough password"
clearing_account = "Stripe Clearing"
bank_account = "Operating"
fee_mode = "per_payout"
lost_dispute = "write_off"
multicurrency = true
ledger_start = 2026-11-01

[[companies]]
id = "acme-canada"
qbwc_username = "acme-ca-qbwc"
qbwc_password = "another long password"
""",
        encoding="utf-8",
    )
    settings = load_settings({"MLC_CONFIG": str(config), "MLC_BANK_ACCOUNT": "Checking"})
    acme, canada = settings.companies
    assert acme.ledger is not None and canada.ledger is None
    assert (acme.ledger.bank_account, acme.ledger.fee_mode, acme.ledger.lost_dispute) == (
        "Operating", "per_payout", "write_off"
    )
    assert acme.ledger.multicurrency is True
    assert acme.ledger.ledger_start == date(2026, 11, 1)


def test_only_one_company_per_stripe_account_may_use_the_mode(tmp_path: Path) -> None:
    config = tmp_path / "companies.toml"
    config.write_text(
        """
[[companies]]
id = "a"
qbwc_username = "a-qbwc"
qbwc_password = "long enough password"

[[companies]]
id = "b"
qbwc_username = "b-qbwc"
qbwc_password = "long enough password"
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="payouts cannot be split"):
        load_settings({"MLC_CONFIG": str(config), "MLC_CLEARING_ACCOUNT": "Stripe Clearing", "MLC_BANK_ACCOUNT": "B"})
