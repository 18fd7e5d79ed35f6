"""Stripe's ``application/x-www-form-urlencoded`` parameter encoding, decoded into nested values.

The SDK flattens nested parameters into bracketed keys: ``metadata[order]=7``,
``payment[type]=payment_intent``, ``expand[0]=payments`` (curl users write ``expand[]=payments``).
We rebuild the tree so handlers see ``{"metadata": {"order": "7"}, "expand": ["payments"]}``. Leaves are
always strings, as on the wire; typed access lives in ``params.py``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from ml_connector.fakestripe.errors import invalid

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_APPEND = ""  # the empty segment of ``a[]``


def parse_form(data: str | bytes) -> dict[str, Any]:
    """Decode a query string or form body into nested dicts and lists.

    Raises a Stripe ``invalid_request_error`` for keys that cannot be decoded or that give one name both
    a scalar and a nested value (``a=1&a[b]=2``), as Stripe does.
    """
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(text, keep_blank_values=True, strict_parsing=False):
        match = _KEY.match(raw_key)
        if match is None:
            raise invalid(f"Invalid parameter name: {raw_key}", param=raw_key)
        path = [match.group(1), *_SEGMENT.findall(match.group(2))]
        _assign(root, path, value, raw_key)
    result = _listify(root)
    assert isinstance(result, dict)
    return result


def _assign(node: dict[str, Any], path: list[str], value: str, raw_key: str) -> None:
    for depth, segment in enumerate(path):
        last = depth == len(path) - 1
        if segment == _APPEND:
            segment = f"\x00{len(node)}"  # keeps arrival order; _listify turns it into a list index
        if last:
            if isinstance(node.get(segment), dict):
                raise invalid(f"Invalid value for {raw_key}: a hash was already given", param=raw_key)
            node[segment] = value
            return
        child = node.setdefault(segment, {})
        if not isinstance(child, dict):
            raise invalid(f"Invalid hash for {raw_key}: a value was already given", param=raw_key)
        node = child


def _listify(node: Any) -> Any:
    """Turn dicts whose keys are all array indexes into lists ordered by index."""
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(_is_index(key) for key in converted):
        return [converted[key] for key in sorted(converted, key=_index_of)]
    return {key.lstrip("\x00"): value for key, value in converted.items()}


def _is_index(key: str) -> bool:
    return key.startswith("\x00") or key.isdigit()


def _index_of(key: str) -> int:
    return int(key.lstrip("\x00"))
