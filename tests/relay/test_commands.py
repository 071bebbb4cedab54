"""The one door: every action's change and its audit entry commit together, and the
same action through relayctl's operations and through HTTP leaves the same audit entry
and the same events.

The crash between change and entry is injected for real: a trigger on the audit table
makes SQLite refuse the entry (as a full disk or a kill would leave it unwritten), and
the test reads the database with its own connection to see what is left.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest
import trio

from relay import control
from relay.hub import Subscription
from sanitize.config import SanitizeConfig
from store.facade import Store
from tests.audits import SETUP
from tests.relay.test_api import PASSWORD, Clock, Env, body, make_config

TIMEOUT_S = 60
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def db_path(env: Env) -> Path:
    return Path(env.app.cfg.store.state_dir) / "kakehashi.db"


def query(env: Env, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path(env)) as c:
        return c.execute(sql, args).fetchall()


def break_audit(env: Env) -> None:
    with sqlite3.connect(db_path(env)) as c:
        c.execute("CREATE TRIGGER crash BEFORE INSERT ON audit "
                  "BEGIN SELECT RAISE(ABORT, 'injected crash before the audit entry'); END")


def mend_audit(env: Env) -> None:
    with sqlite3.connect(db_path(env)) as c:
        c.execute("DROP TRIGGER crash")


def audit_actions(env: Env) -> list[str]:
    return [a for (a,) in query(env, "SELECT action FROM audit ORDER BY id")]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    cfg = make_config(tmp_path)
    cfg = dataclasses.replace(cfg, sanitize=SanitizeConfig(workers=1))
    store = await Store.open(cfg.store)
    from relay.app import build_app
    e = Env(build_app(cfg, store, now=Clock()), store, Clock())
    for login, kind in [("tanaka", "staff"), ("suzuki", "staff"), ("hoikuen", "external"),
                        ("root", "admin"), ("sato", "external")]:
        e.ids[login] = (await store.create_account(login, PASSWORD, kind, login.title(),  # type: ignore[arg-type]
                                                   audit=SETUP, now=e.clock())).id
    try:
        yield e
    finally:
        await store.aclose()


async def internet_file(env: Env, room_id: str, status: str = "ready") -> str:
    async with await env.store.open_upload(True, 1 << 20) as up:
        await up.write(PNG_MAGIC + b"not really a picture")
        sha, size = await up.commit()
    msg, _ = await env.store.post_file(room_id, env.ids["hoikuen"], "internet", "a.png", size,
                                       sha, "png", status, None, env.clock())
    return msg.attachments[0].id


# --------------------------------------------------------------------------- each action
# What each action changes (read straight from the database), what it needs first, and
# the action itself through the API (or relayctl's operation where HTTP has none).


async def _nothing(env: Env) -> Any:
    return None


@dataclass
class Action:
    audit: str
    probe: Callable[[Env], Any]
    act: Callable[[Env, Any], Awaitable[Any]]
    setup: Callable[[Env], Awaitable[Any]] = _nothing


async def _control(env: Env, op: str, **args: Any) -> dict[str, Any]:
    return await control.execute(env.app.ctx, {"op": op, "args": args})


async def _room(env: Env) -> str:
    r = await env.call("POST", "/api/v1/rooms", {"name": "防災", "members": [env.ids["hoikuen"]]},
                       as_="tanaka")
    assert r.status == 201, body(r)
    return str(body(r)["id"])


async def _file(env: Env) -> str:
    return await internet_file(env, await _room(env))


async def _request(env: Env) -> str:
    made = await env.call("POST", f"/api/v1/files/{await _file(env)}/original-requests",
                          {"reason": "押印の確認"}, as_="tanaka")
    return str(body(made)["id"])


async def _pending_file(env: Env) -> str:
    return await internet_file(env, await _room(env), status="pending")


async def _disarm(env: Env, file_id: str) -> Any:
    """Start the background work, which resumes the pending file, and wait until the
    worker has given its verdict and the job has ended (recorded or refused)."""
    jobs = env.app.jobs
    async with trio.open_nursery() as nursery:
        await nursery.start(env.app.run)
        while jobs.metrics.count == 0 or jobs.depth()[1] != 0:
            await trio.sleep(0.01)
        await env.app.aclose()
    status = query(env, "SELECT status FROM attachments WHERE id = ?", file_id)[0][0]
    return None if status != "pending" else "refused: left pending"


def _admin(method: str, path: str, json_body: Any = None) -> Callable[[Env, Any], Awaitable[Any]]:
    async def act(env: Env, _: Any) -> Any:
        return await env.call(method, path.format(**env.ids), json_body, as_="root")
    return act


ACTIONS: dict[str, Action] = {
    "account.created": Action(
        "account.created", lambda e: query(e, "SELECT count(*) FROM accounts WHERE login='newbie'"),
        _admin("POST", "/api/v1/admin/accounts",
               {"login": "newbie", "kind": "staff", "password": "a long password"})),
    "account.disabled": Action(
        "account.disabled", lambda e: query(e, "SELECT disabled FROM accounts WHERE login='suzuki'"),
        _admin("POST", "/api/v1/admin/accounts/{suzuki}/disable")),
    "account.enabled": Action(
        "account.enabled", lambda e: query(e, "SELECT disabled FROM accounts WHERE login='sato'"),
        lambda e, _: _control(e, "account.enable", login="sato"),
        lambda e: _control(e, "account.disable", login="sato")),
    "account.password_reset": Action(
        "account.password_reset",
        lambda e: query(e, "SELECT pw_hash FROM accounts WHERE login='suzuki'"),
        _admin("POST", "/api/v1/admin/accounts/{suzuki}/reset")),
    "account.totp_enrolled": Action(
        "account.totp_enrolled",
        lambda e: query(e, "SELECT totp_secret FROM accounts WHERE login='suzuki'"),
        lambda e, _: _control(e, "account.totp", login="suzuki")),
    "room.created": Action(
        "room.created", lambda e: query(e, "SELECT count(*) FROM rooms"),
        lambda e, _: e.call("POST", "/api/v1/rooms", {"name": "防災", "members": []},
                            as_="tanaka")),
    "room.member_added": Action(
        "room.member_added", lambda e: query(e, "SELECT count(*) FROM room_members"),
        lambda e, room: e.call("POST", f"/api/v1/rooms/{room}/members",
                               {"account_id": e.ids["suzuki"]}, as_="tanaka"),
        _room),
    "login.ok": Action(
        "login.ok", lambda e: query(e, "SELECT count(*) FROM sessions"),
        lambda e, _: e.login("suzuki")),
    "session.logout": Action(
        "session.logout", lambda e: query(e, "SELECT count(*) FROM sessions WHERE revoked=1"),
        lambda e, token: e.call("POST", "/api/v1/logout", token=token),
        lambda e: e.token("suzuki")),
    "original.requested": Action(
        "original.requested", lambda e: query(e, "SELECT count(*) FROM original_requests"),
        lambda e, file_id: e.call("POST", f"/api/v1/files/{file_id}/original-requests",
                                  {"reason": "押印の確認"}, as_="tanaka"),
        _file),
    "original.approved": Action(
        "original.approved", lambda e: query(e, "SELECT status FROM original_requests"),
        lambda e, req: e.call("POST", f"/api/v1/admin/original-requests/{req}/decision",
                              {"approve": True}, as_="root"),
        _request),
    "file.crossed": Action(
        "file.crossed", lambda e: query(e, "SELECT status, sanitized_sha256 FROM attachments"),
        _disarm, _pending_file),
}


async def _prepare(env: Env, action: Action) -> Any:
    # Logging in is itself audited: the sessions the actions use exist beforehand.
    for login in ("root", "tanaka"):
        await env.token(login)
    return await action.setup(env)


@pytest.mark.parametrize("name", sorted(ACTIONS))
async def test_a_crash_before_the_audit_entry_leaves_no_change(env: Env, name: str) -> None:
    action = ACTIONS[name]
    with trio.fail_after(TIMEOUT_S):
        prepared = await _prepare(env, action)
        before, entries = action.probe(env), audit_actions(env)
        break_audit(env)
        result = await action.act(env, prepared)
        if isinstance(result, dict):  # relayctl's operation
            assert result["error"]["code"] == "store_unavailable", result
        elif hasattr(result, "status"):  # an HTTP answer
            assert result.status == 503 and body(result)["error"]["code"] == "store_unavailable"
        else:  # the disarm job: the store's refusal reaches it
            assert result is not None
        assert action.probe(env) == before, "the change committed without its entry"
        assert audit_actions(env) == entries
        mend_audit(env)


@pytest.mark.parametrize("name", sorted(ACTIONS))
async def test_each_action_commits_with_its_audit_entry(env: Env, name: str) -> None:
    action = ACTIONS[name]
    with trio.fail_after(TIMEOUT_S):
        prepared = await _prepare(env, action)
        before, entries = action.probe(env), audit_actions(env)
        result = await action.act(env, prepared)
        if isinstance(result, dict):
            assert "ok" in result, result
        elif hasattr(result, "status"):
            assert result.status < 300, body(result)
        else:
            assert result is None
        assert action.probe(env) != before
        assert action.audit in audit_actions(env)[len(entries):]


# --------------------------------------------------------------------------- one door


def _events(sub: Subscription) -> list[dict[str, Any]]:
    out = []
    while True:
        try:
            out.append(json.loads(sub.receive.receive_nowait()))
        except (trio.WouldBlock, trio.EndOfChannel):  # drained, or cut off by the hub
            return out


def _entry(env: Env, action: str) -> dict[str, Any]:
    rows = query(env, "SELECT subject, data FROM audit WHERE action = ? ORDER BY id", action)
    subject, data = rows[-1]
    return {"subject": subject, "data": json.loads(data)}


async def _same_world(tmp_path: Path, name: str) -> Env:
    cfg = make_config(tmp_path / name)
    store = await Store.open(cfg.store)
    from relay.app import build_app
    clock = Clock()
    e = Env(build_app(cfg, store, now=clock), store, clock)
    for login, kind in [("tanaka", "staff"), ("suzuki", "staff"), ("root", "admin")]:
        e.ids[login] = (await store.create_account(login, PASSWORD, kind, login.title(),  # type: ignore[arg-type]
                                                   audit=SETUP, now=clock())).id
    return e


@pytest.mark.parametrize("how", ["disable", "room"])
async def test_relayctl_and_http_leave_the_same_entry_and_events(tmp_path: Path,
                                                                 how: str) -> None:
    with trio.fail_after(TIMEOUT_S):
        by_http, by_ctl = await _same_world(tmp_path, "http"), await _same_world(tmp_path, "ctl")
        try:
            subs = {}
            for e in (by_http, by_ctl):
                sub = e.app.hub.subscribe(e.ids["suzuki"], "lgwan", "s-1")
                subs[id(e)] = sub
            if how == "disable":
                r = await by_http.call("POST", f"/api/v1/admin/accounts/{by_http.ids['suzuki']}"
                                       "/disable", as_="root")
                assert r.status == 200
                got = await _control(by_ctl, "account.disable", login="suzuki")
                assert "ok" in got, got
                action = "account.disabled"
            else:
                r = await by_http.call("POST", "/api/v1/rooms", {
                    "name": "防災", "members": [by_http.ids["suzuki"]]}, as_="tanaka")
                assert r.status == 201
                got = await _control(by_ctl, "room.create", name="防災",
                                     members=["tanaka", "suzuki"])
                assert "ok" in got, got
                action = "room.created"
            assert _entry(by_http, action) == _entry(by_ctl, action)
            http_events = _events(subs[id(by_http)])
            ctl_events = _events(subs[id(by_ctl)])
            assert http_events == ctl_events
            if how == "disable":
                # Disabling cuts the account's streams off: no event, the queue closed.
                assert subs[id(by_http)].ended == subs[id(by_ctl)].ended == "revoked"
            else:
                assert [ev["type"] for ev in http_events] == ["room.created"]
        finally:
            await by_http.store.aclose()
            await by_ctl.store.aclose()
