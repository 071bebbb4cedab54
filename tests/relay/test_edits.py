"""Editing and deleting messages, their versions and audit entries, on both listeners."""

from __future__ import annotations

import hashlib

import trio

from policy import mynumber
from tests.relay.collab_env import body, code, post, until
from tests.relay.test_api import Env, env, open_stream  # noqa: F401  (fixture)


async def _audit(env: Env, action: str) -> list[dict]:
    entries = body(await env.call("GET", "/api/v1/admin/audit", as_="root",
                                  query={"limit": "1000"}))["entries"]
    return [e for e in entries if e["action"] == action]


async def test_the_sender_edits_and_every_member_sees_the_new_text_with_edited_at(
        env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen", "root")
    first = await post(env, room, "hoikuen", "internet", body="明日は 10 時に伺います")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            office = await open_stream(env, nursery, "tanaka", "lgwan")
            env.clock.t += 60
            r = await env.call("PATCH", f"/api/v1/messages/{first['id']}",
                               {"body": "明日は 11 時に伺います"}, as_="hoikuen", zone="internet")
            assert r.status == 200
            edited = body(r)
            assert edited["body"] == "明日は 11 時に伺います" and edited["edited_at"]
            assert (await until(office, "message.updated"))["message"] == edited
            nursery.cancel_scope.cancel()
    seen = body(await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="suzuki",
                               zone="internet"))["messages"][-1]
    assert seen["body"] == "明日は 11 時に伺います" and seen["edited_at"] == edited["edited_at"]
    # The sender and an admin of the room read the earlier version; others may not.
    for login, zone in (("hoikuen", "internet"), ("root", "lgwan")):
        v = body(await env.call("GET", f"/api/v1/messages/{first['id']}/versions", as_=login,
                                zone=zone))
        assert [x["body"] for x in v["versions"]] == ["明日は 10 時に伺います"]
        assert v["versions"][0]["change"] == "edit"
        assert v["versions"][0]["replaced_by"] == env.ids["hoikuen"]
    r = await env.call("GET", f"/api/v1/messages/{first['id']}/versions", as_="suzuki")
    assert (r.status, code(r)) == (403, "not_your_message")
    [entry] = await _audit(env, "message.edited")
    assert entry["subject"] == first["id"] and entry["actor"] == env.ids["hoikuen"]
    assert entry["data"]["previous_sha256"] == hashlib.sha256(
        "明日は 10 時に伺います".encode()).hexdigest()
    assert "伺います" not in str(entry)  # the audit names the version, not the text


async def test_hostile_edits_are_refused_and_change_nothing(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    mine = await post(env, room, "tanaka", body="資料を共有します")
    stamp = await post(env, room, "tanaka", stamp="1")

    async def patch(mid: str, text: object, as_: str = "tanaka", zone: str = "lgwan") -> tuple:
        r = await env.call("PATCH", f"/api/v1/messages/{mid}", {"body": text}, as_=as_, zone=zone)
        return r.status, code(r)

    assert await patch(mine["id"], "書き換え", as_="suzuki") == (403, "not_your_message")
    assert await patch(mine["id"], "書き換え", as_="hoikuen", zone="internet") == (
        403, "not_your_message")
    assert await patch(mine["id"], "x" * 10_001) == (400, "message_too_long")
    assert await patch(mine["id"], "  ") == (400, "empty_message")
    assert await patch(mine["id"], 5) == (400, "invalid_field")
    assert await patch(stamp["id"], "文字に") == (400, "not_editable")
    outsider_room = await env.room("suzuki", "root")
    other = await post(env, outsider_room, "suzuki", body="管理者と職員だけ")
    assert await patch(other["id"], "x") == (404, "message_not_found")
    # A 個人番号 may not reach the internet member through an edit either.
    number = "12345678901" + str(mynumber.check_digit("12345678901"))
    assert await patch(mine["id"], f"番号は {number} です") == (403, "my_number_blocked")
    assert (await env.call("DELETE", f"/api/v1/messages/{mine['id']}", as_="tanaka")).status == 204
    assert await patch(mine["id"], "やっぱり") == (409, "message_deleted")
    history = body(await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="tanaka"))
    assert [(m["body"], m["edited_at"]) for m in history["messages"]] == [("", None), ("", None)]
    assert await _audit(env, "message.edited") == []


async def test_deleted_messages_stay_as_empty_deleted_entries(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen", "root")
    first = await post(env, room, "suzuki", body="@tanaka 誤送信しました")
    assert first["mentions"] == [env.ids["tanaka"]]
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            partner = await open_stream(env, nursery, "hoikuen", "internet")
            r = await env.call("DELETE", f"/api/v1/messages/{first['id']}", as_="hoikuen",
                               zone="internet")
            assert (r.status, code(r)) == (403, "not_your_message")
            r = await env.call("DELETE", f"/api/v1/messages/{first['id']}", as_="suzuki",
                               zone="internet")
            assert r.status == 204
            event = await until(partner, "message.deleted")
            assert event["message_id"] == first["id"] and event["room_id"] == room
            assert (event["message"]["deleted"], event["message"]["body"]) == (True, "")
            # Again: nothing more to do, no second event, same answer.
            assert (await env.call("DELETE", f"/api/v1/messages/{first['id']}",
                                   as_="suzuki")).status == 204
            nursery.cancel_scope.cancel()
    rooms = body(await env.call("GET", "/api/v1/rooms", as_="tanaka"))["rooms"]
    assert [r["mentions"] for r in rooms if r["id"] == room] == [0]
    v = body(await env.call("GET", f"/api/v1/messages/{first['id']}/versions", as_="suzuki"))
    assert [(x["body"], x["change"]) for x in v["versions"]] == [("@tanaka 誤送信しました",
                                                                 "delete")]
    [entry] = await _audit(env, "message.deleted")
    assert entry["data"]["by"] == "sender" and entry["data"]["sender"] == env.ids["suzuki"]


async def test_an_admin_deletes_in_their_rooms_and_sees_nothing_of_others(env: Env) -> None:
    theirs = await env.room("tanaka", "root")
    other = await env.room("tanaka", "suzuki")
    a = await post(env, theirs, "tanaka", body="不適切な投稿")
    b = await post(env, other, "tanaka", body="職員同士の連絡")
    assert (await env.call("DELETE", f"/api/v1/messages/{a['id']}", as_="root")).status == 204
    r = await env.call("DELETE", f"/api/v1/messages/{b['id']}", as_="root")
    assert (r.status, code(r)) == (404, "message_not_found")
    r = await env.call("GET", f"/api/v1/messages/{b['id']}/versions", as_="root")
    assert (r.status, code(r)) == (404, "message_not_found")
    [entry] = await _audit(env, "message.deleted")
    assert entry["data"]["by"] == "admin" and entry["actor"] == env.ids["root"]
    left = body(await env.call("GET", f"/api/v1/rooms/{other}/messages", as_="tanaka"))
    assert left["messages"][0]["body"] == "職員同士の連絡"
