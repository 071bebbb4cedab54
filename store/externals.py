"""External accounts' sponsor and expiry, and the notices the expiry check has sent.

An external account (保育園, 議員, 自治会長, a neighbouring town) has a sponsor -- the
staff account responsible for it -- and a last day of use, ``expires_on``
(``YYYY-MM-DD``, a date in Japan time).  ``expires_ts`` is the moment it stops working
(midnight JST at the end of that day), kept beside the date so the session check on
every request is one comparison.  ``account_expiry_notices`` remembers each reminder
(14 and 3 days before) and each expiry handled, per account *and date*: a new date
gets its own reminders.

``*_txn`` functions run on the writer thread; the others are reads.  The async
functions at the end are this module's face (like ``store.directory``'s).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import sqlite_utils

from store import accounts, audit as audit_log
from store.db import int_id, iso
from store.errors import AccountNotFound
from store.passwords import PasswordHash, hash_password
from store.records import Account, AccountKind

if TYPE_CHECKING:
    from store.facade import AuditFor, Store

JST = timezone(timedelta(hours=9), "JST")
EXPIRED = 0  # days_before of the notice that records an expiry handled


@dataclass(frozen=True, slots=True)
class Sponsorship:
    """An external account's sponsor (an account id) and last day of use."""

    account_id: str
    login: str
    display_name: str
    kind: str
    state: str  # "enabled" | "disabled" | "deleted"
    sponsor: str | None
    sponsor_login: str | None
    sponsor_state: str | None
    expires_at: str | None  # "YYYY-MM-DD", the last day of use (JST)

    def days_left(self, now: float) -> int | None:
        """Days from today (JST) to the last day: 0 on the last day, < 0 once expired."""
        if self.expires_at is None:
            return None
        return (date.fromisoformat(self.expires_at) - today(now)).days

    def public(self, now: float) -> dict[str, Any]:
        left = self.days_left(now)
        return {"id": self.account_id, "login": self.login, "display_name": self.display_name,
                "state": self.state, "sponsor": self.sponsor,
                "sponsor_login": self.sponsor_login, "sponsor_state": self.sponsor_state,
                "expires_at": self.expires_at, "days_left": left,
                "expired": left is not None and left < 0}


@dataclass(frozen=True, slots=True)
class Notice:
    """What one expiry check did to one account: a reminder sent, or its expiry."""

    account_id: str
    login: str
    display_name: str
    sponsor: str | None  # enabled sponsor's id, else None
    expires_at: str
    days_before: int  # 14, 3 (a reminder) or EXPIRED
    days_left: int
    sessions_ended: tuple[str, ...] = ()


def today(now: float) -> date:
    return datetime.fromtimestamp(now, JST).date()


def end_of(last_day: str) -> float:
    """The moment an account whose last day is ``last_day`` stops working."""
    nxt = date.fromisoformat(last_day) + timedelta(days=1)
    return datetime.combine(nxt, dtime(0, 0), JST).timestamp()


def _state(disabled: int, deleted_at: str | None) -> str:
    return "deleted" if deleted_at else ("disabled" if disabled else "enabled")


# ------------------------------------------------------------------------- reads

_SELECT = (
    "SELECT a.id, a.login, a.display_name, a.kind, a.disabled, a.deleted_at, a.sponsor_id, "
    "s.login, s.disabled, s.deleted_at, a.expires_on FROM accounts a "
    "LEFT JOIN accounts s ON s.id = a.sponsor_id ")


def _row(r: Any) -> Sponsorship:
    return Sponsorship(str(r[0]), r[1], r[2], r[3], _state(r[4], r[5]),
                       None if r[6] is None else str(r[6]), r[7],
                       None if r[6] is None else _state(r[8] or 0, r[9]), r[10])


def sponsorships(db: sqlite_utils.Database) -> list[Sponsorship]:
    """Every external account (and any other that has a sponsor or an expiry)."""
    rows = db.conn.execute(_SELECT + "WHERE a.kind = 'external' OR a.sponsor_id IS NOT NULL "
                           "OR a.expires_on IS NOT NULL ORDER BY a.id").fetchall()
    return [_row(r) for r in rows]


def sponsorship(db: sqlite_utils.Database, account_id: str) -> Sponsorship:
    r = db.conn.execute(_SELECT + "WHERE a.id = ?", (int_id(account_id),)).fetchone()
    if r is None:
        raise AccountNotFound(account_id=account_id)
    return _row(r)


def sponsored_by(db: sqlite_utils.Database, sponsor_id: str) -> list[Sponsorship]:
    rows = db.conn.execute(_SELECT + "WHERE a.sponsor_id = ? AND a.deleted_at IS NULL "
                           "ORDER BY a.expires_on, a.id", (int_id(sponsor_id),)).fetchall()
    return [_row(r) for r in rows]


def expired(db: sqlite_utils.Database, account_id: str, now: float) -> bool:
    row = db.conn.execute("SELECT expires_ts FROM accounts WHERE id = ?",
                          (int_id(account_id),)).fetchone()
    return row is not None and row[0] is not None and row[0] <= now


# ------------------------------------------------------------------------- writes


def create_external_txn(db: sqlite_utils.Database, login: str, pw: PasswordHash | None,
                        kind: AccountKind, display_name: str, now: float, must_change: bool,
                        sponsor: str, expires_on: str) -> Account:
    """An external account with its sponsor and expiry, in the same transaction."""
    account = accounts.create_account_txn(db, login, pw, kind, display_name, now, must_change)
    db.conn.execute("UPDATE accounts SET sponsor_id = ?, expires_on = ?, expires_ts = ? "
                    "WHERE id = ?", (int(sponsor), expires_on, end_of(expires_on),
                                     int(account.id)))
    return account


def set_sponsorship_txn(db: sqlite_utils.Database, account_id: str, sponsor: str | None,
                        expires_on: str | None) -> Sponsorship:
    """A new sponsor and/or last day (None keeps the one it has)."""
    if sponsor is not None:
        db.conn.execute("UPDATE accounts SET sponsor_id = ? WHERE id = ?",
                        (int(sponsor), int_id(account_id)))
    if expires_on is not None:
        db.conn.execute("UPDATE accounts SET expires_on = ?, expires_ts = ? WHERE id = ?",
                        (expires_on, end_of(expires_on), int_id(account_id)))
    return sponsorship(db, account_id)


def check_txn(db: sqlite_utils.Database, key: bytes, now: float,
              reminders: tuple[int, ...], remind_hour: int) -> list[Notice]:
    """One expiry check: every enabled account past its last day loses its sessions
    (``account.expired``, once per date); every one within ``reminders`` days of it
    gets one reminder for its sponsor (``account.expiring``, once per reminder and
    date; when relayd was down past several, only the most urgent is sent).  A
    reminder is due at ``remind_hour`` (JST) of its day, when people are at work."""
    c = db.conn
    rows = c.execute(
        "SELECT a.id, a.login, a.display_name, a.expires_on, a.expires_ts, a.sponsor_id, "
        "s.disabled, s.deleted_at FROM accounts a LEFT JOIN accounts s ON s.id = a.sponsor_id "
        "WHERE a.expires_ts IS NOT NULL AND a.disabled = 0 AND a.deleted_at IS NULL "
        "AND a.expires_ts <= ?", (now + (max(reminders, default=0) + 1) * 86400.0,)).fetchall()
    out: list[Notice] = []
    day = today(now)
    for aid, login, name, last_day, ends, sponsor_id, s_off, s_gone in rows:
        done = {r[0] for r in c.execute(
            "SELECT days_before FROM account_expiry_notices WHERE account_id = ? "
            "AND expires_on = ?", (aid, last_day))}
        sponsor = (str(sponsor_id) if sponsor_id is not None and not s_off and not s_gone
                   else None)
        left = (date.fromisoformat(last_day) - day).days
        if ends <= now:
            if EXPIRED in done:
                continue
            ended = accounts._revoke_all(c, str(aid))
            _notice(c, aid, last_day, EXPIRED, now)
            audit_log.append_txn(db, key, "account.expired", None, str(aid),
                                 {"login": login, "expires_at": last_day,
                                  "sponsor": None if sponsor_id is None else str(sponsor_id),
                                  "sessions_ended": len(ended)}, now)
            out.append(Notice(str(aid), login, name, sponsor, last_day, EXPIRED, left,
                              tuple(ended)))
            continue
        due = [n for n in reminders if n not in done and now >= datetime.combine(
            date.fromisoformat(last_day) - timedelta(days=n), dtime(remind_hour), JST
        ).timestamp()]
        if not due:
            continue
        for n in due:
            _notice(c, aid, last_day, n, now)
        urgent = min(due)
        audit_log.append_txn(db, key, "account.expiring", None, str(aid),
                             {"login": login, "expires_at": last_day, "days_before": urgent,
                              "days_left": left,
                              "sponsor": None if sponsor_id is None else str(sponsor_id),
                              "notified": sponsor is not None}, now)
        out.append(Notice(str(aid), login, name, sponsor, last_day, urgent, left))
    return out


def _notice(c: Any, account_id: int, last_day: str, days_before: int, now: float) -> None:
    c.execute("INSERT OR IGNORE INTO account_expiry_notices (account_id, expires_on, "
              "days_before, at) VALUES (?, ?, ?, ?)", (account_id, last_day, days_before,
                                                      iso(now)))


# ------------------------------------------------------------------------- the async face


async def read(store: "Store", fn: Any, *args: Any) -> Any:
    return await store._read(fn, *args)


async def write(store: "Store", fn: Any, args: tuple[Any, ...], audit: "AuditFor",
                now: float) -> Any:
    return await store._audited(fn, args, audit, now)


async def create_external(store: "Store", login: str, password: str | None,
                          kind: AccountKind, display_name: str, *, sponsor: str,
                          expires_on: str, audit: "AuditFor", now: float,
                          must_change: bool = False) -> Account:
    pw = await store._kdf(hash_password, password, store._cost) if password else None
    return await store._audited(create_external_txn, (login, pw, kind, display_name, now,
                                                      must_change, sponsor, expires_on),
                                audit, now)


async def check(store: "Store", now: float, reminders: tuple[int, ...],
                remind_hour: int) -> list[Notice]:
    """Run ``check_txn`` (which appends its own audit entries) in one transaction."""
    return await store._write(check_txn, store._audit_key, now, reminders, remind_hour)
