"""Temporal client settings come from Temporal's environment configuration, with MLC_TEMPORAL_* on top."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_connector.config import ConfigError, load_settings
from ml_connector.temporal import connect_options


def test_nothing_set_means_the_embedded_dev_server():
    settings = load_settings({})
    assert settings.embedded_temporal
    assert connect_options(settings) == {"target_host": "127.0.0.1:7233", "namespace": "default"}


def test_temporal_variables_reach_the_client_and_the_api_key_turns_tls_on():
    env = {
        "TEMPORAL_ADDRESS": "acme.a1b2c.tmprl.cloud:7233",
        "TEMPORAL_NAMESPACE": "acme.a1b2c",
        "TEMPORAL_API_KEY": "the-api-key",
    }
    settings = load_settings(env)
    assert not settings.embedded_temporal
    assert settings.temporal_target == "acme.a1b2c.tmprl.cloud:7233"
    assert settings.temporal_namespace == "acme.a1b2c"
    options = connect_options(settings)
    assert options["api_key"] == "the-api-key" and options["tls"] is True
    assert "the-api-key" not in repr(settings)
    assert settings.temporal_ui_url == ""  # no embedded Web UI to link to


def test_mlc_variables_win_over_temporal_ones():
    settings = load_settings(
        {
            "MLC_TEMPORAL_ADDRESS": "temporal:7233",
            "MLC_TEMPORAL_NAMESPACE": "mlc",
            "TEMPORAL_ADDRESS": "elsewhere:7233",
            "TEMPORAL_NAMESPACE": "other",
        }
    )
    assert connect_options(settings) == {"target_host": "temporal:7233", "namespace": "mlc"}


def test_mtls_files_from_a_profile(tmp_path: Path):
    cert, key, ca = tmp_path / "client.pem", tmp_path / "client.key", tmp_path / "ca.pem"
    cert.write_bytes(b"CERT")
    key.write_bytes(b"KEY")
    ca.write_bytes(b"CA")
    config = tmp_path / "temporal.toml"
    config.write_text(
        f"""
[profile.prod]
address = "temporal.internal:7233"
namespace = "payments"
[profile.prod.tls]
client_cert_path = "{cert}"
client_key_path = "{key}"
server_ca_cert_path = "{ca}"
server_name = "temporal.internal"
"""
    )
    settings = load_settings({"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "prod"})
    options = connect_options(settings)
    assert options["target_host"] == "temporal.internal:7233" and options["namespace"] == "payments"
    tls = options["tls"]
    assert tls.client_cert == b"CERT" and tls.client_private_key == b"KEY"
    assert tls.server_root_ca_cert == b"CA" and tls.domain == "temporal.internal"


def test_a_profile_file_is_read_only_when_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    home_config = tmp_path / "temporal.toml"
    home_config.write_text('[profile.default]\naddress = "cloud.example:7233"\n')
    monkeypatch.setenv("HOME", str(tmp_path))  # even a personal CLI profile is not picked up by surprise
    assert load_settings({}).embedded_temporal
    assert load_settings({"TEMPORAL_CONFIG_FILE": str(home_config)}).temporal_target == "cloud.example:7233"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TEMPORAL_CONFIG_FILE": "/nonexistent/temporal.toml"}, "TEMPORAL_CONFIG_FILE"),
        ({"TEMPORAL_TLS_CLIENT_CERT_PATH": "/nonexistent/c.pem", "TEMPORAL_TLS_CLIENT_KEY_PATH": "/x"}, "TEMPORAL_TLS"),
    ],
)
def test_unreadable_temporal_settings_are_configuration_errors(env: dict[str, str], named: str):
    with pytest.raises(ConfigError, match=named):
        load_settings(env)


def test_an_unknown_profile_is_a_configuration_error(tmp_path: Path):
    config = tmp_path / "temporal.toml"
    config.write_text('[profile.default]\naddress = "x:7233"\n')
    with pytest.raises(ConfigError, match="TEMPORAL_PROFILE"):
        load_settings({"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "staging"})
