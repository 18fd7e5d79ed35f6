"""The qbXML 13.0 grammar (Intuit's XSD), compiled once, and what the simulator does with its verdicts.

QuickBooks' request processor refuses a document that breaks the grammar (wrong element order, unknown
element, bad enum) as a whole, with hresult 0x80040400 -- which is how ordering bugs in a connector show
up in production. Over-long strings are different: QuickBooks parses the document and answers the one
request with statusCode 3070. The XSD expresses both as errors, so `validate` sorts them: `maxLength`
facet failures become per-request `LengthViolation`s, everything else is a grammar error.

The XSD set is found through ``MLC_QBXML_XSD_DIR`` or ``<repository>/../shared/qb``. Without it the
simulator still works with structural checks only, and says so once through `warnings`.
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from lxml import etree

XSD_FILE = "qbxmlops130.xsd"
_MAXLENGTH = re.compile(r"allowed maximum length of '(\d+)'")


def xsd_directory() -> Path | None:
    """Where qbxmlops130.xsd lives, or None when it cannot be found."""
    configured = os.environ.get("MLC_QBXML_XSD_DIR")
    candidates = [Path(configured)] if configured else []
    candidates.append(Path(__file__).resolve().parents[2].parent / "shared" / "qb")
    return next((c for c in candidates if (c / XSD_FILE).is_file()), None)


@functools.cache
def load_schema() -> etree.XMLSchema | None:
    """The compiled XSD (about 60 ms, done once per process), or None with a one-time warning."""
    directory = xsd_directory()
    if directory is None:
        warnings.warn(
            "qbXML XSD not found (set MLC_QBXML_XSD_DIR); the QuickBooks simulator falls back to "
            "structural checks and will accept requests real QuickBooks rejects",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    return etree.XMLSchema(etree.parse(str(directory / XSD_FILE)))


@dataclass(frozen=True, slots=True)
class LengthViolation:
    """A string longer than the XSD allows; QuickBooks answers such a request with statusCode 3070."""

    element: etree._Element
    field: str
    value: str
    max_length: int


@dataclass(frozen=True, slots=True)
class Verdict:
    grammar_errors: tuple[str, ...]
    length_violations: tuple[LengthViolation, ...]

    @property
    def is_well_formed_qbxml(self) -> bool:
        return not self.grammar_errors


def validate(schema: etree.XMLSchema, document: etree._ElementTree) -> Verdict:
    """Validate `document` and split the errors into grammar errors and per-element length violations."""
    if schema.validate(document):
        return Verdict((), ())
    grammar: list[str] = []
    lengths: list[LengthViolation] = []
    for error in _errors(schema):
        limit = _MAXLENGTH.search(error.message)
        if error.type_name == "SCHEMAV_CVC_MAXLENGTH_VALID" and limit and error.path:
            found = document.xpath(error.path)
            if isinstance(found, list) and found and isinstance(found[0], etree._Element):
                element = found[0]
                lengths.append(
                    LengthViolation(
                        element, etree.QName(element).localname, element.text or "", int(limit[1])
                    )
                )
                continue
        grammar.append(f"line {error.line}: {error.message}")
    return Verdict(tuple(grammar), tuple(lengths))


def response_errors(document: str) -> list[str]:
    """Schema errors in a response document (empty when valid). For tests: our replies must be valid qbXML."""
    schema = load_schema()
    if schema is None:
        raise RuntimeError("the qbXML XSD is not available")
    tree = etree.ElementTree(etree.fromstring(document.encode("utf-8"), safe_parser()))
    if schema.validate(tree):
        return []
    return [f"line {e.line}: {e.message}" for e in _errors(schema)]


def _errors(schema: etree.XMLSchema) -> Iterable[Any]:
    """The last validation's log entries (lxml-stubs do not declare the log iterable)."""
    return cast(Iterable[Any], schema.error_log)


def safe_parser() -> etree.XMLParser:
    """Requests arrive from the network: never resolve entities, load DTDs or fetch anything."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
