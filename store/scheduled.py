"""Time in the store: scheduled messages (予約送信), reminders, the after-hours opt-in
of an account and the digests of held notifications.  Synchronous SQL run by the
writer thread or a read connection, and ``TimeStore``, the async face ``Store``
inherits.

A scheduled message is a row that stays: ``pending`` until it is ``sent`` (the
message is posted and the row marked in ONE transaction, with ``message_id``),
``cancelled`` by its sender, or ``dropped`` (its sender may no longer post it).  A row
that is no longer pending is never sent, so a send is done once however often relayd
stops and starts; the message's ``client_id`` (``scheduled:<id>``) makes even a repeat
of that transaction return the first message.  Keeping the row also keeps the
schedule's ``client_id`` answered after it was sent.

Held notifications are not stored one by one: the digest at an opening is read from
the unread state of the messages sent in the closed hours before it
(``held_digest``), and ``notify_digests`` remembers which openings had theirs.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Literal, TypeVar

import sqlite_utils

from store import audit as audit_log
from store.db import int_id, iso
from store.errors import Conflict, NotFound, StoreError
from store.messages import _require_member, post_message_txn
from store.records import Audit, Message, Zone

T = TypeVar("T")
Status = Literal["pending", "sent", "cancelled", "dropped"]
# The client_id of the message a schedule sends; clients may not use the prefix.
CLIENT_ID_PREFIX = "scheduled:"
_COLS = ("id, room_id, sender, body, urgent, origin_zone, send_ts, created_at, client_id, "
         "status, message_id, reason, done_at")


class ScheduledNotFound(NotFound):
    code = "scheduled_not_found"


class ScheduledDone(Conflict):
    """It was sent, cancelled or dropped already: nothing to cancel."""

    code = "scheduled_done"


class TooManyScheduled(Conflict):
    code = "too_many_scheduled"


class RemindTooSoon(StoreError):
    code, status = "remind_too_soon", 429


@dataclass(frozen=True, slots=True)
class Scheduled:
    id: str
    room_id: str
    sender: str
    body: str
    urgent: bool
    origin_zone: Zone
    send_ts: float
    created_at: str
    client_id: str | None
    status: Status
    message_id: str | None = None
    reason: str | None = None  # why it was dropped
    done_at: str | None = None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "room_id": self.room_id, "sender": self.sender,
                "body": self.body, "urgent": self.urgent, "send_at": iso(self.send_ts),
                "created_at": self.created_at, "status": self.status,
                "message_id": self.message_id, "reason": self.reason}


def _from_row(r: Any) -> Scheduled:
    return Scheduled(str(r[0]), str(r[1]), str(r[2]), r[3], bool(r[4]), r[5], float(r[6]),
                     r[7], r[8], r[9], None if r[10] is None else str(r[10]), r[11], r[12])


def _row(c: sqlite3.Connection, scheduled_id: str) -> Scheduled:
    r = c.execute(f"SELECT {_COLS} FROM scheduled_messages WHERE id = ?",
                  (int_id(scheduled_id),)).fetchone()
    if r is None:
        raise ScheduledNotFound("予約がありません / no such scheduled message",
                                scheduled_id=scheduled_id)
    return _from_row(r)


# ------------------------------------------------------------------ scheduled messages


def schedule_txn(db: sqlite_utils.Database, room_id: str, sender_id: str, body: str,
                 urgent: bool, zone: Zone, send_ts: float, client_id: str | None,
                 now: float, max_pending: int) -> tuple[Scheduled, bool]:
    """(the schedule, created); a repeat of ``client_id`` answers the first one."""
    c = db.conn
    rid, sid = int_id(room_id), int_id(sender_id)
    if client_id is not None:
        r = c.execute(f"SELECT {_COLS} FROM scheduled_messages WHERE sender = ? AND "
                      "client_id = ?", (sid, client_id)).fetchone()
        if r is not None:
            return _from_row(r), False
    _require_member(c, rid, sid, room_id)
    pending = c.execute("SELECT count(*) FROM scheduled_messages WHERE sender = ? AND "
                        "status = 'pending'", (sid,)).fetchone()[0]
    if pending >= max_pending:
        raise TooManyScheduled("予約が多すぎます / too many scheduled messages",
                               limit=max_pending)
    cur = c.execute("INSERT INTO scheduled_messages (room_id, sender, body, urgent, "
                    "origin_zone, send_ts, created_at, client_id, status) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
                    (rid, sid, body, int(urgent), zone, send_ts, iso(now), client_id))
    return _row(c, str(cur.lastrowid)), True


def get_scheduled(db: sqlite_utils.Database, scheduled_id: str) -> Scheduled:
    return _row(db.conn, scheduled_id)


def pending_of(db: sqlite_utils.Database, sender_id: str) -> list[Scheduled]:
    return [_from_row(r) for r in db.conn.execute(
        f"SELECT {_COLS} FROM scheduled_messages WHERE sender = ? AND status = 'pending' "
        "ORDER BY send_ts, id", (int_id(sender_id),))]


def due(db: sqlite_utils.Database, now: float, limit: int) -> list[Scheduled]:
    """Pending schedules whose time has come, the earliest first."""
    return [_from_row(r) for r in db.conn.execute(
        f"SELECT {_COLS} FROM scheduled_messages WHERE status = 'pending' AND send_ts <= ? "
        "ORDER BY send_ts, id LIMIT ?", (now, limit))]


def next_due(db: sqlite_utils.Database) -> float | None:
    r = db.conn.execute("SELECT min(send_ts) FROM scheduled_messages "
                        "WHERE status = 'pending'").fetchone()
    return None if r[0] is None else float(r[0])


def _finish(c: sqlite3.Connection, s: Scheduled, status: Status, now: float, *,
            message_id: str | None = None, reason: str | None = None) -> Scheduled:
    c.execute("UPDATE scheduled_messages SET status = ?, message_id = ?, reason = ?, "
              "done_at = ? WHERE id = ?",
              (status, None if message_id is None else int(message_id), reason, iso(now),
               int(s.id)))
    return replace(s, status=status, message_id=message_id, reason=reason, done_at=iso(now))


def _pending(c: sqlite3.Connection, scheduled_id: str) -> Scheduled:
    s = _row(c, scheduled_id)
    if s.status != "pending":
        raise ScheduledDone(f"予約は処理済みです / scheduled message {scheduled_id} is "
                            f"{s.status}", scheduled_id=scheduled_id, status=s.status)
    return s


def cancel_txn(db: sqlite_utils.Database, scheduled_id: str, sender_id: str,
               now: float) -> Scheduled:
    s = _row(db.conn, scheduled_id)
    if s.sender != str(int_id(sender_id)):
        raise ScheduledNotFound("予約がありません / no such scheduled message",
                                scheduled_id=scheduled_id)
    return _finish(db.conn, _pending(db.conn, scheduled_id), "cancelled", now)


def send_txn(db: sqlite_utils.Database, scheduled_id: str, now: float,
             mentions: tuple[str, ...]) -> tuple[Message, Scheduled]:
    """Post the message and mark the schedule sent, together (ScheduledDone when it is
    no longer pending; NotMember / RoomArchived roll both back)."""
    c = db.conn
    s = _pending(c, scheduled_id)
    message, _ = post_message_txn(db, s.room_id, s.sender, s.body, s.origin_zone,
                                  CLIENT_ID_PREFIX + s.id, now, None, mentions=mentions)
    if s.urgent:
        c.execute("UPDATE messages SET urgent = 1 WHERE id = ?", (int(message.id),))
        message = replace(message, urgent=True)
    return message, _finish(c, s, "sent", now, message_id=message.id)


def drop_txn(db: sqlite_utils.Database, scheduled_id: str, reason: str,
             now: float) -> Scheduled:
    return _finish(db.conn, _pending(db.conn, scheduled_id), "dropped", now, reason=reason)


# ------------------------------------------------------------------ urgent, reminders


def post_urgent_txn(db: sqlite_utils.Database, *args: Any, **kw: Any) -> tuple[Message, bool]:
    """``post_message_txn`` of a message marked urgent, in the same transaction."""
    message, created = post_message_txn(db, *args, **kw)
    if created:
        db.conn.execute("UPDATE messages SET urgent = 1 WHERE id = ?", (int(message.id),))
        message = replace(message, urgent=True)
    return message, created


def remind_txn(db: sqlite_utils.Database, message_id: str, now: float,
               interval_s: float) -> int:
    """Note a reminder of the message; RemindTooSoon (``retry_after`` seconds) within
    ``interval_s`` of the last one.  Returns how many reminders it has had."""
    c = db.conn
    r = c.execute("SELECT last_ts, times FROM message_reminders WHERE message_id = ?",
                  (int_id(message_id),)).fetchone()
    if r is not None and now - float(r[0]) < interval_s:
        wait = max(1, int(interval_s - (now - float(r[0])) + 0.999))
        raise RemindTooSoon("リマインドは少し時間をおいてください / reminded too recently",
                            retry_after=wait)
    times = (int(r[1]) if r is not None else 0) + 1
    c.execute("INSERT INTO message_reminders (message_id, last_ts, times) VALUES (?, ?, ?) "
              "ON CONFLICT (message_id) DO UPDATE SET last_ts = excluded.last_ts, "
              "times = excluded.times", (int_id(message_id), now, times))
    return times


# ------------------------------------------------------------------ after hours


def set_after_hours_txn(db: sqlite_utils.Database, account_id: str, on: bool) -> bool:
    """Whether the setting changed."""
    cur = db.conn.execute("UPDATE accounts SET after_hours = ? WHERE id = ? AND "
                          "after_hours != ?", (int(on), int_id(account_id), int(on)))
    return cur.rowcount > 0


def after_hours_among(db: sqlite_utils.Database, account_ids: tuple[str, ...]) -> set[str]:
    """Those of the accounts that opted in to notifications after hours."""
    ids = [int_id(a) for a in account_ids]
    out: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        out.update(str(r[0]) for r in db.conn.execute(
            f"SELECT id FROM accounts WHERE after_hours = 1 AND id IN "
            f"({','.join('?' * len(chunk))})", chunk))
    return out


# ------------------------------------------------------------------ digests


def _first_id_from(c: sqlite3.Connection, at: str) -> int:
    """The first message id created at or after ``at`` (ids grow with time): a binary
    search over ids, each step one primary-key look-up, so no index on time is kept
    on the hot path of every send."""
    lo_hi = c.execute("SELECT min(id), max(id) FROM messages").fetchone()
    if lo_hi[0] is None:
        return 1
    lo, hi = int(lo_hi[0]), int(lo_hi[1]) + 1
    while lo < hi:
        mid = (lo + hi) // 2
        r = c.execute("SELECT id, created_at FROM messages WHERE id >= ? ORDER BY id "
                      "LIMIT 1", (mid,)).fetchone()
        if r is None or r[1] >= at:
            hi = mid
        else:
            lo = int(r[0]) + 1
    return lo


def held_digest(db: sqlite_utils.Database, since: float,
                until: float) -> dict[str, list[tuple[str, int, str]]]:
    """{account id: [(room id, messages, latest message id)]}: the messages sent from
    ``since`` until ``until`` that each member has not read, from others, neither
    urgent nor roll calls nor deleted, for enabled accounts without the after-hours
    opt-in (those were notified at once)."""
    c = db.conn
    lo, hi = _first_id_from(c, iso(since)), _first_id_from(c, iso(until))
    out: dict[str, list[tuple[str, int, str]]] = {}
    for account, room, count, latest in c.execute(
            "SELECT rm.account_id, m.room_id, count(*), max(m.id) FROM messages m "
            "JOIN room_members rm ON rm.room_id = m.room_id "
            "JOIN accounts a ON a.id = rm.account_id "
            "WHERE m.id >= ? AND m.id < ? AND m.id > rm.last_read "
            "AND m.sender != rm.account_id AND m.urgent = 0 AND m.kind != 'rollcall' "
            "AND m.deleted_at IS NULL AND a.after_hours = 0 AND a.disabled = 0 "
            "GROUP BY rm.account_id, m.room_id ORDER BY rm.account_id, m.room_id", (lo, hi)):
        out.setdefault(str(account), []).append((str(room), int(count), str(latest)))
    return out


def digest_sent(db: sqlite_utils.Database, opening: float) -> bool:
    return db.conn.execute("SELECT 1 FROM notify_digests WHERE opening = ?",
                           (opening,)).fetchone() is not None


def record_digest_txn(db: sqlite_utils.Database, opening: float, accounts: int,
                      now: float) -> bool:
    """Remember that the digest of this opening went out; False if it already had."""
    cur = db.conn.execute("INSERT OR IGNORE INTO notify_digests (opening, accounts, sent_at) "
                          "VALUES (?, ?, ?)", (opening, accounts, iso(now)))
    return cur.rowcount > 0


# ------------------------------------------------------------------ the async face

AuditFor = Audit | Callable[[Any], Audit]


class TimeStore:
    """What relay awaits of the above (``store.facade.Store`` inherits it)."""

    if TYPE_CHECKING:
        _audit_key: bytes

        async def _write(self, fn: Callable[..., T], *args: Any) -> T: ...

        async def _read(self, fn: Callable[..., T], *args: Any) -> T: ...

        async def _audited(self, fn: Callable[..., T], args: tuple[Any, ...],
                           audit: AuditFor, now: float) -> T: ...

    async def post_urgent(self, room_id: str, sender_id: str, body: str, origin_zone: Zone,
                          client_id: str | None, now: float, session_id: str | None = None,
                          **kw: Any) -> tuple[Message, bool]:
        """``Store.post_message`` of an urgent message (緊急)."""
        return await self._write(post_urgent_txn, room_id, sender_id, body, origin_zone,
                                 client_id, now, session_id, *_post_args(**kw))

    async def schedule_message(self, room_id: str, sender_id: str, body: str, urgent: bool,
                               zone: Zone, send_ts: float, client_id: str | None, now: float,
                               max_pending: int, *,
                               audit: AuditFor) -> tuple[Scheduled, bool]:
        """(a new schedule, True) with its entry; a repeated ``client_id`` answers
        (the first one, False) and appends no entry."""
        return await self._write(_schedule_audited_txn, self._audit_key, (
            room_id, sender_id, body, urgent, zone, send_ts, client_id, now, max_pending),
            audit, now)

    async def get_scheduled(self, scheduled_id: str) -> Scheduled:
        return await self._read(get_scheduled, scheduled_id)

    async def pending_scheduled(self, sender_id: str) -> list[Scheduled]:
        return await self._read(pending_of, sender_id)

    async def due_scheduled(self, now: float, limit: int = 100) -> list[Scheduled]:
        return await self._read(due, now, limit)

    async def next_scheduled(self) -> float | None:
        return await self._read(next_due)

    async def cancel_scheduled(self, scheduled_id: str, sender_id: str, now: float, *,
                               audit: AuditFor) -> Scheduled:
        return await self._audited(cancel_txn, (scheduled_id, sender_id, now), audit, now)

    async def send_scheduled(self, scheduled_id: str, mentions: tuple[str, ...], now: float,
                             *, audit: AuditFor) -> tuple[Message, Scheduled]:
        return await self._audited(send_txn, (scheduled_id, now, mentions), audit, now)

    async def drop_scheduled(self, scheduled_id: str, reason: str, now: float, *,
                             audit: AuditFor) -> Scheduled:
        return await self._audited(drop_txn, (scheduled_id, reason, now), audit, now)

    async def remind(self, message_id: str, now: float, interval_s: float, *,
                     audit: AuditFor) -> int:
        return await self._audited(remind_txn, (message_id, now, interval_s), audit, now)

    async def set_after_hours(self, account_id: str, on: bool, now: float, *,
                              audit: AuditFor) -> bool:
        return await self._audited(set_after_hours_txn, (account_id, on), audit, now)

    async def after_hours_among(self, account_ids: tuple[str, ...]) -> set[str]:
        return await self._read(after_hours_among, account_ids)

    async def held_digest(self, since: float,
                          until: float) -> dict[str, list[tuple[str, int, str]]]:
        return await self._read(held_digest, since, until)

    async def digest_sent(self, opening: float) -> bool:
        return await self._read(digest_sent, opening)

    async def record_digest(self, opening: float, accounts: int, now: float) -> bool:
        return await self._write(record_digest_txn, opening, accounts, now)


def _post_args(kind: str = "text", stamp: str | None = None, reply_to: str | None = None,
               mentions: tuple[str, ...] = ()) -> tuple[Any, ...]:
    return kind, stamp, reply_to, mentions


def _schedule_audited_txn(db: sqlite_utils.Database, key: bytes, args: tuple[Any, ...],
                          audit: AuditFor, now: float) -> tuple[Scheduled, bool]:
    scheduled, created = schedule_txn(db, *args)
    if created:
        entry = audit(scheduled) if callable(audit) else audit
        audit_log.append_txn(db, key, entry.action, entry.actor, entry.subject,
                             dict(entry.data), now)
    return scheduled, created
