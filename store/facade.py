"""The async face of the store: what relay (and only relay) awaits.

Semantics:

* Writes go to ONE writer thread that owns the only write connection.  Calls that
  arrive within ``cfg.group_commit_ms`` share one transaction (group commit); each
  caller's ``await`` returns only after that COMMIT has returned (WAL,
  ``synchronous=FULL``).  One failing operation must not fail the others in its group
  (use a SAVEPOINT per operation).
* Reads run on a small pool of read connections in worker threads
  (``trio.to_thread.run_sync``), never on the event loop.
* Password hashing (argon2id) runs in a worker thread, not the writer thread.
* Errors are ``store.errors`` classes (code + HTTP status hint).
* ``now`` is passed in where time matters, so tests control it.
* Every write that is an action takes ``audit``: the entry (or a function of the
  change's result that builds it) is appended in the same SAVEPOINT as the change,
  so a failure or a crash leaves both or neither.  Messages and read markers are their
  own record and are not audited; ``record`` appends an entry for an action that
  changes nothing else (a refused login, a download).

Read state (既読): ``Message.read_count`` counts the members *other than the sender*
whose read marker has reached the message; ``Readers.read`` lists every member who
has read it *including the sender*, ``Readers.unread`` the members who have not.

If a caller is cancelled while its write waits, the write may still commit (it is
already queued); retrying with the same ``client_id`` is always safe.

File bytes: originals from the internet zone live in the quarantine (AES-GCM at
rest), all other bytes in the plain blob store; callers say which with
``quarantined``.  Stream an upload in with ``await store.open_upload(quarantined,
cap)`` (see ``Upload``); read a file out with ``await store.open_download(sha,
quarantined)`` (async) or ``store.original_chunks(sha, quarantined)`` (blocking, for a
worker thread); store a disarmed variant with ``store.store_variant(chunks)``
(blocking).  Nothing outside the store opens the files themselves.

Opening refuses a state directory it cannot use (``store.state``): with
``create=False`` one without a database, and always a key missing next to an existing
database, a file that is not a database, a newer schema, or damage found by a
bounded quick check.  Store failures (SQLite errors, corrupt files) are logged at
ERROR once, where they happen; the callers only get the error.
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
import sqlite3
import sys
from collections import OrderedDict
from typing import Any, AsyncIterator, Callable, Iterable, Iterator, TypeVar

import sqlite_utils
import trio

from store import accounts, audit as audit_log, push, files, messages, originals, rooms
from store import edits, extras, reactions, search as message_search
from store.facade_votes import VoteStore
from store.facade_approvals import ApprovalStore
from store.facade_records import RecordsStore
from store.scheduled import TimeStore
from store.work_facade import WorkStore
from store.blobs import BlobStore, BlobWriter, Quarantine
from store.config import StoreConfig
from store.db import StatePaths, connect, read_snapshot
from store.errors import StoreError, StoreUnavailable
from store.passwords import Cost, hash_password, needs_rehash, verify_password
from store.records import (
    Account, AccountKind, Attachment, Audit, AuditEntry, Message, MessageVersion,
    OriginalRequest, Readers,
    Room, RoomKind, RoomSummary, Session, Zone,
)
from store.state import database_error, open_state
from store.writer import COMMIT_BUCKETS_S, Op, Writer

log = logging.getLogger(__name__)

T = TypeVar("T")
# The audit entry of an action: given, or built from the change's result (its id);
# a function may answer None when the result shows nothing changed (an idempotent
# repeat), and then no entry is appended.
AuditFor = Audit | Callable[[Any], Audit | None]
# At most this many password hashes at once (64 MiB each at the default cost).
KDF_CONCURRENCY = 2
# Rooms whose members are kept in memory (least recently used are dropped).
ROOM_CACHE = 4096
TOKEN_BYTES = 32  # session tokens: 256 bits
# How long an approved original stays released to its requester, by default.
ORIGINAL_RELEASE_TTL_S = 24 * 3600.0
# ``healthy()`` answers False when a read connection does not answer within this.
HEALTH_TIMEOUT_S = 2.0


def _wrap(exc: BaseException) -> BaseException:
    """Unexpected database errors become StoreError at the boundary."""
    if isinstance(exc, sqlite3.Error):
        err = StoreUnavailable(f"データベースエラー / database error: {exc}")
        err.__cause__ = exc
        return err
    return exc


class Upload:
    """An upload streaming into the blob store or the quarantine, with a byte cap.

    ``await up.write(chunk)`` (FileTooLarge past the cap; the partial file is gone),
    then ``sha256, size = await up.commit()``; ``async with`` discards if not committed.
    Record the message that names the bytes inside the block: if the block ends with
    an error after the commit, or after ``unused()`` (a resend answered with the
    message already there), the bytes are deleted unless something else names them.
    """

    def __init__(self, writer: BlobWriter, release: Callable[[str, bool], bool]) -> None:
        self._w = writer
        self._release = release
        self._sha: str | None = None
        self._unused = False

    async def write(self, chunk: bytes) -> None:
        await trio.to_thread.run_sync(self._w.write, chunk)

    async def commit(self) -> tuple[str, int]:
        sha, size = await trio.to_thread.run_sync(self._w.commit)
        self._sha = sha
        return sha, size

    def unused(self) -> None:
        """Nothing will name these bytes (the message was already recorded)."""
        self._unused = True

    async def discard(self) -> None:
        await trio.to_thread.run_sync(self._w.discard)

    @property
    def size(self) -> int:
        return self._w.size

    async def __aenter__(self) -> "Upload":
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        with trio.CancelScope(shield=True):
            await self.discard()
            if self._sha is not None:
                forget = self._unused or exc_type is not None
                await trio.to_thread.run_sync(self._release, self._sha, forget)


class Store(VoteStore, TimeStore, WorkStore, RecordsStore, ApprovalStore):
    """Open with ``await Store.open(cfg)``; close with ``await store.aclose()``."""

    def __init__(self, cfg: StoreConfig, paths: StatePaths, writer: Writer,
                 readers: list[sqlite_utils.Database], audit_key: bytes,
                 blobs: BlobStore, quarantine: Quarantine) -> None:
        self.cfg = cfg
        self.paths = paths
        self.blobs = blobs
        self.quarantine = quarantine
        self._writer = writer
        self._readers = readers
        self._pool_send, self._pool_recv = trio.open_memory_channel[sqlite_utils.Database](
            len(readers))
        for db in readers:
            self._pool_send.send_nowait(db)
        self._audit_key = audit_key
        self._kdf_limiter = trio.CapacityLimiter(KDF_CONCURRENCY)
        self._closed = False
        self._rooms: OrderedDict[str, Room] = OrderedDict()  # least recently used first
        self._room_writes = 0

    @classmethod
    async def open(cls, cfg: StoreConfig, create: bool = True) -> "Store":
        """Check the state directory, apply migrations, start the writer.  With
        ``create`` a missing state directory and database (and their keys) are made;
        without it, NoState.  Every refusal is a StateUnusable (``store.state``)."""
        token = trio.lowlevel.current_trio_token()

        def notify(batch: list[Op]) -> None:
            def wake() -> None:
                for op in batch:
                    op.done.set()
            try:
                token.run_sync_soon(wake)
            except trio.RunFinishedError:
                pass

        def setup() -> Store:
            state = open_state(cfg, create)
            paths = state.paths
            readers: list[sqlite_utils.Database] = []
            try:
                for _ in range(cfg.readers):
                    readers.append(connect(paths.db, readonly=True))
            except BaseException as exc:
                state.db.conn.close()
                for r in readers:
                    r.conn.close()
                if isinstance(exc, sqlite3.Error):
                    raise database_error(paths.db, exc) from exc
                raise
            writer = Writer(state.db, cfg.group_commit_ms, cfg.group_commit_max, notify)
            return cls(cfg, paths, writer, readers, state.audit_key,
                       BlobStore(paths.blobs, paths.tmp),
                       Quarantine(BlobStore(paths.quarantine, paths.tmp),
                                  state.quarantine_key))

        store = await trio.to_thread.run_sync(setup)
        store._writer.start()
        return store

    async def aclose(self) -> None:
        """Finish queued writes, stop the writer, close every connection."""
        if self._closed:
            return
        self._closed = True
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(self._writer.stop)
            # Let the writer's last wake-up run before the caller moves on.
            await trio.lowlevel.checkpoint()
            # Take every read connection back (reads in flight finish first).
            for _ in self._readers:
                db = await self._pool_recv.receive()
                db.conn.close()
            self._pool_send.close()

    async def __aenter__(self) -> "Store":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---------------------------------------------------------------- plumbing
    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(db, *args)`` on the writer thread; return after its group COMMITs."""
        op = Op(fn, args, trio.Event())
        self._writer.submit(op)
        await op.done.wait()
        if op.error is not None:
            raise _wrap(op.error)
        return op.result  # type: ignore[no-any-return]

    async def _audited(self, fn: Callable[..., T], args: tuple[Any, ...], audit: AuditFor,
                       now: float) -> T:
        """Run ``fn(db, *args)`` and append its audit entry in one SAVEPOINT."""
        return await self._write(_change_and_audit_txn, self._audit_key, fn, args, audit, now)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(db, *args)`` on a read connection, in one read snapshot."""
        if self._closed:
            raise StoreUnavailable("ストアは閉じています / the store is closed")
        try:
            db = await self._pool_recv.receive()
        except trio.EndOfChannel:
            raise StoreUnavailable("ストアは閉じています / the store is closed") from None
        try:
            return await trio.to_thread.run_sync(self._in_snapshot, fn, db, args)
        finally:
            self._pool_send.send_nowait(db)

    @staticmethod
    def _in_snapshot(fn: Callable[..., T], db: sqlite_utils.Database, args: tuple[Any, ...]) -> T:
        try:
            with read_snapshot(db):
                return fn(db, *args)
        except sqlite3.Error as exc:
            log.error("store read %s failed: %s", getattr(fn, "__name__", fn), exc)
            raise _wrap(exc) from exc

    async def _kdf(self, fn: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(functools.partial(fn, *args),
                                             limiter=self._kdf_limiter)

    @property
    def commit_stats(self) -> tuple[int, int]:
        """(group commits, operations committed) since open: ops/groups = batching."""
        return self._writer.groups, self._writer.ops

    @property
    def commit_latency(self) -> tuple[tuple[float, ...], list[int], float]:
        """(bucket upper bounds in seconds, cumulative group commits per bound, total
        seconds): how long each COMMIT took, fsync included."""
        w = self._writer
        return COMMIT_BUCKETS_S, list(w.commit_counts), w.commit_sum_s

    async def healthy(self) -> bool:
        """Whether the store can serve: open, its writer thread running, and a read
        connection answering ``SELECT 1`` within ``HEALTH_TIMEOUT_S``.  Cheap enough
        for every /healthz; never raises."""
        if self._closed or not self._writer.alive:
            return False
        with trio.move_on_after(HEALTH_TIMEOUT_S):
            try:
                return bool(await self._read(_select_one))
            except StoreError:
                return False
        return False

    # ---------------------------------------------------------------- accounts
    @property
    def _cost(self) -> Cost:
        return Cost(self.cfg.password_memory_kib, self.cfg.password_time_cost)

    async def create_account(self, login: str, password: str | None, kind: AccountKind,
                             display_name: str, *, audit: AuditFor, now: float,
                             must_change: bool = False) -> Account:
        """LoginExists if taken.  ``password=None`` creates an account that cannot log in;
        ``must_change``: a password someone else chose, to be changed at first login."""
        pw = await self._kdf(hash_password, password, self._cost) if password else None
        return await self._audited(accounts.create_account_txn,
                                   (login, pw, kind, display_name, now, must_change), audit, now)

    async def check_password(self, login: str, password: str, now: float) -> Account | None:
        """The account if login exists, is enabled and the password matches; else None.
        Costs one hash either way (no timing oracle on unknown logins).  A hash made with
        less than today's cost is replaced while the password is at hand (audited)."""
        found = await self._read(accounts.password_of, login)
        stored = found[1] if found else None
        ok = await self._kdf(verify_password, password, stored, self._cost)
        if found is None or not ok or found[0].disabled:
            return None
        account = found[0]
        if stored is not None and needs_rehash(stored, self._cost):
            pw = await self._kdf(hash_password, password, self._cost)
            old = json.loads(stored.params)
            await self._audited(accounts.rehash_txn, (account.id, pw), Audit(
                "account.password_rehashed", account.id, account.id,
                {"from": {k: old.get(k) for k in ("alg", "n", "m", "t")}}), now)
        return account

    async def set_password(self, login: str, password: str, *, audit: AuditFor, now: float,
                           must_change: bool = False,
                           keep_session: str | None = None) -> tuple[Account, list[str]]:
        """New hash and salt; every session of the account ends but ``keep_session``.
        Returns the account and the ids of the sessions that ended."""
        pw = await self._kdf(hash_password, password, self._cost)
        return await self._audited(accounts.set_password_txn,
                                   (login, pw, must_change, keep_session), audit, now)

    async def set_disabled(self, login: str, disabled: bool, *, audit: AuditFor,
                           now: float) -> Account:
        """Disabling also revokes all the account's sessions."""
        return await self._audited(accounts.set_disabled_txn, (login, disabled), audit, now)

    async def get_account(self, account_id: str) -> Account:
        return await self._read(accounts.get_account, account_id)

    async def get_account_by_login(self, login: str) -> Account:
        return await self._read(accounts.get_account_by_login, login)

    async def list_accounts(self) -> list[Account]:
        return await self._read(accounts.list_accounts)

    async def set_totp_secret(self, login: str, secret: bytes | None, *, audit: AuditFor,
                              now: float) -> None:
        await self._audited(accounts.set_totp_secret_txn, (login, secret), audit, now)

    async def totp_state(self, account_id: str) -> tuple[bytes | None, int]:
        """(secret or None, last accepted time-step counter)."""
        return await self._read(accounts.totp_state, account_id)

    async def accept_totp_step(self, account_id: str, step: int) -> bool:
        """Record ``step`` as used; False if it is not newer than the last one (replay)."""
        return await self._write(accounts.accept_totp_step_txn, account_id, step)

    # ---------------------------------------------------------------- sessions
    async def create_session(self, account_id: str, zone: Zone, now: float,
                             ttl_s: float, *, audit: AuditFor,
                             device: str = "") -> tuple[str, Session]:
        """A new random token (>=128 bits, urlsafe); only its SHA-256 is stored.
        ``device``: what the person will recognise the session by (relay.my_sessions)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        session = await self._audited(accounts.create_session_txn,
                                      (account_id, token, zone, now, ttl_s, device), audit, now)
        return token, session

    async def session_for_token(self, token: str, now: float) -> tuple[Account, Session] | None:
        """None if unknown, revoked, expired, or the account is disabled."""
        return await self._read(accounts.session_for_token, token, now)

    async def revoke_session(self, token: str, *, audit: AuditFor, now: float) -> None:
        await self._audited(accounts.revoke_session_txn, (token,), audit, now)

    async def purge_sessions(self, now: float) -> int:
        """Delete expired and revoked sessions (no longer any use, but they hold who
        logged in from where); returns how many."""
        return await self._write(accounts.purge_sessions_txn, now)

    # ---------------------------------------------------------------- rooms
    async def create_room(self, name: str, kind: RoomKind, member_ids: list[str],
                          created_by: str, now: float, *, audit: AuditFor) -> Room:
        """AccountNotFound names the first unknown member.  A direct room has exactly two
        members; creating the same direct pair again returns the existing room.
        The creator is always a member (counted in the two of a direct room)."""
        return await self._audited(rooms.create_room_txn,
                                   (name, kind, member_ids, created_by, now), audit, now)

    async def add_member(self, room_id: str, account_id: str, *, audit: AuditFor,
                         now: float) -> Room:
        """A new member starts with nothing read (the history counts as unread)."""
        room = await self._audited(rooms.add_member_txn, (room_id, account_id), audit, now)
        self._room_writes += 1
        self._remember_room(room)
        return room

    async def get_room(self, room_id: str) -> Room:
        """Every send and upload asks for its room's members: they are kept in memory
        (rooms only change through this facade), sparing a reader thread round-trip."""
        room = self._rooms.get(room_id)
        if room is not None:
            self._rooms.move_to_end(room_id)
            return room
        writes = self._room_writes
        room = await self._read(rooms.get_room, room_id)
        if writes == self._room_writes:  # else a member was added meanwhile: maybe stale
            self._remember_room(room)
        return room

    def _remember_room(self, room: Room) -> None:
        self._rooms[room.id] = room
        self._rooms.move_to_end(room.id)
        if len(self._rooms) > ROOM_CACHE:
            self._rooms.popitem(last=False)

    async def rooms_for(self, account_id: str) -> list[RoomSummary]:
        """The rooms the account is a member of, with unread counts and last message,
        most recently active first."""
        return await self._read(messages.rooms_for, account_id)

    async def is_member(self, room_id: str, account_id: str) -> bool:
        return await self._read(rooms.is_member, room_id, account_id)

    async def co_members(self, account_id: str) -> set[str]:
        return await self._read(rooms.co_members, account_id)

    async def shares_room(self, account_a: str, account_b: str) -> bool:
        return await self._read(rooms.shares_room, account_a, account_b)

    # ---------------------------------------------------------------- messages
    async def post_message(self, room_id: str, sender_id: str, body: str,
                           origin_zone: Zone, client_id: str | None,
                           now: float, session_id: str | None = None, *, kind: str = "text",
                           stamp: str | None = None, reply_to: str | None = None,
                           mentions: tuple[str, ...] = ()) -> tuple[Message, bool]:
        """Commit a message; (message, created).  With a ``client_id`` already used by
        this sender, returns the earlier message and created=False (idempotent).
        The sender's own read state moves to the new message.
        RoomNotFound / NotMember if the sender cannot post there; SessionEnded if
        ``session_id`` is given and that session is no longer live.  A stamp message
        has ``kind="stamp"``, an empty body and its ``stamp`` id; ``reply_to`` and
        ``mentions`` (account ids) are the caller's, already checked."""
        return await self._write(messages.post_message_txn, room_id, sender_id, body,
                                 origin_zone, client_id, now, session_id, kind, stamp,
                                 reply_to, mentions)

    async def get_message(self, message_id: str) -> Message:
        return await self._read(messages.get_message, message_id)

    async def room_bodies(self, room_id: str) -> list[str]:
        """Every message text of a room, oldest first (for a check over its history)."""
        return await self._read(messages.room_bodies, room_id)

    async def history(self, room_id: str, before: str | None, limit: int,
                      after: str | None = None) -> list[Message]:
        """Up to ``limit`` messages older than ``before`` (or the newest), oldest first;
        with ``after``, the oldest ones newer than it (catching up)."""
        return await self._read(messages.history, room_id, before, limit, after)

    async def mark_read(self, room_id: str, account_id: str, up_to: str) -> bool:
        """Move the account's read marker forward to ``up_to`` (never backwards);
        True if it moved.  MessageNotFound if ``up_to`` is not in that room."""
        return await self._write(messages.mark_read_txn, room_id, account_id, up_to)

    async def readers(self, message_id: str) -> Readers:
        return await self._read(messages.readers, message_id)

    # ---------------------------------------------------------------- working together
    async def members_by_login(self, room_id: str, logins: list[str]) -> dict[str, str]:
        """{lowercase login: account id} of the room's enabled members among ``logins``."""
        return await self._read(_members_by_login, room_id, logins)

    async def set_reaction(self, message_id: str, account_id: str, stamp: str, on: bool,
                           now: float) -> tuple[Message, bool]:
        """Put or take back a stamp; (message, changed).  MessageDeleted, NotMember."""
        return await self._write(reactions.set_reaction_txn, message_id, account_id, stamp,
                                 on, now)

    async def edit_message(self, message_id: str, editor_id: str, body: str,
                           mentions: tuple[str, ...], now: float, *,
                           audit: AuditFor) -> tuple[Message, MessageVersion]:
        """The sender's new body; the old one is kept as a version (NotYourMessage,
        NotEditable, MessageDeleted)."""
        return await self._audited(edits.edit_txn, (message_id, editor_id, body, mentions,
                                                    now), audit, now)

    async def delete_message(self, message_id: str, by: str, now: float, *,
                             audit: AuditFor) -> tuple[Message, MessageVersion]:
        """Empty the message, keeping its body as a version (MessageDeleted)."""
        return await self._audited(edits.delete_txn, (message_id, by, now), audit, now)

    async def message_versions(self, message_id: str) -> list[MessageVersion]:
        return await self._read(edits.versions, message_id)

    async def search(self, query: message_search.SearchQuery) -> list[Message]:
        """Messages of the account's rooms that contain the text, newest first."""
        return await self._read(message_search.search, query)

    # ---------------------------------------------------------------- files
    async def post_file(self, room_id: str, sender_id: str, origin_zone: Zone,
                        name: str, size: int, sha256: str, kind: str, status: str,
                        client_id: str | None, now: float,
                        report: dict[str, Any] | None = None,
                        session_id: str | None = None) -> tuple[Message, bool]:
        """A message (empty body) with one attachment, committed together; the bytes
        must already be stored (``open_upload`` … ``commit``).  Idempotent on
        ``client_id`` like ``post_message``."""
        return await self._write(files.post_file_txn, room_id, sender_id, origin_zone, name,
                                 size, sha256, kind, status, client_id, now, report,
                                 session_id)

    async def get_attachment(self, attachment_id: str) -> Attachment:
        return await self._read(files.get_attachment, attachment_id)

    async def finish_attachment(self, attachment_id: str, status: str, report: dict[str, Any],
                                sanitized_sha256: str | None, sanitized_size: int | None,
                                sanitized_name: str | None, kind: str | None = None, *,
                                audit: AuditFor | None, now: float) -> Attachment:
        """The disarm outcome; ``kind`` sets the detected kind (None keeps it).  A file
        crossing into LGWAN is audited with it (``audit``); a file that stays where it
        was posted is not."""
        args = (attachment_id, status, report, sanitized_sha256, sanitized_size,
                sanitized_name, kind)
        if audit is None:
            return await self._write(files.finish_attachment_txn, *args)
        return await self._audited(files.finish_attachment_txn, args, audit, now)

    async def pending_attachments(self) -> list[Attachment]:
        """Attachments still waiting for the disarm engine (to requeue after a restart)."""
        return await self._read(files.pending_attachments)

    async def open_upload(self, quarantined: bool, cap: int) -> Upload:
        """Start streaming a file in: into the encrypted quarantine (originals from the
        internet zone) or the plain blob store."""
        target: BlobStore | Quarantine = self.quarantine if quarantined else self.blobs
        writer = await trio.to_thread.run_sync(functools.partial(target.writer, cap, hold=True))
        return Upload(writer, functools.partial(target.release, referenced=self._named))

    def _named(self, sha256: str) -> bool:
        """Blocking: whether an attachment names these bytes, read on a connection of
        its own (the caller holds the blob store's lock, not a trio task)."""
        try:
            db = connect(self.paths.db, readonly=True)
            try:
                return files.names_content(db, sha256)
            finally:
                db.conn.close()
        except sqlite3.Error as exc:  # cannot tell: keep the bytes
            log.error("store: cannot check whether %s is named: %s", sha256, exc)
            return True

    def original_chunks(self, sha256: str, quarantined: bool) -> Iterator[bytes]:
        """The stored bytes in chunks, decrypted and every frame checked when
        ``quarantined``; iterate it on a worker thread.  Nothing is touched before the
        first ``next``, so FileNotFound (not stored, or purged) and Corrupt (a frame
        fails its check) come from the iteration, and the file is open only while the
        iterator is being read."""
        yield from self._chunks(sha256, quarantined)

    def _chunks(self, sha256: str, quarantined: bool) -> Iterator[bytes]:
        """Like ``original_chunks``, but FileNotFound at the call (blocking: a stat)."""
        return (self.quarantine if quarantined else self.blobs).chunks(sha256)

    def store_variant(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Blocking: write ``chunks`` into the plain blob store; (sha256, size).  No
        cap here: the disarm pool caps what it produces."""
        with self.blobs.writer(sys.maxsize) as w:
            for chunk in chunks:
                w.write(chunk)
            return w.commit()

    async def open_download(self, sha256: str, quarantined: bool) -> AsyncIterator[bytes]:
        """The stored bytes as an async iterator, read (and decrypted) on worker
        threads; its file is closed at the end or when the iterator is closed.
        FileNotFound here when the bytes are gone (purged)."""
        chunks = await trio.to_thread.run_sync(self._chunks, sha256, quarantined)
        return _on_threads(chunks)

    async def purge_expired(self, now: float, days: int | None = None) -> int:
        """Retention: drop originals and variants of attachments older than ``days``
        (default ``cfg.retention_days``; 0 keeps everything).  The rows stay (marked
        purged) so history still shows the file was sent; returns how many."""
        days = self.cfg.retention_days if days is None else days
        if days <= 0:
            return 0
        cutoff = now - days * 86400.0
        count, blob_shas, q_shas = await self._write(_purge_and_audit_txn, self._audit_key,
                                                     cutoff, days, now)

        def unlink() -> None:
            for sha in blob_shas:
                self.blobs.delete(sha)
            for sha in q_shas:
                self.quarantine.delete(sha)
        await trio.to_thread.run_sync(unlink)
        return count

    # ---------------------------------------------------------------- originals
    async def request_original(self, attachment_id: str, requester: str, reason: str,
                               now: float, *, audit: AuditFor) -> OriginalRequest:
        """A pending request for the original (FileNotFound if no such attachment)."""
        return await self._audited(originals.request_txn,
                                   (attachment_id, requester, reason, now), audit, now)

    async def get_original_request(self, request_id: str) -> OriginalRequest:
        return await self._read(originals.get_request, request_id)

    async def original_requests(self, status: str | None = "pending",
                                limit: int = 200) -> list[OriginalRequest]:
        """Requests in id order, optionally only those with ``status``."""
        return await self._read(originals.list_requests, status, limit)

    async def decide_original_request(self, request_id: str, admin_id: str, approve: bool,
                                      note: str, now: float, *, audit: AuditFor,
                                      ttl_s: float = ORIGINAL_RELEASE_TTL_S) -> OriginalRequest:
        """Approve (released to the requester until ``now + ttl_s``) or deny; once only
        (AlreadyDecided otherwise)."""
        return await self._audited(originals.decide_txn,
                                   (request_id, admin_id, approve, note, now, ttl_s), audit, now)

    async def original_released_to(self, attachment_id: str, account_id: str,
                                   now: float) -> bool:
        """True if an approved, unexpired request releases this original to this account."""
        return await self._read(originals.is_released, attachment_id, account_id, now)

    # ---------------------------------------------------------------- audit
    async def record(self, entry: Audit, now: float) -> AuditEntry:
        """Append the entry of an action that changes nothing else (a refused login,
        a download, a refused outbound text): hash-chained like every entry."""
        return await self._write(_append_txn, self._audit_key, entry, now)

    async def audit_entries(self, after: int, limit: int) -> list[AuditEntry]:
        return await self._read(audit_log.entries, after, limit)

    async def recent_audit(self, actions: tuple[str, ...], since: float,
                           limit: int = 100_000) -> list[AuditEntry]:
        """Entries of these actions since ``since``, oldest first (the newest ``limit``)."""
        return await self._read(audit_log.recent, actions, since, limit)

    async def audit_verify(self) -> tuple[bool, int, int | None]:
        """(ok, entries checked, id of the first bad entry or None)."""
        return await self._read(audit_log.verify, self._audit_key)

    # ---------------------------------------------------------------- web push
    async def add_push_subscription(self, account_id: str, session_id: str, endpoint: str,
                                    p256dh: str, auth: str, *, audit: AuditFor,
                                    now: float) -> push.PushSubscription:
        return await self._audited(push.add_txn, (account_id, session_id, endpoint, p256dh,
                                                  auth, now), audit, now)

    async def remove_push_subscription(self, subscription_id: str, account_id: str | None, *,
                                       audit: AuditFor | None, now: float) -> bool:
        """``audit=None``: a push service said the subscription is gone (not an action)."""
        if audit is None:
            return await self._write(push.remove_txn, subscription_id, account_id)
        return await self._audited(push.remove_txn, (subscription_id, account_id), audit, now)

    async def push_subscriptions(self, account_ids: list[str],
                                 now: float) -> list[push.PushSubscription]:
        return await self._read(push.of_accounts, account_ids, now)

    async def push_subscribers(self) -> set[str]:
        """The accounts that have at least one subscription."""
        return await self._read(push.subscribers)

    async def vapid_key(self) -> Any:
        """relayd's VAPID signing key (EC P-256), made the first time."""
        return await trio.to_thread.run_sync(push.vapid_key, self.paths.keys)



def _append_txn(db: sqlite_utils.Database, key: bytes, entry: Audit, now: float) -> AuditEntry:
    return audit_log.append_txn(db, key, entry.action, entry.actor, entry.subject,
                                dict(entry.data), now)


def _change_and_audit_txn(db: sqlite_utils.Database, key: bytes, fn: Callable[..., T],
                          args: tuple[Any, ...], audit: AuditFor, now: float) -> T:
    """The change, then its entry, in the writer's one SAVEPOINT for this operation:
    if appending fails, the change is rolled back with it."""
    result = fn(db, *args)
    entry = audit(result) if callable(audit) else audit
    if entry is not None:
        _append_txn(db, key, entry, now)
    return result


def _purge_and_audit_txn(db: sqlite_utils.Database, key: bytes, cutoff: float, days: int,
                         now: float) -> tuple[int, list[str], list[str]]:
    count, blob_shas, q_shas = files.purge_expired_txn(db, cutoff, now)
    if count:
        _append_txn(db, key, Audit("files.purged", None, None,
                                   {"files": count, "retention_days": days}), now)
    return count, blob_shas, q_shas


def _members_by_login(db: sqlite_utils.Database, room_id: str,
                      logins: list[str]) -> dict[str, str]:
    return extras.members_by_login(db.conn, room_id, logins)


def _select_one(db: sqlite_utils.Database) -> bool:
    return db.conn.execute("SELECT 1").fetchone() == (1,)


async def _on_threads(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """A blocking iterator read on worker threads, one ``next`` per thread hop."""
    try:
        while (chunk := await trio.to_thread.run_sync(next, chunks, None)) is not None:
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


__all__ = ["Store", "StoreError", "Upload"]
