"""``/metrics`` of a worker process: its own counters plus Temporal's SDK metrics, on a port of its own.

A worker running as its own process (compose, several hosts) makes the Stripe calls of every sync and payment,
and only it knows how many it made and how many drew a 429; the Temporal SDK inside it knows its task slots,
poll latencies, activity and workflow-task failures. Both are served here, in one Prometheus scrape:

* this process's counters (``ml_connector.metrics``: ``mlc_stripe_requests_total``,
  ``mlc_stripe_rate_limited_total`` …). The *state* gauges read from the database (queue depth, payments by
  status) are left to the gateway's ``/metrics``: they are the same whichever process reads them, and scraping
  them from every worker too would count each one several times in a dashboard's ``sum``.
* Temporal's SDK metrics (``temporal_*``: ``temporal_activity_execution_failed_total``,
  ``temporal_workflow_task_schedule_to_start_latency`` (seconds), ``temporal_worker_task_slots_available`` …). The
  SDK core serves them in Prometheus format itself (``temporalio.runtime.PrometheusConfig``) on a loopback port
  of its own that is not published; this server appends that text to its answer.

``MLC_WORKER_METRICS_PORT`` (default 9464; 0 turns it off) and ``MLC_WORKER_METRICS_HOST`` (default 127.0.0.1)
say where. A port already taken stops the worker with a message that says so, rather than running unobserved.
"""

from __future__ import annotations

import logging
import socket
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from ml_connector import metrics
from ml_connector.config import ConfigError

log = logging.getLogger(__name__)

SDK_FETCH_TIMEOUT_S = 2.0


class MetricsPortInUse(ConfigError):
    """The configured metrics address cannot be bound (another worker on this host has it?): a setting to fix
    (the CLI exits with 2 and this one line)."""


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def temporal_runtime(sdk_port: int) -> Runtime:
    """A Temporal runtime whose SDK metrics are served in Prometheus format on ``127.0.0.1:sdk_port``.

    Counters end in ``_total`` and durations are in seconds, as Prometheus conventions (and the dashboard)
    expect.
    """
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=f"127.0.0.1:{sdk_port}",
                counters_total_suffix=True,
                durations_as_seconds=True,
            )
        )
    )


def render_process() -> bytes:
    """This process's own counters (no database state; see the module docstring)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics.ProcessCollector())
    return generate_latest(registry)


def fetch_sdk_metrics(sdk_url: str) -> bytes:
    """The SDK's exposition text; an empty answer (and a comment saying why) when it cannot be read."""
    try:
        with urllib.request.urlopen(sdk_url, timeout=SDK_FETCH_TIMEOUT_S) as answer:  # noqa: S310 - loopback
            body: bytes = answer.read()
            return body
    except OSError as exc:
        return f"# temporal SDK metrics unavailable: {type(exc).__name__}\n".encode()


class WorkerMetricsServer:
    """A small threaded HTTP server answering ``GET /metrics`` (and nothing else) in a daemon thread."""

    def __init__(self, host: str, port: int, *, sdk_url: str | None = None) -> None:
        self.sdk_url = sdk_url
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404)
                    return
                body = owner.render()
                self.send_response(200)
                self.send_header("Content-Type", metrics.CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - scrapes are not news
                return

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise MetricsPortInUse(
                f"MLC_WORKER_METRICS_PORT: cannot listen on {host}:{port} ({exc.strerror}); another worker on "
                f"this host has it? Give each worker its own port, or 0 to turn its /metrics off"
            ) from None
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="mlc-worker-metrics", daemon=True
        )

    def render(self) -> bytes:
        body = render_process()
        if self.sdk_url:
            body += fetch_sdk_metrics(self.sdk_url)
        return body

    def start(self) -> WorkerMetricsServer:
        self._thread.start()
        log.info("worker: /metrics on http://%s:%d/metrics", self.host, self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
