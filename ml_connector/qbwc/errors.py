"""Whose fault was it? The error hierarchy of the sans-IO Web Connector layer.

Modelled on h11's ``LocalProtocolError`` / ``RemoteProtocolError``: every failure in this package says which
side broke the protocol, because that decides what happens next.

* :class:`PeerError` -- the Web Connector (or QuickBooks behind it) sent something we cannot accept. It is
  answered with a SOAP ``Client`` fault; sending the same request again will fail the same way.
* :class:`LocalError` -- we were about to send something invalid (a bug on our side, or bad configuration).
  It is answered with a SOAP ``Server`` fault.

:class:`ml_connector.qbwc.soap.SoapFault` is the wire form of either: it is a ``ProtocolError`` whose
``fault_code`` is chosen per instance, and ``SoapFault.from_error`` maps any exception onto one, so the HTTP
adapter needs a single ``except`` clause.
"""

from __future__ import annotations

from typing import ClassVar, Literal

FaultCode = Literal["Client", "Server"]


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
