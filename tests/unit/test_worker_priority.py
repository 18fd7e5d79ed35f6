"""The worker yields the CPU to the gateway when they share a host (MLC_WORKER_NICE)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml_connector.config import load_settings

ROOT = Path(__file__).parents[2]
PROBE = (
    "import os, sys\n"
    "from ml_connector.cli.main import yield_cpu_to_the_gateway\n"
    "before = os.nice(0)\n"
    "yield_cpu_to_the_gateway(int(sys.argv[1]))\n"
    "print(os.nice(0) - before)\n"
)


def _lowered_by(niceness: int) -> int:
    """Run the worker's priority step in a child process (niceness is per process and only goes up)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(niceness)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip())


def test_the_worker_runs_at_lower_cpu_priority_than_the_gateway_by_default(tmp_path: Path) -> None:
    assert load_settings({"MLC_DATA_DIR": str(tmp_path)}).worker_nice == 10


@pytest.mark.skipif(not hasattr(os, "nice"), reason="no process niceness on this platform")
def test_a_worker_lowers_its_own_priority_by_the_configured_amount() -> None:
    assert _lowered_by(10) == min(10, 19 - os.nice(0))


@pytest.mark.skipif(not hasattr(os, "nice"), reason="no process niceness on this platform")
def test_mlc_worker_nice_zero_leaves_the_priority_alone() -> None:
    assert _lowered_by(0) == 0
