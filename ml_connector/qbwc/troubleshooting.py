"""Plain-words explanations of the errors QuickBooks and the Web Connector report.

The codes reach a bookkeeper in the Web Connector window, the status page and the audit trail; each comes with
what to do about it. Sources: PROTOCOL.md §12 and Intuit's Web Connector guide.
"""

from __future__ import annotations

HRESULTS: dict[str, str] = {
    "0x80040400": "QuickBooks could not parse a request. This is a bug in ml-connector; the request is set aside "
    "and the others continue.",
    "0x80040401": "The Web Connector could not reach QuickBooks. Check that QuickBooks is installed and not "
    "showing a dialog.",
    "0x80040402": "QuickBooks hit an unexpected error (details in qbsdklog.txt on the QuickBooks PC). "
    "ml-connector checks what was saved before sending anything again.",
    "0x80040408": "QuickBooks is not running or could not be started. Open QuickBooks with the company file, or "
    "allow this application to run when QuickBooks is closed (Edit > Preferences > Integrated Applications).",
    "0x8004040a": "This application is not authorised for the company file. In QuickBooks, open Edit > "
    "Preferences > Integrated Applications and allow ml-connector.",
    "0x8004040d": "The Web Connector's ticket was not valid. It will start a new session at the next run.",
    "0x80040416": "The company file is not open. Open it in QuickBooks, or set the Web Connector to open it.",
    "0x80040417": "A different company file is open in QuickBooks than the one this Web Connector entry is for.",
    "0x80040418": "ml-connector has never been given access to this company file. Open it in QuickBooks as an "
    "administrator in single-user mode and approve the application when asked.",
    "0x8004041a": "ml-connector has no permission to access this company file. Check Integrated Applications "
    "in QuickBooks' preferences.",
    "0x80040420": "A QuickBooks user denied ml-connector access. Grant access under Integrated Applications.",
}

QBWC_ERRORS: dict[str, str] = {
    "QBWC1012": "The Web Connector could not authenticate: check the password typed into the Web Connector "
    "for this application (it is MLC_QBWC_PASSWORD on the server).",
    "QBWC1039": "The .qwc file's OwnerID/FileID do not match what QuickBooks has stored. Download the .qwc from "
    "this server again (ml-connector keeps the same IDs) and add it once more, or remove the old entry first.",
    "QBWC1042": "The Web Connector could not read our response. Check the server log for errors.",
    "QBWC1048": "QuickBooks could not be opened by the Web Connector: open QuickBooks and the company file.",
    "QBWC1085": "The Web Connector could not write to its log file; run it once as administrator.",
    "QBWC1111": "The Web Connector could not reach the server URL. Check MLC_PUBLIC_URL, DNS and the firewall.",
    "certificate": "The Web Connector rejected the server's TLS certificate. Use a certificate from a public "
    "authority that Windows trusts, valid for the host in MLC_PUBLIC_URL.",
}


# Message-set level refusals (messageSetStatusCode), as written into session errors by the queue.
MESSAGE_SET_STATUS: dict[str, str] = {
    "messagesetstatuscode 9004": "QuickBooks refused a request document as a whole (message-set id not valid); "
    "nothing in it ran. ml-connector sends such requests again after 1 and 4 minutes, then fails them to their "
    "workflows (visible in the Temporal Web UI). If this persists, upgrade ml-connector and report it.",
    "messagesetstatuscode 9001": "QuickBooks refused a request document: its message-set id was used before for "
    "another document. Nothing in it ran; ml-connector sends it again under a new id.",
    "messagesetstatuscode": "QuickBooks refused a request document as a whole; nothing in it ran. ml-connector "
    "retries it twice with a pause, then fails it to its workflow with QuickBooks' words.",
}


def explain_hresult(hresult: str) -> str:
    """A sentence for the operator, or '' for codes we have nothing useful to add to."""
    return HRESULTS.get(hresult.strip().lower(), "")


def explain(text: str) -> str:
    """Find a known QuickBooks or Web Connector code inside any message and explain it."""
    lowered = text.lower()
    for code, advice in HRESULTS.items():
        if code in lowered:
            return advice
    for code, advice in QBWC_ERRORS.items():
        if code.lower() in lowered:
            return advice
    for code, advice in MESSAGE_SET_STATUS.items():
        if code in lowered:
            return advice
    return ""
