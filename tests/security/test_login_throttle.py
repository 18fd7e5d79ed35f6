"""Issue 13, row 3: the login throttle cannot be turned against the owner.

Failures used to be counted per user name from any address, and attempts while locked (even correct ones)
extended the lock: one request a minute from anywhere locked the real Web Connector out for good. Now the
throttle is per (address, user name), a growing delay rather than a lock, and attempts while throttled are
neither checked nor recorded.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import func
from sqlmodel import Session, select

from ml_connector.qbwc.throttle import name_tag
from ml_connector.storage.models import AuthFailure
from tests.harness import PASSWORD, USERNAME, live_system
from tests.security.support import ATTACKER, login

FLOOD = 20


async def test_a_guesser_elsewhere_cannot_lock_the_owner_out(temporal_client, database_url, caplog):
    caplog.set_level(logging.INFO)
    async with live_system(database_url, temporal_client) as system:

        def attack() -> list[str]:
            return [login(system.url, USERNAME, f"guess {i}", source=ATTACKER) for i in range(FLOOD)]

        answers = await asyncio.to_thread(attack)
        # The guesser's right password straight after its flood, while the delay its last failure set still
        # runs (2 s at least); then the owner, from its own address, at once.
        attacker_right = await asyncio.to_thread(login, system.url, USERNAME, PASSWORD, source=ATTACKER)
        owner = await asyncio.to_thread(login, system.url, USERNAME, PASSWORD)
        with Session(system.engine) as db:
            recorded = db.exec(select(func.count()).select_from(AuthFailure)).one()
            addresses = set(db.exec(select(AuthFailure.address)).all())

    assert set(answers) == {"nvu"}
    assert owner == "none", "the owner's address has no failures: it logs in at once"
    assert attacker_right == "nvu", "the guesser's own key is still throttled, even with the right password"
    # Attempts made while throttled are not recorded, so they extend nothing: the free failures plus at most
    # a few that waited out a delay.
    assert recorded <= 6, recorded
    assert addresses == {ATTACKER}
    assert ATTACKER in caplog.text and name_tag(USERNAME) in caplog.text
    assert "guess 1" not in caplog.text and PASSWORD not in caplog.text


async def test_the_right_password_from_a_shared_address_gets_through_once_the_delay_has_passed(
    temporal_client, database_url
):
    async with live_system(database_url, temporal_client, MLC_LOGIN_MAX_DELAY_SECONDS="2") as system:

        def attack() -> list[str]:
            return [login(system.url, USERNAME, f"guess {i}") for i in range(FLOOD)]

        assert set(await asyncio.to_thread(attack)) == {"nvu"}
        throttled = await asyncio.to_thread(login, system.url, USERNAME, PASSWORD)
        await asyncio.sleep(2.5)  # the longest delay this installation imposes
        owner = await asyncio.to_thread(login, system.url, USERNAME, PASSWORD)
        with Session(system.engine) as db:
            left = db.exec(select(func.count()).select_from(AuthFailure)).one()

    assert throttled == "nvu", "inside the delay nothing is checked, not even the right password"
    assert owner == "none", "no lock: once the delay has passed the right password gets through"
    assert left == 0, "a successful login clears the failures of its address and user name"
