"""The gateway's limits and trust settings (issue 13): defaults, validation, messages naming the variable."""

from __future__ import annotations

import pytest

from ml_connector.config import ConfigError, load_settings

BASE = {"MLC_QBWC_USERNAME": "u", "MLC_QBWC_PASSWORD": "password1"}


def test_defaults_are_safe_for_an_internet_facing_gateway():
    limits = load_settings(BASE).limits
    assert limits.soap_max_body_bytes == 256 * 1024
    assert (limits.http_header_timeout_seconds, limits.http_body_timeout_seconds) == (10, 60)
    assert limits.http_max_connections == 200 and limits.retention_days == 90
    assert limits.trusted_proxies == () and limits.login_free_failures == 3


def test_limits_are_read_and_normalised():
    settings = load_settings(
        {
            **BASE,
            "MLC_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8,::1",
            "MLC_ALLOWED_HOSTS": "Sync.Example.com,*.internal",
            "MLC_SOAP_MAX_BYTES": str(64 * 1024),
            "MLC_RETENTION_DAYS": "0",
            "MLC_STRIPE_ACCOUNT": "acct_1Nx",
        }
    )
    assert settings.limits.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8", "::1/128")
    assert settings.limits.allowed_hosts == ("sync.example.com", "*.internal")
    assert settings.limits.soap_max_body_bytes == 64 * 1024 and settings.limits.retention_days == 0
    assert settings.stripe.account_id == "acct_1Nx"


def test_a_small_overall_body_cap_lowers_the_soap_default_with_it():
    assert load_settings({**BASE, "MLC_MAX_BODY_BYTES": str(64 * 1024)}).limits.soap_max_body_bytes == 64 * 1024


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MLC_TRUSTED_PROXIES", "the proxy"),
        ("MLC_ALLOWED_HOSTS", "bad host/"),
        ("MLC_SOAP_MAX_BYTES", str(32 * 1024 * 1024)),
        ("MLC_HTTP_MAX_CONNECTIONS", "2"),
        ("MLC_LOGIN_MAX_DELAY_SECONDS", "1"),
        ("MLC_STRIPE_ACCOUNT", "sk_live_x"),
    ],
)
def test_a_wrong_value_names_its_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({**BASE, name: value})
