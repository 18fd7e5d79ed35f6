"""Status codes and whose move a failure is."""

from __future__ import annotations

import pytest

from ml_connector.qbxml.errors import (
    QbBusyError,
    QbClientBugError,
    QbDataConflictError,
    QbSetupError,
    QbStatusError,
    QbxmlError,
    StatusClass,
    classify,
    severity_for,
    status_error,
    succeeded,
)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (0, StatusClass.OK),
        (1, StatusClass.NO_MATCH),
        (20, StatusClass.OK),
        (500, StatusClass.WARNING),
        (510, StatusClass.WARNING),
        (530, StatusClass.FIELD_IGNORED),
        (531, StatusClass.FIELD_IGNORED),
        (1000, StatusClass.RETRY_LATER),
        (1060, StatusClass.CLIENT_BUG),
        (2000, StatusClass.NOT_SUPPORTED),
        (2999, StatusClass.NOT_SUPPORTED),
        (3000, StatusClass.CLIENT_BUG),
        (3020, StatusClass.CLIENT_BUG),
        (3100, StatusClass.NAME_IN_USE),
        (3120, StatusClass.NOT_FOUND),
        (3130, StatusClass.BAD_REFERENCE),
        (3140, StatusClass.BAD_REFERENCE),
        (3150, StatusClass.CLIENT_BUG),
        (3170, StatusClass.RETRY_LATER),
        (3175, StatusClass.RETRY_LATER),
        (3176, StatusClass.RETRY_LATER),
        (3180, StatusClass.RETRY_LATER),
        (3200, StatusClass.EDIT_SEQUENCE),
        (3210, StatusClass.INVALID_VALUE),
        (3250, StatusClass.NOT_SUPPORTED),
        (3260, StatusClass.PERMISSION),
        (3261, StatusClass.PERMISSION),
        (3290, StatusClass.CLIENT_BUG),
        (3391, StatusClass.ITERATOR_INVALID),
        (9150, StatusClass.CLIENT_BUG),
        (3999, StatusClass.OTHER),
        (-1, StatusClass.OTHER),
    ],
)
def test_status_codes_are_classified_as_protocol_md_section_11_says(code: int, expected: StatusClass) -> None:
    assert classify(code) is expected


def test_only_ok_no_match_and_warnings_count_as_success() -> None:
    successes = {cls for cls in StatusClass if not cls.is_error}
    assert successes == {StatusClass.OK, StatusClass.NO_MATCH, StatusClass.WARNING, StatusClass.FIELD_IGNORED}


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        (3150, QbClientBugError),
        (3200, QbDataConflictError),
        (3100, QbDataConflictError),
        (3391, QbDataConflictError),
        (3180, QbBusyError),
        (3250, QbSetupError),
        (3261, QbSetupError),
        (3999, QbStatusError),
    ],
)
def test_status_errors_say_whose_move_it_is(code: int, error_type: type[QbStatusError]) -> None:
    error = status_error(code, "Error", "text", "CustomerAddRq", "ca-1")
    assert type(error) is error_type
    assert isinstance(error, QbxmlError)


def test_a_status_error_reads_well_in_a_log() -> None:
    error = status_error(
        3200, "Error", 'The provided edit sequence "1709560812" is out-of-date. ', "CustomerModRq", "cm-1"
    )
    text = str(error)
    assert "3200" in text and "edit_sequence" in text
    assert "CustomerModRq" in text and "cm-1" in text
    assert "out-of-date" in text
    assert (
        error.code == 3200 and error.request_id == "cm-1" and error.status_class is StatusClass.EDIT_SEQUENCE
    )


def test_a_status_error_without_message_still_says_so() -> None:
    assert "no statusMessage" in str(status_error(3150, "", "", "InvoiceAddRq"))


def test_missing_severities_follow_intuits_ranges() -> None:
    assert [severity_for(c) for c in (0, 1, 530, 3100)] == ["Info", "Info", "Warn", "Error"]


@pytest.mark.parametrize("code", [0, 1, 20, 499, 500, 510, 530, 531, 999])
def test_info_and_warnings_are_success_for_every_caller(code: int) -> None:
    """One definition of success (Intuit's ranges: 0-499 Info, 500-999 Warn were carried out), shared by
    QbRunResult.ok and classify(): a 530 "field not supported" on a ReceivePaymentAdd still posted it."""
    from ml_connector.qbwc_server.requests import QbRunResult

    assert succeeded(code) and not classify(code).is_error
    assert QbRunResult(1, "ReceivePaymentAddRq", code, "Warn", "").ok


@pytest.mark.parametrize("code", [1000, 2000, 3100, 3250, 9150, -1])
def test_errors_are_failure_for_every_caller(code: int) -> None:
    from ml_connector.qbwc_server.requests import QbRunResult

    assert not succeeded(code) and classify(code).is_error
    assert not QbRunResult(1, "ReceivePaymentAddRq", code, "Error", "").ok
