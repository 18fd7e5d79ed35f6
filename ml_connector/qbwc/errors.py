"""Whose fault was it? The error hierarchy of the sans-IO Web Connector layer.

Modelled on h11's ``LocalProtocolError`` / ``RemoteProtocolError``: every failure in this package says which
side broke the protocol, because that decides what happens next.

* :class:`PeerError` -- the Web Connector (or QuickBooks behind it) sent something we cannot accept. It is
  answered with a SOAP ``Client`` fault; sending the same request again will fail the same way.
* :class:`LocalError` -- we were about to send something invalid (a bug on our side, or bad configuration).
  It is answered with a SOAP ``Server`` fault.

:class:`SoapFault` is the wire form of either: it is a ``ProtocolError`` whose
``fault_code`` is chosen per instance, and ``SoapFault.from_error`` maps any exception onto one, so the HTTP
adapter needs a single ``except`` clause.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

FaultCode = Literal["Client", "Server"]

_MAX_FAULT_MESSAGE_CHARS = 500
_UNSAFE_MESSAGE_CHARS = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\x7f-\x9f]")


class ProtocolError(Exception):
    """Base class: something about a Web Connector exchange is wrong.

    ``message`` goes to the Web Connector's log and to the operator, so it must never hold secrets
    (passwords, other sessions' tickets). ``fault_code`` is the SOAP 1.1 fault code blaming the right side.
    """

    default_fault_code: ClassVar[FaultCode] = "Server"

    def __init__(self, message: str, *, fault_code: FaultCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fault_code: FaultCode = fault_code or self.default_fault_code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class PeerError(ProtocolError):
    """The Web Connector or QuickBooks broke the protocol; answered with a SOAP ``Client`` fault."""

    default_fault_code: ClassVar[FaultCode] = "Client"


class LocalError(ProtocolError):
    """We broke the protocol (a bug or a misconfiguration); answered with a SOAP ``Server`` fault."""

    default_fault_code: ClassVar[FaultCode] = "Server"


class SoapFault(ProtocolError):
    """A SOAP 1.1 fault: ``code`` says whose fault it was (``Client`` = the Web Connector, ``Server`` = us).

    The message travels to the Web Connector's log verbatim, so it is cleaned of characters XML cannot carry
    and truncated; callers must still keep secrets out of it.
    """

    def __init__(self, code: FaultCode, message: str) -> None:
        if code not in ("Client", "Server"):
            raise ValueError(f"SOAP 1.1 fault code must be 'Client' or 'Server', not {code!r}")
        super().__init__(_clean_message(message), fault_code=code)
        self.code: FaultCode = code

    def __repr__(self) -> str:
        return f"SoapFault({self.code!r}, {self.message!r})"

    @classmethod
    def from_error(cls, error: BaseException) -> SoapFault:
        """The fault to send for ``error``; anything that is not a :class:`ProtocolError` becomes a bland
        ``Server`` fault, because an unexpected exception's text may hold internals or peer data."""
        if isinstance(error, SoapFault):
            return error
        if isinstance(error, ProtocolError):
            return cls(error.fault_code, error.message)
        return cls("Server", "Internal error in the QuickBooks connector; see the server log.")


def _clean_message(message: str) -> str:
    cleaned = _UNSAFE_MESSAGE_CHARS.sub("?", message)
    if len(cleaned) > _MAX_FAULT_MESSAGE_CHARS:
        cleaned = cleaned[: _MAX_FAULT_MESSAGE_CHARS - 1] + "…"
    return cleaned


def client_fault(message: str) -> SoapFault:
    return SoapFault("Client", message)
