"""The steps every resource endpoint of the fake shares: retrieve, delete, apply an update, filter a list.

Each resource module (customers, payments, billing, payouts, events) owns its own rules; these are the
mechanics Stripe applies the same way to all of them, written once so that a fix (say, to what an
``*.updated`` event reports in ``previous_attributes``) reaches every resource.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence

from ml_connector.fakestripe import objects
from ml_connector.fakestripe.context import Call
from ml_connector.fakestripe.listing import page
from ml_connector.fakestripe.params import (
    Params,
    created_filter,
    in_bounds,
    metadata_update,
    nullable_string,
    reject_unknown,
    string,
)
from ml_connector.fakestripe.store import Obj, previous_attributes

_PAGING = frozenset({"created", "ending_before", "limit", "starting_after"})


def addressed(call: Call, kind: str, allowed: Collection[str]) -> Obj:
    """The stored object the path's ``{id}`` names, once the parameters are known to be ones the endpoint takes.

    Every ``/v1/<resource>/{id}`` endpoint starts this way, in this order: Stripe reports an unknown parameter
    before it looks the object up, so a bad request for a missing id is a 400, not a 404.
    """
    reject_unknown(call.params, allowed)
    return call.store.get(kind, call.path["id"], call.livemode)


def retrieve(call: Call, kind: str, *, allowed: Collection[str] = ()) -> Obj:
    """``GET /v1/<resource>/{id}``: the object as the API presents it (404 for an unknown or deleted id)."""
    return call.store.present(addressed(call, kind, allowed))


def retriever(kind: str, *, allowed: Collection[str] = ()) -> Callable[[Call], Obj]:
    """The handler of a ``GET /v1/<resource>/{id}`` that is nothing but `retrieve` of `kind`: the route table
    names the kind instead of each resource module wrapping `retrieve` in a function of its own."""
    return lambda call: retrieve(call, kind, allowed=allowed)


def delete(call: Call, kind: str, *, event: str | None = None) -> Obj:
    """``DELETE /v1/<resource>/{id}``: mark it deleted, say so in `event` if the resource has one."""
    store = call.store
    obj = addressed(call, kind, ())
    store.mark_deleted(obj["id"])
    if event is not None:
        store.record_event(event, obj, call.info)
    return objects.deleted(kind, obj["id"])


def set_strings(params: Params, obj: Obj, names: Iterable[str]) -> None:
    """Nullable string fields of an update: a value replaces, an empty one (``name=``) clears."""
    for name in names:
        given, value = nullable_string(params, name)
        if given:
            obj[name] = value


def apply_metadata(params: Params, obj: Obj) -> None:
    """Stripe merges ``metadata[key]=value`` into what is there; an empty value unsets that key."""
    new_metadata = metadata_update(params, obj["metadata"])
    if new_metadata is not None:
        obj["metadata"] = new_metadata


def record_update(call: Call, obj: Obj, before: Obj, event: str, *, ignore: Collection[str] = ()) -> None:
    """The ``*.updated`` event with ``previous_attributes``, only if something (not in `ignore`) changed."""
    changed = previous_attributes(before, call.store.present(obj))
    for key in ignore:
        changed.pop(key, None)
    if changed:
        call.store.record_event(event, obj, call.info, changed)


def update_fields(call: Call, kind: str, event: str, *, strings: Sequence[str] = ()) -> Obj:
    """``POST /v1/<resource>/{id}`` for a resource whose only editable fields are metadata and the nullable
    strings in `strings` (charges, refunds): apply them, and report what changed in `event`."""
    params = call.params
    obj = addressed(call, kind, {"metadata", *strings})
    before = call.store.present(obj)
    set_strings(params, obj, strings)
    apply_metadata(params, obj)
    record_update(call, obj, before, event)
    return call.store.present(obj)


def matches(obj: Obj, **wanted: object) -> bool:
    """A list filter's equality parameters: each one given (not None) must equal the object's field."""
    return all(value is None or obj[field] == value for field, value in wanted.items())


def list_matching(
    call: Call, kind: str, url: str, *, equal: Sequence[str] = (), allowed: Collection[str] = ()
) -> Obj:
    """A plain list endpoint: cursor pagination, ``created`` bounds, and the string parameters in `equal`,
    each matching the field of the same name. `allowed` are parameters Stripe accepts that the fake ignores.
    """
    params = call.params
    reject_unknown(params, _PAGING | set(equal) | set(allowed))
    wanted = {name: string(params, name) for name in equal}
    created = created_filter(params)
    items = [
        obj
        for obj in call.store.all(kind, call.livemode)
        if matches(obj, **wanted) and in_bounds(obj["created"], created)
    ]
    return page(call.store, items, params, url, kind)
