"""Where the operator API is unavailable (Temporal Cloud), the search attributes are checked, not registered."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

import ml_connector.temporal as temporal
from ml_connector.temporal import SEARCH_ATTRIBUTES, SearchAttributesMissing, ensure_search_attributes


class _NoOperatorApi:
    async def list_search_attributes(self, *_: Any, **__: Any) -> Any:
        raise RPCError("operator service is not supported", RPCStatusCode.UNIMPLEMENTED, b"")

    async def add_search_attributes(self, *_: Any, **__: Any) -> Any:
        raise AssertionError("must not try to register without the operator API")


class _CloudLikeClient:
    """The real dev-server client for visibility queries, without the operator API (like Temporal Cloud)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.operator_service = _NoOperatorApi()

    async def count_workflows(self, query: str) -> Any:
        return await self._client.count_workflows(query)


async def test_existing_search_attributes_pass_without_the_operator_api(temporal_client):
    await ensure_search_attributes(_CloudLikeClient(temporal_client), "default")  # type: ignore[arg-type]


async def test_a_missing_search_attribute_names_the_commands_to_add_it(temporal_client, monkeypatch):
    missing = SearchAttributeKey.for_keyword("MlcNeverRegistered")
    monkeypatch.setattr(temporal, "SEARCH_ATTRIBUTES", (*SEARCH_ATTRIBUTES, missing))
    with pytest.raises(SearchAttributesMissing) as caught:
        await ensure_search_attributes(_CloudLikeClient(temporal_client), "default")  # type: ignore[arg-type]
    message = str(caught.value)
    assert "lacks the search attributes MlcNeverRegistered, and" in message  # only the missing one
    assert "tcld namespace search-attributes add --namespace default" in message
    assert "temporal operator search-attribute create" in message
