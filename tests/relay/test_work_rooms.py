"""What tasks, notes, location posts and phone memos share with the rest of a room: an
archived room keeps them readable and takes no change, search finds a task or a note
by its title, and the check of a room's history when it first reaches the internet
reads notes and memos too."""

from __future__ import annotations

from relay import control
from tests.relay.test_api import Env, env  # noqa: F401  (fixture)
from tests.relay.work_env import MY_NUMBER, body, code, create, now_iso


async def test_an_archived_room_keeps_its_tasks_notes_and_memos_but_takes_no_change(
        env: Env) -> None:
    ids = env.ids
    room = await env.room("tanaka", "suzuki", "hoikuen")
    task = (await create(env, room, "tasks", "tanaka", title="点検",
                         assignees=[ids["suzuki"]]))["task"]
    note = await create(env, room, "notes", "tanaka", title="記録", body="")
    memo = (await create(env, room, "memos", "tanaka", to=ids["suzuki"], caller="佐藤",
                         received_at=now_iso(env), callback=False))["memo"]
    reply = await control.execute(env.app.ctx, {"op": "room.archive",
                                                "args": {"id": room, "archived": True}})
    assert "ok" in reply, reply
    refused = [
        await env.call("PATCH", f"/api/v1/tasks/{task['id']}", {"done": True}, as_="suzuki"),
        await env.call("PATCH", f"/api/v1/notes/{note['id']}",
                       {"body": "追記", "base_version": 1}, as_="suzuki"),
        await env.call("POST", f"/api/v1/memos/{memo['id']}/done", as_="suzuki"),
        await env.call("POST", f"/api/v1/rooms/{room}/tasks",
                       {"title": "新規", "assignees": [ids["suzuki"]]}, as_="tanaka"),
        await env.call("POST", f"/api/v1/rooms/{room}/notes", {"title": "新規"}, as_="tanaka"),
        await env.call("POST", f"/api/v1/rooms/{room}/locations", {"lat": 35, "lon": 139},
                       as_="hoikuen", zone="internet"),
    ]
    assert [(r.status, code(r)) for r in refused] == [(403, "room_archived")] * 6
    assert body(await env.call("GET", f"/api/v1/tasks/{task['id']}", as_="suzuki")) == task
    assert body(await env.call("GET", f"/api/v1/notes/{note['id']}", as_="hoikuen",
                               zone="internet")) == note
    messages = body(await env.call("GET", f"/api/v1/rooms/{room}/messages",
                                   as_="suzuki"))["messages"]
    assert [m["kind"] for m in messages] == ["task", "note", "memo"]
    assert messages[-1]["memo"] == memo


async def test_search_finds_a_task_and_a_note_by_their_titles(env: Env) -> None:
    ids = env.ids
    room = await env.room("tanaka", "suzuki", "hoikuen")
    task = await create(env, room, "tasks", "tanaka", title="防災無線の点検",
                        assignees=[ids["suzuki"]])
    note = await create(env, room, "notes", "tanaka", title="防災訓練の記録", body="本文は対象外")
    found = body(await env.call("GET", "/api/v1/search", as_="hoikuen", zone="internet",
                                query={"q": "防災"}))["results"]
    assert [r["message"]["id"] for r in found] == [note["message_id"], task["id"]]
    assert found[1]["message"]["task"]["title"] == "防災無線の点検"
    # A renamed task is found by its new title only.
    r = await env.call("PATCH", f"/api/v1/tasks/{task['task']['id']}", {"title": "無線の点検"},
                       as_="tanaka")
    assert r.status == 200
    found = body(await env.call("GET", "/api/v1/search", as_="suzuki",
                                query={"q": "防災"}))["results"]
    assert [r["message"]["id"] for r in found] == [note["message_id"]]


async def test_a_my_number_in_a_note_or_memo_of_an_lgwan_only_room_holds_it_from_the_internet(
        env: Env) -> None:
    room = await env.room("root", name="総務")  # an admin alone: nobody outside reads it
    note = await create(env, room, "notes", "root", title="控え", body=f"番号 {MY_NUMBER}")
    r = await env.call("POST", f"/api/v1/rooms/{room}/members",
                       {"account_id": env.ids["tanaka"]}, as_="root")
    assert (r.status, code(r)) == (403, "my_number_blocked")
    # Saved over, the number stays in the note's kept versions: still held.
    r = await env.call("PATCH", f"/api/v1/notes/{note['id']}",
                       {"body": "削除済み", "base_version": 1}, as_="root")
    assert r.status == 200
    r = await env.call("POST", f"/api/v1/rooms/{room}/members",
                       {"account_id": env.ids["tanaka"]}, as_="root")
    assert (r.status, code(r)) == (403, "my_number_blocked")
    memo_room = await env.room("root", name="電話")
    memo = await create(env, memo_room, "memos", "root", to=env.ids["root"], caller="窓口",
                        number=MY_NUMBER, received_at=now_iso(env), callback=True)
    r = await env.call("POST", f"/api/v1/rooms/{memo_room}/members",
                       {"account_id": env.ids["tanaka"]}, as_="root")
    assert (r.status, code(r)) == (403, "my_number_blocked")
    # A deleted memo is shown to nobody: the room may then reach the internet.
    assert (await env.call("DELETE", f"/api/v1/messages/{memo['id']}", as_="root")).status == 204
    r = await env.call("POST", f"/api/v1/rooms/{memo_room}/members",
                       {"account_id": env.ids["tanaka"]}, as_="root")
    assert r.status == 200, body(r)
