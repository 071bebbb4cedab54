"""Passwords as people live with them: changing one's own, the first login after an
admin set the password, and old hashes replaced by stronger ones without anyone
noticing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import trio

from relay import control
from store.passwords import Cost, PasswordHash, hash_password
from tests.relay.test_api import PASSWORD, Env, body, code, env, open_stream

__all__ = ["env"]

NEW = "a brand new passphrase"


async def test_a_person_changes_their_own_password_and_their_other_sessions_end(
        env: Env) -> None:
    here = await env.token("tanaka", "lgwan")
    phone = await env.token("tanaka", "internet")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            ws = await open_stream(env, nursery, "tanaka", "internet")
            r = await env.call("POST", "/api/v1/me/password",
                               {"old_password": PASSWORD, "new_password": NEW}, token=here)
            assert r.status == 200 and body(r)["login"] == "tanaka"
            # The phone's session ended with its stream; this one goes on.
            with trio.fail_after(1):
                try:
                    while True:
                        await ws.get_message()
                except Exception:
                    pass
            nursery.cancel_scope.cancel()
    assert (await env.call("GET", "/api/v1/me", token=phone, zone="internet")).status == 401
    assert (await env.call("GET", "/api/v1/me", token=here)).status == 200
    env.tokens.clear()
    assert (await env.login("tanaka", password=PASSWORD)).status == 401
    assert (await env.login("tanaka", password=NEW, peer="192.0.2.77")).status == 200
    changed = [e for e in await env.store.audit_entries(0, 200)
               if e.action == "account.password_changed"]
    assert len(changed) == 1 and changed[0].data["sessions_ended"] == 1


async def test_changing_needs_the_old_password_and_a_new_strong_one(env: Env) -> None:
    token = await env.token("tanaka")
    cases = [({"old_password": "not it at all", "new_password": NEW}, 401, "invalid_credentials"),
             ({"old_password": PASSWORD, "new_password": "short"}, 400, "weak_password"),
             ({"old_password": PASSWORD, "new_password": PASSWORD}, 400, "same_password")]
    for obj, status, want in cases:
        r = await env.call("POST", "/api/v1/me/password", obj, token=token)
        assert (r.status, code(r)) == (status, want)
    env.tokens.clear()
    assert (await env.login("tanaka")).status == 200  # unchanged


async def test_a_password_an_admin_set_must_be_changed_before_anything_else(env: Env) -> None:
    r = await env.call("POST", f"/api/v1/admin/accounts/{env.ids['suzuki']}/reset", as_="root")
    one_time = body(r)["password"]
    login = await env.login("suzuki", password=one_time)
    assert login.status == 200 and body(login)["account"]["password_change_required"] is True
    token = body(login)["token"]
    room = await env.room("tanaka", "suzuki")
    for method, path, obj in (("GET", "/api/v1/rooms", None),
                              ("POST", f"/api/v1/rooms/{room}/messages", {"body": "x"}),
                              ("GET", "/api/v1/accounts", None)):
        refused = await env.call(method, path, obj, token=token)
        assert (refused.status, code(refused)) == (403, "password_change_required"), path
    assert (await env.call("GET", "/api/v1/me", token=token)).status == 200
    changed = await env.call("POST", "/api/v1/me/password",
                             {"old_password": one_time, "new_password": NEW}, token=token)
    assert changed.status == 200 and body(changed)["password_change_required"] is False
    assert (await env.call("GET", "/api/v1/rooms", token=token)).status == 200


async def test_a_generated_password_from_relayctl_must_be_changed_too(env: Env) -> None:
    made = await control.execute(env.app.ctx, {"op": "account.add", "args": {
        "login": "kimura", "kind": "staff", "password": None}})
    password = made["ok"]["password"]
    assert made["ok"]["account"]["password_change_required"] is True
    token = body(await env.login("kimura", password=password))["token"]
    assert code(await env.call("GET", "/api/v1/rooms", token=token)) == "password_change_required"


async def test_an_old_weaker_hash_is_replaced_at_the_next_login(env: Env, tmp_path: Path) -> None:
    # An account hashed by an earlier version (scrypt) and one with a cheaper argon2id.
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
    salt = b"s" * 16
    old = PasswordHash(Scrypt(salt=salt, length=32, n=1024, r=8, p=1).derive(PASSWORD.encode()),
                       salt, json.dumps({"alg": "scrypt", "n": 1024, "r": 8, "p": 1}))
    cheap = hash_password(PASSWORD, Cost(memory_kib=32, time_cost=1))
    db = Path(env.app.cfg.store.state_dir) / "kakehashi.db"
    with sqlite3.connect(db) as c:
        for login, pw in (("tanaka", old), ("suzuki", cheap)):
            c.execute("UPDATE accounts SET pw_hash=?, pw_salt=?, pw_params=? WHERE login=?",
                      (pw.hash, pw.salt, pw.params, login))
    for login in ("tanaka", "suzuki"):
        assert (await env.login(login)).status == 200
    with sqlite3.connect(db) as c:
        params = dict(c.execute("SELECT login, pw_params FROM accounts").fetchall())
    for login in ("tanaka", "suzuki"):
        p = json.loads(params[login])
        assert p["alg"] == "argon2id" and p["m"] == env.app.cfg.store.password_memory_kib
        env.tokens.clear()
        assert (await env.login(login, peer="192.0.2.99")).status == 200  # still the same
    rehashed = [e.subject for e in await env.store.audit_entries(0, 200)
                if e.action == "account.password_rehashed"]
    assert rehashed == [env.ids["tanaka"], env.ids["suzuki"]]
