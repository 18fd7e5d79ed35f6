"""Validate qbXML documents against Intuit's qbXML 13.0 schema in tests.

QuickBooks rejects a request whose elements are out of order or unknown with a bare parse error
(0x80040400), so every request our code builds is checked here before any test believes it.

The schema directory is ``$MLC_QBXML_XSD_DIR`` or ``<repo root>/../shared/qb``; it is compiled once per
test process.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from lxml import etree

_TOP_LEVEL_XSD = "qbxmlops130.xsd"
_XML_DECLARATION = re.compile(r"^\s*<\?xml\b[^>]*\?>")
_QBXML_VERSION_PI = re.compile(r"<\?qbxml\s+version=\"\d+\.\d+\"\s*\?>")


def xsd_dir() -> Path:
    configured = os.environ.get("MLC_QBXML_XSD_DIR")
    if configured:
        return Path(configured)
    repo_root = Path(__file__).resolve().parent.parent
    return repo_root.parent / "shared" / "qb"


@functools.lru_cache(maxsize=1)
def qbxml_schema() -> etree.XMLSchema:
    path = xsd_dir() / _TOP_LEVEL_XSD
    if not path.is_file():
        raise FileNotFoundError(f"qbXML schema not found at {path}; set MLC_QBXML_XSD_DIR")
    return etree.XMLSchema(etree.parse(str(path)))


def assert_valid_qbxml(doc: str) -> None:
    """Fail with every schema error listed if ``doc`` is not a valid qbXML 13.0 document.

    Request documents (``QBXMLMsgsRq``) must also carry the ``<?qbxml version="X.Y"?>`` instruction,
    without which QuickBooks cannot tell which spec to read them by.
    """
    text = _XML_DECLARATION.sub("", doc.lstrip("\ufeff"), count=1)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(text, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise AssertionError(f"not well-formed XML: {exc}") from exc
    schema = qbxml_schema()
    if not schema.validate(root):
        errors = "\n".join(f"  line {e.line}: {e.message}" for e in schema.error_log)  # type: ignore[attr-defined]
        raise AssertionError(f"qbXML schema errors:\n{errors}\n--- document ---\n{doc}")
    if root.find("QBXMLMsgsRq") is not None and not _QBXML_VERSION_PI.search(text):
        raise AssertionError('request document lacks <?qbxml version="13.0"?>')


def samples_dir() -> Path:
    return xsd_dir() / "samples"


def sample_text(name: str) -> str:
    """A file from the shared qbXML samples folder, as text."""
    return (samples_dir() / name).read_text(encoding="utf-8")


def canonical_xml(doc: str) -> str:
    """``doc`` with the XML declaration, processing instructions, whitespace-only text and requestIDs
    removed, so two documents can be compared for meaning rather than formatting."""
    text = _XML_DECLARATION.sub("", doc.lstrip("\ufeff"), count=1)
    parser = etree.XMLParser(remove_blank_text=True, remove_pis=True, remove_comments=True)
    root = etree.fromstring(text, parser=parser)
    for element in root.iter():
        if "requestID" in element.attrib:
            del element.attrib["requestID"]
        # Indentation (whitespace with a line break) is formatting; a lone space in a leaf is data.
        if element.text is not None and not element.text.strip() and (len(element) or "\n" in element.text):
            element.text = None
    return etree.tostring(root, method="c14n").decode("utf-8")
