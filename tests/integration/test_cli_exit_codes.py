"""The `ml-connector` command fails in one line with the fix and a documented exit code, never a traceback.

0 ok, 1 found a problem, 2 bad input or configuration, 3 a system unreachable (ml_connector/cli/errors.py).
Each case runs the real console script in a subprocess with a clean environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.slow

CLI = str(Path(sys.executable).parent / "ml-connector")
COMPANY = {"MLC_QBWC_USERNAME": "acme-qbwc", "MLC_QBWC_PASSWORD": "a long password"}


def run_cli(tmp_path: Path, *args: str, timeout: float = 90, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLC_", "TEMPORAL_"))}
    clean.update({"MLC_DATA_DIR": str(tmp_path / "data"), **env})
    return subprocess.run(
        [CLI, *args], env=clean, capture_output=True, text=True, timeout=timeout, cwd=tmp_path, check=False
    )


def one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ml-connector: ")
    return lines[0]


def test_temporal_unreachable_is_exit_3_with_the_address_and_the_fix(tmp_path: Path):
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    result = run_cli(tmp_path, "sync", "now", MLC_TEMPORAL_ADDRESS=address, **COMPANY)
    assert result.returncode == 3
    line = one_line_failure(result)
    assert address in line and "unreachable" in line and "MLC_TEMPORAL_ADDRESS" in line


def test_temporal_address_from_temporals_own_variable(tmp_path: Path):
    address = f"127.0.0.1:{free_port()}"
    result = run_cli(tmp_path, "sync", "now", TEMPORAL_ADDRESS=address, **COMPANY)
    assert result.returncode == 3
    assert address in one_line_failure(result)


def test_backfill_with_temporal_unreachable_is_exit_3(tmp_path: Path):
    result = run_cli(
        tmp_path,
        "backfill",
        "payments",
        "--since",
        "2026-01-01",
        MLC_TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
        MLC_STRIPE_API_KEY="sk_test_unreachable",
    )
    assert result.returncode == 3
    assert "Temporal is unreachable" in one_line_failure(result)


def test_database_unreachable_is_exit_3_without_the_password(tmp_path: Path):
    url = f"postgresql+psycopg://mlc:hunter2secret@127.0.0.1:{free_port()}/mlc"
    result = run_cli(tmp_path, "migrate", MLC_DATABASE_URL=url)
    assert result.returncode == 3
    line = one_line_failure(result)
    assert "database is unreachable" in line and "MLC_DATABASE_URL" in line
    assert "hunter2secret" not in result.stderr


def test_bad_configuration_is_exit_2_naming_the_variable(tmp_path: Path):
    result = run_cli(tmp_path, "migrate", MLC_PORT="eighty")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "MLC_PORT" in result.stderr


def test_a_missing_temporal_profile_is_exit_2(tmp_path: Path):
    result = run_cli(tmp_path, "sync", "now", TEMPORAL_CONFIG_FILE=str(tmp_path / "nope.toml"), **COMPANY)
    assert result.returncode == 2
    assert "TEMPORAL_CONFIG_FILE" in result.stderr and "Traceback" not in result.stderr


def test_migrate_check_config_refuses_a_setup_without_a_company_file(tmp_path: Path):
    result = run_cli(tmp_path, "migrate", "--check-config")
    assert result.returncode == 2
    assert "MLC_QBWC_USERNAME" in one_line_failure(result)
    ok = run_cli(tmp_path, "migrate", "--check-config", **COMPANY)
    assert ok.returncode == 0, ok.stderr
    assert "database schema at revision" in ok.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["backfill", "payments", "--since", "2026-13-01"],
        ["backfill", "payments"],
        ["audit", "--limit", "0"],
        ["links", "rebuild", "--timeout", "soon"],
        ["no-such-command"],
    ],
)
def test_bad_input_is_exit_2_with_usage(tmp_path: Path, args: list[str]):
    result = run_cli(tmp_path, *args)
    assert result.returncode == 2
    assert "usage:" in result.stderr and "Traceback" not in result.stderr


def test_every_command_help_names_environment_defaults_and_exit_codes():
    from ml_connector.cli.main import build_parser

    parser = build_parser()
    seen = 0
    stack = [("ml-connector", parser)]
    while stack:
        name, current = stack.pop()
        subparsers = [a for a in current._actions if a.__class__.__name__ == "_SubParsersAction"]
        for action in subparsers:
            for sub_name, sub in action.choices.items():  # type: ignore[union-attr]
                stack.append((f"{name} {sub_name}", sub))
        if subparsers:
            continue
        text = current.format_help()
        seen += 1
        assert "exit status:" in text, f"{name} --help has no exit codes"
        assert "3  " in text, f"{name} --help does not document exit code 3"
        for action in current._actions:
            if action.option_strings and action.help and action.default not in (None, False, "==SUPPRESS=="):
                assert "default" in action.help, f"{name} {action.option_strings[0]}: default not in --help"
    assert seen >= 14


async def test_backfill_already_running_is_one_line_and_wait_follows_it(temporal_client, tmp_path: Path):
    """No worker polls this task queue, so the first backfill stays running while the others arrive."""
    target = temporal_client.service_client.config.target_host
    company = f"cli{uuid.uuid4().hex[:8]}"
    env = {
        "MLC_TEMPORAL_ADDRESS": target,
        "MLC_TASK_QUEUE": f"cli-exit-codes-{company}",
        "MLC_STRIPE_API_KEY": "sk_test_backfill",
        "MLC_TEMPORAL_UI_URL": "http://127.0.0.1:8233",
    }
    args = ("backfill", "payments", "--since", "2026-01-01", "--company", company)
    workflow_id = f"backfill/{company}/2026-01-01"
    try:
        first = run_cli(tmp_path, *args, **env)
        assert first.returncode == 0, first.stderr
        assert workflow_id in first.stdout and "http://127.0.0.1:8233/namespaces/default/workflows/" in first.stdout

        second = run_cli(tmp_path, *args, **env)
        assert second.returncode == 1
        line = one_line_failure(second)
        assert "already running" in line and "--wait" in line

        waiting = run_cli(tmp_path, *args, "--wait", "--timeout", "0.05", **env)
        assert waiting.returncode == 1
        assert "already running" in waiting.stdout and "waiting for it" in waiting.stdout
        line = one_line_failure(waiting)
        assert "not finished within 0.05 min" in line and workflow_id in line
    finally:
        await temporal_client.get_workflow_handle(workflow_id).terminate("test over")
