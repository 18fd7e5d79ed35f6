"""The deployment files a user runs: docker-compose.yml and the Dockerfile stay valid and complete."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_docker_compose_file_is_valid_and_runs_the_whole_stack():
    binary = shutil.which("docker-compose")
    assert binary, (
        "docker-compose (v1) is needed to validate docker-compose.yml; scripts/services installs it"
    )
    env = {**os.environ, "MLC_PUBLIC_URL": "https://sync.example.com"}
    out = subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "config"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    services = yaml.safe_load(out)["services"]
    assert {"postgresql", "temporal", "temporal-ui", "gateway", "worker"} <= set(services)
    assert services["gateway"]["command"] == ["ml-connector", "gateway"]
    assert services["worker"]["command"] == ["ml-connector", "worker"]
    assert services["gateway"]["environment"]["MLC_TEMPORAL_ADDRESS"] == "temporal:7233"


def test_docker_compose_refuses_to_start_without_a_public_url():
    binary = shutil.which("docker-compose")
    assert binary
    env = {k: v for k, v in os.environ.items() if k != "MLC_PUBLIC_URL"}
    result = subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "MLC_PUBLIC_URL" in result.stderr


def test_the_image_contains_every_top_level_package():
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\S+)", dockerfile, flags=re.M))
    for package in ("ml_connector", "gateway", "workflows", "activities", "worker.py"):
        assert package in copied, f"the Dockerfile does not copy {package}"
