"""Scheduled messages (予約送信): sent once when due and never before, through restarts
of the app on the same store, never when cancelled, dropped with an audit entry and
word to the sender when the sender may no longer post them; hostile times refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import trio

from policy import mynumber
from relay import directory
from relay.app import build_app
from relay.commands import OPERATOR
from store.facade import Store
from tests.relay.collab_env import body, code, until
from tests.audits import SETUP
from tests.relay.test_api import PASSWORD, Env, env, open_stream  # noqa: F401  (fixture)

UTC = dt.timezone.utc


def at(env: Env, seconds: float) -> str:
    """RFC 3339 for the env's clock plus ``seconds``, in Tokyo time with its offset."""
    return dt.datetime.fromtimestamp(env.clock.t + seconds,
                                     dt.timezone(dt.timedelta(hours=9))).isoformat()


async def schedule(env: Env, room: str, as_: str, zone: str = "lgwan", **fields: object) -> dict:
    r = await env.call("POST", f"/api/v1/rooms/{room}/messages", fields, as_=as_, zone=zone)
    assert r.status == 202, body(r)
    return body(r)["scheduled"]


async def bodies(env: Env, room: str) -> list[str]:
    return [m.body for m in await env.store.history(room, None, 200)]


async def actions(env: Env, prefix: str) -> list[tuple[str, str | None, dict]]:
    return [(e.action, e.subject, e.data) for e in await env.store.audit_entries(0, 10_000)
            if e.action.startswith(prefix)]


async def test_a_scheduled_message_is_sent_once_when_due_and_not_before(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    s = await schedule(env, room, "tanaka", body="明日の会議は 10 時からです",
                       send_at=at(env, 1800), client_id="c-1")
    assert s["status"] == "pending" and s["room_id"] == room and s["sender"] == env.ids["tanaka"]
    assert s["send_at"] == dt.datetime.fromtimestamp(env.clock.t + 1800, UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")
    listed = body(await env.call("GET", "/api/v1/scheduled", as_="tanaka"))["scheduled"]
    assert [x["id"] for x in listed] == [s["id"]]
    # Other people do not see it, and the room does not either, yet.
    assert body(await env.call("GET", "/api/v1/scheduled", as_="suzuki"))["scheduled"] == []
    env.clock.t += 1799
    await env.app.timed.tick()
    assert await bodies(env, room) == []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            office = await open_stream(env, nursery, "suzuki", "lgwan")
            outside = await open_stream(env, nursery, "hoikuen", "internet")
            env.clock.t += 1
            await env.app.timed.tick()
            for ws in (office, outside):
                event = await until(ws, "message.created")
                assert event["message"]["body"] == "明日の会議は 10 時からです"
                assert event["message"]["sender"] == env.ids["tanaka"]
                assert event["notify"] is True
            nursery.cancel_scope.cancel()
    await env.app.timed.tick()
    env.clock.t += 3600
    await env.app.timed.tick()
    assert await bodies(env, room) == ["明日の会議は 10 時からです"]
    assert body(await env.call("GET", "/api/v1/scheduled", as_="tanaka"))["scheduled"] == []
    # Scheduling again with the same client_id answers the schedule, now sent.
    again = await env.call("POST", f"/api/v1/rooms/{room}/messages",
                           {"body": "x", "send_at": at(env, 60), "client_id": "c-1"},
                           as_="tanaka")
    assert again.status == 202 and body(again)["scheduled"]["status"] == "sent"
    assert body(again)["scheduled"]["message_id"] is not None
    assert [a for a, _, _ in await actions(env, "message.schedule")] == [
        "message.scheduled", "message.schedule_sent"]


async def test_a_schedule_survives_a_restart_and_a_restart_after_sending_sends_nothing_again(
        env: Env, tmp_path: Path) -> None:
    room = await env.room("tanaka", "suzuki")
    await schedule(env, room, "tanaka", body="予約その一", send_at=at(env, 600))
    await schedule(env, room, "tanaka", body="予約その二", send_at=at(env, 1200))
    cfg = env.app.cfg
    # relayd stops: the app and the store go; a new one starts on the same state.
    await env.store.aclose()
    store = await Store.open(cfg.store)
    try:
        app = build_app(cfg, store, now=env.clock)
        env.clock.t += 600
        await app.timed.tick()
        assert [m.body for m in await store.history(room, None, 50)] == ["予約その一"]
        # It stops right after sending, and starts again.
        await store.aclose()
        store = await Store.open(cfg.store)
        app = build_app(cfg, store, now=env.clock)
        await app.timed.tick()
        env.clock.t += 600
        await app.timed.tick()
        await app.timed.tick()
        assert [m.body for m in await store.history(room, None, 50)] == ["予約その一", "予約その二"]
    finally:
        await store.aclose()
        env.store = await Store.open(cfg.store)  # for the fixture to close


async def test_the_background_task_sends_when_the_clock_reaches_the_time(env: Env) -> None:
    room = await env.room("tanaka", "suzuki")
    await schedule(env, room, "tanaka", body="定時のお知らせ", send_at=at(env, 300))
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(env.app.timed.run)
            await trio.sleep(0.05)
            assert await bodies(env, room) == []
            env.clock.t += 300
            env.app.timed.wake()
            while await bodies(env, room) == []:
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
    assert await bodies(env, room) == ["定時のお知らせ"]


async def test_a_cancelled_schedule_is_never_sent_and_only_its_sender_cancels(env: Env) -> None:
    room = await env.room("tanaka", "suzuki")
    s = await schedule(env, room, "tanaka", body="取り消す予定", send_at=at(env, 60))
    r = await env.call("DELETE", f"/api/v1/scheduled/{s['id']}", as_="suzuki")
    assert (r.status, code(r)) == (404, "scheduled_not_found")
    assert (await env.call("DELETE", f"/api/v1/scheduled/{s['id']}", as_="tanaka")).status == 204
    r = await env.call("DELETE", f"/api/v1/scheduled/{s['id']}", as_="tanaka")
    assert (r.status, code(r)) == (409, "scheduled_done")
    env.clock.t += 120
    await env.app.timed.tick()
    assert await bodies(env, room) == []
    assert [a for a, _, _ in await actions(env, "message.schedule")] == [
        "message.scheduled", "message.schedule_cancelled"]


async def test_a_sender_who_left_the_room_has_the_schedule_dropped_audited_and_is_told(
        env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "root")
    s = await schedule(env, room, "suzuki", body="異動前に予約", send_at=at(env, 600))
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            mine = await open_stream(env, nursery, "suzuki", "lgwan")
            await env.app.ctx.run(directory.remove_member(env.app.ctx, OPERATOR, room,
                                                          "suzuki"))
            env.clock.t += 600
            await env.app.timed.tick()
            event = await until(mine, "scheduled.dropped")
            assert event["reason"] == "not_member" and event["scheduled"]["id"] == s["id"]
            assert event["scheduled"]["status"] == "dropped"
            nursery.cancel_scope.cancel()
    assert await bodies(env, room) == []
    assert await actions(env, "message.schedule_dropped") == [
        ("message.schedule_dropped", s["id"],
         {"room_id": room, "sender": env.ids["suzuki"], "reason": "not_member"})]


async def test_a_number_that_may_not_leave_lgwan_is_refused_when_scheduled_and_when_sent(
        env: Env) -> None:
    number = "12345678901" + str(mynumber.check_digit("12345678901"))
    # Two admins: accounts that never use the internet listener.
    env.ids["yamada"] = (await env.store.create_account(
        "yamada", PASSWORD, "admin", "Yamada", audit=SETUP, now=env.clock.t)).id
    office = await env.room("root", "yamada", name="庁内")
    r = await env.call("POST", f"/api/v1/rooms/{await env.room('root', 'hoikuen')}/messages",
                       {"body": f"番号 {number}", "send_at": at(env, 60)}, as_="root")
    assert (r.status, code(r)) == (403, "my_number_blocked")
    # Within LGWAN it may be scheduled; an internet member added before it is due
    # stops it from going out.
    await schedule(env, office, "root", body=f"番号 {number}", send_at=at(env, 60))
    await env.app.ctx.run(directory.add_member(env.app.ctx, OPERATOR, office, "hoikuen"))
    env.clock.t += 60
    await env.app.timed.tick()
    assert await bodies(env, office) == []
    assert [d["reason"] for _, _, d in await actions(env, "message.schedule_dropped")] == [
        "my_number_blocked"]


async def test_hostile_times_and_shapes_are_refused_and_schedule_nothing(env: Env) -> None:
    room = await env.room("tanaka", "suzuki")

    async def refused(**fields: object) -> tuple[int, str]:
        r = await env.call("POST", f"/api/v1/rooms/{room}/messages",
                           {"body": "予約", **fields}, as_="tanaka")
        return r.status, code(r)

    assert await refused(send_at=at(env, -61)) == (400, "send_at_past")
    assert await refused(send_at=at(env, 367 * 86400)) == (400, "send_at_too_far")
    assert await refused(send_at="9999-12-31T23:59:59+09:00") == (400, "send_at_too_far")
    assert await refused(send_at="9999-12-31T23:59:59-12:00") == (400, "send_at_too_far")
    assert await refused(send_at="0001-01-01T00:00:00+14:00") == (400, "send_at_past")
    assert await refused(send_at="2027-01-20T10:00:00") == (400, "invalid_send_at")  # no offset
    assert await refused(send_at="明日の朝") == (400, "invalid_send_at")
    assert await refused(send_at="2027-02-30T10:00:00+09:00") == (400, "invalid_send_at")
    assert await refused(send_at="2" * 10_000) == (400, "invalid_send_at")
    assert await refused(send_at=1_800_000_600) == (400, "invalid_field")
    assert await refused(send_at=at(env, 60), stamp="1") == (400, "invalid_field")
    assert await refused(send_at=at(env, 60), urgent="yes") == (400, "invalid_field")
    assert await refused(send_at=at(env, 60), client_id="scheduled:1") == (
        400, "invalid_client_id")
    r = await env.call("POST", f"/api/v1/rooms/{room}/messages",
                       {"body": "予約", "send_at": at(env, 60)}, as_="hoikuen", zone="internet")
    assert (r.status, code(r)) == (404, "room_not_found")
    # Within a minute in the past is "now": scheduled, and sent at the next look.
    s = await schedule(env, room, "tanaka", body="すぐ", send_at=at(env, -30))
    assert s["status"] == "pending"
    assert [a for a, _, _ in await actions(env, "message.schedule")] == ["message.scheduled"]
    await env.app.timed.tick()
    assert await bodies(env, room) == ["すぐ"]


async def test_at_most_a_hundred_pending_schedules_per_account(env: Env) -> None:
    room = await env.room("tanaka", "suzuki")
    for i in range(100):
        await schedule(env, room, "tanaka", body=f"予約 {i}", send_at=at(env, 3600 + i))
    r = await env.call("POST", f"/api/v1/rooms/{room}/messages",
                       {"body": "一つ多い", "send_at": at(env, 60)}, as_="tanaka")
    assert (r.status, code(r)) == (409, "too_many_scheduled")
    assert len(body(await env.call("GET", "/api/v1/scheduled", as_="tanaka"))["scheduled"]) == 100
