"""The operator's directory through relayctl's operations (as relayctl runs them, on
relayd's own context): departments and the directory that carries them, accounts
listed, renamed, moved and deleted, rooms archived and members removed, and the
personnel import (人事異動) in both of Excel's encodings."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from relay import control
from relay.personnel import decode, parse
from tests.relay.test_api import Env, body, code, env  # noqa: F401  (the fixture)

HEADER = "login,name,kana,department,kind,email\r\n"


async def op(env: Env, operation: str, /, **args: Any) -> dict[str, Any]:
    reply = await control.execute(env.app.ctx, {"op": operation, "args": args})
    return reply


async def ok(env: Env, operation: str, /, **args: Any) -> dict[str, Any]:
    reply = await op(env, operation, **args)
    assert "ok" in reply, reply
    return reply["ok"]  # type: ignore[no-any-return]


def refused(reply: dict[str, Any]) -> str:
    assert "error" in reply, reply
    return str(reply["error"]["code"])


def audit(env: Env) -> list[tuple[str, str]]:
    db = Path(env.app.cfg.store.state_dir) / "kakehashi.db"
    with sqlite3.connect(db) as c:
        return c.execute("SELECT action, data FROM audit ORDER BY id").fetchall()


async def test_departments_nest_three_deep_and_the_directory_names_each_persons(env: Env) -> None:
    await ok(env, "department.add", name="総務部")
    await ok(env, "department.add", name="総務課", parent="総務部")
    made = await ok(env, "department.add", name="文書係", parent="総務部/総務課")
    assert made["department"]["path"] == "総務部/総務課/文書係"
    assert refused(await op(env, "department.add", name="班", parent="総務部/総務課/文書係")) \
        == "invalid_request"
    assert refused(await op(env, "department.add", name="総務課", parent="総務部")) \
        == "department_exists"
    assert refused(await op(env, "department.add", name="x", parent="ない部")) \
        == "department_not_found"
    await ok(env, "account.department", login="tanaka", department="総務部/総務課/文書係")

    r = await env.call("GET", "/api/v1/accounts", as_="suzuki")
    people = {a["login"]: a for a in body(r)["accounts"]}
    assert people["tanaka"]["department"]["path"] == "総務部/総務課/文書係"
    assert people["suzuki"]["department"] is None
    tree = body(await env.call("GET", "/api/v1/departments", as_="suzuki"))["departments"]
    assert [d["path"] for d in tree] == ["総務部", "総務部/総務課", "総務部/総務課/文書係"]
    assert tree[1]["parent_id"] == tree[0]["id"]
    assert code(await env.call("GET", "/api/v1/departments", as_="hoikuen", zone="internet")) \
        == "directory_forbidden"

    await ok(env, "department.rename", department="総務部/総務課", name="総務管理課")
    listed = await ok(env, "account.list", department="総務部")
    assert [(a["login"], a["department"]) for a in listed["accounts"]] == \
        [("tanaka", "総務部/総務管理課/文書係")]


async def test_account_list_filters_by_kind_and_state(env: Env) -> None:
    await ok(env, "account.disable", login="suzuki")
    staff = await ok(env, "account.list", kind="staff")
    assert {a["login"]: a["state"] for a in staff["accounts"]} == \
        {"tanaka": "enabled", "suzuki": "disabled"}
    disabled = await ok(env, "account.list", state="disabled")
    assert [a["login"] for a in disabled["accounts"]] == ["suzuki"]
    await ok(env, "account.rename", login="tanaka", display_name="田中 一郎")
    shown = await ok(env, "account.show", login="tanaka")
    assert shown["account"]["display_name"] == "田中 一郎"
    assert ("account.updated", ) == audit(env)[-1][:1]


async def test_a_deleted_accounts_messages_stay_under_a_placeholder_and_its_login_is_free(
        env: Env) -> None:
    room = await env.room("suzuki", "tanaka")
    sent = await env.call("POST", f"/api/v1/rooms/{room}/messages",
                          {"body": "よろしくお願いします", "client_id": "c1"}, as_="tanaka")
    assert sent.status == 201
    token = await env.token("tanaka")
    gone = await ok(env, "account.delete", login="tanaka")
    assert gone["account"]["display_name"] == "削除されたアカウント"
    assert gone["account"]["state"] == "deleted"

    history = body(await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="suzuki"))
    assert [(m["sender"], m["body"]) for m in history["messages"]] == \
        [(env.ids["tanaka"], "よろしくお願いします")]
    room_now = await ok(env, "room.show", id=room)
    assert env.ids["tanaka"] not in room_now["room"]["members"]
    assert (await env.call("GET", "/api/v1/me", token=token)).status == 401
    assert "tanaka" not in [a["login"] for a in (await ok(env, "account.list"))["accounts"]]
    assert [a["display_name"] for a in
            (await ok(env, "account.list", state="deleted"))["accounts"]] == ["削除されたアカウント"]
    again = await ok(env, "account.add", login="tanaka", kind="staff", password=None)
    assert again["account"]["id"] != env.ids["tanaka"]
    assert audit(env)[-2][0] == "account.deleted"


async def test_an_archived_room_is_read_only_until_unarchived(env: Env) -> None:
    room = await env.room("tanaka", "suzuki")
    archived = await ok(env, "room.archive", id=room, archived=True)
    assert archived["room"]["archived"] is True
    r = await env.call("POST", f"/api/v1/rooms/{room}/messages",
                       {"body": "まだ送れますか", "client_id": "c2"}, as_="suzuki")
    assert r.status == 403 and code(r) == "room_archived"
    assert (await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="suzuki")).status == 200
    assert refused(await op(env, "room.member", id=room, login="root", add=True)) \
        == "room_archived"
    listed = await ok(env, "room.list", archived=True)
    assert [x["id"] for x in listed["rooms"]] == [room]
    await ok(env, "room.archive", id=room, archived=False)
    r = await env.call("POST", f"/api/v1/rooms/{room}/messages",
                       {"body": "送れます", "client_id": "c3"}, as_="suzuki")
    assert r.status == 201


async def test_a_member_removed_no_longer_sees_the_room(env: Env) -> None:
    room = await env.room("tanaka", "suzuki")
    after = await ok(env, "room.member", id=room, login="suzuki", add=False)
    assert after["room"]["member_logins"] == ["tanaka"]
    r = await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="suzuki")
    assert r.status == 404 and code(r) == "room_not_found"
    back = await ok(env, "room.member", id=room, login="suzuki", add=True)
    assert sorted(back["room"]["member_logins"]) == ["suzuki", "tanaka"]


async def test_a_room_for_a_department_takes_its_people(env: Env) -> None:
    await ok(env, "department.add", name="福祉部")
    await ok(env, "department.add", name="子育て支援課", parent="福祉部")
    await ok(env, "account.department", login="tanaka", department="福祉部/子育て支援課")
    await ok(env, "account.department", login="suzuki", department="福祉部")
    made = await ok(env, "room.create", name="福祉部 連絡", members=[], department="福祉部")
    assert sorted(made["room"]["member_logins"]) == ["suzuki", "tanaka"]
    assert made["room"]["department"] == "福祉部"
    rooms = body(await env.call("GET", "/api/v1/rooms", as_="tanaka"))["rooms"]
    assert [r["name"] for r in rooms] == ["福祉部 連絡"]


# --------------------------------------------------------------------------- 人事異動


def personnel_csv(rows: list[str], encoding: str) -> bytes:
    text = HEADER + "".join(r + "\r\n" for r in rows)
    return text.encode("utf-8-sig" if encoding == "utf-8-sig" else encoding)


APRIL = ["tanaka,田中 一郎,たなか いちろう,総務部/総務課,staff,tanaka@example.lg.jp",
         "yamada,山田 花子,やまだ はなこ,福祉部/子育て支援課/保育係,,yamada@example.lg.jp",
         "root,管理者,,,admin,"]


async def test_the_import_reads_excel_encodings_and_shows_the_diff_without_changing_anything(
        env: Env) -> None:
    before = audit(env)
    for encoding in ("cp932", "utf-8-sig"):
        content = decode(personnel_csv(APRIL, encoding))
        assert parse(content)[1].name == "山田 花子"
        report = (await ok(env, "account.import", content=content, apply=False))["report"]
        assert report["applied"] is False
        assert [a["login"] for a in report["new"]] == ["yamada"]
        assert report["moved"] == [{"login": "tanaka", "from": "", "to": "総務部/総務課"}]
        renamed = {a["login"]: (a["from"], a["to"]) for a in report["renamed"]}
        assert renamed == {"tanaka": ("Tanaka", "田中 一郎"), "root": ("Root", "管理者")}
        # suzuki (staff) is not in the file: leaving; externals and admins never are.
        assert [a["login"] for a in report["leaving"]] == ["suzuki"]
        assert report["new_departments"] == ["総務部", "総務部/総務課", "福祉部",
                                             "福祉部/子育て支援課", "福祉部/子育て支援課/保育係"]
    assert audit(env) == before


async def test_the_import_applies_everything_in_one_transaction_audited_per_change(
        env: Env) -> None:
    suzuki = await env.token("suzuki")
    stream = env.app.hub.subscribe(env.ids["suzuki"], "lgwan", "s1")
    content = decode(personnel_csv(APRIL, "cp932"))
    report = (await ok(env, "account.import", content=content, apply=True))["report"]
    assert report["applied"] is True
    assert env.app.hub.sessions(env.ids["suzuki"]) == 0  # the leaver's stream ended
    stream.receive.close()
    people = {a["login"]: a for a in (await ok(env, "account.list"))["accounts"]}
    assert people["yamada"]["department"] == "福祉部/子育て支援課/保育係"
    assert people["yamada"]["kana"] == "やまだ はなこ"
    assert people["tanaka"]["display_name"] == "田中 一郎"
    assert people["suzuki"]["state"] == "disabled"  # disabled, not deleted
    assert (await env.call("GET", "/api/v1/me", token=suzuki)).status == 401
    actions = [a for a, _ in audit(env)]
    assert actions.count("department.created") == 5
    assert {"account.created", "account.moved", "account.updated", "account.disabled",
            "personnel.imported"} <= set(actions)
    # Applying the same file again changes nothing more.
    again = (await ok(env, "account.import", content=content, apply=True))["report"]
    assert again["applied"] is False and not again["new"] and not again["leaving"]


async def test_an_import_that_fails_midway_leaves_nothing(env: Env) -> None:
    db = Path(env.app.cfg.store.state_dir) / "kakehashi.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TRIGGER crash BEFORE INSERT ON audit WHEN NEW.action = "
                  "'account.disabled' BEGIN SELECT RAISE(ABORT, 'injected'); END")
    before = audit(env)
    content = decode(personnel_csv(APRIL, "utf-8-sig"))
    assert refused(await op(env, "account.import", content=content, apply=True))
    assert audit(env) == before
    people = {a["login"]: a for a in (await ok(env, "account.list"))["accounts"]}
    assert "yamada" not in people and people["tanaka"]["department"] == ""
    assert (await ok(env, "department.list"))["departments"] == []


async def test_a_malformed_file_is_refused_with_each_line_and_reason(env: Env) -> None:
    rows = ["tanaka,田中,,総務部,staff,", "ta naka,田中,,総務部,staff,", "sato,佐藤,,総務部",
            "kato,加藤,,a/b/c/d,chief,kato", "tanaka,田中,,総務部,staff,"]
    reply = await op(env, "account.import", content=decode(personnel_csv(rows, "cp932")),
                     apply=True)
    assert refused(reply) == "invalid_csv"
    problems = [(p["line"], p["reason"]) for p in reply["error"]["details"]["problems"]]
    lines = [n for n, _ in problems]
    assert lines == [3, 4, 5, 5, 5, 6]
    assert "invalid login" in problems[0][1] and "ログイン名" in problems[0][1]
    assert "4 fields" in problems[1][1]
    assert "repeats line 2" in problems[-1][1]
    assert "yamada" not in str(await ok(env, "account.list"))

    not_text = b"login,name,kana,department,kind,email\n\x81\x20\xff\xfe,x,,,,\n"
    try:
        decode(not_text)
    except Exception as exc:  # policy Invalid
        assert getattr(exc, "code", "") == "invalid_csv"
        assert exc.details["problems"][0]["line"] == 2  # type: ignore[attr-defined]
    else:
        raise AssertionError("undecodable bytes were accepted")
    missing = await op(env, "account.import", content="login,name\nx,y\n", apply=False)
    assert refused(missing) == "invalid_csv"
    assert "kana" in missing["error"]["details"]["problems"][0]["reason"]
