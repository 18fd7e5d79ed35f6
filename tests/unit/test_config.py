"""Configuration: what a user sets, what they get, and the messages when it is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_connector.config import ConfigError, load_settings


def test_the_embedded_default_needs_no_configuration(tmp_path: Path):
    settings = load_settings({"MLC_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'ml-connector.db'}"
    assert settings.embedded_temporal and settings.temporal_target == "127.0.0.1:7233"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.qbwc_url == "http://127.0.0.1:8000/qbwc"
    assert settings.companies == ()


def test_one_company_from_environment_variables():
    settings = load_settings(
        {"MLC_QBWC_USERNAME": "acme", "MLC_QBWC_PASSWORD": "s3cret-password", "MLC_POLL_MINUTES": "2"}
    )
    (company,) = settings.companies
    assert (company.id, company.qbwc_username, company.poll_minutes) == ("default", "acme", 2)
    assert "s3cret-password" not in repr(settings), "the password never shows in a repr"


def test_several_companies_from_a_toml_file(tmp_path: Path):
    path = tmp_path / "mlc.toml"
    path.write_text(
        '[[companies]]\nid = "acme"\nqbwc_username = "a"\nqbwc_password = "password-a"\npoll_minutes = 1\n'
        '[[companies]]\nid = "beta"\nqbwc_username = "b"\nqbwc_password = "password-b"\ntimezone = "Europe/London"\n'
    )
    settings = load_settings({"MLC_CONFIG": str(path), "MLC_POLL_MINUTES": "7"})
    assert [(c.id, c.poll_minutes, c.timezone) for c in settings.companies] == [
        ("acme", 1, "America/New_York"),
        ("beta", 7, "Europe/London"),
    ]


def test_postgresql_urls_use_psycopg_3():
    settings = load_settings({"MLC_DATABASE_URL": "postgresql://u@db:5432/mlc"})
    assert settings.database_url == "postgresql+psycopg://u@db:5432/mlc"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MLC_POLL_MINUTES": "0"}, "MLC_POLL_MINUTES: must be ≥ 1 (got 0)"),
        ({"MLC_POLL_MINUTES": "often"}, "MLC_POLL_MINUTES: 'often' is not a whole number"),
        ({"MLC_PORT": "99999"}, "MLC_PORT: must be ≤ 65535"),
        ({"MLC_PUBLIC_URL": "http://sync.example.com"}, "only accepts https except for localhost"),
        ({"MLC_PUBLIC_URL": "sync.example.com"}, "is not an http(s) URL"),
        ({"MLC_DATABASE_URL": "mysql://x"}, "MLC_DATABASE_URL: unsupported database 'mysql'"),
        ({"MLC_QBWC_USERNAME": "acme", "MLC_QBWC_PASSWORD": "short"}, "at least 8 characters"),
        ({"MLC_QBWC_PASSWORD": "long-enough-password"}, "the Web Connector user name is empty"),
        ({"MLC_CONFIG": "/nonexistent/mlc.toml"}, "MLC_CONFIG: /nonexistent/mlc.toml does not exist"),
        ({"MLC_STRIPE_API_KEY": "pk_test_123"}, "expected a secret or restricted key"),
        ({"MLC_STRIPE_WEBHOOK_SECRET": "nope"}, "each secret starts with whsec_"),
        ({"MLC_STRIPE_API_BASE": "http://stripe.example.com"}, "plain http is only allowed"),
        ({"MLC_WORKER_NICE": "25"}, "MLC_WORKER_NICE: must be ≤ 19"),
    ],
)
def test_a_wrong_setting_stops_the_start_with_a_message_naming_it(env: dict[str, str], message: str):
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert message in str(caught.value)


def test_every_problem_is_reported_at_once_and_secrets_are_not_echoed():
    with pytest.raises(ConfigError) as caught:
        load_settings({"MLC_POLL_MINUTES": "0", "MLC_PORT": "x", "MLC_QBWC_USERNAME": "u", "MLC_QBWC_PASSWORD": "pw1"})
    text = str(caught.value)
    assert "MLC_POLL_MINUTES" in text and "MLC_PORT" in text and "8 characters" in text
    assert "pw1" not in text


def test_one_web_connector_user_per_company_file(tmp_path: Path):
    path = tmp_path / "mlc.toml"
    path.write_text(
        '[[companies]]\nid = "a"\nqbwc_username = "same"\nqbwc_password = "password-a"\n'
        '[[companies]]\nid = "b"\nqbwc_username = "same"\nqbwc_password = "password-b"\n'
    )
    with pytest.raises(ConfigError, match="used twice"):
        load_settings({"MLC_CONFIG": str(path)})
