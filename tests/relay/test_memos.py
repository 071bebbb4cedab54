"""Phone memos (電話取次メモ) through the API and the stream, on both listeners: the
memo mentions its recipient, who marks it done; what is refused, and the 個人番号
check of every field written from LGWAN."""

from __future__ import annotations

from typing import Any

import trio

from tests.relay.test_api import Env, env, open_stream  # noqa: F401  (fixture)
from tests.relay.work_env import (
    MY_NUMBER, audit, body, code, create, history, now_iso, quiet, until,
)


def _memo(env: Env, to: str = "hoikuen", **fields: Any) -> dict[str, Any]:
    return {"to": env.ids[to], "caller": "山田 花子", "caller_org": "ひまわり保育園",
            "number": "03-1234-5678 内線 12", "received_at": now_iso(env, -300),
            "callback": True, "note": "明日の送迎について", **fields}


async def test_a_memo_mentions_its_recipient_who_marks_it_done_from_the_internet(
        env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    ids = env.ids
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            partner = await open_stream(env, nursery, "hoikuen", "internet")
            office = await open_stream(env, nursery, "tanaka", "lgwan")
            message = await create(env, room, "memos", "tanaka", **_memo(env), client_id="m-1")
            memo = message["memo"]
            assert (message["kind"], message["body"], message["mentions"]) == (
                "memo", "", [ids["hoikuen"]])
            assert {k: memo[k] for k in ("to", "caller", "caller_org", "number", "callback",
                                         "note", "done", "done_by", "done_at")} == {
                "to": ids["hoikuen"], "caller": "山田 花子", "caller_org": "ひまわり保育園",
                "number": "03-1234-5678 内線 12", "callback": True, "note": "明日の送迎について",
                "done": False, "done_by": None, "done_at": None}
            assert memo["received_at"] == now_iso(env, -300)
            for ws in (partner, office):
                assert (await until(ws, "message.created"))["message"] == message
            again = await create(env, room, "memos", "tanaka", **_memo(env), client_id="m-1")
            assert again == message
            rooms = body(await env.call("GET", "/api/v1/rooms", as_="hoikuen", zone="internet"))
            assert rooms["rooms"][0]["mentions"] == 1
            env.clock.t += 600
            r = await env.call("POST", f"/api/v1/memos/{memo['id']}/done", as_="hoikuen",
                               zone="internet")
            assert r.status == 200, body(r)
            done = body(r)
            assert (done["done"], done["done_by"]) == (True, ids["hoikuen"])
            event = await until(office, "memo.updated")
            assert event == {"type": "memo.updated", "room_id": room,
                             "message_id": message["id"], "memo": done}
            # Done again: the same answer, nothing heard.
            r = await env.call("POST", f"/api/v1/memos/{memo['id']}/done", as_="tanaka")
            assert body(r) == done
            assert [e for e in await quiet(office) if e["type"] == "memo.updated"] == []
            nursery.cancel_scope.cancel()
    assert (await history(env, room))[-1]["memo"] == done
    [created] = await audit(env, "memo.created")
    assert created["data"] == {"room_id": room, "message_id": message["id"],
                               "to": ids["hoikuen"], "callback": True}
    [handled] = await audit(env, "memo.done")
    assert (handled["actor"], handled["subject"]) == (ids["hoikuen"], memo["id"])
    assert "山田" not in str(created) + str(handled)  # personal data stays out of the log


async def test_hostile_memos_are_refused_with_a_code_and_change_nothing(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    other = await env.room("tanaka", "suzuki", name="別室")
    path = f"/api/v1/rooms/{room}/memos"
    cases = [
        (_memo(env, to="sato"), "not_in_room"),
        (_memo(env, to="root"), "not_in_room"),
        (_memo(env, to="tanaka") | {"to": "999999"}, "not_in_room"),
        (_memo(env) | {"to": 5}, "invalid_field"),
        (_memo(env) | {"to": None}, "invalid_field"),
        (_memo(env) | {"caller": ""}, "empty_text"),
        (_memo(env) | {"caller": None}, "invalid_field"),
        (_memo(env) | {"caller": "x" * 101}, "text_too_long"),
        (_memo(env) | {"caller_org": "x" * 101}, "text_too_long"),
        (_memo(env) | {"number": "0" * 41}, "text_too_long"),
        (_memo(env) | {"note": "x" * 1001}, "text_too_long"),
        (_memo(env) | {"callback": "yes"}, "invalid_field"),
        (_memo(env) | {"callback": None}, "invalid_field"),
        (_memo(env) | {"received_at": "9999-12-31T00:00:00Z"}, "invalid_time"),
        (_memo(env) | {"received_at": now_iso(env, 3600)}, "invalid_time"),
        (_memo(env) | {"received_at": "2020-01-01T00:00:00Z"}, "invalid_time"),
        (_memo(env) | {"received_at": "2027-01-15"}, "invalid_time"),
        (_memo(env) | {"received_at": "昨日"}, "invalid_time"),
        (_memo(env) | {"received_at": None}, "invalid_time"),
    ]
    for fields, want in cases:
        r = await env.call("POST", path, fields, as_="tanaka")
        assert (r.status, code(r)) == (400, want), fields
    for login, zone in (("sato", "internet"), ("root", "lgwan")):
        r = await env.call("POST", path, _memo(env), as_=login, zone=zone)
        assert (r.status, code(r)) == (404, "room_not_found")
    # A 個人番号 typed into any field does not leave LGWAN.
    for field in ("number", "caller", "caller_org", "note"):
        r = await env.call("POST", path, _memo(env) | {field: MY_NUMBER}, as_="tanaka")
        assert (r.status, code(r)) == (403, "my_number_blocked"), field
    assert [e["data"]["in"] for e in await audit(env, "outbound.block")] == [
        "memo_number", "memo_caller", "memo_caller_org", "memo_note"]
    assert await history(env, room) == []
    # Done: only its recipient or its writer, only members of its room.
    memo = (await create(env, room, "memos", "tanaka", **_memo(env)))["memo"]
    r = await env.call("POST", f"/api/v1/memos/{memo['id']}/done", as_="suzuki")
    assert (r.status, code(r)) == (403, "not_assigned")
    staff = (await create(env, other, "memos", "tanaka", **_memo(env, to="suzuki")))["memo"]
    for login, zone, target in (("hoikuen", "internet", staff["id"]),
                                ("root", "lgwan", memo["id"]),
                                ("sato", "internet", memo["id"]),
                                ("tanaka", "lgwan", "999999")):
        r = await env.call("POST", f"/api/v1/memos/{target}/done", as_=login, zone=zone)
        assert (r.status, code(r)) == (404, "memo_not_found"), login
    assert not (await history(env, room))[-1]["memo"]["done"]
    assert await audit(env, "memo.done") == []
    # A deleted memo is gone.
    assert (await env.call("DELETE", f"/api/v1/messages/{memo['message_id']}",
                           as_="tanaka")).status == 204
    r = await env.call("POST", f"/api/v1/memos/{memo['id']}/done", as_="hoikuen",
                       zone="internet")
    assert (r.status, code(r)) == (404, "memo_not_found")
