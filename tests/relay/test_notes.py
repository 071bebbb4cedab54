"""Notes through the API and the stream, on both listeners: creation, saves against a
base version, conflicts, kept versions, and what is refused."""

from __future__ import annotations

import hashlib

import trio

from tests.relay.test_api import Env, env, open_stream  # noqa: F401  (fixture)
from tests.relay.work_env import MY_NUMBER, audit, body, code, create, history, quiet, until


async def _save(env: Env, note: str, as_: str, zone: str = "lgwan", **fields: object):
    return await env.call("PATCH", f"/api/v1/notes/{note}", fields, as_=as_, zone=zone)


async def test_a_note_is_announced_to_both_zones_and_read_whole_by_members(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    ids = env.ids
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            partner = await open_stream(env, nursery, "hoikuen", "internet")
            note = await create(env, room, "notes", "tanaka", title="引き継ぎ事項",
                                body="・備蓄倉庫の鍵は総務課\r\n・連絡網は更新済み", client_id="n-1")
            assert (note["title"], note["body"], note["version"]) == (
                "引き継ぎ事項", "・備蓄倉庫の鍵は総務課\n・連絡網は更新済み", 1)
            assert (note["room_id"], note["created_by"], note["updated_by"]) == (
                room, ids["tanaka"], ids["tanaka"])
            message = (await until(partner, "message.created"))["message"]
            assert (message["id"], message["kind"], message["body"]) == (
                note["message_id"], "note", "引き継ぎ事項")
            # The announcement carries the note without its body.
            assert message["note"] == {k: v for k, v in note.items() if k != "body"}
            again = await create(env, room, "notes", "tanaka", title="別", body="",
                                 client_id="n-1")
            assert again == note
            assert await quiet(partner) == []
            nursery.cancel_scope.cancel()
    got = await env.call("GET", f"/api/v1/notes/{note['id']}", as_="hoikuen", zone="internet")
    assert body(got) == note
    listed = body(await env.call("GET", f"/api/v1/rooms/{room}/notes", as_="suzuki"))
    assert listed == {"notes": [message["note"]]}
    [entry] = await audit(env, "note.created")
    assert (entry["subject"], entry["data"]["version"]) == (note["id"], 1)
    assert "備蓄" not in str(entry)


async def test_a_save_over_someone_elses_is_a_conflict_and_every_version_is_kept(
        env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    ids = env.ids
    note = await create(env, room, "notes", "tanaka", title="当番表", body="月: 田中")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            office = await open_stream(env, nursery, "tanaka", "lgwan")
            env.clock.t += 60
            r = await _save(env, note["id"], "hoikuen", "internet", body="月: 田中\n火: 保育園",
                            base_version=1)
            assert r.status == 200, body(r)
            saved = body(r)
            assert (saved["version"], saved["updated_by"]) == (2, ids["hoikuen"])
            event = await until(office, "note.updated")
            assert event == {"type": "note.updated", "room_id": room, "note": saved}
            # Suzuki started from version 1 too: refused, with what is there now.
            r = await _save(env, note["id"], "suzuki", body="月: 鈴木", base_version=1)
            assert (r.status, code(r)) == (409, "note_conflict")
            assert body(r)["error"]["details"]["version"] == 2
            # The same text again is no new version and says nothing.
            r = await _save(env, note["id"], "suzuki", body="月: 田中\n火: 保育園", base_version=2)
            assert body(r) == saved
            assert await quiet(office) == []
            r = await _save(env, note["id"], "suzuki", title="当番表（1月）", body="月: 鈴木",
                            base_version=2)
            assert body(r)["version"] == 3
            nursery.cancel_scope.cancel()
    r = await env.call("GET", f"/api/v1/notes/{note['id']}/versions", as_="hoikuen",
                       zone="internet")
    versions = body(r)["versions"]
    assert [(v["version"], v["title"], v["body"], v["saved_by"]) for v in versions] == [
        (1, "当番表", "月: 田中", ids["tanaka"]),
        (2, "当番表", "月: 田中\n火: 保育園", ids["hoikuen"]),
        (3, "当番表（1月）", "月: 鈴木", ids["suzuki"])]
    assert body(r)["note"]["version"] == 3
    # The announcement follows the title (search finds the note by it).
    message = (await history(env, room))[-1]
    assert (message["body"], message["note"]["title"]) == ("当番表（1月）", "当番表（1月）")
    first, second = await audit(env, "note.saved")
    assert (first["actor"], first["data"]["version"]) == (ids["hoikuen"], 2)
    assert first["data"]["previous_sha256"] == hashlib.sha256(
        "当番表\n月: 田中".encode()).hexdigest()
    assert second["data"]["version"] == 3


async def test_hostile_notes_are_refused_with_a_code_and_change_nothing(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    other = await env.room("tanaka", "suzuki", name="別室")
    note = await create(env, room, "notes", "tanaka", title="メモ", body="本文")
    private = await create(env, other, "notes", "tanaka", title="職員のみ", body="内部")
    path = f"/api/v1/rooms/{room}/notes"
    for fields, want in (({"title": "x" * 201, "body": ""}, "title_too_long"),
                         ({"title": "", "body": ""}, "empty_title"),
                         ({"title": "t", "body": "x" * 50_001}, "text_too_long"),
                         ({"title": "t", "body": 3}, "invalid_field"),
                         ({"body": "b"}, "invalid_field")):
        r = await env.call("POST", path, fields, as_="tanaka")
        assert (r.status, code(r)) == (400, want), fields
    for fields, want in (({"body": "x"}, "invalid_field"),  # no base_version
                         ({"body": "x", "base_version": "1"}, "invalid_field"),
                         ({"body": "x", "base_version": True}, "invalid_field"),
                         ({"body": "x", "base_version": 1.5}, "invalid_field"),
                         ({"base_version": 1}, "invalid_field"),
                         ({"body": "x" * 50_001, "base_version": 1}, "text_too_long"),
                         ({"body": "x", "title": " ", "base_version": 1}, "empty_title")):
        r = await _save(env, note["id"], "suzuki", **fields)
        assert (r.status, code(r)) == (400, want), fields
    r = await _save(env, note["id"], "suzuki", body="x", base_version=99)
    assert (r.status, code(r)) == (409, "note_conflict")
    # Outsiders: another room's note, an admin who is not a member, a stranger.
    for login, zone, target in (("hoikuen", "internet", private["id"]),
                                ("root", "lgwan", note["id"]), ("sato", "internet", note["id"])):
        for method, where, payload in (("GET", f"/api/v1/notes/{target}", None),
                                       ("GET", f"/api/v1/notes/{target}/versions", None),
                                       ("PATCH", f"/api/v1/notes/{target}",
                                        {"body": "乗っ取り", "base_version": 1})):
            r = await env.call(method, where, payload, as_=login, zone=zone)
            assert (r.status, code(r)) == (404, "note_not_found"), (login, method, where)
    r = await env.call("GET", f"/api/v1/rooms/{other}/notes", as_="hoikuen", zone="internet")
    assert (r.status, code(r)) == (404, "room_not_found")
    r = await env.call("POST", path, {"title": "t", "body": f"番号 {MY_NUMBER}"}, as_="tanaka")
    assert (r.status, code(r)) == (403, "my_number_blocked")
    r = await _save(env, note["id"], "tanaka", body=f"番号 {MY_NUMBER}", base_version=1)
    assert (r.status, code(r)) == (403, "my_number_blocked")
    assert [e["data"]["in"] for e in await audit(env, "outbound.block")] == ["note_body"] * 2
    got = body(await env.call("GET", f"/api/v1/notes/{note['id']}", as_="tanaka"))
    assert (got["version"], got["body"]) == (1, "本文")
    assert await audit(env, "note.saved") == []
