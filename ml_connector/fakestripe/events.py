"""Events (retrieve, list with ``type``/``types[]``/``created`` filters) and WebhookEndpoints endpoints.

An endpoint's signing ``secret`` is returned only by create, as Stripe does; the store keeps it aside
from the object so that retrieve and list can never leak it.
"""

from __future__ import annotations

import fnmatch
import secrets
from urllib.parse import urlparse

from ml_connector.fakestripe import objects
from ml_connector.fakestripe.context import Call
from ml_connector.fakestripe.errors import invalid
from ml_connector.fakestripe.listing import page
from ml_connector.fakestripe.params import (
    Params,
    boolean,
    created_filter,
    in_bounds,
    metadata_update,
    reject_unknown,
    string,
    string_list,
)
from ml_connector.fakestripe.resources import addressed, apply_metadata, delete, set_strings
from ml_connector.fakestripe.store import Obj

MAX_TYPES = 20


def list_events(call: Call) -> Obj:
    params = call.params
    reject_unknown(params, {"created", "ending_before", "limit", "starting_after", "type", "types"})
    single = string(params, "type")
    many = string_list(params, "types")
    if single is not None and many is not None:
        raise invalid("You may only specify one of these parameters: type, types.", param="types")
    if many is not None and len(many) > MAX_TYPES:
        raise invalid(f"You may pass at most {MAX_TYPES} types.", param="types")
    patterns = [single] if single is not None else many
    created = created_filter(params)
    items = [
        event
        for event in call.store.all("event", call.livemode)
        if in_bounds(event["created"], created)
        and (patterns is None or any(fnmatch.fnmatchcase(event["type"], pattern) for pattern in patterns))
    ]
    return page(call.store, items, params, "/v1/events", "event")


def create_webhook_endpoint(call: Call) -> Obj:
    params = call.params
    reject_unknown(params, {"api_version", "connect", "description", "enabled_events", "metadata", "url"})
    store = call.store
    endpoint = objects.webhook_endpoint(
        store.new_id("webhook_endpoint"), call.now(), call.livemode,
        url=_url(params, required=True) or "",
        enabled_events=_enabled_events(params, required=True) or [],
        description=string(params, "description"),
        metadata=metadata_update(params, {}) or {},
        api_version=string(params, "api_version"),
    )
    secret = f"whsec_{secrets.token_hex(24)}"
    store.webhook_secrets[endpoint["id"]] = secret
    store.add(endpoint)
    created = store.present(endpoint)
    created["secret"] = secret
    return created


def update_webhook_endpoint(call: Call) -> Obj:
    params = call.params
    store = call.store
    endpoint = addressed(
        call, "webhook_endpoint", {"description", "disabled", "enabled_events", "metadata", "url"}
    )
    if "url" in params:
        endpoint["url"] = _url(params, required=True)
    if "enabled_events" in params:
        endpoint["enabled_events"] = _enabled_events(params, required=True)
    if "disabled" in params:
        endpoint["status"] = "disabled" if boolean(params, "disabled") else "enabled"
    set_strings(params, endpoint, ("description",))
    apply_metadata(params, endpoint)
    return store.present(endpoint)


def delete_webhook_endpoint(call: Call) -> Obj:
    return delete(call, "webhook_endpoint")


def list_webhook_endpoints(call: Call) -> Obj:
    reject_unknown(call.params, {"ending_before", "limit", "starting_after"})
    items = call.store.all("webhook_endpoint", call.livemode)
    return page(call.store, items, call.params, "/v1/webhook_endpoints", "webhook_endpoint")


def _url(params: Params, *, required: bool) -> str | None:
    url = string(params, "url", required=required)
    if url is None:
        return None
    parsed = urlparse(url)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise invalid(f"Invalid URL: {url}. URLs must begin with http:// or https://", param="url")
    return url


def _enabled_events(params: Params, *, required: bool) -> list[str] | None:
    events = string_list(params, "enabled_events")
    if events is None:
        if required:
            raise invalid("Missing required param: enabled_events.", param="enabled_events",
                          code="parameter_missing")
        return None
    if not events:
        raise invalid("enabled_events must list at least one event type (or '*').", param="enabled_events")
    return events
