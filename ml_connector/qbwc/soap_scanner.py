"""Is this body shaped like a Web Connector call? Decided before any tree is built, as the bytes arrive.

The SOAP endpoint is public, so its first line of defence reads the body incrementally and refuses what no
Web Connector sends -- a DTD, a UTF-16 body, malformed XML, too many or too deeply nested elements, an
oversized ticket -- at the byte that gives it away, building nothing. `ml_connector.qbwc.soap` runs the same
scan over a whole body before parsing it; the gateway feeds it chunk by chunk to choose the body cap.
Sans-IO: nothing here touches a socket.
"""

from __future__ import annotations

import re

from lxml import etree

from ml_connector.qbwc.errors import SoapFault, client_fault

# Encodings in which every markup character is its ASCII byte, so the prolog scan below sees what libxml2
# sees. The Web Connector sends UTF-8; anything else is refused rather than trusted.
_ASCII_COMPATIBLE_ENCODINGS = frozenset(
    {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "windows-1252", "cp1252"}
)
_ENCODING_DECL = re.compile(rb"""\A<\?xml\s[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def refuse_unsafe_prolog(body: bytes) -> None:
    """Refuse DTDs before libxml2 sees them.

    A DOCTYPE can only occur in the prolog, so scanning the prolog (declaration, processing instructions,
    comments) is exact: it rejects ``<!DOCTYPE`` without being fooled by qbXML text that merely mentions it.
    The scan only reads what libxml2 reads if the bytes are ASCII-compatible, hence the encoding check first.
    """
    pos = 3 if body.startswith(b"\xef\xbb\xbf") else 0
    if body.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in body[:64]:
        raise client_fault("The request must be UTF-8 encoded XML.")
    declared = _ENCODING_DECL.match(body, pos)
    if declared is not None and declared.group(1).decode("ascii").lower() not in _ASCII_COMPATIBLE_ENCODINGS:
        raise client_fault("The request must be UTF-8 encoded XML.")
    end = len(body)
    while pos < end:
        if body[pos] in b" \t\r\n":
            pos += 1
        elif body.startswith(b"<?", pos):
            close = body.find(b"?>", pos + 2)
            if close < 0:
                return
            pos = close + 2
        elif body.startswith(b"<!--", pos):
            close = body.find(b"-->", pos + 4)
            if close < 0:
                return
            pos = close + 3
        elif body[pos : pos + 9].upper() == b"<!DOCTYPE":
            raise client_fault("Document type declarations (DTDs) are not allowed in a SOAP request.")
        else:
            return


# A Web Connector call is an Envelope, an optional Header, the Body, one operation element and at most six
# parameters: a body with more elements, or nested deeper, is not a Web Connector call and is refused before
# any tree is built (16 MiB of "<a/>" would otherwise become a tree of four million nodes).
MAX_ELEMENTS = 64
MAX_DEPTH = 8
_PROLOG_SCAN_BYTES = 64 * 1024
# Our tickets are 43 characters (secrets.token_urlsafe(32)); anything much longer is not one of ours.
_MAX_TICKET_CHARS = 256


class SoapScanner:
    """Incremental, tree-less check of a SOAP request's shape: feed it the body as it arrives.

    It builds nothing (an lxml parser *target* that only counts), so its cost is bounded by the bytes fed,
    and it refuses, with a :class:`SoapFault`, a DTD, malformed XML, more than ``max_elements`` elements or
    nesting deeper than ``max_depth`` as soon as the offending bytes arrive. :attr:`operation` names the
    operation element (``authenticate``, ``receiveResponseXML`` …) once it has been seen, and :attr:`ticket` the
    call's ticket once its element has closed: what the HTTP layer needs to choose the body cap (and check the
    ticket) before reading the rest. Not thread-safe; one per request.
    """

    def __init__(self, *, max_elements: int = MAX_ELEMENTS, max_depth: int = MAX_DEPTH) -> None:
        self.max_elements = max_elements
        self.max_depth = max_depth
        self.elements = 0
        self.operation: str | None = None
        # The call's ticket, once its element has closed (None before, or when the call has none).
        self.ticket: str | None = None
        self._ticket_parts: list[str] | None = None
        self._depth = 0
        self._prolog: bytearray | None = bytearray()
        self._parser = etree.XMLParser(
            target=self,  # type: ignore[arg-type]  # lxml-stubs type attrib as a dict; nsmap is optional
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
        )

    # -- the lxml target interface: called by the parser, never by users --------------------------------
    def start(self, tag: str | bytes, attrib: object, nsmap: object = None) -> None:
        if self._prolog is not None:
            # Everything before the first element is the prolog, now complete: refuse a DOCTYPE before any
            # entity it declares can be used.
            prolog, self._prolog = bytes(self._prolog), None
            refuse_unsafe_prolog(prolog)
        self.elements += 1
        self._depth += 1
        if self.elements > self.max_elements:
            raise client_fault(f"The request has more than {self.max_elements} XML elements.")
        if self._depth > self.max_depth:
            raise client_fault(f"The request nests XML elements deeper than {self.max_depth} levels.")
        if self._depth == 3 and self.operation is None and isinstance(tag, str):
            self.operation = etree.QName(tag).localname
        elif self._depth == 4 and self.ticket is None and isinstance(tag, str):
            if etree.QName(tag).localname in ("ticket", "wcTicket"):
                self._ticket_parts = []

    def end(self, tag: str | bytes) -> None:
        if self._depth == 4 and self._ticket_parts is not None:
            self.ticket = "".join(self._ticket_parts)
            self._ticket_parts = None
        self._depth -= 1

    def data(self, data: str | bytes) -> None:
        if self._ticket_parts is not None and isinstance(data, str):
            if sum(map(len, self._ticket_parts)) + len(data) > _MAX_TICKET_CHARS:
                raise client_fault("The ticket parameter is too long.")
            self._ticket_parts.append(data)

    def comment(self, text: str | bytes) -> None:
        pass

    def pi(self, target: str | bytes, data: str | bytes | None = None) -> None:
        pass

    def close(self) -> None:
        return None

    # -- feeding ----------------------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        """Scan the next bytes of the body; raises :class:`SoapFault` as soon as it is clearly not a call."""
        if self._prolog is not None:
            if not self._prolog:
                # The first bytes decide how libxml2 reads the rest: refuse UTF-16 and friends at once.
                refuse_unsafe_prolog(chunk[:_PROLOG_SCAN_BYTES])
            self._prolog += chunk[: max(0, _PROLOG_SCAN_BYTES - len(self._prolog))]
        try:
            self._parser.feed(chunk)
        except etree.XMLSyntaxError as exc:
            raise syntax_fault(exc) from None

    def finish(self) -> None:
        """The body is complete: it must be a whole document."""
        try:
            self._parser.close()
        except etree.XMLSyntaxError as exc:
            raise syntax_fault(exc) from None


def syntax_fault(exc: etree.XMLSyntaxError) -> SoapFault:
    # libxml2's own text can quote entity names taken from the request (a password, say), so only the
    # position is reported.
    line, column = exc.position
    return client_fault(f"The request body is not well-formed XML (line {line}, column {column}).")

