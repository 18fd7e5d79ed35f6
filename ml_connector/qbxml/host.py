"""What QuickBooks tells us about itself: host product, company file and preferences.

The Web Connector runs HostQuery, CompanyQuery and PreferencesQuery itself at the start of a session and
hands us the single response document as ``strHCPResponse`` on the first sendRequestXML. We read just
what the connector decides with: which qbXML versions we may send, the country (US files store
Windows-1252 text), the company's name, and whether multi-currency is on (amounts then need a currency).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ml_connector.qbxml import nodes
from ml_connector.qbxml.envelope import parse_response
from ml_connector.qbxml.errors import QbxmlParseError


def host_query() -> str:
    return nodes.to_text(nodes.new_request("HostQueryRq"))


def company_query() -> str:
    return nodes.to_text(nodes.new_request("CompanyQueryRq"))


def preferences_query() -> str:
    return nodes.to_text(nodes.new_request("PreferencesQueryRq"))


_VERSION_NUMBER = re.compile(r"(?:[A-Z]{2})?(\d+)\.(\d+)")


@dataclass(frozen=True)
class HostInfo:
    product_name: str | None
    major_version: str | None
    minor_version: str | None
    country: str | None
    supported_qbxml_versions: tuple[str, ...]
    company_name: str | None
    legal_company_name: str | None
    is_multicurrency_enabled: bool | None
    home_currency: str | None

    def supports_qbxml(self, version: str) -> bool:
        """Whether the request processor lists ``version`` (``"13.0"``) among the ones it accepts.

        Non-US editions print versions with a country prefix (``CA3.0``); only the number is compared.
        """
        wanted = _VERSION_NUMBER.fullmatch(version)
        if wanted is None:
            raise ValueError(f"not a qbXML version: {version!r}")
        return any(
            (m := _VERSION_NUMBER.fullmatch(v)) is not None and m.groups() == wanted.groups()
            for v in self.supported_qbxml_versions
        )


def parse_hcp(doc: str | bytes) -> HostInfo:
    """Read the HostQuery/CompanyQuery/PreferencesQuery response (``strHCPResponse``).

    A section QuickBooks did not return (or returned with an error status) leaves its fields ``None``;
    only a document that is not a qbXML response at all raises :class:`QbxmlParseError`.
    """
    response = parse_response(doc)
    if not response.items:
        raise QbxmlParseError("HCP response holds no Host/Company/Preferences response")

    host = company = preferences = None
    for item in response.items:
        if item.is_error:
            continue
        if item.name == "HostQueryRs":
            host = next(iter(nodes.rets(item.xml, "HostRet")), None)
        elif item.name == "CompanyQueryRs":
            company = next(iter(nodes.rets(item.xml, "CompanyRet")), None)
        elif item.name == "PreferencesQueryRs":
            preferences = next(iter(nodes.rets(item.xml, "PreferencesRet")), None)

    versions: tuple[str, ...] = ()
    if host is not None:
        versions = tuple(
            (element.text or "").strip()
            for element in host.findall("SupportedQBXMLVersion")
            if (element.text or "").strip()
        )

    multicurrency = preferences.find("MultiCurrencyPreferences") if preferences is not None else None
    home_currency = None
    if multicurrency is not None:
        list_id, full_name = nodes.ref_of(multicurrency, "HomeCurrencyRef")
        home_currency = full_name or list_id

    return HostInfo(
        product_name=nodes.text_of(host, "ProductName") if host is not None else None,
        major_version=nodes.text_of(host, "MajorVersion") if host is not None else None,
        minor_version=nodes.text_of(host, "MinorVersion") if host is not None else None,
        country=nodes.text_of(host, "Country") if host is not None else None,
        supported_qbxml_versions=versions,
        company_name=nodes.text_of(company, "CompanyName") if company is not None else None,
        legal_company_name=nodes.text_of(company, "LegalCompanyName") if company is not None else None,
        is_multicurrency_enabled=(
            nodes.bool_of(multicurrency, "IsMultiCurrencyOn") if multicurrency is not None else None
        ),
        home_currency=home_currency,
    )
