"""上長承認 through relayd's own app (``app.handle``: real SQLite, a real disarm pool,
events read from the hub as stream sessions get them) and relayctl (its control
operations in-process, and the real command line on the state directory): a file from
LGWAN waits for an approver before internet members get it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import trio

from relay import control
from store.facade import Store
from tests.audits import SETUP
from tests.relay.test_api import PASSWORD, Clock, Env, body, code
from tests.relay.test_files import (TIMEOUT_S, add_accounts, config, download, make_env,
                                    next_event, subscribe, upload)

REPO = Path(__file__).resolve().parents[2]
NOTE = "来週の説明会の資料です。\n会場は本庁舎3階です。\n".encode()


async def op(env: Env, operation: str, /, **args: Any) -> dict[str, Any]:
    reply = await control.execute(env.app.ctx, {"op": operation, "args": args})
    assert "ok" in reply, reply
    return reply["ok"]  # type: ignore[no-any-return]


async def refused(env: Env, operation: str, /, **args: Any) -> str:
    reply = await control.execute(env.app.ctx, {"op": operation, "args": args})
    assert "error" in reply, reply
    return str(reply["error"]["code"])


def audit_actions(env: Env, prefix: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    db = Path(env.app.cfg.store.state_dir) / "kakehashi.db"
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT action, actor, data FROM audit WHERE action LIKE ? ORDER BY id",
                         (prefix + "%",)).fetchall()
    return [(a, actor, json.loads(d)) for a, actor, d in rows]


async def directory(env: Env) -> None:
    """福祉部 > 子育て支援課: tanaka (the clerk) works in the 課; suzuki approves for the
    whole 部; files of the 部 need approval."""
    await op(env, "department.add", name="福祉部")
    await op(env, "department.add", name="子育て支援課", parent="福祉部")
    await op(env, "account.department", login="tanaka", department="福祉部/子育て支援課")
    await op(env, "account.department", login="suzuki", department="福祉部")
    await op(env, "approval.approver", login="suzuki", department="福祉部", approver=True)
    await op(env, "approval.require", department="福祉部", room=None, required=True)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    cfg = config(tmp_path)
    store = await Store.open(cfg.store)
    await add_accounts(store)
    await store.create_account("yamada", PASSWORD, "staff", "Yamada", audit=SETUP,
                               now=time.time())
    e = await make_env(cfg, store, Clock())
    await directory(e)
    try:
        yield e
    finally:
        await e.app.aclose()
        await store.aclose()


async def post_held(env: Env, room: str) -> dict[str, Any]:
    r = await upload(env, room, NOTE, "説明会資料.txt", "tanaka", "lgwan")
    assert r.status == 201, body(r)
    [att] = body(r)["attachments"]
    return att  # type: ignore[no-any-return]


async def content(env: Env, file_id: str, as_: str, zone: str) -> Any:
    return await env.call("GET", f"/api/v1/files/{file_id}/content", as_=as_, zone=zone)


async def queue(env: Env, as_: str, status: str = "pending") -> dict[str, Any]:
    r = await env.call("GET", "/api/v1/approvals", as_=as_, query={"status": status})
    assert r.status == 200, body(r)
    return body(r)  # type: ignore[no-any-return]


async def decide(env: Env, approval_id: str, as_: str, approve: bool, reason: str = "") -> Any:
    return await env.call("POST", f"/api/v1/approvals/{approval_id}/decision",
                          {"approve": approve, "reason": reason}, as_=as_)


async def test_a_held_file_reaches_the_partner_only_once_approved(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    approver = subscribe(env, "suzuki", "lgwan")
    partner = subscribe(env, "hoikuen", "internet")
    async with trio.open_nursery() as nursery:
        await nursery.start(env.app.run)
        att = await post_held(env, room)
        assert att["approval"] == "pending"
        requested = await next_event(approver, "approval.requested")
        approval = requested["approval"]
        assert approval["file_id"] == att["id"] and approval["status"] == "pending"
        assert approval["name"] == "説明会資料.txt" and approval["sender"] == env.ids["tanaka"]
        # The partner sees the message with 承認待ち, never the bytes.
        seen = await next_event(partner, "message.created")
        assert seen["message"]["attachments"][0]["approval"] == "pending"
        ready = await next_event(partner, "file.ready", "file.blocked")
        assert ready["file"]["status"] == "pending" and ready["file"]["content"] is None
        with trio.fail_after(TIMEOUT_S):
            while (r := await content(env, att["id"], "hoikuen", "internet")).status != 409 \
                    or code(r) != "approval_pending":
                await trio.sleep(0.05)
        # A staff member on a phone (the internet listener) waits too; on LGWAN they have it.
        assert code(await content(env, att["id"], "suzuki", "internet")) == "approval_pending"
        lgwan = await content(env, att["id"], "suzuki", "lgwan")
        assert lgwan.status == 200 and await download(lgwan) == NOTE
        view = body(await env.call("GET", f"/api/v1/files/{att['id']}", as_="hoikuen",
                                   zone="internet"))
        assert view["status"] == "pending" and view["content"] is None
        assert view["approval"] == "pending"

        # The approver's queue, and the file for them to look at (audited).
        mine = await queue(env, "suzuki")
        assert mine["approver"] is True
        assert [a["id"] for a in mine["approvals"]] == [approval["id"]]
        look = await env.call("GET", f"/api/v1/approvals/{approval['id']}/content", as_="suzuki")
        assert look.status == 200 and await download(look) == NOTE

        r = await decide(env, approval["id"], "suzuki", True)
        assert r.status == 200, body(r)
        assert body(r)["status"] == "approved" and body(r)["decided_by"] == env.ids["suzuki"]
        decided = await next_event(partner, "approval.decided")
        assert decided["approval"]["status"] == "approved" and "reason" not in decided["approval"]
        assert decided["file"]["content"]["variant"] == "original"
        got = await content(env, att["id"], "hoikuen", "internet")
        assert got.status == 200 and await download(got) == NOTE
        # Once only.
        again = await decide(env, approval["id"], "suzuki", False, "やはり不可")
        assert again.status == 409 and code(again) == "approval_decided"
        assert (await queue(env, "suzuki"))["approvals"] == []
        nursery.cancel_scope.cancel()
    actions = audit_actions(env, "approval.")
    assert [a for a, _, _ in actions if a in ("approval.requested", "approval.viewed",
                                              "approval.approved")] == \
        ["approval.requested", "approval.viewed", "approval.approved"]
    [(_, actor, data)] = [x for x in actions if x[0] == "approval.approved"]
    assert actor == env.ids["suzuki"] and data["file_id"] == att["id"]
    assert any(a == "file.sent_out" for a, _, _ in audit_actions(env, "file.sent_out"))


async def test_a_refused_file_never_reaches_the_partner_and_the_sender_sees_why(
        env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    office = subscribe(env, "tanaka", "lgwan")
    partner = subscribe(env, "hoikuen", "internet")
    async with trio.open_nursery() as nursery:
        await nursery.start(env.app.run)
        att = await post_held(env, room)
        [approval] = (await queue(env, "suzuki"))["approvals"]
        # A refusal needs a reason.
        r = await decide(env, approval["id"], "suzuki", False, "  ")
        assert r.status == 400 and code(r) == "empty_refusal_reason"
        r = await decide(env, approval["id"], "suzuki", False, "個人名が含まれています")
        assert r.status == 200 and body(r)["status"] == "refused"
        mine = await next_event(office, "approval.decided")
        assert mine["approval"]["reason"] == "個人名が含まれています"
        assert mine["file"]["approval_reason"] == "個人名が含まれています"
        theirs = await next_event(partner, "approval.decided")
        assert "reason" not in theirs["approval"]
        assert theirs["file"]["status"] == "blocked" and theirs["file"]["content"] is None
        assert theirs["file"]["report"]["reason"] == "approval_refused"
        assert "個人名" not in json.dumps(theirs, ensure_ascii=False)
        r = await content(env, att["id"], "hoikuen", "internet")
        assert r.status == 403 and code(r) == "approval_refused"
        # The sender, on LGWAN, sees the state and the reason in the file and its history.
        view = body(await env.call("GET", f"/api/v1/files/{att['id']}", as_="tanaka"))
        assert view["approval"] == "refused" and view["approval_reason"] == "個人名が含まれています"
        hist = body(await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="hoikuen",
                                   zone="internet"))["messages"]
        assert hist[-1]["attachments"][0]["approval"] == "refused"
        assert "個人名" not in json.dumps(hist, ensure_ascii=False)
        nursery.cancel_scope.cancel()
    [(_, actor, data)] = [x for x in audit_actions(env, "approval.refused")]
    assert actor == env.ids["suzuki"] and data["reason"] == "個人名が含まれています"


async def test_only_an_approver_of_the_senders_department_or_an_admin_decides(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "yamada", "hoikuen")
    att = await post_held(env, room)
    approval = (await env.store.approval_of_file(att["id"]))
    assert approval is not None
    # yamada approves nothing; tanaka sent it; an approver on a phone is on the internet.
    assert (await queue(env, "yamada"))["approver"] is False
    r = await decide(env, approval.id, "yamada", True)
    assert r.status == 403 and code(r) == "not_approver"
    look = await env.call("GET", f"/api/v1/approvals/{approval.id}/content", as_="yamada")
    assert look.status == 403 and code(look) == "not_approver"
    await op(env, "approval.approver", login="tanaka", department="福祉部", approver=True)
    r = await decide(env, approval.id, "tanaka", True)
    assert r.status == 403 and code(r) == "own_file"
    r = await env.call("POST", f"/api/v1/approvals/{approval.id}/decision", {"approve": True},
                       as_="suzuki", zone="internet")
    assert r.status == 403 and code(r) == "approval_lgwan_only"
    r = await env.call("POST", f"/api/v1/approvals/{approval.id}/decision", {"approve": True},
                       as_="hoikuen", zone="internet")  # a partner: the internet side only
    assert r.status == 403 and code(r) == "approval_lgwan_only"
    # An admin may always decide.
    assert (await queue(env, "root"))["approver"] is True
    r = await decide(env, approval.id, "root", True)
    assert r.status == 200 and body(r)["status"] == "approved"


async def test_where_approval_applies(env: Env) -> None:
    # A file from outside the 部 in an ordinary room does not wait; from inside it does.
    room = await env.room("yamada", "tanaka", "hoikuen")
    r = await upload(env, room, NOTE, "a.txt", "yamada", "lgwan")
    assert body(r)["attachments"][0]["approval"] is None
    # A file from the internet side is the disarm engine's, not an approver's.
    r = await upload(env, room, NOTE, "c.txt", "tanaka", "internet")
    assert body(r)["attachments"][0]["approval"] is None
    # The room's own setting holds files of anyone posting on LGWAN.
    await op(env, "approval.require", department=None, room=room, required=True)
    r = await upload(env, room, NOTE, "d.txt", "yamada", "lgwan")
    assert body(r)["attachments"][0]["approval"] == "pending"
    # yamada has no department: only admins decide (and hear of it).
    [held] = [a for a in (await queue(env, "root"))["approvals"] if a["name"] == "d.txt"]
    assert held["department_id"] is None
    # Switching the department off: tanaka's files go straight out of other rooms.
    await op(env, "approval.require", department="福祉部", room=None, required=False)
    other = await env.room("tanaka", "hoikuen", name="別室")
    assert body(await upload(env, other, NOTE, "e.txt", "tanaka", "lgwan"))[
        "attachments"][0]["approval"] is None
    settings = await op(env, "approval.settings")
    assert [r["id"] for r in settings["rooms"]] == [room]
    [dep] = [d for d in settings["departments"] if d["path"] == "福祉部"]
    assert dep["required"] is False and dep["approver_logins"] == ["suzuki"]
    assert [a for a, _, _ in audit_actions(env, "approval.")].count("approval.room_set") == 1
    # Admin routes for the same settings (LGWAN, admins only).
    r = await env.call("POST", f"/api/v1/admin/approval-settings/rooms/{room}",
                       {"required": False}, as_="root")
    assert r.status == 200 and body(r)["required"] is False
    r = await env.call("POST", f"/api/v1/admin/approval-settings/departments/{dep['id']}/approvers",
                       {"account_id": env.ids["yamada"], "approver": True}, as_="root")
    assert r.status == 200, body(r)
    got = body(await env.call("GET", "/api/v1/admin/approval-settings", as_="root"))
    assert [d["approvers"] for d in got["departments"] if d["id"] == dep["id"]] == \
        [[env.ids["suzuki"], env.ids["yamada"]]]
    r = await env.call("POST", f"/api/v1/admin/approval-settings/departments/{dep['id']}",
                       {"required": True}, as_="tanaka")
    assert r.status == 403


async def test_relayctl_lists_approves_and_refuses(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    first, second = await post_held(env, room), await post_held(env, room)
    listed = await op(env, "approval.list", status="pending")
    assert [a["file_id"] for a in listed["approvals"]] == [second["id"], first["id"]]
    assert listed["approvals"][0]["sender_login"] == "tanaka"
    one, two = listed["approvals"][1]["id"], listed["approvals"][0]["id"]
    assert await refused(env, "approval.decide", id=one, approve=True, reason="",
                         **{"as": "yamada"}) == "not_approver"
    assert await refused(env, "approval.decide", id=one, approve=False, reason="",
                         **{"as": "suzuki"}) == "empty_refusal_reason"
    done = await op(env, "approval.decide", id=one, approve=True, reason="", **{"as": "suzuki"})
    assert done["approval"]["status"] == "approved"
    done = await op(env, "approval.decide", id=two, approve=False, reason="差し替え予定",
                    **{"as": "root"})
    assert done["approval"]["status"] == "refused"
    assert (await op(env, "approval.list", status="all"))["approvals"][0]["reason"] == "差し替え予定"
    assert code(await content(env, second["id"], "hoikuen", "internet")) == "approval_refused"


def test_relayctl_command_line(tmp_path: Path) -> None:
    """The real relayctl on a state directory (no relayd running): the settings, then
    the queue as JSON."""
    state, cfg = tmp_path / "state", tmp_path / "relayd.toml"
    cfg.write_text(f'[store]\nstate_dir = "{state}"\npassword_memory_kib = 64\n', encoding="utf-8")

    def ctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "relay.ctl", "--config", str(cfg), *args],
                              capture_output=True, text=True, cwd=REPO, timeout=120)

    for args in (("init",), ("department", "add", "福祉部"),
                 ("account", "add", "suzuki", "--kind", "staff"),
                 ("account", "department", "suzuki", "福祉部"),
                 ("approval", "approver", "suzuki", "--department", "福祉部"),
                 ("approval", "require", "--department", "福祉部")):
        done = ctl(*args)
        assert done.returncode == 0, (args, done.stderr)
    shown = ctl("approval", "settings", "--json")
    assert shown.returncode == 0, shown.stderr
    [dep] = json.loads(shown.stdout)["departments"]
    assert dep["required"] is True and dep["approver_logins"] == ["suzuki"]
    listed = ctl("approval", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    missing = ctl("approval", "refuse", "99", "--reason", "x")
    assert missing.returncode == 1 and "[approval_not_found]" in missing.stderr
    assert ctl("approval", "refuse", "99").returncode == 2  # --reason is required
