"""Replies, mentions and catching up after a reconnect, on both listeners."""

from __future__ import annotations

import trio

from tests.relay.collab_env import body, code, post, until
from tests.relay.test_api import Env, env, open_stream  # noqa: F401  (fixture)


async def _mentions(env: Env, login: str, room: str, zone: str = "lgwan") -> int:
    rooms = body(await env.call("GET", "/api/v1/rooms", as_=login, zone=zone))["rooms"]
    return [r["mentions"] for r in rooms if r["id"] == room][0]


async def test_a_reply_carries_the_quoted_message_in_both_zones(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    question = await post(env, room, "hoikuen", "internet", body="園児の名簿は何時までに提出ですか")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            partner = await open_stream(env, nursery, "hoikuen", "internet")
            answer = await post(env, room, "tanaka", body="17 時までにお願いします",
                                reply_to=question["id"], client_id="r-1")
            assert answer["reply_to"] == question["id"]
            assert answer["quote"] == {"id": question["id"], "sender": env.ids["hoikuen"],
                                       "kind": "text", "body": "園児の名簿は何時までに提出ですか",
                                       "deleted": False}
            assert (await until(partner, "message.created"))["message"] == answer
            nursery.cancel_scope.cancel()
    assert (await post(env, room, "tanaka", body="17 時までにお願いします",
                       reply_to=question["id"], client_id="r-1"))["id"] == answer["id"]
    # Deleting the question leaves the reply quoting an empty, deleted message.
    await env.call("DELETE", f"/api/v1/messages/{question['id']}", as_="hoikuen",
                   zone="internet")
    last = body(await env.call("GET", f"/api/v1/rooms/{room}/messages",
                               as_="suzuki"))["messages"][-1]
    assert last["quote"]["deleted"] is True and last["quote"]["body"] == ""


async def test_a_reply_to_a_message_elsewhere_is_refused(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    elsewhere = await env.room("tanaka", "suzuki", name="職員のみ")
    hidden = await post(env, elsewhere, "suzuki", body="内部の話")
    gone = await post(env, room, "suzuki", body="消します")
    await env.call("DELETE", f"/api/v1/messages/{gone['id']}", as_="suzuki")
    for reply_to in (hidden["id"], "999999", gone["id"]):
        r = await env.call("POST", f"/api/v1/rooms/{room}/messages",
                           {"body": "返信", "reply_to": reply_to}, as_="hoikuen", zone="internet")
        assert (r.status, code(r)) == (400, "invalid_reply")
        assert body(r)["error"]["details"] == {"reply_to": reply_to}
    r = await env.call("POST", f"/api/v1/rooms/{room}/messages",
                       {"body": "返信", "reply_to": "abc"}, as_="tanaka")
    assert (r.status, code(r)) == (400, "invalid_field")
    history = body(await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="tanaka"))
    assert len(history["messages"]) == 1


async def test_mentions_are_resolved_by_the_server_and_counted_until_read(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    env.ids["outsider"] = env.ids["sato"]  # an account that is not in the room
    m = await post(env, room, "tanaka", body="@Suzuki さん、＠hoikuen さん、@sato @nobody 確認を")
    assert m["mentions"] == sorted([env.ids["suzuki"], env.ids["hoikuen"]], key=int)
    assert await _mentions(env, "suzuki", room) == 1
    assert await _mentions(env, "hoikuen", room, "internet") == 1
    assert await _mentions(env, "tanaka", room) == 0  # never one's own
    everyone = await post(env, room, "hoikuen", "internet", body="@all 明日は休園です。")
    assert everyone["mentions"] == sorted([env.ids["tanaka"], env.ids["suzuki"]], key=int)
    assert await _mentions(env, "suzuki", room) == 2
    r = await env.call("POST", f"/api/v1/rooms/{room}/read", {"up_to": everyone["id"]},
                       as_="suzuki")
    assert r.status == 204 and await _mentions(env, "suzuki", room) == 0
    # @here: only the members with a stream open now.
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await open_stream(env, nursery, "hoikuen", "internet")
            here = await post(env, room, "tanaka", body="@here 今から会議です")
            assert here["mentions"] == [env.ids["hoikuen"]]
            nursery.cancel_scope.cancel()
    # (hoikuen's own post read everything before it: only @here is unread.)
    assert await _mentions(env, "hoikuen", room, "internet") == 1
    # An edit's mentions are those of the new text.
    r = await env.call("PATCH", f"/api/v1/messages/{here['id']}",
                       {"body": "@suzuki. 今から会議です"}, as_="tanaka")
    assert body(r)["mentions"] == [env.ids["suzuki"]]
    assert await _mentions(env, "hoikuen", room, "internet") == 0
    assert await _mentions(env, "suzuki", room) == 1


async def test_a_client_catches_up_after_a_message_id(env: Env) -> None:
    room = await env.room("tanaka", "hoikuen")
    sent = [await post(env, room, "tanaka", body=f"連絡 {i}") for i in range(5)]
    r = await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="hoikuen", zone="internet",
                       query={"after": sent[1]["id"], "limit": "2"})
    assert [m["body"] for m in body(r)["messages"]] == ["連絡 2", "連絡 3"]
    r = await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="hoikuen", zone="internet",
                       query={"after": sent[4]["id"]})
    assert body(r)["messages"] == []
    r = await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="hoikuen", zone="internet",
                       query={"after": sent[0]["id"], "before": sent[4]["id"]})
    assert (r.status, code(r)) == (400, "invalid_field")
