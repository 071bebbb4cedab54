"""Stamps and reactions through the API and the stream, on both listeners."""

from __future__ import annotations

import json

import trio

from tests.relay.collab_env import body, code, post, quiet, until
from tests.relay.test_api import Env, env, open_stream, recv  # noqa: F401  (fixture)


async def test_the_stamp_set_is_japanese_text_served_by_relayd_on_both_listeners(
        env: Env) -> None:
    lgwan = body(await env.call("GET", "/api/v1/stamps", as_="tanaka"))["stamps"]
    internet = body(await env.call("GET", "/api/v1/stamps", as_="hoikuen", zone="internet"))
    assert internet["stamps"] == lgwan
    labels = [s["label"] for s in lgwan]
    for want in ("了解", "ありがとう", "お疲れさまです", "確認します", "OK", "🙇"):
        assert want in labels
    assert all(set(s) == {"id", "label"} and s["id"].isdigit() for s in lgwan)
    assert len({s["id"] for s in lgwan}) == len(lgwan)
    assert (await env.call("GET", "/api/v1/stamps")).status == 401


async def test_a_stamp_message_reaches_both_zones_once_per_client_id(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            office = await open_stream(env, nursery, "tanaka", "lgwan")
            first = await post(env, room, "hoikuen", "internet", stamp="1", client_id="s-1")
            assert (first["kind"], first["stamp"], first["body"]) == ("stamp", "1", "")
            assert (await until(office, "message.created"))["message"] == first
            again = await post(env, room, "hoikuen", "internet", stamp="1", client_id="s-1")
            assert again["id"] == first["id"]
            assert [e for e in await quiet(office) if e["type"] == "message.created"] == []
            # Over the stream too.
            await office.send_message(json.dumps({"type": "send", "room_id": room,
                                                  "stamp": "2", "client_id": "s-2"}))
            frames = {f["type"]: f for f in [await recv(office), await recv(office)]}
            assert frames["ack"]["message"]["stamp"] == "2"
            nursery.cancel_scope.cancel()
    history = body(await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="suzuki",
                                  zone="internet"))["messages"]
    assert [(m["kind"], m["stamp"]) for m in history] == [("stamp", "1"), ("stamp", "2")]


async def test_reactions_show_who_reacted_and_reach_every_member(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    message = await post(env, room, "tanaka", body="明日の避難訓練は 9 時集合です")
    path = f"/api/v1/messages/{message['id']}/reactions"
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            partner = await open_stream(env, nursery, "hoikuen", "internet")
            office = await open_stream(env, nursery, "tanaka", "lgwan")
            r = await env.call("PUT", f"{path}/1", as_="hoikuen", zone="internet")
            assert r.status == 204
            for ws in (partner, office):
                event = await until(ws, "reaction.changed")
                assert event == {"type": "reaction.changed", "room_id": room,
                                 "message_id": message["id"], "stamp": "1",
                                 "account_id": env.ids["hoikuen"], "on": True,
                                 "reactions": [{"stamp": "1",
                                                "accounts": [env.ids["hoikuen"]]}]}
            # The same reaction again changes nothing and says nothing.
            assert (await env.call("PUT", f"{path}/1", as_="hoikuen", zone="internet")).status == 204
            assert await quiet(office) == []
            env.clock.t += 1  # later: listed after the first to react
            assert (await env.call("PUT", f"{path}/1", as_="suzuki")).status == 204
            assert (await env.call("PUT", f"{path}/6", as_="suzuki")).status == 204
            for _ in range(2):
                assert (await until(office, "reaction.changed"))["account_id"] == env.ids["suzuki"]
            shown = body(await env.call("GET", f"/api/v1/rooms/{room}/messages",
                                        as_="tanaka"))["messages"][-1]["reactions"]
            assert shown == [{"stamp": "1", "accounts": [env.ids["hoikuen"], env.ids["suzuki"]]},
                             {"stamp": "6", "accounts": [env.ids["suzuki"]]}]
            assert (await env.call("DELETE", f"{path}/1", as_="hoikuen", zone="internet")).status == 204
            event = await until(office, "reaction.changed")
            assert event["on"] is False and event["reactions"][0] == {
                "stamp": "1", "accounts": [env.ids["suzuki"]]}
            nursery.cancel_scope.cancel()


async def test_hostile_reactions_are_refused_and_change_nothing(env: Env) -> None:
    room = await env.room("tanaka", "suzuki")
    message = await post(env, room, "tanaka", body="職員のみの連絡です")
    path = f"/api/v1/messages/{message['id']}/reactions"
    r = await env.call("PUT", f"{path}/999", as_="suzuki")
    assert (r.status, code(r)) == (400, "unknown_stamp")
    assert (await env.call("PUT", f"{path}/ok", as_="suzuki")).status == 404  # not an id
    # Not a member: the message does not exist for them, whatever their kind.
    for login, zone in (("hoikuen", "internet"), ("root", "lgwan")):
        r = await env.call("PUT", f"{path}/1", as_=login, zone=zone)
        assert (r.status, code(r)) == (404, "message_not_found")
    r = await env.call("PUT", "/api/v1/messages/999999/reactions/1", as_="suzuki")
    assert (r.status, code(r)) == (404, "message_not_found")
    r = await env.call("POST", f"/api/v1/rooms/{room}/messages", {"stamp": "999"}, as_="suzuki")
    assert (r.status, code(r)) == (400, "unknown_stamp")
    r = await env.call("POST", f"/api/v1/rooms/{room}/messages", {"stamp": "1", "body": "x"},
                       as_="suzuki")
    assert (r.status, code(r)) == (400, "invalid_field")
    assert (await env.call("DELETE", f"/api/v1/messages/{message['id']}", as_="tanaka")).status == 204
    r = await env.call("PUT", f"{path}/1", as_="suzuki")
    assert (r.status, code(r)) == (409, "message_deleted")
    history = body(await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="tanaka"))
    assert [m["reactions"] for m in history["messages"]] == [[]]
    assert len(history["messages"]) == 1
