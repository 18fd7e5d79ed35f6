"""Run windows: the Web Connector is told to come back later outside a company's allowed hours."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from ml_connector.companies import sync_companies
from ml_connector.config import ConfigError, load_settings
from ml_connector.qbwc.soap import Authenticate
from ml_connector.qbwc_server.queue import RequestQueue
from ml_connector.qbwc_server.service import QbwcService, SessionEvents
from ml_connector.runwindows import RunWindowError, RunWindowSchedule, parse_window, seconds_until_open
from ml_connector.storage.engine import make_engine, migrate

NY = "America/New_York"


def at(text: str, tz: str = NY) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz))


def test_inside_an_overnight_window_the_web_connector_may_work_right_away():
    windows = [parse_window("18:00-07:00")]
    assert seconds_until_open(windows, at("2025-03-03T23:30"), NY) == 0
    assert seconds_until_open(windows, at("2025-03-04T06:59"), NY) == 0


def test_during_office_hours_the_wait_is_the_time_until_the_window_opens_in_the_company_time_zone():
    windows = [parse_window("18:00-07:00")]
    assert seconds_until_open(windows, at("2025-03-04T07:00"), NY) == 11 * 3600
    utc_noon = datetime(2025, 3, 4, 17, 0, tzinfo=UTC)  # 12:00 in New York
    assert seconds_until_open(windows, utc_noon, NY) == 6 * 3600


def test_the_wait_counts_real_seconds_across_a_daylight_saving_change():
    windows = [parse_window("03:00-04:00")]
    # 2025-03-09 02:00 New York jumps to 03:00: from 00:30 to 03:00 local is 1.5 real hours.
    assert seconds_until_open(windows, at("2025-03-09T00:30"), NY) == 90 * 60


def test_the_nearest_of_several_windows_opens_first():
    windows = [parse_window("12:00-13:00"), parse_window("20:00-06:00")]
    assert seconds_until_open(windows, at("2025-03-04T10:00"), NY) == 2 * 3600
    assert seconds_until_open(windows, at("2025-03-04T14:00"), NY) == 6 * 3600


def test_no_windows_means_any_time():
    assert seconds_until_open([], at("2025-03-04T10:00"), NY) == 0


@pytest.mark.parametrize("bad", ["18:00", "25:00-07:00", "18:60-07:00", "six-seven"])
def test_a_malformed_window_is_refused(bad):
    with pytest.raises(RunWindowError):
        parse_window(bad)


def test_a_malformed_mlc_run_windows_stops_the_start_with_a_message_naming_it():
    env = {"MLC_QBWC_USERNAME": "u", "MLC_QBWC_PASSWORD": "12345678", "MLC_RUN_WINDOWS": "after six"}
    with pytest.raises(ConfigError, match="MLC_RUN_WINDOWS"):
        load_settings(env)


def test_run_windows_come_from_the_toml_file_per_company(tmp_path):
    path = tmp_path / "companies.toml"
    path.write_text(
        '[[companies]]\nid = "acme"\nqbwc_username = "a"\nqbwc_password = "12345678"\n'
        'run_windows = ["18:00-07:00"]\ntimezone = "America/Chicago"\n'
        '[[companies]]\nid = "beta"\nqbwc_username = "b"\nqbwc_password = "12345678"\n'
    )
    settings = load_settings({"MLC_CONFIG": str(path)})
    assert settings.company("acme").run_windows == ("18:00-07:00",)
    assert settings.company("beta").run_windows == ()


def _service(tmp_path, windows: str, now: datetime):
    settings = load_settings(
        {
            "MLC_DATABASE_URL": f"sqlite:///{tmp_path / 'rw.db'}",
            "MLC_QBWC_USERNAME": "acme-qbwc",
            "MLC_QBWC_PASSWORD": "correct horse battery",
            "MLC_COMPANY_ID": "acme",
            "MLC_RUN_WINDOWS": windows,
        }
    )
    engine = make_engine(settings.database_url)
    migrate(engine)
    sync_companies(engine, settings)
    queue = RequestQueue(engine)
    service = QbwcService(
        engine,
        queue,
        run_windows=RunWindowSchedule.from_companies(settings.companies),
        on_arrival=lambda _company: True,  # work is due: only the window can say no
        clock=lambda: now,
    )
    return service, engine


def test_outside_the_window_authenticate_answers_none_with_a_postpone_until_it_opens(tmp_path):
    service, engine = _service(tmp_path, "18:00-07:00", at("2025-03-04T16:00"))
    result = service.authenticate(Authenticate("acme-qbwc", "correct horse battery"), SessionEvents())
    engine.dispose()
    assert result[1] == "none"
    assert result[2] == str(2 * 3600)


def test_inside_the_window_authenticate_opens_a_session(tmp_path):
    service, engine = _service(tmp_path, "18:00-07:00", at("2025-03-04T19:00"))
    result = service.authenticate(Authenticate("acme-qbwc", "correct horse battery"), SessionEvents())
    engine.dispose()
    assert result[1] == ""
    assert len(result) == 2


def test_a_wrong_password_is_refused_as_before_even_outside_the_window(tmp_path):
    service, engine = _service(tmp_path, "18:00-07:00", at("2025-03-04T16:00"))
    result = service.authenticate(Authenticate("acme-qbwc", "wrong password!"), SessionEvents())
    engine.dispose()
    assert result[1] == "nvu"
