"""The fake's whole state: every Stripe object, the clock, and the event log — behind one lock.

Objects are kept in their Stripe JSON shape (plain dicts of JSON types), so rendering a response or an
event snapshot is a deep copy, never a translation that could drift from what the API returns. Test
mode and live mode are separate worlds, as in Stripe: an object made with an ``sk_test_`` key is
invisible to an ``sk_live_`` key.

Locking: request handlers and the webhook thread both touch the store; every access happens while
holding ``Store.lock`` (re-entrant). The store calls event sinks *while holding the lock*; sinks must
only enqueue and never call back into the store from another thread while holding their own lock.
"""

from __future__ import annotations

import copy
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ml_connector.fakestripe.errors import no_such

Obj = dict[str, Any]

API_VERSION = "2026-10-28.endive"
"""The API version this fake speaks; it matches the pinned SDK (a unit test cross-checks it)."""

_ALPHABET = string.ascii_letters + string.digits

# object type → (id prefix, the noun Stripe uses in "No such …" errors)
KINDS: dict[str, tuple[str, str]] = {
    "customer": ("cus", "customer"),
    "invoice": ("in", "invoice"),
    "invoiceitem": ("ii", "invoiceitem"),
    "line_item": ("il", "line item"),
    "invoice_payment": ("inpay", "invoice payment"),
    "payment_intent": ("pi", "payment_intent"),
    "charge": ("ch", "charge"),
    "refund": ("re", "refund"),
    "balance_transaction": ("txn", "balance transaction"),
    "payment_method": ("pm", "PaymentMethod"),
    "event": ("evt", "event"),
    "webhook_endpoint": ("we", "webhook endpoint"),
    "payout": ("po", "payout"),
    "dispute": ("du", "dispute"),
}


class Clock:
    """Wall-clock time plus an offset that tests can advance (``/_fake/clock/advance``)."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def now(self) -> int:
        return int(self.time())

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0


@dataclass(frozen=True)
class RequestInfo:
    """Who asked: stamped on created objects (livemode) and on events (``request.id``/idempotency key)."""

    api_key: str
    livemode: bool
    request_id: str | None
    idempotency_key: str | None


@dataclass(frozen=True)
class EndpointTarget:
    """A webhook endpoint an event must be delivered to, captured when the event happened."""

    endpoint_id: str
    url: str
    secret: str


EventSink = Callable[[Obj, list[EndpointTarget]], None]


def random_token(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


class Store:
    def __init__(self, clock: Clock | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = clock or Clock()
        self._objects: dict[str, Obj] = {}
        self._order: dict[str, list[str]] = {kind: [] for kind in KINDS}
        self._deleted: set[str] = set()
        self._sequence: dict[str, int] = {}
        self.webhook_secrets: dict[str, str] = {}
        self._sinks: list[EventSink] = []

    # -- identity -------------------------------------------------------------------------------

    def new_id(self, kind: str) -> str:
        prefix = KINDS[kind][0]
        while True:
            candidate = f"{prefix}_{random_token(24)}"
            if candidate not in self._objects:
                return candidate

    def now(self) -> int:
        return self.clock.now()

    # -- objects --------------------------------------------------------------------------------

    def add(self, obj: Obj) -> Obj:
        with self.lock:
            self._objects[obj["id"]] = obj
            self._sequence.setdefault(obj["id"], len(self._sequence))
            self._order[obj["object"]].append(obj["id"])
            return obj

    def get(
        self, kind: str, object_id: str, livemode: bool, *, param: str | None = "id", deleted_ok: bool = False
    ) -> Obj:
        """The live object (mutate it in place while holding the lock) or a 404 in Stripe's words."""
        with self.lock:
            obj = self._objects.get(object_id)
            if (
                obj is None
                or obj["object"] != kind
                or obj.get("livemode") != livemode
                or (object_id in self._deleted and not deleted_ok)
            ):
                raise no_such(KINDS[kind][1], object_id, param=param)
            return obj

    def sequence_of(self, object_id: str) -> int | None:
        """Creation order, the tie-breaker that keeps pagination stable within one second."""
        with self.lock:
            return self._sequence.get(object_id)

    def is_deleted(self, object_id: str) -> bool:
        with self.lock:
            return object_id in self._deleted

    def mark_deleted(self, object_id: str) -> None:
        with self.lock:
            self._deleted.add(object_id)

    def find(self, object_id: str, livemode: bool) -> Obj | None:
        """Any live object by id (for ``expand``); None when unknown or from the other mode."""
        with self.lock:
            obj = self._objects.get(object_id)
            if obj is None or obj.get("livemode") != livemode or object_id in self._deleted:
                return None
            return obj

    def all(self, kind: str, livemode: bool) -> list[Obj]:
        """Newest first, the order of every Stripe list endpoint."""
        with self.lock:
            return [
                self._objects[object_id]
                for object_id in reversed(self._order[kind])
                if object_id not in self._deleted and self._objects[object_id].get("livemode") == livemode
            ]

    def present(self, obj: Obj) -> Obj:
        """A response-ready deep copy, with the few fields Stripe computes on read."""
        with self.lock:
            view = copy.deepcopy(obj)
            if view["object"] == "invoice":
                lines = view["lines"]
                lines["has_more"] = len(lines["data"]) > 10
                lines["data"] = lines["data"][:10]
            elif view["object"] == "balance_transaction":
                view["status"] = "available" if view["available_on"] <= self.now() else "pending"
            return view

    # -- events ---------------------------------------------------------------------------------

    def add_event_sink(self, sink: EventSink) -> None:
        with self.lock:
            self._sinks.append(sink)

    def record_event(
        self, event_type: str, obj: Obj, info: RequestInfo | None, previous_attributes: Obj | None = None
    ) -> Obj:
        """Log a Stripe event holding a snapshot of ``obj`` and hand it to the webhook sinks."""
        with self.lock:
            livemode = bool(obj.get("livemode"))
            targets = self._targets_for(event_type, livemode)
            data: Obj = {"object": self.present(obj)}
            if previous_attributes is not None:
                data["previous_attributes"] = copy.deepcopy(previous_attributes)
            event: Obj = {
                "id": self.new_id("event"),
                "object": "event",
                "api_version": API_VERSION,
                "created": self.now(),
                "data": data,
                "livemode": livemode,
                "pending_webhooks": len(targets),
                "request": {
                    "id": info.request_id if info else None,
                    "idempotency_key": info.idempotency_key if info else None,
                },
                "type": event_type,
            }
            self.add(event)
            for sink in self._sinks:
                sink(copy.deepcopy(event), targets)
            return event

    def delivery_succeeded(self, event_id: str) -> None:
        """One endpoint acknowledged the event: Stripe counts ``pending_webhooks`` down."""
        with self.lock:
            event = self._objects.get(event_id)
            if event is not None and event["pending_webhooks"] > 0:
                event["pending_webhooks"] -= 1

    def _targets_for(self, event_type: str, livemode: bool) -> list[EndpointTarget]:
        targets = []
        for endpoint in reversed(self.all("webhook_endpoint", livemode)):
            if endpoint["status"] != "enabled":
                continue
            enabled = endpoint["enabled_events"]
            if "*" in enabled or event_type in enabled:
                targets.append(
                    EndpointTarget(endpoint["id"], endpoint["url"], self.webhook_secrets[endpoint["id"]])
                )
        return targets

    # -- housekeeping ---------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self._objects.clear()
            for ids in self._order.values():
                ids.clear()
            self._deleted.clear()
            self._sequence.clear()
            self.webhook_secrets.clear()
            self.clock.reset()

    def count(self, kind: str, livemode: bool) -> int:
        return len(self.all(kind, livemode))


def previous_attributes(before: Obj, after: Obj) -> Obj:
    """Stripe's ``data.previous_attributes``: the old values of what changed, hashes diffed per key."""
    changed: Obj = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and "object" not in old:
            changed[key] = previous_attributes(old, new)
        else:
            changed[key] = copy.deepcopy(old)
    return changed

