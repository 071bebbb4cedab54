"""Tasks through the API and the stream, on both listeners: creation, changes, the
open tasks of each person across rooms, and what is refused."""

from __future__ import annotations

import trio

from relay import control
from tests.relay.test_api import Env, env, open_stream  # noqa: F401  (fixture)
from tests.relay.work_env import MY_NUMBER, audit, body, code, create, history, quiet, until


async def _patch(env: Env, task: str, as_: str, zone: str = "lgwan", **fields: object):
    return await env.call("PATCH", f"/api/v1/tasks/{task}", fields, as_=as_, zone=zone)


async def _open(env: Env, as_: str, zone: str = "lgwan", **query: str) -> list[dict]:
    r = await env.call("GET", "/api/v1/tasks", as_=as_, zone=zone,
                       query={"assignee": "me", "done": "false", **query})
    assert r.status == 200, body(r)
    return body(r)["tasks"]


async def test_a_task_reaches_both_zones_once_and_is_open_for_its_assignees_only(
        env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    ids = env.ids
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            partner = await open_stream(env, nursery, "hoikuen", "internet")
            office = await open_stream(env, nursery, "suzuki", "lgwan")
            message = await create(env, room, "tasks", "tanaka", title="  避難所の備蓄を確認 ",
                                   assignees=[ids["hoikuen"], ids["suzuki"]],
                                   due="2027-02-01", client_id="t-1")
            task = message["task"]
            assert (message["kind"], message["body"]) == ("task", "避難所の備蓄を確認")
            assert task["title"] == "避難所の備蓄を確認"
            assert task["assignees"] == sorted([ids["suzuki"], ids["hoikuen"]], key=int)
            assert (task["due"], task["done"], task["done_by"], task["done_at"]) == (
                "2027-02-01", False, None, None)
            assert (task["created_by"], task["room_id"]) == (ids["tanaka"], room)
            assert sorted(message["mentions"]) == sorted([ids["suzuki"], ids["hoikuen"]])
            for ws in (partner, office):
                assert (await until(ws, "message.created"))["message"] == message
            again = await create(env, room, "tasks", "tanaka", title="避難所の備蓄を確認",
                                 assignees=[ids["hoikuen"]], client_id="t-1")
            assert again == message
            assert [e for e in await quiet(office) if e["type"] == "message.created"] == []
            nursery.cancel_scope.cancel()
    assert [t["id"] for t in await _open(env, "hoikuen", "internet")] == [task["id"]]
    assert [t["id"] for t in await _open(env, "suzuki")] == [task["id"]]
    assert await _open(env, "tanaka") == []  # the creator is not an assignee
    everyone = await _open(env, "tanaka", assignee="any")
    assert [t["id"] for t in everyone] == [task["id"]]
    got = await env.call("GET", f"/api/v1/tasks/{task['id']}", as_="hoikuen", zone="internet")
    assert body(got) == task
    [entry] = await audit(env, "task.created")
    assert (entry["actor"], entry["subject"]) == (ids["tanaka"], task["id"])
    assert entry["data"]["assignees"] == [ids["hoikuen"], ids["suzuki"]]
    assert "備蓄" not in str(entry)  # the entry names the task, not its text


async def test_an_assignee_marks_it_done_from_the_internet_and_every_member_hears(
        env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    ids = env.ids
    task = (await create(env, room, "tasks", "tanaka", title="園児名簿の提出",
                         assignees=[ids["hoikuen"]], due="2027-01-29"))["task"]
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            office = await open_stream(env, nursery, "tanaka", "lgwan")
            env.clock.t += 60
            r = await _patch(env, task["id"], "hoikuen", "internet", done=True)
            assert r.status == 200, body(r)
            done = body(r)
            assert (done["done"], done["done_by"]) == (True, ids["hoikuen"])
            event = await until(office, "task.updated")
            assert event == {"type": "task.updated", "room_id": room,
                             "message_id": task["message_id"], "task": done}
            # Done again: nothing changes, nobody hears of it.
            assert body(await _patch(env, task["id"], "hoikuen", "internet", done=True)) == done
            assert await quiet(office) == []
            nursery.cancel_scope.cancel()
    assert await _open(env, "hoikuen", "internet") == []
    assert [t["id"] for t in await _open(env, "hoikuen", "internet", done="true")] == [task["id"]]
    # History shows the task as it is now.
    assert (await history(env, room))[-1]["task"] == done
    # The creator changes title, due date and assignees; the mentions follow.
    r = await _patch(env, task["id"], "tanaka", title="園児名簿の提出（再）", due=None,
                     assignees=[ids["suzuki"]], done=False)
    changed = body(r)
    assert (changed["title"], changed["due"], changed["assignees"], changed["done"]) == (
        "園児名簿の提出（再）", None, [ids["suzuki"]], False)
    message = (await history(env, room))[-1]
    assert (message["body"], message["mentions"]) == ("園児名簿の提出（再）", [ids["suzuki"]])
    assert [t["id"] for t in await _open(env, "suzuki")] == [task["id"]]
    assert await _open(env, "hoikuen", "internet") == []
    first, second = await audit(env, "task.updated")
    assert first["data"]["done"] == {"from": False, "to": True}
    assert second["data"]["assignees"] == {"from": [ids["hoikuen"]], "to": [ids["suzuki"]]}
    assert set(second["data"]) == {"room_id", "message_id", "done", "title_length", "due",
                                   "assignees"}


async def test_open_tasks_come_only_from_rooms_the_caller_is_in(env: Env) -> None:
    ids = env.ids
    shared = await env.room("tanaka", "suzuki", "hoikuen")
    office = await env.room("tanaka", "suzuki", name="防災係")
    later = await create(env, shared, "tasks", "tanaka", title="後で", assignees=[ids["suzuki"]],
                         due="2027-03-01T09:00:00+09:00")
    sooner = await create(env, office, "tasks", "tanaka", title="先に", assignees=[ids["suzuki"]],
                          due="2027-01-20")
    undated = await create(env, office, "tasks", "tanaka", title="いつか",
                           assignees=[ids["suzuki"]])
    assert later["task"]["due"] == "2027-03-01T00:00:00.000Z"
    assert [t["title"] for t in await _open(env, "suzuki")] == ["先に", "後で", "いつか"]
    assert [t["title"] for t in await _open(env, "suzuki", room=office)] == ["先に", "いつか"]
    # The partner sees only the tasks of the room it is in; an admin outside sees none.
    assert [t["title"] for t in await _open(env, "hoikuen", "internet", assignee="any")] == [
        "後で"]
    assert await _open(env, "root", assignee="any") == []
    for login, zone in (("hoikuen", "internet"), ("root", "lgwan")):
        r = await env.call("GET", f"/api/v1/tasks/{sooner['task']['id']}", as_=login, zone=zone)
        assert (r.status, code(r)) == (404, "task_not_found")
        r = await env.call("GET", "/api/v1/tasks", as_=login, zone=zone, query={"room": office})
        assert (r.status, code(r)) == (404, "room_not_found")
    # A deleted task message takes its task out of every list.
    assert (await env.call("DELETE", f"/api/v1/messages/{undated['id']}",
                           as_="tanaka")).status == 204
    assert [t["title"] for t in await _open(env, "suzuki")] == ["先に", "後で"]
    r = await _patch(env, undated["task"]["id"], "suzuki", done=True)
    assert (r.status, code(r)) == (404, "task_not_found")


async def test_hostile_tasks_are_refused_with_a_code_and_change_nothing(env: Env) -> None:
    ids = env.ids
    room = await env.room("tanaka", "suzuki", "hoikuen")
    other = await env.room("tanaka", "suzuki", name="別室")
    task = (await create(env, other, "tasks", "tanaka", title="職員のみ",
                         assignees=[ids["suzuki"]]))["task"]
    path = f"/api/v1/rooms/{room}/tasks"
    me = [ids["suzuki"]]
    cases = [
        ({"title": "x" * 201, "assignees": me}, 400, "title_too_long"),
        ({"title": " \u202e ", "assignees": me}, 400, "empty_title"),
        ({"title": 5, "assignees": me}, 400, "invalid_field"),
        ({"title": "期限", "assignees": me, "due": "9999-12-31"}, 400, "invalid_time"),
        ({"title": "期限", "assignees": me, "due": "9999-12-31T00:00:00Z"}, 400, "invalid_time"),
        ({"title": "期限", "assignees": me, "due": "1999-12-31"}, 400, "invalid_time"),
        ({"title": "期限", "assignees": me, "due": "来週"}, 400, "invalid_time"),
        ({"title": "期限", "assignees": me, "due": "2027-02-01T09:00:00"}, 400, "invalid_time"),
        ({"title": "期限", "assignees": me, "due": 1800000000}, 400, "invalid_time"),
        ({"title": "担当", "assignees": [ids["sato"]]}, 400, "not_in_room"),
        ({"title": "担当", "assignees": ["999999"]}, 400, "not_in_room"),
        ({"title": "担当", "assignees": []}, 400, "invalid_field"),
        ({"title": "担当", "assignees": ids["suzuki"]}, 400, "invalid_field"),
        ({"title": "担当", "assignees": [5]}, 400, "invalid_field"),
        ({"title": "担当", "assignees": me * 101}, 400, "invalid_field"),
    ]
    for fields, status, want in cases:
        r = await env.call("POST", path, fields, as_="tanaka")
        assert (r.status, code(r)) == (status, want), fields
    # Not a member, whatever the kind: the room does not exist for them.
    for login, zone in (("sato", "internet"), ("root", "lgwan")):
        r = await env.call("POST", path, {"title": "x", "assignees": me}, as_=login, zone=zone)
        assert (r.status, code(r)) == (404, "room_not_found")
    # Another room's task is not found by a member of this room only.
    r = await _patch(env, task["id"], "hoikuen", "internet", done=True)
    assert (r.status, code(r)) == (404, "task_not_found")
    # A member who is neither its creator nor an assignee may not change it.
    mine = (await create(env, room, "tasks", "tanaka", title="確認",
                         assignees=[ids["hoikuen"]]))["task"]
    r = await _patch(env, mine["id"], "suzuki", done=True)
    assert (r.status, code(r)) == (403, "not_assigned")
    for fields, want in (({"done": "yes"}, "invalid_field"), ({"title": ""}, "empty_title"),
                         ({"due": "9999-01-01"}, "invalid_time"),
                         ({"assignees": [ids["sato"]]}, "not_in_room"),
                         ({"assignees": []}, "invalid_field")):
        r = await _patch(env, mine["id"], "tanaka", **fields)
        assert (r.status, code(r)) == (400, want), fields
    # A client_id already used for a text message is not a task's.
    text = await env.call("POST", f"/api/v1/rooms/{room}/messages",
                          {"body": "こんにちは", "client_id": "c-1"}, as_="tanaka")
    assert text.status == 201
    r = await env.call("POST", path, {"title": "x", "assignees": me, "client_id": "c-1"},
                       as_="tanaka")
    assert (r.status, code(r)) == (409, "client_id_reused")
    assert [m["kind"] for m in await history(env, room)] == ["task", "text"]
    assert body(await env.call("GET", f"/api/v1/tasks/{mine['id']}", as_="tanaka")) == mine
    assert len(await audit(env, "task.created")) == 2 and await audit(env, "task.updated") == []


async def test_a_my_number_in_a_task_title_does_not_leave_lgwan(env: Env) -> None:
    ids = env.ids
    room = await env.room("tanaka", "suzuki", "hoikuen")
    title = f"{MY_NUMBER} の件"
    r = await env.call("POST", f"/api/v1/rooms/{room}/tasks",
                       {"title": title, "assignees": [ids["suzuki"]]}, as_="tanaka")
    assert (r.status, code(r)) == (403, "my_number_blocked")
    assert MY_NUMBER not in r.body.decode()
    task = (await create(env, room, "tasks", "tanaka", title="確認",
                         assignees=[ids["suzuki"]]))["task"]
    r = await _patch(env, task["id"], "tanaka", title=title)
    assert (r.status, code(r)) == (403, "my_number_blocked")
    assert (await history(env, room))[-1]["task"]["title"] == "確認"
    [entry, again] = await audit(env, "outbound.block")
    assert entry["data"]["in"] == again["data"]["in"] == "task_title"
    # Text written on the internet side is not leaving LGWAN: it is not held.
    await create(env, room, "tasks", "hoikuen", "internet", title=title,
                 assignees=[ids["suzuki"]])


async def test_a_member_who_leaves_the_room_no_longer_sees_its_tasks(env: Env) -> None:
    ids = env.ids
    room = await env.room("tanaka", "suzuki", "hoikuen")
    task = (await create(env, room, "tasks", "tanaka", title="受入準備",
                         assignees=[ids["hoikuen"], ids["suzuki"]]))["task"]
    assert len(await _open(env, "hoikuen", "internet")) == 1
    reply = await control.execute(env.app.ctx, {"op": "room.member", "args": {
        "id": room, "login": "hoikuen", "add": False}})
    assert "ok" in reply, reply
    assert await _open(env, "hoikuen", "internet") == []
    assert await _open(env, "hoikuen", "internet", assignee="any") == []
    r = await _patch(env, task["id"], "hoikuen", "internet", done=True)
    assert (r.status, code(r)) == (404, "task_not_found")
    assert [t["id"] for t in await _open(env, "suzuki")] == [task["id"]]
