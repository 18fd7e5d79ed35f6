"""The workflow tests run on the time-skipping dev server: a workflow waiting out a debounce, a hold or the next
poll with nothing in flight has its virtual clock moved on, so a branch behind a timer is proven in about a
second of wall time instead of the timer's length."""

from __future__ import annotations

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment


@pytest.fixture
def temporal_client(time_skipping_env: WorkflowEnvironment) -> Client:
    return time_skipping_env.client
