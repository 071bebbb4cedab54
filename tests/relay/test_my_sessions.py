"""A person sees their sessions (device, zone, since when, last use, this one) and ends
one -- a lost phone -- whose stream closes and whose token dies while the others go
on; an admin (API or relayctl) ends every session of an account.  Real store, real
in-memory WebSocket streams."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
import trio_websocket

from relay import control
from relay.my_sessions import device_label, last_seen
from tests.relay.test_api import Env, body, code, env, open_stream, recv

__all__ = ["env"]  # the fixture, used by name

WINDOWS_EDGE = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                "Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91")
IPHONE_SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1")
CLOSE_WITHIN_S = 1.0


async def login_from(env: Env, login: str, zone: str, ua: str) -> str:
    r = await env.login(login, zone, headers=(("user-agent", ua),))
    assert r.status == 200, body(r)
    env.tokens[login, zone] = body(r)["token"]
    return str(body(r)["token"])


async def sessions(env: Env, token: str, zone: str = "lgwan") -> list[dict[str, Any]]:
    r = await env.call("GET", "/api/v1/me/sessions", token=token, zone=zone)
    assert r.status == 200, body(r)
    return list(body(r)["sessions"])


async def closed_code(ws: trio_websocket.WebSocketConnection) -> int | None:
    with trio.fail_after(CLOSE_WITHIN_S):
        try:
            while True:
                await ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            return exc.reason.code if exc.reason else None


async def audit_actions(env: Env) -> list[dict[str, Any]]:
    r = await env.call("GET", "/api/v1/admin/audit", as_="root", query={"limit": "1000"})
    return list(body(r)["entries"])


def test_a_device_is_named_the_way_a_person_knows_it() -> None:
    assert device_label(WINDOWS_EDGE) == "Edge (Windows)"
    assert device_label(IPHONE_SAFARI) == "Safari (iPhone)"
    assert device_label("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, "
                        "like Gecko) Chrome/120.0 Mobile Safari/537.36") == "Chrome (Android)"
    assert device_label("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.2; rv:121.0) Gecko/20100101 "
                        "Firefox/121.0") == "Firefox (Mac)"
    assert device_label("Kakehashi-iOS/1.2 (build 7)") == "Kakehashi-iOS/1.2"
    assert device_label(None) == "" and device_label("\x00\x1b") == ""
    assert device_label("\x1b[31mevil\r\nX-Injected: 1") == "[31mevil"  # no control bytes
    assert len(device_label("x" * 5000)) == 80


async def test_a_person_sees_each_session_with_its_device_zone_and_last_use(env: Env) -> None:
    office = await login_from(env, "tanaka", "lgwan", WINDOWS_EDGE)
    created = env.clock.t
    env.clock.t += 300
    phone = await login_from(env, "tanaka", "internet", IPHONE_SAFARI)
    listed = await sessions(env, office)
    assert [(s["device"], s["zone"], s["current"]) for s in listed] == [
        ("Safari (iPhone)", "internet", False), ("Edge (Windows)", "lgwan", True)]
    # The list itself is a use of the office session; the phone's is its login.
    assert listed[1]["created_at"] < listed[1]["last_seen_at"]
    assert listed[0]["created_at"] == listed[0]["last_seen_at"]
    # The phone is used two minutes later: the office PC's list shows it at once...
    env.clock.t += 120
    assert (await env.call("GET", "/api/v1/me", token=phone, zone="internet")).status == 200
    used_at = env.clock.t
    listed = await sessions(env, office)
    assert listed[0]["last_seen_at"].startswith(_iso_minute(used_at))
    # ...and it reaches the database in the next batch, not on the request's path.
    row = await _last_seen_in_db(env, listed[0]["id"])
    assert row is not None and row < used_at
    assert await last_seen(env.app.ctx).flush(env.app.ctx) == 2  # both sessions were used
    assert await _last_seen_in_db(env, listed[0]["id"]) == used_at
    assert (await sessions(env, phone, "internet"))[0]["current"] is True
    # Nobody else's sessions appear.
    assert [s["zone"] for s in await sessions(env, await env.token("suzuki"))] == ["lgwan"]
    assert created < used_at


def _iso_minute(t: float) -> str:
    import time
    return time.strftime("%Y-%m-%dT%H:%M", time.gmtime(t))


async def _last_seen_in_db(env: Env, session_id: str) -> float | None:
    def read(db: Any) -> float | None:
        return db.conn.execute("SELECT last_seen_ts FROM sessions WHERE id = ?",
                               (int(session_id),)).fetchone()[0]
    return await env.store._read(read)


async def test_ending_a_lost_phone_closes_its_stream_and_the_office_goes_on(env: Env) -> None:
    office = await login_from(env, "tanaka", "lgwan", WINDOWS_EDGE)
    phone = await login_from(env, "tanaka", "internet", IPHONE_SAFARI)
    room = await env.room("tanaka", "suzuki")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            office_ws = await open_stream(env, nursery, "tanaka", "lgwan")
            phone_ws = await open_stream(env, nursery, "tanaka", "internet")
            while env.app.hub.sessions(env.ids["tanaka"]) < 2:
                await trio.sleep(0.001)
            lost = next(s for s in await sessions(env, office) if s["zone"] == "internet")
            assert lost["streams"] == 1
            r = await env.call("DELETE", f"/api/v1/me/sessions/{lost['id']}", token=office)
            assert r.status == 204
            assert await closed_code(phone_ws) == 1008
            r = await env.call("GET", "/api/v1/me", token=phone, zone="internet")
            assert r.status == 401 and code(r) == "unauthenticated"
            # The office PC goes on: its stream gets the next message, its token works.
            sent = await env.call("POST", f"/api/v1/rooms/{room}/messages",
                                  {"body": "スマホを紛失しました"}, as_="suzuki")
            assert sent.status == 201
            event = await recv(office_ws)
            assert event["type"] == "message.created"
            assert [s["zone"] for s in await sessions(env, office)] == ["lgwan"]
            nursery.cancel_scope.cancel()
    ended = [e for e in await audit_actions(env) if e["action"] == "session.ended"]
    assert len(ended) == 1 and ended[0]["actor"] == env.ids["tanaka"]
    assert ended[0]["data"] == {"session_id": lost["id"], "zone": "internet",
                                "device": "Safari (iPhone)", "by": "self",
                                "from_zone": "lgwan"}


async def test_a_session_of_someone_else_cannot_be_ended_or_told_apart(env: Env) -> None:
    theirs = (await sessions(env, await env.token("suzuki")))[0]["id"]
    mine = await env.token("tanaka")
    for target in (theirs, "999999"):
        r = await env.call("DELETE", f"/api/v1/me/sessions/{target}", token=mine)
        assert r.status == 404 and code(r) == "session_not_found"
    assert (await env.call("GET", "/api/v1/me", as_="suzuki")).status == 200


async def _by_admin_api(env: Env) -> None:
    r = await env.call("POST", f"/api/v1/admin/accounts/{env.ids['tanaka']}/sessions/end",
                       as_="root")
    assert r.status == 200 and body(r)["sessions_ended"] == 2
    assert body(r)["account"]["login"] == "tanaka"


async def _by_relayctl(env: Env) -> None:
    got = await control.execute(env.app.ctx, {"op": "account.logout",
                                              "args": {"login": "tanaka"}})
    assert got["ok"]["sessions_ended"] == 2, got


@pytest.mark.parametrize("how", ["admin API", "relayctl"])
async def test_an_admin_ends_every_session_of_an_account(env: Env, how: str) -> None:
    office = await login_from(env, "tanaka", "lgwan", WINDOWS_EDGE)
    phone = await login_from(env, "tanaka", "internet", IPHONE_SAFARI)
    other = await env.token("suzuki")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            streams = [await open_stream(env, nursery, "tanaka", "lgwan"),
                       await open_stream(env, nursery, "tanaka", "internet")]
            while env.app.hub.sessions(env.ids["tanaka"]) < 2:
                await trio.sleep(0.001)
            await (_by_admin_api if how == "admin API" else _by_relayctl)(env)
            for ws in streams:
                assert await closed_code(ws) == 1008
            nursery.cancel_scope.cancel()
    assert (await env.call("GET", "/api/v1/me", token=office)).status == 401
    assert (await env.call("GET", "/api/v1/me", token=phone, zone="internet")).status == 401
    assert (await env.call("GET", "/api/v1/me", token=other)).status == 200
    assert (await env.login("tanaka", peer="192.0.2.99")).status == 200  # still enabled
    entry = [e for e in await audit_actions(env) if e["action"] == "account.sessions_ended"]
    assert len(entry) == 1 and entry[0]["subject"] == env.ids["tanaka"]
    assert entry[0]["data"] == {"login": "tanaka", "sessions_ended": 2}
    assert entry[0]["actor"] == (env.ids["root"] if how == "admin API" else None)


async def test_ending_sessions_is_for_admins_and_lgwan_only(env: Env) -> None:
    path = f"/api/v1/admin/accounts/{env.ids['suzuki']}/sessions/end"
    r = await env.call("POST", path, as_="tanaka")
    assert r.status == 403 and code(r) == "forbidden"
    r = await env.call("POST", path, as_="tanaka", zone="internet")
    assert r.status == 404 and code(r) == "not_found"  # no such path on the internet side
    r = await env.call("POST", "/api/v1/admin/accounts/424242/sessions/end", as_="root")
    assert r.status == 404 and code(r) == "account_not_found"
    assert json.loads((await env.call("GET", "/api/v1/me", as_="suzuki")).body)["login"] == "suzuki"
