"""Who may open the status page: this machine always; anyone else only with MLC_STATUS_PASSWORD."""

from __future__ import annotations

import httpx

from tests.harness import live_system

PROXIED = {"X-Forwarded-For": "203.0.113.7"}  # a reverse proxy on this machine forwarding a remote visitor


async def test_the_status_page_is_served_to_this_machine_without_a_password(temporal_client, tmp_path):
    async with live_system(f"sqlite:///{tmp_path / 'a.db'}", temporal_client) as system:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.settings.port}") as http:
            page = await http.get("/")
    assert page.status_code == 200
    assert "ml-connector status" in page.text
    assert page.headers["content-type"].startswith("text/html")


async def test_without_a_configured_password_remote_visitors_are_told_how_to_open_it(
    temporal_client, tmp_path
):
    async with live_system(f"sqlite:///{tmp_path / 'b.db'}", temporal_client) as system:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.settings.port}") as http:
            page = await http.get("/", headers=PROXIED)
    assert page.status_code == 403
    assert "MLC_STATUS_PASSWORD" in page.text


async def test_remote_visitors_need_the_status_password(temporal_client, tmp_path):
    async with live_system(
        f"sqlite:///{tmp_path / 'c.db'}", temporal_client, MLC_STATUS_PASSWORD="open sesame 42"
    ) as system:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.settings.port}") as http:
            anonymous = await http.get("/", headers=PROXIED)
            wrong = await http.get("/", headers=PROXIED, auth=("bookkeeper", "guess"))
            right = await http.get("/", headers=PROXIED, auth=("bookkeeper", "open sesame 42"))
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Basic ")
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert "open sesame" not in right.text
