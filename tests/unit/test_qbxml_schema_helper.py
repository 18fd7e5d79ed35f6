"""The XSD helper other tests rely on: it accepts the reference samples and catches what QuickBooks rejects."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.qbxml_schema import assert_valid_qbxml, canonical_xml, sample_text, samples_dir, xsd_dir

OUT_OF_ORDER_SAMPLE = "customer-batch-mixed.rs.xml"  # Sublevel after CompanyName (samples/README.md)


@pytest.mark.parametrize("path", sorted(samples_dir().glob("*.rq.xml")), ids=lambda p: p.name)
def test_every_sample_request_is_valid(path: Path) -> None:
    assert_valid_qbxml(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(samples_dir().glob("*.rs.xml")) if p.name != OUT_OF_ORDER_SAMPLE],
    ids=lambda p: p.name,
)
def test_every_well_ordered_sample_response_is_valid(path: Path) -> None:
    assert_valid_qbxml(path.read_text(encoding="utf-8"))


def test_the_out_of_order_sample_response_is_caught() -> None:
    with pytest.raises(AssertionError, match="Sublevel"):
        assert_valid_qbxml(sample_text(OUT_OF_ORDER_SAMPLE))


def test_a_request_with_children_out_of_schema_order_is_caught() -> None:
    doc = (
        sample_text("customer-mod.rq.xml")
        .replace("<EditSequence>1709560812</EditSequence>", "")
        .replace("<Notes>", "<EditSequence>1709560812</EditSequence><Notes>")
    )
    with pytest.raises(AssertionError, match="EditSequence"):
        assert_valid_qbxml(doc)


def test_an_unknown_element_or_an_over_long_value_is_caught() -> None:
    doc = sample_text("customer-mod.rq.xml")
    with pytest.raises(AssertionError):
        assert_valid_qbxml(doc.replace("<Email>", "<Twitter>x</Twitter><Email>"))
    with pytest.raises(AssertionError):
        assert_valid_qbxml(doc.replace("80000001-1700000000", "8" * 37))


def test_a_request_without_the_qbxml_version_instruction_is_caught() -> None:
    with pytest.raises(AssertionError, match="qbxml version"):
        assert_valid_qbxml(sample_text("customer-mod.rq.xml").replace('<?qbxml version="13.0"?>', ""))


def test_malformed_xml_is_caught() -> None:
    with pytest.raises(AssertionError, match="well-formed"):
        assert_valid_qbxml("<QBXML>")


def test_canonical_form_ignores_formatting_and_request_ids_only() -> None:
    a = '<QBXML>\n  <QBXMLMsgsRq onError="stopOnError"><HostQueryRq requestID="1"/></QBXMLMsgsRq></QBXML>'
    b = (
        '<?xml version="1.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">'
        '<HostQueryRq requestID="2"></HostQueryRq></QBXMLMsgsRq></QBXML>'
    )
    assert canonical_xml(a) == canonical_xml(b)
    assert canonical_xml(a) != canonical_xml(a.replace("stopOnError", "continueOnError"))


def test_the_schema_directory_can_be_moved_with_an_environment_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLC_QBXML_XSD_DIR", str(tmp_path))
    assert xsd_dir() == tmp_path
    monkeypatch.delenv("MLC_QBXML_XSD_DIR")
    assert (xsd_dir() / "qbxmlops130.xsd").is_file()
