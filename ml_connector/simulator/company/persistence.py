"""Saving and loading a company file as JSON (written atomically), with a codec driven by the dataclass
annotations so that adding a field to a record never needs codec changes."""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Self, Union, get_args, get_origin, get_type_hints

from ml_connector.simulator.company.core import CompanyCore
from ml_connector.simulator.company.records import Clock, DataExtDef, DeletedTransaction, StoredMessageSet


class Persistence(CompanyCore):
    """`to_json`/`from_json` and `save`/`load` of a company file (a mixin of `CompanyFile`)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "ml-connector-qb-simulator/1",
            "name": self.name,
            "time_zone": self.time_zone,
            "multicurrency": self.multicurrency,
            "home_currency": self.home_currency,
            "counters": {
                "list_seq": self._list_seq,
                "txn_seq": self._txn_seq,
                "txn_number": self._txn_number,
                "data_ext_id": self._data_ext_id,
            },
            **{
                attr: [_encode(record) for record in getattr(self, attr).values()]
                for attr, _ in self._SAVED_COLLECTIONS
            },
            "data_ext_defs": [_encode(d) for d in self.data_ext_defs],
            "deleted_transactions": [_encode(d) for d in self.deleted_transactions],
            "last_message_set": _encode(self.last_message_set) if self.last_message_set else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, clock: Clock | None = None) -> Self:
        company = cls(str(data["name"]), time_zone=str(data["time_zone"]), clock=clock)
        company.multicurrency = bool(data.get("multicurrency", False))
        company.home_currency = str(data.get("home_currency", "USD"))
        counters = data["counters"]
        company._list_seq = int(counters["list_seq"])
        company._txn_seq = int(counters["txn_seq"])
        company._txn_number = int(counters["txn_number"])
        company._data_ext_id = int(counters["data_ext_id"])
        for attr, record_type in cls._SAVED_COLLECTIONS:
            target = getattr(company, attr)
            for raw in data[attr]:
                record = _decode(record_type, raw)
                target[getattr(record, "txn_id", None) or record.list_id] = record
        company.data_ext_defs = [_decode(DataExtDef, d) for d in data["data_ext_defs"]]
        company.deleted_transactions = [
            _decode(DeletedTransaction, d) for d in data.get("deleted_transactions", [])
        ]
        stored = data.get("last_message_set")
        company.last_message_set = _decode(StoredMessageSet, stored) if stored else None
        company._rebuild_indexes()
        return company

    def save(self, path: str | Path) -> None:
        """Write atomically (temp file + rename) so a crash never leaves half a company file."""
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        with self.lock:
            payload = json.dumps(self.to_json(), ensure_ascii=False, indent=1)
        tmp.write_text(payload, encoding="utf-8")
        tmp.replace(target)

    @classmethod
    def load(cls, path: str | Path, *, clock: Clock | None = None) -> Self:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")), clock=clock)


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal | datetime | date):
        return value.isoformat() if not isinstance(value, Decimal) else str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(annotation: Any, raw: Any) -> Any:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        if raw is None:
            return None
        inner = next(a for a in get_args(annotation) if a is not type(None))
        return _decode(inner, raw)
    if annotation is Decimal:
        return Decimal(raw)
    if annotation is datetime:
        return datetime.fromisoformat(raw)
    if annotation is date:
        return date.fromisoformat(raw)
    if origin is list:
        (inner,) = get_args(annotation)
        return [_decode(inner, v) for v in raw]
    if origin is tuple:
        inner = get_args(annotation)[0]
        return tuple(_decode(inner, v) for v in raw)
    if origin is dict:
        _, inner = get_args(annotation)
        return {k: _decode(inner, v) for k, v in raw.items()}
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        hints = get_type_hints(annotation)
        # A field added after the file was saved keeps its default.
        return annotation(
            **{
                f.name: _decode(hints[f.name], raw[f.name])
                for f in dataclasses.fields(annotation)
                if f.name in raw
            }
        )
    return raw
