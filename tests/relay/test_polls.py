"""Polls (アンケート) through the API and the stream, on both listeners: votes that
replace each other, anonymity, closing, the audit, and hostile input refused with
nothing changed."""

from __future__ import annotations

from typing import Any

import trio

from policy import mynumber
from tests.relay.collab_env import body, code, quiet, until
from tests.relay.test_api import Env, env, open_stream  # noqa: F401  (fixture)


async def _audit(env: Env, action: str) -> list[dict]:
    entries = body(await env.call("GET", "/api/v1/admin/audit", as_="root",
                                  query={"limit": "1000"}))["entries"]
    return [e for e in entries if e["action"] == action]


async def make_poll(env: Env, room: str, as_: str = "tanaka", zone: str = "lgwan",
                    **fields: Any) -> dict:
    fields.setdefault("question", "新年会の会場はどこがよいですか")
    fields.setdefault("options", ["駅前", "市役所食堂", "公民館"])
    r = await env.call("POST", f"/api/v1/rooms/{room}/polls", fields, as_=as_, zone=zone)
    assert r.status == 201, body(r)
    return body(r)


async def test_a_poll_is_a_message_members_vote_on_from_both_zones_and_see_counts_live(
        env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            partner = await open_stream(env, nursery, "hoikuen", "internet")
            office = await open_stream(env, nursery, "tanaka", "lgwan")
            message = await make_poll(env, room, client_id="p-1")
            poll = message["poll"]
            assert message["kind"] == "poll" and message["body"] == poll["question"]
            assert [o["label"] for o in poll["options"]] == ["駅前", "市役所食堂", "公民館"]
            assert (poll["multiple"], poll["anonymous"], poll["closed"], poll["voters"]) == (
                False, False, False, 0)
            for ws in (partner, office):
                assert (await until(ws, "message.created"))["message"] == message
            station, canteen = poll["options"][0]["id"], poll["options"][1]["id"]
            r = await env.call("POST", f"/api/v1/polls/{poll['id']}/votes",
                               {"options": [station]}, as_="hoikuen", zone="internet")
            assert r.status == 200, body(r)
            assert body(r)["my_votes"] == [station]
            for ws in (partner, office):
                event = await until(ws, "poll.updated")
                assert event["poll"]["options"][0]["count"] == 1
                assert event["vote"] == {"account": env.ids["hoikuen"], "options": [station]}
                assert event["message_id"] == message["id"] and event["room_id"] == room
            # A new vote replaces the old one.
            r = await env.call("POST", f"/api/v1/polls/{poll['id']}/votes",
                               {"options": [canteen]}, as_="hoikuen", zone="internet")
            counts = [o["count"] for o in body(r)["options"]]
            assert counts == [0, 1, 0] and body(r)["voters"] == 1
            assert [o["count"] for o in (await until(office, "poll.updated"))["poll"]["options"]
                    ] == [0, 1, 0]
            # The same vote again changes nothing and says nothing.
            await env.call("POST", f"/api/v1/polls/{poll['id']}/votes",
                           {"options": [canteen]}, as_="hoikuen", zone="internet")
            assert [e for e in await quiet(office) if e["type"] == "poll.updated"] == []
            nursery.cancel_scope.cancel()
    env.clock.t += 1  # later: listed after the first voter
    await env.call("POST", f"/api/v1/polls/{poll['id']}/votes", {"options": [canteen]},
                   as_="suzuki")
    seen = body(await env.call("GET", f"/api/v1/polls/{poll['id']}", as_="tanaka"))
    assert seen["votes"] == {station: [], canteen: [env.ids["hoikuen"], env.ids["suzuki"]],
                             poll["options"][2]["id"]: []}
    assert seen["my_votes"] == [] and seen["voters"] == 2
    history = body(await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="hoikuen",
                                  zone="internet"))["messages"]
    assert history[-1]["poll"]["options"][1]["count"] == 2
    # A repeat of the create with the same client_id is the same poll, created once.
    again = await make_poll(env, room, client_id="p-1")
    assert again["id"] == message["id"] and again["poll"]["id"] == poll["id"]
    [entry] = await _audit(env, "poll.created")
    assert entry["subject"] == poll["id"] and entry["actor"] == env.ids["tanaka"]
    assert entry["data"]["room_id"] == room and entry["data"]["options"] == 3
    # Votes are their own record, like read markers: not audited.
    entries = body(await env.call("GET", "/api/v1/admin/audit", as_="root",
                                  query={"limit": "1000"}))["entries"]
    assert not [e for e in entries if e["action"].startswith("poll.vote")]


async def test_an_anonymous_multiple_choice_poll_counts_but_never_says_who(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    poll = (await make_poll(env, room, question="参加できる日は？", options=["月", "火", "水"],
                            multiple=True, anonymous=True, as_="hoikuen",
                            zone="internet"))["poll"]
    ids = [o["id"] for o in poll["options"]]
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            office = await open_stream(env, nursery, "tanaka", "lgwan")
            r = await env.call("POST", f"/api/v1/polls/{poll['id']}/votes",
                               {"options": ids[:2]}, as_="suzuki")
            assert body(r)["my_votes"] == ids[:2] and "votes" not in body(r)
            event = await until(office, "poll.updated")
            assert set(event) == {"type", "room_id", "message_id", "poll"}  # not who
            assert "votes" not in event["poll"]
            nursery.cancel_scope.cancel()
    seen = body(await env.call("GET", f"/api/v1/polls/{poll['id']}", as_="hoikuen",
                               zone="internet"))
    assert "votes" not in seen and [o["count"] for o in seen["options"]] == [1, 1, 0]
    # An empty vote takes it back.
    r = await env.call("POST", f"/api/v1/polls/{poll['id']}/votes", {"options": []},
                       as_="suzuki")
    assert body(r)["voters"] == 0 and body(r)["my_votes"] == []


async def test_the_creator_closes_a_poll_and_no_vote_counts_after_it_or_its_deadline(
        env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    poll = (await make_poll(env, room))["poll"]
    first = poll["options"][0]["id"]
    r = await env.call("POST", f"/api/v1/polls/{poll['id']}/close", as_="suzuki")
    assert (r.status, code(r)) == (403, "not_creator")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            partner = await open_stream(env, nursery, "hoikuen", "internet")
            r = await env.call("POST", f"/api/v1/polls/{poll['id']}/close", as_="tanaka")
            assert r.status == 200 and body(r)["closed"] is True
            assert (await until(partner, "poll.updated"))["poll"]["closed"] is True
            nursery.cancel_scope.cancel()
    r = await env.call("POST", f"/api/v1/polls/{poll['id']}/votes", {"options": [first]},
                       as_="hoikuen", zone="internet")
    assert (r.status, code(r)) == (409, "poll_closed")
    # Closing again changes nothing and is not audited again.
    assert (await env.call("POST", f"/api/v1/polls/{poll['id']}/close", as_="tanaka")).status == 200
    [entry] = await _audit(env, "poll.closed")
    assert entry["subject"] == poll["id"] and entry["actor"] == env.ids["tanaka"]
    # A deadline closes it too.
    closes = "2027-01-15T18:00:00+09:00"  # the clock reads 2027-01-15T08:00Z
    timed = (await make_poll(env, room, closes_at=closes))["poll"]
    assert timed["closes_at"] == "2027-01-15T09:00:00.000Z" and timed["closed"] is False
    env.clock.t += 3600
    r = await env.call("POST", f"/api/v1/polls/{timed['id']}/votes",
                       {"options": [timed["options"][0]["id"]]}, as_="suzuki")
    assert (r.status, code(r)) == (409, "poll_closed")
    seen = body(await env.call("GET", f"/api/v1/polls/{timed['id']}", as_="suzuki"))
    assert seen["closed"] is True and seen["voters"] == 0


async def test_hostile_polls_and_votes_are_refused_and_change_nothing(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")

    async def create(**fields: Any) -> tuple[int, str]:
        fields.setdefault("question", "質問")
        fields.setdefault("options", ["はい", "いいえ"])
        r = await env.call("POST", f"/api/v1/rooms/{room}/polls", fields, as_="tanaka")
        return r.status, code(r)

    assert await create(options=[f"案{i}" for i in range(10_000)]) == (400, "too_many_options")
    assert await create(options=[f"案{i}" for i in range(51)]) == (400, "too_many_options")
    assert await create(options=["はい"]) == (400, "too_few_options")
    assert await create(options=["はい", "はい "]) == (400, "duplicate_option")
    assert await create(options=["はい", "  "]) == (400, "empty_option")
    assert await create(options=["はい", "x" * 101]) == (400, "option_too_long")
    assert await create(options=["はい", 3]) == (400, "invalid_field")
    assert await create(question="q" * 201) == (400, "title_too_long")
    assert await create(question="") == (400, "empty_title")
    assert await create(multiple="yes") == (400, "invalid_field")
    assert await create(closes_at="9999-12-31T00:00:00Z") == (400, "invalid_time")
    assert await create(closes_at="2026-01-01T00:00:00Z") == (400, "invalid_time")  # past
    assert await create(closes_at="2027-02-01") == (400, "invalid_time")  # no time, no zone
    assert await create(client_id="x" * 129) == (400, "invalid_client_id")
    number = "12345678901" + str(mynumber.check_digit("12345678901"))
    assert await create(options=["はい", f"番号 {number}"]) == (403, "my_number_blocked")
    # Non-members, an admin among them, cannot create, vote on or even see a poll.
    for login, zone in (("sato", "internet"), ("root", "lgwan")):
        r = await env.call("POST", f"/api/v1/rooms/{room}/polls",
                           {"question": "q", "options": ["a", "b"]}, as_=login, zone=zone)
        assert (r.status, code(r)) == (404, "room_not_found")
    message = await make_poll(env, room)
    poll = message["poll"]
    other = (await make_poll(env, room, question="別の質問", options=["A", "B"]))["poll"]
    ids = [o["id"] for o in poll["options"]]
    for login, zone in (("sato", "internet"), ("root", "lgwan")):
        for method, path, payload in (("GET", "", None), ("POST", "/votes", {"options": ids[:1]}),
                                      ("POST", "/close", None)):
            r = await env.call(method, f"/api/v1/polls/{poll['id']}{path}", payload, as_=login,
                               zone=zone)
            assert (r.status, code(r)) == (404, "poll_not_found"), (login, path)

    async def vote(options: Any, as_: str = "suzuki") -> tuple[int, str]:
        r = await env.call("POST", f"/api/v1/polls/{poll['id']}/votes", {"options": options},
                           as_=as_)
        return r.status, code(r)

    assert await vote([other["options"][0]["id"]]) == (400, "unknown_option")
    assert await vote(["999999"]) == (400, "unknown_option")
    assert await vote(ids[:2]) == (400, "single_choice")
    assert await vote("1") == (400, "invalid_field")
    assert await vote(["abc"]) == (400, "invalid_field")
    r = await env.call("GET", "/api/v1/polls/999999", as_="suzuki")
    assert (r.status, code(r)) == (404, "poll_not_found")
    seen = body(await env.call("GET", f"/api/v1/polls/{poll['id']}", as_="tanaka"))
    assert seen["voters"] == 0 and all(o["count"] == 0 for o in seen["options"])
    history = body(await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="tanaka"))
    assert [m["kind"] for m in history["messages"]] == ["poll", "poll"]
    # A poll whose message was deleted takes no more votes.
    assert (await env.call("DELETE", f"/api/v1/messages/{message['id']}",
                           as_="tanaka")).status == 204
    assert await vote(ids[:1]) == (409, "message_deleted")
