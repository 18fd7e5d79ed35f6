"""The .qwc file a user adds to the Web Connector: right elements, right order, nothing QBWC would refuse."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from lxml import etree

from ml_connector.qbwc.qwc import QwcSpec, new_guid, normalise_guid, render_qwc

OWNER = "{90A44FB7-33D9-4815-AC85-AC86A7E7D1EB}"
FILE = "{57F3B9B6-86F1-4FCC-B1FF-966DE1813D20}"
BRACED_GUID = re.compile(r"^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$")


def spec(**changes: Any) -> QwcSpec:
    values: dict[str, Any] = {
        "app_name": "Stripe Sync (Acme)",
        "app_url": "https://sync.example.com/qbwc",
        "app_support": "https://sync.example.com/support",
        "username": "acct-1234",
        "owner_id": OWNER,
        "file_id": FILE,
        "run_every_minutes": 15,
        "description": "Stripe payments to QuickBooks",
    }
    values.update(changes)
    return QwcSpec(**values)


def parsed(document: str) -> etree._Element:
    return etree.fromstring(document.encode("utf-8"))


def test_the_qwc_lists_its_elements_in_the_order_the_web_connector_expects() -> None:
    root = parsed(render_qwc(spec()))
    assert root.tag == "QBWCXML"
    assert [child.tag for child in root] == [
        "AppName",
        "AppID",
        "AppURL",
        "AppDescription",
        "AppSupport",
        "UserName",
        "OwnerID",
        "FileID",
        "QBType",
        "Scheduler",
        "IsReadOnly",
        "PersonalDataPref",
        "UnattendedModePref",
    ]
    values = {child.tag: child.text or "" for child in root}
    assert values["AppName"] == "Stripe Sync (Acme)"
    assert values["AppID"] == ""
    assert values["AppURL"] == "https://sync.example.com/qbwc"
    assert values["UserName"] == "acct-1234"
    assert (values["OwnerID"], values["FileID"]) == (OWNER, FILE)
    assert values["QBType"] == "QBFS"
    assert values["IsReadOnly"] == "false"
    assert values["PersonalDataPref"] == "pdpNotNeeded"
    assert values["UnattendedModePref"] == "umpOptional"
    assert root.findtext("Scheduler/RunEveryNMinutes") == "15"


def test_the_file_starts_with_an_xml_declaration_and_never_holds_a_password() -> None:
    document = render_qwc(spec())
    assert document.startswith('<?xml version="1.0" encoding="utf-8"?>\n')
    assert "Password" not in document


def test_optional_elements_follow_in_order_when_asked_for() -> None:
    root = parsed(render_qwc(spec(read_only=True, auth_flags=0xA, notify=True, personal_data_pref=None)))
    tags = [child.tag for child in root]
    assert tags[tags.index("IsReadOnly") :] == ["IsReadOnly", "UnattendedModePref", "AuthFlags", "Notify"]
    assert root.findtext("IsReadOnly") == "true"
    assert root.findtext("AuthFlags") == "0xA"
    assert root.findtext("Notify") == "true"


def test_text_with_markup_characters_is_escaped() -> None:
    document = render_qwc(spec(app_name="Smith & Sons <Stripe>", description='Payments "live"'))
    root = parsed(document)
    assert root.findtext("AppName") == "Smith & Sons <Stripe>"
    assert "Smith &amp; Sons &lt;Stripe&gt;" in document


def test_guids_are_written_braced_and_upper_case_whatever_form_they_came_in() -> None:
    made = spec(
        owner_id="90a44fb7-33d9-4815-ac85-ac86a7e7d1eb", file_id="{57f3b9b6-86f1-4fcc-b1ff-966de1813d20}"
    )
    assert (made.owner_id, made.file_id) == (OWNER, FILE)
    assert normalise_guid("57F3B9B686F14FCCB1FF966DE1813D20") == FILE


def test_the_same_ids_give_the_same_file_every_time() -> None:
    assert render_qwc(spec()) == render_qwc(spec())


def test_new_guid_makes_a_fresh_braced_upper_case_guid() -> None:
    first, second = new_guid(), new_guid()
    assert BRACED_GUID.match(first) and BRACED_GUID.match(second)
    assert first != second


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000/qbwc",
        "http://127.0.0.1:8000/qbwc",
        "http://[::1]:8000/qbwc",
        "http://LOCALHOST/qbwc",
    ],
)
def test_plain_http_is_allowed_for_a_local_development_server(url: str) -> None:
    support = url.replace("/qbwc", "/support")
    assert parsed(render_qwc(spec(app_url=url, app_support=support))).findtext("AppURL") == url


def test_plain_http_to_any_other_host_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="must use https://.*localhost"):
        spec(app_url="http://sync.example.com/qbwc", app_support="http://sync.example.com/support")


def test_the_support_url_must_use_https_too() -> None:
    with pytest.raises(ValueError, match="AppSupport must use https://"):
        spec(app_support="http://sync.example.com/support")


def test_the_support_url_must_be_on_the_same_host_as_the_service() -> None:
    with pytest.raises(ValueError, match="same host as AppURL"):
        spec(app_support="https://help.example.org/support")


@pytest.mark.parametrize(
    "url", ["sync.example.com/qbwc", "ftp://sync.example.com/qbwc", "https://", "https:// x/"]
)
def test_a_service_url_that_is_not_an_absolute_https_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="AppURL"):
        spec(app_url=url)


@pytest.mark.parametrize("minutes", [0, -5, 1.5, True, "15"])
def test_the_schedule_must_be_a_whole_number_of_minutes_of_at_least_one(minutes: Any) -> None:
    with pytest.raises(ValueError, match="run_every_minutes"):
        spec(run_every_minutes=minutes)


def test_one_minute_is_the_shortest_schedule() -> None:
    assert parsed(render_qwc(spec(run_every_minutes=1))).findtext("Scheduler/RunEveryNMinutes") == "1"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("owner_id", "not-a-guid", "OwnerID must be a GUID"),
        ("file_id", "", "FileID must be a GUID"),
        ("username", "", "UserName must not be empty"),
        ("username", " acct-1234", "UserName must not start or end with whitespace"),
        ("app_name", "  ", "AppName must not be empty"),
        ("description", "bell\x07", "AppDescription must not contain control characters"),
        ("qb_type", "QBOE", "QBType must be one of"),
        ("personal_data_pref", "pdpMaybe", "PersonalDataPref must be one of"),
        ("unattended_mode_pref", "umpSometimes", "UnattendedModePref must be one of"),
        ("auth_flags", 0x10, "AuthFlags"),
        ("read_only", "yes", "read_only"),
    ],
)
def test_invalid_settings_are_refused_with_a_clear_message(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        spec(**{field: value})


def test_a_spec_is_an_immutable_value() -> None:
    made = spec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.username = "someone-else"  # type: ignore[misc]
