"""Temporal client settings from Temporal's own environment configuration (``temporalio.envconfig``).

The same variables and TOML profiles the ``temporal`` CLI and every Temporal SDK read, so one set of settings
serves the CLI and ml-connector alike:

- ``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY`` (an API key turns TLS on);
- ``TEMPORAL_TLS=true``, ``TEMPORAL_TLS_SERVER_CA_CERT_PATH``, ``TEMPORAL_TLS_CLIENT_CERT_PATH`` and
  ``TEMPORAL_TLS_CLIENT_KEY_PATH`` (mTLS), ``TEMPORAL_TLS_SERVER_NAME``;
- ``TEMPORAL_GRPC_META_<NAME>`` headers;
- profiles in a TOML file (``[profile.NAME]`` tables with ``address``, ``namespace``, ``api_key`` and ``[tls]``):
  read only when ``TEMPORAL_CONFIG_FILE`` or ``TEMPORAL_PROFILE`` is set, so a personal profile of the
  ``temporal`` CLI never sends ``ml-connector dev`` to another server by surprise. Variables override the profile.

ml-connector's own ``MLC_TEMPORAL_ADDRESS`` / ``MLC_TEMPORAL_NAMESPACE`` still work and win over all of it.
Everything is read and checked (files exist, the profile is known) once, when the settings are loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from temporalio.envconfig import ClientConfigProfile


def load_temporal_profile(env: Mapping[str, str], problems: list[str]) -> ClientConfigProfile:
    """The Temporal client profile ``env`` describes; each problem found is appended to ``problems``."""
    config_file = env.get("TEMPORAL_CONFIG_FILE") or ""
    profile_name = env.get("TEMPORAL_PROFILE") or None
    use_file = bool(config_file or profile_name)
    if config_file and not Path(config_file).expanduser().is_file():
        problems.append(f"TEMPORAL_CONFIG_FILE: {config_file} does not exist (a TOML file of [profile.NAME] tables)")
        return ClientConfigProfile()
    try:
        profile = ClientConfigProfile.load(
            profile_name, disable_file=not use_file, override_env_vars=dict(env), config_file_strict=use_file
        )
    except Exception as exc:  # the SDK's core raises its own ConfigError type, or OSError for a file
        where = "TEMPORAL_PROFILE" if profile_name else "TEMPORAL_CONFIG_FILE" if config_file else "TEMPORAL_*"
        problems.append(f"{where}: the Temporal client configuration cannot be read: {exc}")
        return ClientConfigProfile()
    try:
        profile.to_client_connect_config()  # reads the TLS certificate and key files
    except OSError as exc:
        problems.append(
            f"TEMPORAL_TLS_*: cannot read {getattr(exc, 'filename', None) or exc}: "
            "check TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH and TEMPORAL_TLS_SERVER_CA_CERT_PATH "
            "(or the profile's [tls] table)"
        )
        return ClientConfigProfile()
    return profile
