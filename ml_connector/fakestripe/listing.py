"""List endpoints' shared behaviour: cursor pagination and ``expand``.

Pagination follows Stripe: newest first; ``limit`` 1–100 (default 10); ``starting_after`` returns the
page after an object, ``ending_before`` the page before it (still newest first); ``has_more`` says
whether another page exists in the direction of travel; ``url`` lets the SDK fetch further pages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ml_connector.fakestripe.errors import invalid, no_such
from ml_connector.fakestripe.params import Params, integer, string
from ml_connector.fakestripe.store import KINDS, Obj, Store

MAX_EXPAND_DEPTH = 4

# Fields Stripe leaves out unless expanded ("includable"), with how to build them.
Includable = Callable[[Store, Obj], Obj]


def page(
    store: Store, items: Sequence[Obj], params: Params, url: str, kind: str, *, oldest_first: bool = False
) -> Obj:
    """One page of ``items`` (already filtered and ordered) as a Stripe list object.

    Lists are newest first; an invoice's lines are the exception (``oldest_first``), in the order added.
    """
    direction = -1 if oldest_first else 1
    limit = integer(params, "limit", minimum=1, maximum=100)
    limit = 10 if limit is None else limit
    starting_after = string(params, "starting_after")
    ending_before = string(params, "ending_before")
    if starting_after and ending_before:
        raise invalid("You may only specify one of these parameters: ending_before, starting_after.")
    label = KINDS[kind][1]
    if starting_after:
        cursor = _cursor(store, starting_after, label, "starting_after")
        after = [item for item in items if direction * (_seq(store, item) - cursor) < 0]
        chosen = after[:limit]
        has_more = len(after) > limit
    elif ending_before:
        cursor = _cursor(store, ending_before, label, "ending_before")
        before = [item for item in items if direction * (_seq(store, item) - cursor) > 0]
        chosen = before[-limit:]
        has_more = len(before) > limit
    else:
        chosen = list(items[:limit])
        has_more = len(items) > limit
    return list_object([store.present(item) for item in chosen], has_more, url)


def _seq(store: Store, item: Obj) -> int:
    sequence = store.sequence_of(item["id"])
    return -1 if sequence is None else sequence


def _cursor(store: Store, object_id: str, label: str, param: str) -> int:
    """A cursor is a position in creation order, valid even if the object is filtered out."""
    sequence = store.sequence_of(object_id)
    if sequence is None:
        raise no_such(label, object_id, param=param)
    return sequence


def list_object(data: list[Obj], has_more: bool, url: str) -> Obj:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def expand(store: Store, view: Obj, paths: Sequence[str], livemode: bool, includables: dict[tuple[str, str],
           Includable]) -> Obj:
    """Replace ids in ``view`` by the objects they name, for each dotted path (``data.customer``)."""
    for path in paths:
        parts = path.split(".")
        if len(parts) > MAX_EXPAND_DEPTH:
            raise invalid(
                f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property. Property: {path}",
                param="expand",
            )
        _expand_into(store, view, parts, path, livemode, includables)
    return view


def _expand_into(
    store: Store, node: Any, parts: list[str], path: str, livemode: bool,
    includables: dict[tuple[str, str], Includable],
) -> None:
    if not parts or not isinstance(node, dict):
        return
    key, rest = parts[0], parts[1:]
    if node.get("object") == "list" and key == "data":
        for item in node["data"]:
            _expand_into(store, item, rest, path, livemode, includables)
        return
    builder = includables.get((str(node.get("object")), key))
    if builder is not None and key not in node:
        source = store.find(node["id"], livemode)
        node[key] = builder(store, source) if source is not None else None
    if key not in node:
        raise invalid(f"This property cannot be expanded ({key}).", param="expand")
    value = node[key]
    if isinstance(value, str):
        target = store.find(value, livemode)
        if target is None:
            raise invalid(f"This property cannot be expanded ({key}).", param="expand")
        value = store.present(target)
        node[key] = value
    if isinstance(value, list):
        for index, element in enumerate(value):
            if isinstance(element, str):
                target = store.find(element, livemode)
                if target is not None:
                    value[index] = store.present(target)
            _expand_into(store, value[index], rest, path, livemode, includables)
        return
    _expand_into(store, value, rest, path, livemode, includables)
