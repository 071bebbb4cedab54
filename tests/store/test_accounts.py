"""Accounts, passwords, sessions, TOTP state, and rooms."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
import trio

from store.errors import AccountNotFound, Invalid, LoginExists
from store.facade import Store
from tests.store.conftest import TEST_TIMEOUT_S
from tests.audits import SETUP

NOW = 1_800_000_000.0


async def test_passwords_and_login_uniqueness(store: Store) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        alice = await store.create_account("alice", "correct horse", "staff", "山田 花子", audit=SETUP, now=NOW)
        assert (await store.check_password("alice", "correct horse", 0.0)) == alice
        assert await store.check_password("ALICE", "correct horse", 0.0) == alice  # logins ignore case
        assert await store.check_password("alice", "wrong", 0.0) is None
        assert await store.check_password("nobody", "correct horse", 0.0) is None
        with pytest.raises(LoginExists) as info:
            await store.create_account("Alice", "x", "staff", "", audit=SETUP, now=NOW)
        assert info.value.status == 409
        nopw = await store.create_account("service", None, "external", "", audit=SETUP, now=NOW)
        assert await store.check_password("service", "", 0.0) is None
        assert (await store.get_account_by_login("service")).id == nopw.id
        await store.set_password("alice", "new one", audit=SETUP, now=NOW)
        assert await store.check_password("alice", "correct horse", 0.0) is None
        assert await store.check_password("alice", "new one", 0.0) == alice
        assert [a.login for a in await store.list_accounts()] == ["alice", "service"]


async def test_password_hashes_are_salted_argon2id(store: Store) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        await store.create_account("a", "same", "staff", "", audit=SETUP, now=NOW)
        await store.create_account("b", "same", "staff", "", audit=SETUP, now=NOW)
        with sqlite3.connect(store.paths.db) as raw:
            rows = raw.execute("SELECT pw_hash, pw_salt, pw_params FROM accounts").fetchall()
        assert rows[0][0] != rows[1][0] and rows[0][1] != rows[1][1]
        assert all(len(r[1]) == 16 and '"argon2id"' in r[2] for r in rows)


async def test_sessions_expire_revoke_and_die_with_disabled_accounts(store: Store) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        alice = await store.create_account("alice", "pw", "staff", "", audit=SETUP, now=NOW)
        token, session = await store.create_session(alice.id, "internet", NOW, 3600, audit=SETUP)
        assert len(token) >= 22 and session.zone == "internet"
        found = await store.session_for_token(token, NOW + 10)
        assert found is not None and found[0].id == alice.id and found[1].id == session.id
        assert await store.session_for_token(token, NOW + 3600) is None  # expired
        assert await store.session_for_token(token + "x", NOW) is None
        # Only the token's SHA-256 is stored.
        with sqlite3.connect(store.paths.db) as raw:
            stored = raw.execute("SELECT token_sha256 FROM sessions").fetchone()[0]
            dump = "\n".join(raw.iterdump())
        assert stored == hashlib.sha256(token.encode()).digest() and token not in dump

        await store.revoke_session(token, audit=SETUP, now=NOW)
        assert await store.session_for_token(token, NOW + 10) is None

        t1, _ = await store.create_session(alice.id, "lgwan", NOW, 3600, audit=SETUP)
        t2, _ = await store.create_session(alice.id, "internet", NOW, 3600, audit=SETUP)
        disabled = await store.set_disabled("alice", True, audit=SETUP, now=NOW)
        assert disabled.disabled
        assert await store.check_password("alice", "pw", 0.0) is None
        assert await store.session_for_token(t1, NOW) is None
        assert await store.session_for_token(t2, NOW) is None
        # Re-enabling does not bring the old sessions back.
        await store.set_disabled("alice", False, audit=SETUP, now=NOW)
        assert await store.session_for_token(t1, NOW) is None
        assert await store.check_password("alice", "pw", 0.0) is not None
        assert await store.purge_sessions(NOW) == 3


async def test_totp_steps_refuse_replay(store: Store) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        alice = await store.create_account("alice", "pw", "staff", "", audit=SETUP, now=NOW)
        assert await store.totp_state(alice.id) == (None, 0)
        await store.set_totp_secret("alice", b"0123456789abcdefghij", audit=SETUP, now=NOW)
        assert await store.accept_totp_step(alice.id, 100)
        assert not await store.accept_totp_step(alice.id, 100)  # replay
        assert not await store.accept_totp_step(alice.id, 99)
        assert await store.accept_totp_step(alice.id, 101)
        assert await store.totp_state(alice.id) == (b"0123456789abcdefghij", 101)
        with pytest.raises(AccountNotFound):
            await store.accept_totp_step("999", 1)


async def test_rooms_direct_pairs_and_unknown_members(store: Store) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        a = await store.create_account("a", None, "staff", "", audit=SETUP, now=NOW)
        b = await store.create_account("b", None, "external", "", audit=SETUP, now=NOW)
        c = await store.create_account("c", None, "staff", "", audit=SETUP, now=NOW)
        dm = await store.create_room("", "direct", [b.id], a.id, NOW, audit=SETUP)
        assert dm.members == (a.id, b.id) and dm.kind == "direct"
        again = await store.create_room("", "direct", [a.id], b.id, NOW + 5, audit=SETUP)
        assert again.id == dm.id
        with pytest.raises(Invalid):
            await store.create_room("", "direct", [b.id, c.id], a.id, NOW, audit=SETUP)
        with pytest.raises(AccountNotFound) as info:
            await store.create_room("g", "group", [b.id, "4040", c.id], a.id, NOW, audit=SETUP)
        assert info.value.details == {"account_id": "4040"}
        group = await store.create_room("g", "group", [c.id], a.id, NOW, audit=SETUP)
        assert await store.is_member(group.id, c.id) and not await store.is_member(group.id, b.id)
        assert await store.shares_room(a.id, c.id) and not await store.shares_room(b.id, c.id)
        await store.add_member(group.id, b.id, audit=SETUP, now=NOW)
        assert (await store.get_room(group.id)).members == (a.id, b.id, c.id)
        assert await store.shares_room(b.id, c.id)
        # Most recently active first.
        await store.post_message(dm.id, a.id, "hi", "lgwan", None, NOW)
        assert [s.room.id for s in await store.rooms_for(a.id)] == [dm.id, group.id]
        await store.post_message(group.id, c.id, "hi", "lgwan", None, NOW)
        assert [s.room.id for s in await store.rooms_for(a.id)] == [group.id, dm.id]
