"""The usage report for the finance department: synchronous SQL run on a read
connection by the facade (``store.facade_records``).

Figures per department and per ISO week (weeks of Japan time, ``2027-W14``):

* ``active_accounts``: accounts that logged in (``login.ok``) or posted;
* ``messages``: messages posted (text, stamps, polls …; not files, not system notices);
* ``files``: files posted;
* ``disarmed``: files from the internet delivered rebuilt or clean (``file.crossed``);
* ``blocked``: files from the internet blocked by the disarm engine;
* ``sent_out``: LGWAN files handed to internet members (``file.sent_out``);
* ``held``: LGWAN files held back from internet members by the 個人番号 check.

An account counts in the department it belonged to at that moment (the directory's
moves, ``store.records_export.Departments``); ``""`` is no department.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import Any

import sqlite_utils

from store.records_export import Departments

JST = dt.timezone(dt.timedelta(hours=9))
COUNTS = ("messages", "files", "disarmed", "blocked", "sent_out", "held")


def iso_week(at: str) -> str:
    """The ISO week, in Japan time, of an RFC 3339 UTC time."""
    moment = dt.datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(JST)
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def usage(db: sqlite_utils.Database, start: str, end: str, start_ts: float,
          end_ts: float) -> dict[str, Any]:
    c = db.conn
    deps = Departments(db)
    cells: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    active: dict[tuple[str, str], set[str]] = defaultdict(set)  # (week, department)
    active_dep: dict[str, set[str]] = defaultdict(set)
    everyone: set[str] = set()

    def seen(account: str, at: str) -> None:
        everyone.add(account)
        dep = deps.at(account, at)
        active[(iso_week(at), dep)].add(account)
        active_dep[dep].add(account)

    def count(what: str, account: str | None, at: str) -> None:
        dep = deps.at(account, at) if account else ""
        cells[(iso_week(at), dep)][what] += 1

    for sender, at, kind in c.execute(
            "SELECT sender, created_at, kind FROM messages WHERE created_at >= ? AND "
            "created_at < ?", (start, end)):
        seen(str(sender), at)
        if kind not in ("file", "system"):
            count("messages", str(sender), at)
    for sender, at in c.execute(
            "SELECT m.sender, m.created_at FROM attachments a JOIN messages m ON "
            "m.id = a.message_id WHERE a.created_ts >= ? AND a.created_ts < ?",
            (start_ts, end_ts)):
        count("files", str(sender), at)
    for actor, at, action, data in c.execute(
            "SELECT actor, at, action, data FROM audit WHERE at >= ? AND at < ? AND action IN "
            "('login.ok', 'file.crossed', 'file.sent_out', 'outbound.block')", (start, end)):
        if action == "login.ok":
            if actor:
                seen(actor, at)
        elif action == "file.crossed":
            verdict = json.loads(data).get("verdict")
            count("blocked" if verdict == "blocked" else "disarmed", actor, at)
        elif action == "file.sent_out":
            count("sent_out", actor, at)
        elif json.loads(data).get("in") == "file":
            count("held", actor, at)
    for key in active:
        cells[key]  # a week someone only logged in has its row too
    rows = [{"week": week, "department": dep, "active_accounts": len(active.get((week, dep), ())),
             **cells[(week, dep)]} for week, dep in sorted(cells)]
    by_dep: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    for r in rows:
        for k in COUNTS:
            by_dep[r["department"]][k] += r[k]
    departments = [{"department": d, "active_accounts": len(active_dep.get(d, ())), **by_dep[d]}
                   for d in sorted(by_dep)]
    totals = {"active_accounts": len(everyone),
              **{k: sum(r[k] for r in rows) for k in COUNTS}}
    return {"from": start, "to": end, "totals": totals, "departments": departments,
            "weeks": rows}
