"""What a resource handler receives: the store, who is asking, the decoded parameters, the path ids."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ml_connector.fakestripe.store import RequestInfo, Store


@dataclass(frozen=True)
class Call:
    store: Store
    info: RequestInfo
    params: Mapping[str, Any]
    path: Mapping[str, str]

    @property
    def livemode(self) -> bool:
        return self.info.livemode

    def now(self) -> int:
        return self.store.now()
