"""The .qwc file: what a QuickBooks user opens in the Web Connector to register this service.

Everything the Web Connector would reject, or accept and then fail on later, is refused here with a message
the operator can act on: plain http to a non-local host (QBWC only allows it for localhost), a support URL on
another host, a zero schedule, malformed GUIDs.

OwnerID and FileID must stay the same for the lifetime of an installation -- a new FileID makes QuickBooks ask
for authorisation again (QBWC1039) -- so this module never invents them: callers create them once with
:func:`new_guid`, store them, and pass them in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from lxml import etree

__all__ = ["LOCAL_HOSTS", "QwcSpec", "new_guid", "normalise_guid", "render_qwc"]

# Hosts for which QBWC accepts plain http (development against a local server).
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

QbType = Literal["QBFS", "QBPOS"]
PersonalDataPref = Literal["pdpNotNeeded", "pdpOptional", "pdpRequired"]
UnattendedModePref = Literal["umpRequired", "umpOptional"]

_QB_TYPES = ("QBFS", "QBPOS")
_PERSONAL_DATA_PREFS = ("pdpNotNeeded", "pdpOptional", "pdpRequired")
_UNATTENDED_MODE_PREFS = ("umpRequired", "umpOptional")
# AuthFlags is a bit mask of supported editions: 0x1 Simple Start, 0x2 Pro, 0x4 Premier, 0x8 Enterprise.
_AUTH_FLAGS_MAX = 0xF


def new_guid() -> str:
    """A fresh random GUID in the braced upper-case form the Web Connector and QuickBooks use."""
    return "{" + str(uuid.uuid4()).upper() + "}"


def normalise_guid(value: str, what: str = "GUID") -> str:
    """``value`` as ``{8-4-4-4-12 hex digits}``; braces and case on input are free."""
    try:
        parsed = uuid.UUID(value.strip())
    except (ValueError, AttributeError, TypeError):
        raise ValueError(
            f"{what} must be a GUID such as {{90A44FB7-33D9-4815-AC85-AC86A7E7D1EB}}, not {value!r}."
        ) from None
    return "{" + str(parsed).upper() + "}"


def _check_text(value: object, what: str, *, required: bool = True) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, not {type(value).__name__}.")
    if required and not value.strip():
        raise ValueError(f"{what} must not be empty.")
    if any(ord(ch) < 0x20 and ch not in "\t\n\r" for ch in value) or "\x7f" in value:
        raise ValueError(f"{what} must not contain control characters.")


def _check_url(url: str, what: str) -> str:
    """Validate ``url`` and return its host (lower case)."""
    _check_text(url, what)
    if any(ch.isspace() for ch in url):
        raise ValueError(f"{what} must not contain whitespace: {url!r}.")
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(f"{what} must be an absolute https:// URL, not {url!r}.")
    if parts.scheme == "http" and host not in LOCAL_HOSTS:
        raise ValueError(
            f"{what} must use https:// -- the Web Connector refuses plain http except for "
            f"localhost, 127.0.0.1 and ::1 (got {url!r})."
        )
    return host


@dataclass(frozen=True)
class QwcSpec:
    """Everything a .qwc file says. Validated on construction; GUIDs are normalised to braced upper case.

    ``username`` is what QBWC sends as ``strUserName``; the password is never part of a .qwc file (the user
    types it into the Web Connector). ``run_every_minutes`` presets Auto-Run.
    """

    app_name: str
    app_url: str
    app_support: str
    username: str
    owner_id: str
    file_id: str
    run_every_minutes: int
    description: str
    read_only: bool = False
    app_id: str = ""
    qb_type: QbType = "QBFS"
    personal_data_pref: PersonalDataPref | None = "pdpNotNeeded"
    unattended_mode_pref: UnattendedModePref | None = "umpOptional"
    auth_flags: int | None = None
    notify: bool | None = None

    def __post_init__(self) -> None:
        _check_text(self.app_name, "AppName")
        _check_text(self.description, "AppDescription", required=False)
        _check_text(self.app_id, "AppID", required=False)
        _check_text(self.username, "UserName")
        if self.username != self.username.strip():
            raise ValueError("UserName must not start or end with whitespace.")
        url_host = _check_url(self.app_url, "AppURL")
        support_host = _check_url(self.app_support, "AppSupport")
        if support_host != url_host:
            raise ValueError(
                f"AppSupport must be on the same host as AppURL ({url_host}), not on {support_host}; "
                "the Web Connector checks the support URL when the application is added."
            )
        object.__setattr__(self, "owner_id", normalise_guid(self.owner_id, "OwnerID"))
        object.__setattr__(self, "file_id", normalise_guid(self.file_id, "FileID"))
        if isinstance(self.run_every_minutes, bool) or not isinstance(self.run_every_minutes, int):
            raise ValueError(f"run_every_minutes must be a whole number, not {self.run_every_minutes!r}.")
        if self.run_every_minutes < 1:
            raise ValueError(f"run_every_minutes must be at least 1, not {self.run_every_minutes}.")
        if not isinstance(self.read_only, bool):
            raise ValueError(f"read_only must be True or False, not {self.read_only!r}.")
        if self.qb_type not in _QB_TYPES:
            raise ValueError(f"QBType must be one of {', '.join(_QB_TYPES)}, not {self.qb_type!r}.")
        if self.personal_data_pref is not None and self.personal_data_pref not in _PERSONAL_DATA_PREFS:
            raise ValueError(
                f"PersonalDataPref must be one of {', '.join(_PERSONAL_DATA_PREFS)}, "
                f"not {self.personal_data_pref!r}."
            )
        if self.unattended_mode_pref is not None and self.unattended_mode_pref not in _UNATTENDED_MODE_PREFS:
            raise ValueError(
                f"UnattendedModePref must be one of {', '.join(_UNATTENDED_MODE_PREFS)}, "
                f"not {self.unattended_mode_pref!r}."
            )
        if self.auth_flags is not None and (
            isinstance(self.auth_flags, bool)
            or not isinstance(self.auth_flags, int)
            or not 0 <= self.auth_flags <= _AUTH_FLAGS_MAX
        ):
            raise ValueError(f"AuthFlags must be a bit mask between 0x0 and 0xF, not {self.auth_flags!r}.")
        if self.notify is not None and not isinstance(self.notify, bool):
            raise ValueError(f"notify must be True, False or None, not {self.notify!r}.")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def render_qwc(spec: QwcSpec) -> str:
    """The .qwc document for ``spec`` (elements in the order of PROTOCOL.md §4); encode it as UTF-8."""
    root = etree.Element("QBWCXML")

    def add(tag: str, text: str) -> etree._Element:
        child = etree.SubElement(root, tag)
        child.text = text
        return child

    add("AppName", spec.app_name)
    add("AppID", spec.app_id)
    add("AppURL", spec.app_url)
    add("AppDescription", spec.description)
    add("AppSupport", spec.app_support)
    add("UserName", spec.username)
    add("OwnerID", spec.owner_id)
    add("FileID", spec.file_id)
    add("QBType", spec.qb_type)
    scheduler = etree.SubElement(root, "Scheduler")
    etree.SubElement(scheduler, "RunEveryNMinutes").text = str(spec.run_every_minutes)
    add("IsReadOnly", _bool(spec.read_only))
    if spec.personal_data_pref is not None:
        add("PersonalDataPref", spec.personal_data_pref)
    if spec.unattended_mode_pref is not None:
        add("UnattendedModePref", spec.unattended_mode_pref)
    if spec.auth_flags is not None:
        add("AuthFlags", f"0x{spec.auth_flags:X}")
    if spec.notify is not None:
        add("Notify", _bool(spec.notify))
    body = etree.tostring(root, encoding="unicode", pretty_print=True)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body
