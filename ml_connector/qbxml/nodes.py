"""Element building and tolerant element reading shared by the entity modules.

Building: every helper takes the value as Python data, applies the :mod:`~ml_connector.qbxml.text`
rules and the field's length limit, and leaves the element out when the value is ``None``. Builders call
them in XSD order, so the order of calls in a builder *is* the schema order.

Reading: QuickBooks' responses are read by element name, never by position, and a missing optional
element is ``None``. Malformed values in a response raise :class:`QbxmlParseError` naming the element.

Parsing is safe by construction: no DTD loading, no entity expansion, no network, and any document that
declares a DOCTYPE is refused outright (a qbXML response never has one, so one means an attack or garbage).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import TypedDict, TypeVar

from lxml import etree

from ml_connector.qbxml.errors import QbxmlParseError
from ml_connector.qbxml.text import qb_text
from ml_connector.qbxml.values import (
    QbDateTime,
    format_amount,
    format_bool,
    format_date,
    format_qb_datetime,
    format_quantity,
    parse_amount,
    parse_bool,
    parse_date,
    parse_qb_datetime,
)

Element = etree._Element

ID_MAX_LEN = 36  # IDTYPE: ListID / TxnID
ACCOUNT_FULL_NAME_MAX_LEN = 159  # an account's FullName (parents included), in refs and filters
EDIT_SEQUENCE_MAX_LEN = 16
PAYMENT_METHOD_NAME_MAX_LEN = 31

_XML_DECLARATION = re.compile(r"^\s*<\?xml\b[^>]*\?>", re.IGNORECASE)
_DECLARED_ENCODING = re.compile(rb"^\s*<\?xml\b[^>]*\bencoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']", re.I)
# Characters XML 1.0 forbids, raw or as numeric references. QuickBooks lets users type some of them
# (a vertical tab pasted into Notes); refusing the whole response for that would block a sync forever.
_ILLEGAL_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ILLEGAL_CHAR_REFS = re.compile(
    r"&#(?:x0*(?:[0-8bBcCeE]|[fF]|1[0-9a-fA-F])|0*(?:[0-8]|1[1-2]|1[4-9]|2[0-9]|3[01]));"
)

_SINGLE_BYTE_DECLARATIONS = frozenset(
    {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "us-ascii", "ascii", "windows-1252", "cp1252"}
)

_T = TypeVar("_T")


# --------------------------------------------------------------------------------------- parsing


def safe_parser() -> etree.XMLParser:
    """The parser for untrusted XML (qbXML here, the Web Connector's SOAP in :mod:`ml_connector.qbwc.soap`):
    no entities, DTDs, network or huge trees; comments dropped.

    A fresh parser per call: lxml parser objects must not be shared between threads, and no error log or
    state carries over from one untrusted document to the next.
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        huge_tree=False,
    )


def _decode(doc: bytes) -> str:
    """Bytes to text the way QuickBooks means them.

    A declared ISO-8859-1 is read as Windows-1252 (its superset, and what QuickBooks really stores, the
    same rule browsers follow); undeclared bytes are UTF-8 if they decode as such, else Windows-1252.
    """
    if doc.startswith(b"\xef\xbb\xbf"):
        return doc[3:].decode("utf-8")
    match = _DECLARED_ENCODING.match(doc)
    declared = match.group(1).decode("ascii").lower() if match else None
    candidates: list[str]
    if declared in _SINGLE_BYTE_DECLARATIONS:
        candidates = ["cp1252", "latin-1"]
    elif declared:
        candidates = [declared, "cp1252", "latin-1"]
    else:
        candidates = ["utf-8", "cp1252", "latin-1"]
    for encoding in candidates:
        try:
            return doc.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    raise QbxmlParseError("document bytes are not in any encoding QuickBooks uses")  # pragma: no cover


def parse_xml(doc: str | bytes, what: str = "qbXML document") -> Element:
    """Parse untrusted XML text leniently but safely and return the root element."""
    text = _decode(doc) if isinstance(doc, bytes) else doc
    if not isinstance(text, str):
        raise TypeError(f"{what} must be str or bytes, not {type(doc).__name__}")
    text = text.lstrip("\ufeff \t\r\n")
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise QbxmlParseError(f"{what} declares a DOCTYPE or entity; refused")
    # The text is already decoded, so an encoding declaration is both useless and (for lxml) an error.
    text = _XML_DECLARATION.sub("", text, count=1)
    text = _ILLEGAL_XML_CHARS.sub("", text)
    text = _ILLEGAL_CHAR_REFS.sub("", text)
    if not text.strip():
        raise QbxmlParseError(f"{what} is empty")
    try:
        root = etree.fromstring(text, parser=safe_parser())
    except etree.XMLSyntaxError as exc:
        raise QbxmlParseError(f"{what} is not well-formed XML: {exc}") from exc
    # lxml-stubs lacks DocInfo.doctype; the attribute exists in every lxml we support.
    if getattr(root.getroottree().docinfo, "doctype", ""):
        raise QbxmlParseError(f"{what} declares a DOCTYPE; refused")
    return root


def parse_fragment(fragment: str) -> Element:
    """Parse a request fragment built by this package; a bad one is a caller bug (``ValueError``)."""
    try:
        root = parse_xml(fragment, "request fragment")
    except QbxmlParseError as exc:
        raise ValueError(str(exc)) from exc
    if not isinstance(root.tag, str) or not root.tag.endswith("Rq"):
        raise ValueError(f"a request fragment must be one <...Rq> element, got <{root.tag}>")
    return root


def to_text(element: Element) -> str:
    return etree.tostring(element, encoding="unicode", with_tail=False)


# -------------------------------------------------------------------------------------- building


def new_request(tag: str, *, iterator: bool = False) -> Element:
    root = etree.Element(tag)
    if iterator:
        root.set("iterator", "Start")
    return root


def sub(parent: Element, tag: str, text: str | None = None) -> Element:
    child = etree.SubElement(parent, tag)
    if text is not None:
        child.text = text
    return child


def check_id(value: str, what: str = "ListID/TxnID", max_len: int = ID_MAX_LEN) -> str:
    """Identifiers are copied, never cleaned: a cut or transliterated ID would name another object."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str, not {type(value).__name__}")
    if not value or value != value.strip():
        raise ValueError(f"{what} must be non-empty with no surrounding whitespace: {value!r}")
    if len(value) > max_len:
        raise ValueError(f"{what} is longer than {max_len} characters: {value!r}")
    return value


def add_id(parent: Element, tag: str, value: str | None, max_len: int = ID_MAX_LEN) -> None:
    if value is not None:
        sub(parent, tag, check_id(value, tag, max_len))


def add_text(
    parent: Element,
    tag: str,
    value: str | None,
    max_len: int | None = None,
    *,
    multiline: bool = False,
    keep_empty: bool = False,
) -> None:
    """Add ``<tag>cleaned text</tag>``; skipped for ``None``.

    Text that is empty after cleaning is skipped too, unless ``keep_empty``: in a Mod request an empty
    element is how QuickBooks is told to clear a field, so Mod builders pass ``keep_empty=True``.
    """
    if value is None:
        return
    cleaned = qb_text(value, max_len, multiline=multiline)
    if cleaned or keep_empty:
        sub(parent, tag, cleaned)


def add_bool(parent: Element, tag: str, value: bool | None) -> None:
    if value is not None:
        sub(parent, tag, format_bool(value))


def add_amount(parent: Element, tag: str, value: Decimal | None) -> None:
    if value is not None:
        sub(parent, tag, format_amount(value))


def add_date(parent: Element, tag: str, value: date | None) -> None:
    if value is not None:
        sub(parent, tag, format_date(value))


def add_datetime(parent: Element, tag: str, value: datetime | QbDateTime | None) -> None:
    if value is not None:
        sub(parent, tag, format_qb_datetime(value))


def add_quantity(parent: Element, tag: str, value: Decimal | None) -> None:
    """A PRICETYPE/QUANTYPE value (five places at most), e.g. an ExchangeRate; skipped for ``None``."""
    if value is not None:
        sub(parent, tag, format_quantity(value))


def add_int(parent: Element, tag: str, value: int | None, *, minimum: int = 0) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{tag} must be int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{tag} must be at least {minimum}, got {value}")
    sub(parent, tag, str(value))


def add_ref(
    parent: Element,
    tag: str,
    *,
    list_id: str | None = None,
    full_name: str | None = None,
    full_name_max: int | None = None,
) -> None:
    """A ``*Ref`` element; ListID is preferred by QuickBooks, FullName is the colon-joined path."""
    if list_id is None and full_name is None:
        return
    ref = sub(parent, tag)
    add_id(ref, "ListID", list_id)
    if full_name is not None:
        name = qb_text(full_name, full_name_max)
        if not name:
            raise ValueError(f"{tag} FullName is empty after cleaning: {full_name!r}")
        sub(ref, "FullName", name)


def add_account_ref(parent: Element, tag: str, full_name: str | None) -> None:
    """An account ``*Ref`` by FullName (the colon-joined path a user sees); skipped for ``None``."""
    add_ref(parent, tag, full_name=full_name, full_name_max=ACCOUNT_FULL_NAME_MAX_LEN)


def add_payment_method_ref(parent: Element, full_name: str | None) -> None:
    """``PaymentMethodRef`` by the method's name ("Stripe", "Visa"); skipped for ``None``."""
    add_ref(parent, "PaymentMethodRef", full_name=full_name, full_name_max=PAYMENT_METHOD_NAME_MAX_LEN)


def customer_txn_add(
    kind: str,
    customer_list_id: str,
    ar_account_name: str | None,
    txn_date: date | None,
    ref_number: str | None,
    ref_number_max: int,
) -> tuple[Element, Element]:
    """A ``{kind}AddRq`` and its ``{kind}Add``, begun with the head that InvoiceAdd, CreditMemoAdd and
    ReceivePaymentAdd share in the schema: CustomerRef, ARAccountRef, TxnDate, RefNumber, taken in that
    order. Only the RefNumber length differs by kind, so the caller gives it. The writing twin of
    :func:`customer_txn_header`."""
    request = new_request(f"{kind}AddRq")
    add = sub(request, f"{kind}Add")
    add_ref(add, "CustomerRef", list_id=customer_list_id)
    add_account_ref(add, "ARAccountRef", ar_account_name)
    add_date(add, "TxnDate", txn_date)
    add_text(add, "RefNumber", ref_number, ref_number_max)
    return request, add


def add_applied_to(
    parent: Element, tag: str, amount_tag: str, applied: Iterable[tuple[str, Decimal]]
) -> None:
    """One ``tag`` element per ``(TxnID, amount)``: how a payment (``AppliedToTxnAdd``/``PaymentAmount``) or a
    refund (``RefundAppliedToTxnAdd``/``RefundAmount``) names the transactions it settles and by how much."""
    for txn_id, amount in applied:
        element = sub(parent, tag)
        add_id(element, "TxnID", txn_id)
        add_amount(element, amount_tag, amount)


def add_owner_ids(parent: Element, owner_ids: Iterable[str]) -> None:
    """OwnerID elements: ``0`` for public custom fields, or an application GUID for private ones."""
    for owner_id in owner_ids:
        sub(parent, "OwnerID", check_guid(owner_id))


_GUID = re.compile(r"0|\{[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\}")


def check_guid(value: str) -> str:
    """GUIDTYPE: ``0`` or a brace-wrapped GUID; anything else QuickBooks rejects."""
    if not isinstance(value, str) or not _GUID.fullmatch(value):
        raise ValueError(f"not a qbXML GUID ('0' or '{{8-4-4-4-12 hex digits}}'): {value!r}")
    return value


def add_guid(parent: Element, tag: str, value: str | None) -> None:
    """A GUIDTYPE element (ExternalGUID), checked so QuickBooks cannot refuse it; skipped for ``None``."""
    if value is not None:
        sub(parent, tag, check_guid(value))


# --------------------------------------------------------------------------------------- reading


def rets(rs_xml: str, tag: str) -> list[Element]:
    """The ``tag`` elements directly inside a ``*Rs`` (or the element itself if ``rs_xml`` is one)."""
    root = parse_xml(rs_xml, "response element")
    if root.tag == tag:
        return [root]
    return [child for child in root if child.tag == tag]


def text_of(element: Element, tag: str) -> str | None:
    """Text of the first direct child ``tag`` ("" for an empty one), ``None`` when absent."""
    child = element.find(tag)
    if child is None:
        return None
    return child.text or ""


def _read(element: Element, tag: str, convert: Callable[[str], _T]) -> _T | None:
    raw = text_of(element, tag)
    if raw is None or not raw.strip():
        return None
    try:
        return convert(raw)
    except (ValueError, ArithmeticError) as exc:
        raise QbxmlParseError(f"<{element.tag}>/<{tag}> has an invalid value {raw!r}: {exc}") from exc


def amount_of(element: Element, tag: str) -> Decimal | None:
    return _read(element, tag, parse_amount)


def bool_of(element: Element, tag: str) -> bool | None:
    return _read(element, tag, parse_bool)


def date_of(element: Element, tag: str) -> date | None:
    return _read(element, tag, parse_date)


def datetime_of(element: Element, tag: str) -> QbDateTime | None:
    return _read(element, tag, parse_qb_datetime)


def int_of(element: Element, tag: str) -> int | None:
    return _read(element, tag, lambda raw: int(raw.strip()))


class TxnHeader(TypedDict):
    """What every transaction Ret starts with; readers build their value with ``Value(**txn_header(ret), …)``."""

    txn_id: str
    edit_sequence: str
    time_modified: QbDateTime | None
    txn_date: date | None


def txn_header(ret: Element) -> TxnHeader:
    return TxnHeader(
        txn_id=text_of(ret, "TxnID") or "",
        edit_sequence=text_of(ret, "EditSequence") or "",
        time_modified=datetime_of(ret, "TimeModified"),
        txn_date=date_of(ret, "TxnDate"),
    )


@dataclass(frozen=True)
class TxnRet:
    """The head of a value read from a transaction Ret that starts with nothing but the header (``Deposit``,
    ``JournalEntry``, ``Transfer``): the fields :func:`txn_header` reads, first and in this order."""

    txn_id: str
    edit_sequence: str
    time_modified: QbDateTime | None
    txn_date: date | None


class CustomerTxnHeader(TxnHeader):
    """A transaction with a customer and a number (InvoiceRet, ReceivePaymentRet): the header, then
    TxnNumber, CustomerRef and RefNumber, which those Rets carry alike."""

    txn_number: int | None
    customer_list_id: str | None
    customer_full_name: str | None
    ref_number: str | None


@dataclass(frozen=True)
class CustomerTxnRet:
    """The head of the values read from those Rets (``Invoice``, ``ReceivePayment``), kept in one place and in
    the order their fields have always had; :func:`customer_txn_header` reads it."""

    txn_id: str
    edit_sequence: str
    txn_number: int | None
    time_modified: QbDateTime | None
    customer_list_id: str | None
    customer_full_name: str | None
    txn_date: date | None
    ref_number: str | None


def customer_txn_header(ret: Element) -> CustomerTxnHeader:
    customer_list_id, customer_full_name = ref_of(ret, "CustomerRef")
    return CustomerTxnHeader(
        **txn_header(ret),
        txn_number=int_of(ret, "TxnNumber"),
        customer_list_id=customer_list_id,
        customer_full_name=customer_full_name,
        ref_number=text_of(ret, "RefNumber"),
    )


class LinkedHeader(TypedDict):
    """What a transaction names another by (LinkedTxn, AppliedToTxnRet): ``Value(**linked_header(el), …)``.
    Both carry the Amount of the link after their one field of their own."""

    txn_id: str
    txn_type: str
    txn_date: date | None
    ref_number: str | None
    amount: Decimal | None


def linked_header(element: Element) -> LinkedHeader:
    return LinkedHeader(
        txn_id=text_of(element, "TxnID") or "",
        txn_type=text_of(element, "TxnType") or "",
        txn_date=date_of(element, "TxnDate"),
        ref_number=text_of(element, "RefNumber"),
        amount=amount_of(element, "Amount"),
    )


@dataclass(frozen=True)
class LinkedRet:
    """The head of the values read from those elements (``LinkedTxn``, ``AppliedToTxn``); ``amount`` is not in
    it because it stands last in them, after the field each has of its own."""

    txn_id: str
    txn_type: str
    txn_date: date | None
    ref_number: str | None


class ListHeader(TypedDict):
    """What a list Ret (AccountRet, CustomerRet, an item Ret) starts with: ``Value(**list_header(ret), …)``."""

    list_id: str
    edit_sequence: str
    name: str
    full_name: str
    is_active: bool


def list_header(ret: Element) -> ListHeader:
    """A missing FullName is the Name (a top-level entry); a missing IsActive is QuickBooks' default, active."""
    name = text_of(ret, "Name") or ""
    return ListHeader(
        list_id=text_of(ret, "ListID") or "",
        edit_sequence=text_of(ret, "EditSequence") or "",
        name=name,
        full_name=text_of(ret, "FullName") or name,
        is_active=bool_of(ret, "IsActive") is not False,
    )


def ref_of(element: Element, tag: str) -> tuple[str | None, str | None]:
    """``(ListID, FullName)`` of a ``*Ref`` child; ``(None, None)`` when absent."""
    ref = element.find(tag)
    if ref is None:
        return None, None
    return text_of(ref, "ListID"), text_of(ref, "FullName")


def data_ext_of(element: Element) -> Mapping[str, str]:
    """Custom-field values (``DataExtRet``) by DataExtName.

    Read-only mapping. If two owners define the same name, the public one (OwnerID 0 or absent) wins,
    because that is the field a QuickBooks user sees and edits.
    """
    values: dict[str, str] = {}
    public: set[str] = set()
    for ext in element.findall("DataExtRet"):
        name = text_of(ext, "DataExtName")
        if not name:
            continue
        owner = text_of(ext, "OwnerID")
        is_public = owner in (None, "", "0")
        if name in public and not is_public:
            continue
        values[name] = text_of(ext, "DataExtValue") or ""
        if is_public:
            public.add(name)
    return MappingProxyType(values)
