"""External accounts have a sponsor and a last day: set at creation and changed later
(admin API, relayctl), an expired account cannot log in (answered like a wrong
password) and its sessions stop at once, streams included; the sponsor is reminded
14 and 3 days before, once each.  Real store, real in-memory streams, a test clock."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import trio
import trio_websocket

from relay import control, externals
from store.externals import end_of, today
from tests.relay.test_api import PASSWORD, Env, body, code, env, open_stream, recv

__all__ = ["env"]  # the fixture, used by name

DAY = 86400.0


async def make_external(env: Env, login: str, **extra: Any) -> dict[str, Any]:
    r = await env.call("POST", "/api/v1/admin/accounts",
                       {"login": login, "kind": "external", "password": PASSWORD,
                        "sponsor": env.ids["tanaka"], **extra}, as_="root")
    assert r.status == 201, body(r)
    env.ids[login] = body(r)["id"]
    return dict(body(r))


def day(env: Env, offset: int = 0) -> str:
    return (today(env.clock.t) + timedelta(days=offset)).isoformat()


async def audit(env: Env, action: str) -> list[dict[str, Any]]:
    env.tokens.pop(("root", "lgwan"), None)  # the test clock may have ended its session
    r = await env.call("GET", "/api/v1/admin/audit", as_="root", query={"limit": "1000"})
    return [e for e in body(r)["entries"] if e["action"] == action]


async def check(env: Env) -> list[Any]:
    return await env.app.ctx.run(externals.check_expiries(env.app.ctx))


async def test_an_external_account_needs_a_staff_sponsor_and_gets_a_year_by_default(
        env: Env) -> None:
    new = {"login": "giin", "kind": "external", "password": PASSWORD}
    r = await env.call("POST", "/api/v1/admin/accounts", new, as_="root")
    assert r.status == 400 and code(r) == "sponsor_required"
    for sponsor in (env.ids["hoikuen"], env.ids["root"], "424242"):
        r = await env.call("POST", "/api/v1/admin/accounts", {**new, "sponsor": sponsor},
                           as_="root")
        assert r.status == 400 and code(r) == "invalid_sponsor", sponsor
    for bad in ("2020-01-01", "tomorrow", "2027-02-30", day(env, 3 * 365 + 2)):
        r = await env.call("POST", "/api/v1/admin/accounts",
                           {**new, "sponsor": env.ids["tanaka"], "expires_at": bad}, as_="root")
        assert r.status == 400 and code(r) == "invalid_expiry", bad
    r = await env.call("POST", "/api/v1/admin/accounts",
                       {"login": "yamada", "kind": "staff", "password": PASSWORD,
                        "sponsor": env.ids["tanaka"]}, as_="root")
    assert r.status == 400 and code(r) in ("not_external", "invalid_sponsor")
    r = await env.call("POST", "/api/v1/admin/accounts",
                       {"login": "yamada", "kind": "staff", "password": PASSWORD,
                        "expires_at": day(env, 10)}, as_="root")
    assert r.status == 400 and code(r) == "not_external"

    await make_external(env, "giin")
    listed = body(await env.call("GET", "/api/v1/admin/external-accounts", as_="root"))
    giin = next(a for a in listed["accounts"] if a["login"] == "giin")
    assert giin["sponsor"] == env.ids["tanaka"] and giin["sponsor_login"] == "tanaka"
    assert giin["expires_at"] == day(env, 365) and giin["expired"] is False
    created = (await audit(env, "account.created"))[-1]
    assert created["data"] == {"login": "giin", "kind": "external",
                               "sponsor": env.ids["tanaka"], "expires_at": day(env, 365)}
    # Accounts made before sponsors existed show none (the operator sets one).
    hoikuen = next(a for a in listed["accounts"] if a["login"] == "hoikuen")
    assert hoikuen["sponsor"] is None and hoikuen["expires_at"] is None


async def test_sponsor_and_last_day_change_later_audited(env: Env) -> None:
    made = await make_external(env, "jichikai", expires_at=day(env, 30))
    path = f"/api/v1/admin/accounts/{made['id']}/sponsorship"
    r = await env.call("PATCH", path, {"sponsor": env.ids["suzuki"],
                                       "expires_at": day(env, 200)}, as_="root")
    assert r.status == 200, body(r)
    assert body(r)["sponsor_login"] == "suzuki" and body(r)["expires_at"] == day(env, 200)
    r = await env.call("PATCH", f"/api/v1/admin/accounts/{env.ids['tanaka']}/sponsorship",
                       {"expires_at": day(env, 5)}, as_="root")
    assert r.status == 400 and code(r) == "not_external"
    r = await env.call("PATCH", path, {"sponsor": env.ids["sato"]}, as_="root")
    assert r.status == 400 and code(r) == "invalid_sponsor"
    got = await control.execute(env.app.ctx, {"op": "account.sponsor", "args": {
        "login": "jichikai", "sponsor": "tanaka"}})
    assert got["ok"]["external"]["sponsor_login"] == "tanaka", got
    got = await control.execute(env.app.ctx, {"op": "account.expires", "args": {
        "login": "jichikai", "expires_at": day(env, 90)}})
    assert got["ok"]["external"]["expires_at"] == day(env, 90), got
    changes = [e["data"]["changes"] for e in await audit(env, "account.sponsorship_changed")]
    assert changes == [
        {"sponsor": {"from": env.ids["tanaka"], "to": env.ids["suzuki"]},
         "expires_at": {"from": day(env, 30), "to": day(env, 200)}},
        {"sponsor": {"from": env.ids["suzuki"], "to": env.ids["tanaka"]}},
        {"expires_at": {"from": day(env, 200), "to": day(env, 90)}}]
    # relayctl account list shows them; --expiring keeps the ones close to their day.
    listed = await control.execute(env.app.ctx, {"op": "account.list", "args": {}})
    row = next(a for a in listed["ok"]["accounts"] if a["login"] == "jichikai")
    assert (row["sponsor_login"], row["expires_at"]) == ("tanaka", day(env, 90))
    soon = await control.execute(env.app.ctx, {"op": "account.list",
                                               "args": {"expiring": 30}})
    assert soon["ok"]["accounts"] == []
    soon = await control.execute(env.app.ctx, {"op": "account.list",
                                               "args": {"expiring": 90}})
    assert [a["login"] for a in soon["ok"]["accounts"]] == ["jichikai"]


async def test_relayctl_adds_an_external_account_with_its_sponsor(env: Env) -> None:
    args = {"login": "rinsetsu", "kind": "external", "password": PASSWORD}
    got = await control.execute(env.app.ctx, {"op": "account.add", "args": args})
    assert got["error"]["code"] == "sponsor_required"
    got = await control.execute(env.app.ctx, {"op": "account.add", "args": {
        **args, "sponsor": "ghost"}})
    assert got["error"]["code"] == "invalid_sponsor"
    got = await control.execute(env.app.ctx, {"op": "account.add", "args": {
        **args, "sponsor": "suzuki", "expires_at": day(env, 60)}})
    assert "ok" in got, got
    listed = body(await env.call("GET", "/api/v1/admin/external-accounts", as_="root",
                                 query={"expiring": "60"}))["accounts"]
    assert [(a["login"], a["sponsor_login"], a["days_left"]) for a in listed] == [
        ("rinsetsu", "suzuki", 60)]


async def test_an_expired_account_is_refused_like_a_wrong_password_and_stops_at_once(
        env: Env) -> None:
    await make_external(env, "giin", expires_at=day(env))  # today is the last day
    token = await env.token("giin", "internet")
    assert (await env.call("GET", "/api/v1/me", token=token, zone="internet")).status == 200
    env.clock.t = end_of(day(env))  # the first moment of the day after
    r = await env.call("GET", "/api/v1/me", token=token, zone="internet")
    assert r.status == 401 and code(r) == "unauthenticated"  # before any check ran
    expired = await env.login("giin", "internet")
    wrong = await env.login("giin", "internet", password="not the password at all",
                            peer="192.0.2.50")
    assert (expired.status, expired.body) == (wrong.status, wrong.body)
    assert code(expired) == "invalid_credentials"
    failed = await audit(env, "login.failed")
    assert failed[-2]["data"]["reason"] == "expired" and failed[-2]["subject"] == "giin"
    # A later last day makes it work again.
    got = await control.execute(env.app.ctx, {"op": "account.expires", "args": {
        "login": "giin", "expires_at": day(env, 7)}})
    assert "ok" in got, got
    assert (await env.login("giin", "internet", peer="192.0.2.51")).status == 200


async def test_an_open_stream_of_an_expiring_account_closes_when_it_expires(env: Env) -> None:
    await make_external(env, "giin", expires_at=day(env))
    env.clock.t = end_of(day(env)) - 0.5  # half a second of the last day left
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            ws = await open_stream(env, nursery, "giin", "internet")
            with trio.fail_after(0.5 + 1.0):
                try:
                    while True:
                        await ws.get_message()
                except trio_websocket.ConnectionClosed as exc:
                    assert exc.reason is not None and exc.reason.code == 1008
            nursery.cancel_scope.cancel()


async def test_the_expiry_check_ends_the_sessions_once_and_audits_it(env: Env) -> None:
    await make_external(env, "giin", expires_at=day(env, 1))
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            ws = await open_stream(env, nursery, "giin", "internet")
            office = await open_stream(env, nursery, "tanaka", "lgwan")
            env.clock.t = end_of(day(env, 1)) + 60
            notices = await check(env)
            assert [(n.login, n.days_before) for n in notices] == [("giin", 0)]
            with trio.fail_after(1.0):
                try:
                    while True:
                        await ws.get_message()
                except trio_websocket.ConnectionClosed as exc:
                    assert exc.reason is not None and exc.reason.code == 1008
            await office.send_message('{"type": "ping"}')
            assert await recv(office) == {"type": "pong"}  # the others go on
            nursery.cancel_scope.cancel()
    assert await check(env) == []
    entries = await audit(env, "account.expired")
    assert len(entries) == 1 and entries[0]["subject"] == env.ids["giin"]
    assert entries[0]["data"]["sessions_ended"] == 1


async def test_the_sponsor_is_reminded_14_and_3_days_before_once_each(env: Env) -> None:
    last = (today(env.clock.t) + timedelta(days=20)).isoformat()
    await make_external(env, "hoikuen2", expires_at=last, display_name="ひまわり保育園")

    def at(days_before: int, hour: float) -> float:  # JST
        return end_of((date.fromisoformat(last) - timedelta(days=days_before + 1))
                      .isoformat()) + hour * 3600

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            sponsor = await open_stream(env, nursery, "tanaka", "lgwan")
            env.clock.t = at(14, 8.9)  # the day, before people are at work
            assert await check(env) == []
            env.clock.t = at(14, 9.1)
            assert [n.days_before for n in await check(env)] == [14]
            event = await recv(sponsor)
            assert event == {"type": "account.expiring",
                             "account": {"id": env.ids["hoikuen2"], "login": "hoikuen2",
                                         "display_name": "ひまわり保育園"},
                             "expires_at": last, "days_left": 14}
            env.clock.t = at(14, 15)
            assert await check(env) == []  # once
            env.clock.t = at(3, 10)
            assert [n.days_before for n in await check(env)] == [3]
            assert (await recv(sponsor))["days_left"] == 3
            nursery.cancel_scope.cancel()
    reminders = await audit(env, "account.expiring")
    assert [(e["data"]["days_before"], e["data"]["notified"]) for e in reminders] == [
        (14, True), (3, True)]
    env.tokens.clear()
    mine = body(await env.call("GET", "/api/v1/me/sponsored", as_="tanaka"))["accounts"]
    assert [(a["login"], a["days_left"]) for a in mine] == [("hoikuen2", 3)]
    assert body(await env.call("GET", "/api/v1/me/sponsored", as_="suzuki"))["accounts"] == []


async def test_after_a_long_stop_only_the_most_urgent_reminder_is_sent(env: Env) -> None:
    last = day(env, 20)
    await make_external(env, "giin", expires_at=last)
    env.clock.t = end_of(day(env, 18)) + 10 * 3600  # two days left: both were due
    notices = await check(env)
    assert [(n.days_before, n.days_left) for n in notices] == [(3, 1)]
    assert await check(env) == []
    assert len(await audit(env, "account.expiring")) == 1
