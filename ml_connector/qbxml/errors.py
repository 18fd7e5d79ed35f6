"""qbXML status codes, what they mean for us, and whose fault a failure is.

Every ``*Rs`` carries a ``statusCode``. :func:`classify` turns it into a :class:`StatusClass` that says
what to *do* (retry later, re-read and resend, reconcile by lookup, fix our code, tell the user), using
the table in PROTOCOL.md section 11. Codes not named there fall back to Intuit's ranges.

The exception hierarchy follows h11's split between local and remote protocol errors, sorted by who has
to act:

* :class:`QbxmlParseError` - QuickBooks or the Web Connector sent something that is not a qbXML response.
* :class:`QbStatusError` - QuickBooks answered a request with an error status. Its subclasses say whose
  move it is: :class:`QbClientBugError` (our request was wrong: fix the code),
  :class:`QbDataConflictError` (the data changed or clashes: re-read, reconcile, retry),
  :class:`QbBusyError` (QuickBooks is busy or locked: retry later unchanged) and
  :class:`QbSetupError` (this QuickBooks edition or user cannot do it: tell a person).
"""

from __future__ import annotations

import enum


class StatusClass(enum.Enum):
    """What a ``statusCode`` means for the caller."""

    OK = "ok"
    NO_MATCH = "no_match"  # 1: a query found nothing; an empty result, not an error
    WARNING = "warning"  # 500-999: processed, but the result may be incomplete
    RETRY_LATER = "retry_later"  # busy, locked or modified by another user; resend unchanged later
    EDIT_SEQUENCE = "edit_sequence"  # 3200: stale EditSequence; re-read, merge, resend
    NAME_IN_USE = "name_in_use"  # 3100: list names are unique; look up the holder or rename
    NOT_FOUND = "not_found"  # 3120: the object named in the request does not exist (any more)
    BAD_REFERENCE = "bad_reference"  # 3130/3140: a *Ref points at nothing; re-resolve it
    INVALID_VALUE = "invalid_value"  # 3210: a field value QuickBooks will not take (e.g. overpaying)
    ITERATOR_INVALID = "iterator_invalid"  # 3391: iterator expired or from another session; restart
    FIELD_IGNORED = "field_ignored"  # 530/531 (Warn): carried out, but a field or value was not supported
    NOT_SUPPORTED = "not_supported"  # edition/version lacks the feature (2000-2999, 3250): nothing was done
    PERMISSION = "permission"  # the QuickBooks user or app lacks the right
    CLIENT_BUG = "client_bug"  # our request is malformed
    OTHER = "other"

    @property
    def is_error(self) -> bool:
        return self not in _SUCCESSES


# Intuit's ranges: 0-499 Info and 500-999 Warn were processed; an Error severity (1000 and up) was not.
_SUCCESSES = frozenset({StatusClass.OK, StatusClass.NO_MATCH, StatusClass.WARNING, StatusClass.FIELD_IGNORED})


def succeeded(code: int) -> bool:
    """The one definition of success for a statusCode: QuickBooks carried the request out (0-999)."""
    return not classify(code).is_error

_BY_CODE: dict[int, StatusClass] = {
    0: StatusClass.OK,
    1: StatusClass.NO_MATCH,
    530: StatusClass.FIELD_IGNORED,
    531: StatusClass.FIELD_IGNORED,
    1000: StatusClass.RETRY_LATER,
    3100: StatusClass.NAME_IN_USE,
    3120: StatusClass.NOT_FOUND,
    3130: StatusClass.BAD_REFERENCE,
    3140: StatusClass.BAD_REFERENCE,
    3150: StatusClass.CLIENT_BUG,
    3170: StatusClass.RETRY_LATER,
    3175: StatusClass.RETRY_LATER,
    3176: StatusClass.RETRY_LATER,
    3180: StatusClass.RETRY_LATER,
    3200: StatusClass.EDIT_SEQUENCE,
    3210: StatusClass.INVALID_VALUE,
    3250: StatusClass.NOT_SUPPORTED,
    3260: StatusClass.PERMISSION,
    3261: StatusClass.PERMISSION,
    3290: StatusClass.CLIENT_BUG,
    3391: StatusClass.ITERATOR_INVALID,
}


def classify(code: int) -> StatusClass:
    """Map a qbXML ``statusCode`` to what it means for us.

    Named codes first (PROTOCOL.md section 11), then Intuit's ranges: 0-499 information,
    500-999 warning, 1000-1999 general errors and 3000-3099 format errors (our request),
    2000-2999 not supported, 9100-9199 macro errors (our use of defMacro/useMacro).
    """
    named = _BY_CODE.get(code)
    if named is not None:
        return named
    if 0 <= code < 500:
        return StatusClass.OK
    if 500 <= code < 1000:
        return StatusClass.WARNING
    if 2000 <= code < 3000:
        return StatusClass.NOT_SUPPORTED
    if 1000 <= code < 3100 or 9100 <= code < 9200:
        return StatusClass.CLIENT_BUG
    return StatusClass.OTHER


def severity_for(code: int) -> str:
    """The ``statusSeverity`` Intuit's ranges imply, for responses that leave it out."""
    if code < 500:
        return "Info"
    if code < 1000:
        return "Warn"
    return "Error"


class QbxmlError(Exception):
    """Base class for everything this package raises about qbXML content."""


class QbxmlParseError(QbxmlError):
    """The other side sent a document we cannot read as a qbXML response (garbage, DOCTYPE, no root)."""


class QbStatusError(QbxmlError):
    """A QuickBooks request failed with an error ``statusCode``.

    Carries everything needed to log and decide: the code, its :class:`StatusClass`, the severity and
    QuickBooks' own message, and which request it answered.
    """

    def __init__(
        self,
        code: int,
        severity: str,
        message: str,
        request_name: str,
        request_id: str | None = None,
    ) -> None:
        self.code = code
        self.severity = severity
        self.message = message
        self.request_name = request_name
        self.request_id = request_id
        super().__init__(code, severity, message, request_name, request_id)

    @property
    def status_class(self) -> StatusClass:
        return classify(self.code)

    def __str__(self) -> str:
        where = self.request_name + (f" (requestID {self.request_id})" if self.request_id else "")
        text = self.message.strip() or "no statusMessage"
        severity = self.severity or "Error"
        return f"QuickBooks {severity} {self.code} [{self.status_class.value}] on {where}: {text}"


class QbClientBugError(QbStatusError):
    """Our request was malformed or used something wrongly: fix the code, resending will not help."""


class QbDataConflictError(QbStatusError):
    """The request clashes with what is in QuickBooks now: re-read, reconcile, then try again."""


class QbBusyError(QbStatusError):
    """QuickBooks could not do it right now (record or list in use/locked): resend unchanged later."""


class QbSetupError(QbStatusError):
    """This QuickBooks edition, version or user cannot do it: a person has to change something."""


_ERROR_TYPE_BY_CLASS: dict[StatusClass, type[QbStatusError]] = {
    StatusClass.CLIENT_BUG: QbClientBugError,
    StatusClass.EDIT_SEQUENCE: QbDataConflictError,
    StatusClass.NAME_IN_USE: QbDataConflictError,
    StatusClass.NOT_FOUND: QbDataConflictError,
    StatusClass.BAD_REFERENCE: QbDataConflictError,
    StatusClass.INVALID_VALUE: QbDataConflictError,
    StatusClass.ITERATOR_INVALID: QbDataConflictError,
    StatusClass.RETRY_LATER: QbBusyError,
    StatusClass.NOT_SUPPORTED: QbSetupError,
    StatusClass.PERMISSION: QbSetupError,
}


def status_error(
    code: int, severity: str, message: str, request_name: str, request_id: str | None = None
) -> QbStatusError:
    """The most specific :class:`QbStatusError` subclass for ``code`` (not raised, returned)."""
    error_type = _ERROR_TYPE_BY_CLASS.get(classify(code), QbStatusError)
    return error_type(code, severity, message, request_name, request_id)
