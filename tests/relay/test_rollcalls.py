"""Roll call (参集確認) through the API and the stream, on both listeners: always
urgent, a live tally, who has not answered, the notice once enough are coming,
reminders to the unanswered only, closing, the audit, and hostile input refused."""

from __future__ import annotations

import functools
from typing import Any

import trio

from policy import mynumber
from tests.relay.collab_env import body, code, quiet, until
from tests.relay.test_api import Env, env, open_stream  # noqa: F401  (fixture)

NOTICE = "必要な人数が揃いました。これから参集する必要はありません"


async def _audit(env: Env, action: str) -> list[dict]:
    entries = body(await env.call("GET", "/api/v1/admin/audit", as_="root",
                                  query={"limit": "1000"}))["entries"]
    return [e for e in entries if e["action"] == action]


async def make_rollcall(env: Env, room: str, as_: str = "tanaka", zone: str = "lgwan",
                        **fields: Any) -> dict:
    fields.setdefault("title", "震度5強 本庁舎へ参集できますか")
    r = await env.call("POST", f"/api/v1/rooms/{room}/rollcalls", fields, as_=as_, zone=zone)
    assert r.status == 201, body(r)
    return body(r)


async def answer(env: Env, rollcall: str, as_: str, zone: str = "lgwan",
                 **fields: Any) -> Any:
    return await env.call("POST", f"/api/v1/rollcalls/{rollcall}/answers", fields, as_=as_,
                          zone=zone)


async def test_a_roll_call_is_urgent_and_every_member_sees_the_tally_live(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            partner = await open_stream(env, nursery, "hoikuen", "internet")
            office = await open_stream(env, nursery, "suzuki", "lgwan")
            message = await make_rollcall(env, room, needed=2, client_id="r-1")
            call = message["rollcall"]
            assert (message["kind"], message["urgent"]) == ("rollcall", True)
            assert call["options"] == ["参集可", "遅れて参集", "参集不可"]
            assert call["tally"] == {"参集可": 0, "遅れて参集": 0, "参集不可": 0}
            assert (call["answered"], call["unanswered_count"], call["filled"],
                    call["needed"]) == (0, 3, False, 2)
            for ws in (partner, office):
                assert (await until(ws, "message.created"))["message"] == message
            r = await answer(env, call["id"], "hoikuen", "internet", option="遅れて参集",
                             eta_minutes=45, comment="道路が冠水しています")
            assert r.status == 200, body(r)
            assert body(r)["my_answer"]["eta_minutes"] == 45
            for ws in (partner, office):
                event = await until(ws, "rollcall.updated")
                assert event["rollcall"]["tally"] == {"参集可": 0, "遅れて参集": 1, "参集不可": 0}
                assert [a["account"] for a in event["answers"]] == [env.ids["hoikuen"]]
                assert event["answers"][0]["comment"] == "道路が冠水しています"
                assert "notice" not in event
            nursery.cancel_scope.cancel()
    env.clock.t += 1
    # An answer replaces the earlier one.
    await answer(env, call["id"], "hoikuen", "internet", option="参集可", eta_minutes=20)
    seen = body(await env.call("GET", f"/api/v1/rollcalls/{call['id']}", as_="suzuki"))
    assert seen["tally"] == {"参集可": 1, "遅れて参集": 0, "参集不可": 0}
    assert [(a["account"], a["option"], a["eta_minutes"]) for a in seen["answers"]] == [
        (env.ids["hoikuen"], "参集可", 20)]
    assert seen["unanswered"] == sorted([env.ids["tanaka"], env.ids["suzuki"]], key=int)
    assert seen["my_answer"] is None and seen["notice"] is None
    again = await make_rollcall(env, room, needed=2, client_id="r-1")
    assert again["id"] == message["id"]
    [entry] = await _audit(env, "rollcall.created")
    assert entry["subject"] == call["id"] and entry["data"]["needed"] == 2
    assert await _audit(env, "rollcall.answered") == []  # answers are not audited


async def test_once_enough_are_coming_those_who_have_not_answered_are_told_not_to_come(
        env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen", "root")
    call = (await make_rollcall(env, room, needed=2))["rollcall"]
    await answer(env, call["id"], "hoikuen", "internet", option="参集可", eta_minutes=30)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            waiting = await open_stream(env, nursery, "suzuki", "lgwan")
            coming = await open_stream(env, nursery, "hoikuen", "internet")
            r = await answer(env, call["id"], "tanaka", option="参集可", eta_minutes=0)
            assert body(r)["filled"] is True
            told = await until(waiting, "rollcall.updated")
            assert told["rollcall"]["filled"] is True and told["notice"] == NOTICE
            event = await until(coming, "rollcall.updated")
            assert event["rollcall"]["filled"] is True and "notice" not in event
            nursery.cancel_scope.cancel()
    for login, zone, notice in (("suzuki", "lgwan", NOTICE), ("root", "lgwan", NOTICE),
                                ("hoikuen", "internet", None), ("tanaka", "lgwan", None)):
        seen = body(await env.call("GET", f"/api/v1/rollcalls/{call['id']}", as_=login,
                                   zone=zone))
        assert seen["notice"] == notice, login
        assert seen["filled"] is True and seen["unanswered_count"] == 2


async def test_reminders_reach_only_the_unanswered_and_are_rate_limited(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    call = (await make_rollcall(env, room))["rollcall"]
    await answer(env, call["id"], "hoikuen", "internet", option="参集不可",
                 comment="入院中のため")
    path = f"/api/v1/rollcalls/{call['id']}/remind"
    r = await env.call("POST", path, as_="hoikuen", zone="internet")
    assert (r.status, code(r)) == (403, "not_creator")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            waiting = await open_stream(env, nursery, "suzuki", "lgwan")
            answered = await open_stream(env, nursery, "hoikuen", "internet")
            r = await env.call("POST", path, as_="tanaka")
            assert r.status == 200, body(r)
            assert body(r)["reminded"] == sorted([env.ids["tanaka"], env.ids["suzuki"]], key=int)
            event = await until(waiting, "rollcall.reminded")
            assert event["by"] == env.ids["tanaka"] and event["message_id"]
            assert [e for e in await quiet(answered) if e["type"] == "rollcall.reminded"] == []
            r = await env.call("POST", path, as_="tanaka")
            assert (r.status, code(r)) == (429, "rate_limited")
            assert int(dict(r.headers)["retry-after"]) > 0
            assert await quiet(waiting) == []
            env.clock.t += 61
            assert (await env.call("POST", path, as_="tanaka")).status == 200
            await until(waiting, "rollcall.reminded")
            nursery.cancel_scope.cancel()
    entries = await _audit(env, "rollcall.reminded")
    assert [e["data"]["reminded"] for e in entries] == [2, 2]


async def test_the_creator_closes_a_roll_call_and_answers_stop(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    call = (await make_rollcall(env, room, as_="hoikuen", zone="internet",
                                options=["本庁舎", "支所", "行けない"]))["rollcall"]
    assert call["options"] == ["本庁舎", "支所", "行けない"] and call["needed"] is None
    r = await answer(env, call["id"], "suzuki", option="支所", eta_minutes=10)
    assert body(r)["tally"] == {"本庁舎": 0, "支所": 1, "行けない": 0}
    assert (await env.call("POST", f"/api/v1/rollcalls/{call['id']}/close",
                           as_="suzuki")).status == 403
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            office = await open_stream(env, nursery, "tanaka", "lgwan")
            r = await env.call("POST", f"/api/v1/rollcalls/{call['id']}/close", as_="hoikuen",
                               zone="internet")
            assert r.status == 200 and body(r)["closed"] is True
            assert (await until(office, "rollcall.updated"))["rollcall"]["closed"] is True
            nursery.cancel_scope.cancel()
    r = await answer(env, call["id"], "tanaka", option="本庁舎")
    assert (r.status, code(r)) == (409, "rollcall_closed")
    r = await env.call("POST", f"/api/v1/rollcalls/{call['id']}/remind", as_="hoikuen",
                       zone="internet")
    assert (r.status, code(r)) == (409, "rollcall_closed")
    [entry] = await _audit(env, "rollcall.closed")
    assert entry["data"]["tally"] == {"本庁舎": 0, "支所": 1, "行けない": 0}
    assert entry["data"]["unanswered"] == 2


async def test_hostile_roll_calls_and_answers_are_refused_and_change_nothing(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")

    async def create(**fields: Any) -> tuple[int, str]:
        fields.setdefault("title", "参集確認")
        r = await env.call("POST", f"/api/v1/rooms/{room}/rollcalls", fields, as_="tanaka")
        return r.status, code(r)

    assert await create(needed=0) == (400, "invalid_needed")
    assert await create(needed=4) == (400, "invalid_needed")  # 3 members
    assert await create(needed="2") == (400, "invalid_field")
    assert await create(needed=True) == (400, "invalid_field")
    assert await create(options=["行く", "行く"]) == (400, "duplicate_option")
    assert await create(options=["行く"]) == (400, "too_few_options")
    assert await create(options=[str(i) for i in range(11)]) == (400, "too_many_options")
    assert await create(title="t" * 201) == (400, "title_too_long")
    for login, zone in (("sato", "internet"), ("root", "lgwan")):
        r = await env.call("POST", f"/api/v1/rooms/{room}/rollcalls", {"title": "t"},
                           as_=login, zone=zone)
        assert (r.status, code(r)) == (404, "room_not_found")
    call = (await make_rollcall(env, room))["rollcall"]

    async def bad(as_: str = "suzuki", zone: str = "lgwan", **fields: Any) -> tuple[int, str]:
        fields.setdefault("option", "参集可")
        r = await answer(env, call["id"], as_, zone, **fields)
        return r.status, code(r)

    assert await bad(eta_minutes=-5) == (400, "invalid_eta")
    assert await bad(eta_minutes=10**12) == (400, "invalid_eta")
    assert await bad(eta_minutes=1.5) == (400, "invalid_field")
    assert await bad(option="行けます") == (400, "unknown_option")
    assert await bad(option=None) == (400, "invalid_field")
    assert await bad(comment="c" * 501) == (400, "comment_too_long")
    number = "12345678901" + str(mynumber.check_digit("12345678901"))
    assert await bad(comment=f"番号 {number}") == (403, "my_number_blocked")
    for login, zone in (("sato", "internet"), ("root", "lgwan")):
        assert await bad(as_=login, zone=zone) == (404, "rollcall_not_found")
        r = await env.call("GET", f"/api/v1/rollcalls/{call['id']}", as_=login, zone=zone)
        assert (r.status, code(r)) == (404, "rollcall_not_found")
    seen = body(await env.call("GET", f"/api/v1/rollcalls/{call['id']}", as_="tanaka"))
    assert seen["answers"] == [] and seen["answered"] == 0 and len(seen["unanswered"]) == 3
    # What an internet member writes does not leave LGWAN: it is not checked.
    r = await answer(env, call["id"], "hoikuen", "internet", option="参集可",
                     comment=f"番号 {number}")
    assert r.status == 200


async def test_answers_arriving_together_share_an_event_and_the_tally_converges_on_all(
        env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen", "root")
    call = (await make_rollcall(env, room))["rollcall"]
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            office = await open_stream(env, nursery, "tanaka", "lgwan")
            async with trio.open_nursery() as burst:
                for login, zone in (("suzuki", "lgwan"), ("hoikuen", "internet"),
                                    ("root", "lgwan"), ("tanaka", "lgwan")):
                    burst.start_soon(functools.partial(answer, env, call["id"], login, zone,
                                                       option="参集可"))
            events = [await until(office, "rollcall.updated")]
            while events[-1]["rollcall"]["answered"] < 4:
                events.append(await until(office, "rollcall.updated"))
            assert events[-1]["rollcall"]["tally"]["参集可"] == 4
            told = sorted(a["account"] for e in events for a in e["answers"])
            assert told == sorted(env.ids[x] for x in ("suzuki", "hoikuen", "root", "tanaka"))
            assert len(events) < 4  # a burst is one event, not one per answer
            nursery.cancel_scope.cancel()
