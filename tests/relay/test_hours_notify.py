"""Business hours on the wire: outside them a message is there at once but says
``notify: false`` (with when it will), the sender learns ``notify_at``, and each
member gets one ``notify.digest`` of what is still unread when hours begin, once,
also across a restart.  Urgent messages and on-call accounts are notified at once;
reminders reach only those who have not read the message."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import AsyncIterator

import pytest
import trio

from relay.app import build_app
from relay.config import HoursConfig
from store.facade import Store
from tests.audits import SETUP
from tests.relay.collab_env import body, code, post, quiet, until
from tests.relay.test_api import PASSWORD, Clock, Env, make_config, open_stream, recv

# The env's clock starts on Friday 2027-01-15 at 17:00 in Tokyo (08:00 UTC).
FRI_1700 = 1_800_000_000.0
FRI_1720 = FRI_1700 + 20 * 60
MON_0829 = FRI_1700 + 2 * 86400 + 15 * 3600 + 29 * 60
MON_0830 = MON_0829 + 60
MONDAY_OPENING = "2027-01-17T23:30:00.000Z"


@pytest.fixture
async def hours(tmp_path: Path) -> AsyncIterator[Env]:
    cfg = dataclasses.replace(make_config(tmp_path), hours=HoursConfig(enabled=True))
    store = await Store.open(cfg.store)
    clock = Clock(FRI_1700)
    e = Env(build_app(cfg, store, now=clock), store, clock)
    for login, kind in [("tanaka", "staff"), ("suzuki", "staff"), ("hoikuen", "external"),
                        ("root", "admin")]:
        e.ids[login] = (await store.create_account(login, PASSWORD, kind, login.title(),  # type: ignore[arg-type]
                                                   audit=SETUP, now=time.time())).id
    try:
        yield e
    finally:
        await e.store.aclose()


def later(env: Env, t: float) -> None:
    """Move the clock; sessions made before are forgotten (they may have expired)."""
    env.clock.t = t
    env.tokens.clear()


async def test_within_hours_everyone_is_notified_outside_the_notification_waits(
        hours: Env) -> None:
    env = hours
    room = await env.room("tanaka", "suzuki", "hoikuen")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            office = await open_stream(env, nursery, "suzuki", "lgwan")
            outside = await open_stream(env, nursery, "hoikuen", "internet")
            sent = await post(env, room, "tanaka", body="17 時の連絡です")
            assert "notify_at" not in sent
            for ws in (office, outside):
                event = await until(ws, "message.created")
                assert event["notify"] is True and "notify_at" not in event
            env.clock.t = FRI_1720
            sent = await post(env, room, "tanaka", body="17 時 20 分の連絡です")
            assert sent["notify_at"] == MONDAY_OPENING  # past the weekend
            for ws in (office, outside):
                event = await until(ws, "message.created")
                assert event["message"] == {k: v for k, v in sent.items() if k != "notify_at"}
                assert (event["notify"], event["notify_at"]) == (False, MONDAY_OPENING)
            nursery.cancel_scope.cancel()
    # Stored and visible at once all the same.
    history = body(await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="hoikuen",
                                  zone="internet"))["messages"]
    assert [m["body"] for m in history] == ["17 時の連絡です", "17 時 20 分の連絡です"]


async def test_urgent_messages_notify_at_once_after_hours_too(hours: Env) -> None:
    env = hours
    env.clock.t = FRI_1720
    room = await env.room("tanaka", "suzuki")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            office = await open_stream(env, nursery, "suzuki", "lgwan")
            mine = await open_stream(env, nursery, "tanaka", "lgwan")
            sent = await post(env, room, "tanaka", body="至急：停電対応", urgent=True)
            assert sent["urgent"] is True and "notify_at" not in sent
            event = await until(office, "message.created")
            assert event["notify"] is True and event["message"]["urgent"] is True
            # The stream's send takes urgent too, and its ack says when members hear.
            await mine.send_message('{"type": "send", "room_id": "%s", "body": "続報", '
                                    '"client_id": "s-1", "urgent": true}' % room)
            ack = await until(mine, "ack")
            assert ack["message"]["urgent"] is True and ack["notify_at"] is None
            await mine.send_message('{"type": "send", "room_id": "%s", "body": "通常", '
                                    '"client_id": "s-2"}' % room)
            ack = await until(mine, "ack")
            assert ack["message"]["urgent"] is False and ack["notify_at"] == MONDAY_OPENING
            await mine.send_message('{"type": "send", "room_id": "%s", "body": "x", '
                                    '"client_id": "s-3", "urgent": "very"}' % room)
            error = await until(mine, "error")
            assert error["error"]["code"] == "invalid_field" and error["client_id"] == "s-3"
            nursery.cancel_scope.cancel()
    history = body(await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="suzuki"))
    assert [(m["body"], m["urgent"]) for m in history["messages"]] == [
        ("至急：停電対応", True), ("続報", True), ("通常", False)]


async def test_one_digest_per_member_at_opening_of_what_is_still_unread_and_only_once(
        hours: Env) -> None:
    env = hours
    a = await env.room("tanaka", "suzuki", "hoikuen", name="保育課")
    b = await env.room("tanaka", "suzuki", name="総務課")
    env.clock.t = FRI_1720
    first = await post(env, a, "tanaka", body="週明けの件 1")
    await post(env, a, "tanaka", body="週明けの件 2")
    await post(env, b, "tanaka", body="総務の件")
    await post(env, b, "tanaka", body="至急の件", urgent=True)
    # hoikuen reads room a on Saturday: nothing of it is held for them any more.
    later(env, FRI_1700 + 86400)
    assert (await env.call("POST", f"/api/v1/rooms/{a}/read", {"up_to": first["id"]},
                           as_="hoikuen", zone="internet")).status == 204
    later(env, MON_0829)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            streams = {login: await open_stream(env, nursery, login, zone) for login, zone in
                       (("suzuki", "lgwan"), ("hoikuen", "internet"), ("tanaka", "lgwan"))}
            await env.app.timed.tick()
            assert await quiet(streams["suzuki"]) == []
            env.clock.t = MON_0830
            await env.app.timed.tick()
            digest = await recv(streams["suzuki"])
            assert digest == {
                "type": "notify.digest", "since": "2027-01-15T08:15:00.000Z",
                "until": MONDAY_OPENING, "total": 3,
                "rooms": [{"room_id": a, "count": 2, "latest": digest["rooms"][0]["latest"]},
                          {"room_id": b, "count": 1, "latest": digest["rooms"][1]["latest"]}]}
            outside = await recv(streams["hoikuen"])
            assert (outside["total"], [r["count"] for r in outside["rooms"]]) == (1, [1])
            # The sender has nothing held; a second look sends nothing again.
            await env.app.timed.tick()
            for ws in streams.values():
                assert [e for e in await quiet(ws) if e["type"] == "notify.digest"] == []
            nursery.cancel_scope.cancel()
    # A restart within the same hours does not send it again.
    cfg = env.app.cfg
    app = build_app(cfg, env.store, now=env.clock)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            env.app = app
            env.tokens.clear()
            ws = await open_stream(env, nursery, "suzuki", "lgwan")
            await app.timed.tick()
            assert await quiet(ws) == []
            nursery.cancel_scope.cancel()


async def test_a_digest_relayd_slept_through_goes_out_when_it_starts_within_hours(
        hours: Env) -> None:
    env = hours
    room = await env.room("tanaka", "suzuki")
    env.clock.t = FRI_1720
    await post(env, room, "tanaka", body="夜の連絡")
    later(env, MON_0830 + 3 * 3600)  # relayd was down until 11:30
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            ws = await open_stream(env, nursery, "suzuki", "lgwan")
            await env.app.timed.tick()
            assert (await until(ws, "notify.digest"))["total"] == 1
            nursery.cancel_scope.cancel()


async def test_on_call_staff_opt_in_and_are_notified_after_hours_without_a_digest(
        hours: Env) -> None:
    env = hours
    assert body(await env.call("GET", "/api/v1/me/settings", as_="suzuki")) == {
        "after_hours": False}
    r = await env.call("PUT", "/api/v1/me/settings", {"after_hours": True}, as_="suzuki")
    assert (r.status, body(r)) == (200, {"after_hours": True})
    for bad in ({"after_hours": "yes"}, {}, {"after_hours": None}):
        r = await env.call("PUT", "/api/v1/me/settings", bad, as_="suzuki")
        assert (r.status, code(r)) == (400, "invalid_field")
    assert body(await env.call("GET", "/api/v1/me/settings", as_="suzuki")) == {
        "after_hours": True}
    entries = [e for e in await env.store.audit_entries(0, 1000)
               if e.action == "account.settings"]
    assert [(e.actor, e.data) for e in entries] == [(env.ids["suzuki"], {"after_hours": True})]
    room = await env.room("tanaka", "suzuki", "hoikuen")
    env.clock.t = FRI_1720
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            on_call = await open_stream(env, nursery, "suzuki", "lgwan")
            other = await open_stream(env, nursery, "hoikuen", "internet")
            await post(env, room, "tanaka", body="夜間の連絡")
            assert (await until(on_call, "message.created"))["notify"] is True
            assert (await until(other, "message.created"))["notify"] is False
            nursery.cancel_scope.cancel()
    later(env, MON_0830)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            on_call = await open_stream(env, nursery, "suzuki", "lgwan")
            other = await open_stream(env, nursery, "hoikuen", "internet")
            await env.app.timed.tick()
            assert (await until(other, "notify.digest"))["total"] == 1
            assert await quiet(on_call) == []
            nursery.cancel_scope.cancel()


async def test_a_reminder_reaches_only_the_members_who_have_not_read(hours: Env) -> None:
    env = hours
    room = await env.room("tanaka", "suzuki", "hoikuen", "root")
    sent = await post(env, room, "tanaka", body="回覧：確認をお願いします")
    assert (await env.call("POST", f"/api/v1/rooms/{room}/read", {"up_to": sent["id"]},
                           as_="suzuki")).status == 204
    path = f"/api/v1/messages/{sent['id']}/remind"
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            read = await open_stream(env, nursery, "suzuki", "lgwan")
            unread = await open_stream(env, nursery, "hoikuen", "internet")
            r = await env.call("POST", path, as_="tanaka")
            assert r.status == 200
            assert sorted(body(r)["reminded"]) == sorted([env.ids["hoikuen"], env.ids["root"]])
            event = await until(unread, "message.reminded")
            assert event["message"]["id"] == sent["id"] and event["by"] == env.ids["tanaka"]
            assert [e for e in await quiet(read) if e["type"] == "message.reminded"] == []
            nursery.cancel_scope.cancel()
    r = await env.call("POST", path, as_="tanaka")
    assert (r.status, code(r)) == (429, "remind_too_soon")
    assert body(r)["error"]["details"]["retry_after"] == 600
    r = await env.call("POST", path, as_="suzuki")
    assert (r.status, code(r)) == (403, "not_your_message")
    other = await env.room("suzuki", "root")
    hidden = await post(env, other, "suzuki", body="別室")
    r = await env.call("POST", f"/api/v1/messages/{hidden['id']}/remind", as_="tanaka")
    assert (r.status, code(r)) == (404, "message_not_found")
    env.clock.t += 600
    assert (await env.call("POST", path, as_="tanaka")).status == 200
    entries = [e for e in await env.store.audit_entries(0, 1000)
               if e.action == "message.reminded"]
    assert len(entries) == 2 and entries[0].subject == sent["id"]
    assert sorted(entries[0].data["accounts"]) == sorted([env.ids["hoikuen"], env.ids["root"]])
