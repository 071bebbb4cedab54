"""Schedule adjustment (日程調整) through the API and the stream, on both listeners:
○△× answers per slot with a comment, per-slot tallies, the creator's decision and
its system message, the audit, and hostile input refused with nothing changed."""

from __future__ import annotations

from typing import Any

import trio

from policy import mynumber
from tests.relay.collab_env import body, code, until
from tests.relay.test_api import Env, env, open_stream  # noqa: F401  (fixture)

SLOTS = [{"start": "2027-01-20T10:00:00+09:00", "end": "2027-01-20T11:00:00+09:00",
          "label": "第1会議室"},
         {"start": "2027-01-21T14:00:00+09:00"},
         {"start": "2027-01-22T01:00:00Z", "end": "2027-01-22T02:30:00Z"}]


async def _audit(env: Env, action: str) -> list[dict]:
    entries = body(await env.call("GET", "/api/v1/admin/audit", as_="root",
                                  query={"limit": "1000"}))["entries"]
    return [e for e in entries if e["action"] == action]


async def make_schedule(env: Env, room: str, as_: str = "tanaka", zone: str = "lgwan",
                        **fields: Any) -> dict:
    fields.setdefault("title", "防災訓練の打合せ")
    fields.setdefault("slots", SLOTS)
    r = await env.call("POST", f"/api/v1/rooms/{room}/schedules", fields, as_=as_, zone=zone)
    assert r.status == 201, body(r)
    return body(r)


async def test_members_answer_each_slot_and_everyone_sees_the_tallies_and_the_answers(
        env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            partner = await open_stream(env, nursery, "hoikuen", "internet")
            office = await open_stream(env, nursery, "tanaka", "lgwan")
            message = await make_schedule(env, room, client_id="s-1")
            schedule = message["schedule"]
            assert message["kind"] == "schedule" and message["body"] == "防災訓練の打合せ"
            assert [(s["start"], s["end"], s["label"]) for s in schedule["slots"]] == [
                ("2027-01-20T01:00:00.000Z", "2027-01-20T02:00:00.000Z", "第1会議室"),
                ("2027-01-21T05:00:00.000Z", None, ""),
                ("2027-01-22T01:00:00.000Z", "2027-01-22T02:30:00.000Z", "")]
            assert (await until(partner, "message.created"))["message"] == message
            first, second, third = (s["id"] for s in schedule["slots"])
            r = await env.call("POST", f"/api/v1/schedules/{schedule['id']}/answers",
                               {"answers": {first: "yes", second: "maybe", third: "no"},
                                "comment": "午後なら確実です"}, as_="hoikuen", zone="internet")
            assert r.status == 200, body(r)
            assert body(r)["my_answers"] == {first: "yes", second: "maybe", third: "no"}
            for ws in (partner, office):
                event = await until(ws, "schedule.updated")
                assert [(s["yes"], s["maybe"], s["no"]) for s in event["schedule"]["slots"]] == [
                    (1, 0, 0), (0, 1, 0), (0, 0, 1)]
                assert event["answer"]["account"] == env.ids["hoikuen"]
                assert event["answer"]["comment"] == "午後なら確実です"
            nursery.cancel_scope.cancel()
    # A new answer replaces the old one.
    env.clock.t += 1
    await env.call("POST", f"/api/v1/schedules/{schedule['id']}/answers",
                   {"answers": {first: "no"}}, as_="hoikuen", zone="internet")
    env.clock.t += 1
    r = await env.call("POST", f"/api/v1/schedules/{schedule['id']}/answers",
                       {"answers": {first: "yes", second: "yes"}}, as_="suzuki")
    seen = body(await env.call("GET", f"/api/v1/schedules/{schedule['id']}", as_="tanaka"))
    assert [(s["yes"], s["maybe"], s["no"]) for s in seen["slots"]] == [
        (1, 0, 1), (1, 0, 0), (0, 0, 0)]
    assert [(a["account"], a["answers"], a["comment"]) for a in seen["answers"]] == [
        (env.ids["hoikuen"], {first: "no"}, ""),
        (env.ids["suzuki"], {first: "yes", second: "yes"}, "")]
    assert seen["respondents"] == 2 and seen["my_answers"] == {}
    history = body(await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="hoikuen",
                                  zone="internet"))["messages"]
    assert history[-1]["schedule"]["respondents"] == 2
    assert (await make_schedule(env, room, client_id="s-1"))["id"] == message["id"]
    [entry] = await _audit(env, "schedule.created")
    assert entry["subject"] == schedule["id"] and entry["data"]["slots"] == 3
    assert await _audit(env, "schedule.answered") == []  # answers are not audited


async def test_the_creator_decides_a_slot_and_a_system_message_announces_it(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    schedule = (await make_schedule(env, room, as_="hoikuen", zone="internet"))["schedule"]
    first, second, _ = (s["id"] for s in schedule["slots"])
    r = await env.call("POST", f"/api/v1/schedules/{schedule['id']}/decide", {"slot": first},
                       as_="tanaka")
    assert (r.status, code(r)) == (403, "not_creator")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            office = await open_stream(env, nursery, "tanaka", "lgwan")
            r = await env.call("POST", f"/api/v1/schedules/{schedule['id']}/decide",
                               {"slot": first}, as_="hoikuen", zone="internet")
            assert r.status == 200, body(r)
            decided = body(r)
            assert decided["decided_slot"] == first and decided["closed"] is True
            announced = decided["announcement"]
            assert announced["kind"] == "system"
            assert announced["body"] == ("日程が決まりました: 防災訓練の打合せ — "
                                         "2027年01月20日（水）10:00〜11:00 第1会議室")
            event = await until(office, "schedule.updated")
            assert event["schedule"]["decided_slot"] == first
            assert (await until(office, "message.created"))["message"] == announced
            nursery.cancel_scope.cancel()
    r = await env.call("POST", f"/api/v1/schedules/{schedule['id']}/decide", {"slot": second},
                       as_="hoikuen", zone="internet")
    assert (r.status, code(r)) == (409, "schedule_decided")
    r = await env.call("POST", f"/api/v1/schedules/{schedule['id']}/answers",
                       {"answers": {first: "yes"}}, as_="suzuki")
    assert (r.status, code(r)) == (409, "schedule_closed")
    [entry] = await _audit(env, "schedule.decided")
    assert entry["actor"] == env.ids["hoikuen"] and entry["data"]["slot"] == first
    assert entry["data"]["announcement"] == announced["id"]


async def test_hostile_schedules_and_answers_are_refused_and_change_nothing(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")

    async def create(**fields: Any) -> tuple[int, str]:
        fields.setdefault("title", "打合せ")
        fields.setdefault("slots", SLOTS[:1])
        r = await env.call("POST", f"/api/v1/rooms/{room}/schedules", fields, as_="tanaka")
        return r.status, code(r)

    assert await create(slots=[{"start": "9999-01-01T10:00:00+09:00"}]) == (400, "invalid_time")
    assert await create(slots=[{"start": "1999-12-31T10:00:00+09:00"}]) == (400, "invalid_time")
    assert await create(slots=[{"start": "2027-01-20T10:00:00"}]) == (400, "invalid_time")
    assert await create(slots=[{"start": "来週の月曜"}]) == (400, "invalid_time")
    assert await create(slots=[{"start": "2027-01-20T10:00:00Z",
                                "end": "2027-01-20T09:00:00Z"}]) == (400, "invalid_slot")
    assert await create(slots=[SLOTS[1], SLOTS[1]]) == (400, "invalid_slot")
    assert await create(slots=[{"start": f"2027-02-{d:02d}T10:00:00Z"} for d in range(1, 29)]
                        + [{"start": f"2027-03-{d:02d}T10:00:00Z"} for d in range(1, 4)]
                        ) == (400, "too_many_slots")
    assert await create(slots=[]) == (400, "too_few_slots")
    assert await create(slots=[{"end": "2027-01-20T10:00:00Z"}]) == (400, "invalid_field")
    assert await create(slots="明日") == (400, "invalid_field")
    assert await create(slots=[{"start": "2027-01-20T10:00:00Z", "label": "x" * 101}]) == (
        400, "option_too_long")
    assert await create(title="t" * 201) == (400, "title_too_long")
    number = "12345678901" + str(mynumber.check_digit("12345678901"))
    assert await create(slots=[{"start": "2027-01-20T10:00:00Z", "label": number}]) == (
        403, "my_number_blocked")
    for login, zone in (("sato", "internet"), ("root", "lgwan")):
        r = await env.call("POST", f"/api/v1/rooms/{room}/schedules",
                           {"title": "t", "slots": SLOTS}, as_=login, zone=zone)
        assert (r.status, code(r)) == (404, "room_not_found")
    schedule = (await make_schedule(env, room))["schedule"]
    other = (await make_schedule(env, room, title="別件"))["schedule"]
    first = schedule["slots"][0]["id"]
    for login, zone in (("sato", "internet"), ("root", "lgwan")):
        for method, path, payload in (("GET", "", None),
                                      ("POST", "/answers", {"answers": {first: "yes"}}),
                                      ("POST", "/decide", {"slot": first})):
            r = await env.call(method, f"/api/v1/schedules/{schedule['id']}{path}", payload,
                               as_=login, zone=zone)
            assert (r.status, code(r)) == (404, "schedule_not_found"), (login, path)

    async def answer(payload: Any) -> tuple[int, str]:
        r = await env.call("POST", f"/api/v1/schedules/{schedule['id']}/answers", payload,
                           as_="suzuki")
        return r.status, code(r)

    assert await answer({"answers": {other["slots"][0]["id"]: "yes"}}) == (400, "unknown_slot")
    assert await answer({"answers": {first: "たぶん"}}) == (400, "invalid_field")
    assert await answer({"answers": {"x": "yes"}}) == (400, "invalid_field")
    assert await answer({"answers": [first]}) == (400, "invalid_field")
    assert await answer({"answers": {first: "yes"}, "comment": "c" * 501}) == (
        400, "comment_too_long")
    r = await env.call("POST", f"/api/v1/schedules/{schedule['id']}/decide",
                       {"slot": other["slots"][0]["id"]}, as_="tanaka")
    assert (r.status, code(r)) == (400, "unknown_slot")
    seen = body(await env.call("GET", f"/api/v1/schedules/{schedule['id']}", as_="tanaka"))
    assert seen["answers"] == [] and seen["decided_slot"] is None
    assert await _audit(env, "schedule.decided") == []
