"""The WSDL we serve at ``/qbwc?wsdl``: our own description of the Web Connector service, with our address.

The text lives in ``qbwc.wsdl`` (package data) so it can be read, diffed and validated as XML; this module
only puts the installation's public endpoint into ``soap:address``. Doing that through lxml rather than string
formatting means an address containing ``&`` or quotes is escaped, not spliced into markup.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from urllib.parse import urlsplit

from lxml import etree

from ml_connector.qbwc.errors import LocalError

__all__ = ["WSDL_NS", "WSDL_SOAP_NS", "render_wsdl", "wsdl_text"]

WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
_XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'


@lru_cache(maxsize=1)
def wsdl_text() -> bytes:
    """The packaged WSDL exactly as shipped (placeholder address included)."""
    return resources.files("ml_connector.qbwc").joinpath("qbwc.wsdl").read_bytes()


def _check_address(address: str) -> None:
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in address):
        raise ValueError("The WSDL endpoint address must not contain whitespace or control characters.")
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"The WSDL endpoint address must be an absolute http(s) URL such as "
            f"https://sync.example.com/qbwc, not {address!r}."
        )


def render_wsdl(address: str) -> bytes:
    """Our WSDL with ``address`` (the public URL of the SOAP endpoint) as the service's ``soap:address``.

    Raises ``ValueError`` for anything that is not an absolute http(s) URL: a WSDL pointing nowhere would only
    fail later, inside a SOAP toolkit, with a far less helpful message.
    """
    _check_address(address)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=False)
    root = etree.fromstring(wsdl_text(), parser)
    locations = root.findall(f"{{{WSDL_NS}}}service/{{{WSDL_NS}}}port/{{{WSDL_SOAP_NS}}}address")
    if len(locations) != 1:
        raise LocalError(f"qbwc.wsdl must declare exactly one soap:address, found {len(locations)}.")
    locations[0].set("location", address)
    return _XML_DECLARATION + etree.tostring(root.getroottree(), encoding="utf-8", xml_declaration=False)
