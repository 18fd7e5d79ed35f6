"""What the first sendRequestXML tells us about the QuickBooks we are talking to."""

from __future__ import annotations

import pytest

from ml_connector.qbxml.envelope import RequestItem, build_message_set
from ml_connector.qbxml.errors import QbxmlParseError
from ml_connector.qbxml.host import company_query, host_query, parse_hcp, preferences_query
from tests.qbxml_schema import assert_valid_qbxml

HCP_RESPONSE = """<?xml version="1.0" ?>
<QBXML>
<QBXMLMsgsRs>
<HostQueryRs requestID="0" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
<HostRet>
<ProductName>QuickBooks Enterprise Solutions: Accountant Edition 23.0</ProductName>
<MajorVersion>33</MajorVersion>
<MinorVersion>0</MinorVersion>
<Country>US</Country>
<SupportedQBXMLVersion>1.0</SupportedQBXMLVersion>
<SupportedQBXMLVersion>2.0</SupportedQBXMLVersion>
<SupportedQBXMLVersion>12.0</SupportedQBXMLVersion>
<SupportedQBXMLVersion>13.0</SupportedQBXMLVersion>
<SupportedQBXMLVersion>16.0</SupportedQBXMLVersion>
<IsAutomaticLogin>false</IsAutomaticLogin>
<QBFileMode>SingleUser</QBFileMode>
</HostRet>
</HostQueryRs>
<CompanyQueryRs requestID="1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
<CompanyRet>
<IsSampleCompany>false</IsSampleCompany>
<CompanyName>Ma &amp; Pa's Bakery</CompanyName>
<LegalCompanyName>Ma and Pa Bakery LLC</LegalCompanyName>
</CompanyRet>
</CompanyQueryRs>
<PreferencesQueryRs requestID="2" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
<PreferencesRet>
<MultiCurrencyPreferences>
<IsMultiCurrencyOn>true</IsMultiCurrencyOn>
<HomeCurrencyRef><ListID>80000001-1600000000</ListID><FullName>US Dollar</FullName></HomeCurrencyRef>
</MultiCurrencyPreferences>
</PreferencesRet>
</PreferencesQueryRs>
</QBXMLMsgsRs>
</QBXML>"""


def test_host_company_and_preferences_queries_are_valid_requests() -> None:
    doc = build_message_set(
        [
            RequestItem("h", host_query()),
            RequestItem("c", company_query()),
            RequestItem("p", preferences_query()),
        ],
        on_error="continueOnError",
    )
    assert_valid_qbxml(doc)


def test_the_hcp_response_tells_product_versions_company_and_currency() -> None:
    assert_valid_qbxml(HCP_RESPONSE)
    info = parse_hcp(HCP_RESPONSE)
    assert info.product_name == "QuickBooks Enterprise Solutions: Accountant Edition 23.0"
    assert (info.major_version, info.minor_version, info.country) == ("33", "0", "US")
    assert info.supported_qbxml_versions == ("1.0", "2.0", "12.0", "13.0", "16.0")
    assert info.company_name == "Ma & Pa's Bakery"
    assert info.legal_company_name == "Ma and Pa Bakery LLC"
    assert info.is_multicurrency_enabled is True
    assert info.home_currency == "US Dollar"


def test_supported_versions_are_compared_by_number() -> None:
    info = parse_hcp(HCP_RESPONSE)
    assert info.supports_qbxml("13.0")
    assert not info.supports_qbxml("14.0")
    canadian = parse_hcp(HCP_RESPONSE.replace(">13.0<", ">CA13.0<"))
    assert canadian.supports_qbxml("13.0")
    with pytest.raises(ValueError):
        info.supports_qbxml("thirteen")


def test_sections_quickbooks_did_not_return_are_unknown_not_guessed() -> None:
    doc = HCP_RESPONSE.split("<CompanyQueryRs")[0] + "</QBXMLMsgsRs></QBXML>"
    info = parse_hcp(doc)
    assert info.product_name is not None
    assert info.company_name is None and info.legal_company_name is None
    assert info.is_multicurrency_enabled is None and info.home_currency is None


def test_a_failed_section_is_treated_as_missing() -> None:
    doc = HCP_RESPONSE.replace(
        '<PreferencesQueryRs requestID="2" statusCode="0" statusSeverity="Info"',
        '<PreferencesQueryRs requestID="2" statusCode="3261" statusSeverity="Error"',
    )
    assert parse_hcp(doc).is_multicurrency_enabled is None


def test_an_hcp_without_any_response_is_a_parse_error() -> None:
    with pytest.raises(QbxmlParseError):
        parse_hcp("<QBXML><QBXMLMsgsRs/></QBXML>")
    with pytest.raises(QbxmlParseError):
        parse_hcp("")
