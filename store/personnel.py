"""The personnel transfer (人事異動) applied in one transaction.

``apply_txn`` takes the changes ``relay.personnel`` worked out from the personnel
system's CSV and makes them all, or none: departments the file names that do not
exist yet, new accounts, moves between departments, new names, kana, email or kind,
and accounts disabled because they left.  Each change appends its own audit entry in
the same transaction, so the audit log shows every single change and no crash can
leave half a transfer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import sqlite_utils

from store import accounts, audit, directory
from store.db import iso

Op = Literal["create", "move", "update", "leave"]


@dataclass(frozen=True, slots=True)
class Change:
    op: Op
    login: str
    # create: display_name, kana, email, kind, department (a path or "");
    # move: department; update: any of display_name, kana, email, kind.
    fields: dict[str, Any] = field(default_factory=dict)


def _department_id(db: sqlite_utils.Database, key: bytes, path: str, now: float,
                   known: dict[str, str]) -> str | None:
    """The department at ``path``, made (level by level, each audited) if missing."""
    if not path:
        return None
    if path in known:
        return known[path]
    parent: str | None = None
    names = path.split(directory.PATH_SEP)
    for depth in range(1, len(names) + 1):
        sub = directory.PATH_SEP.join(names[:depth])
        if sub not in known:
            made = directory.create_department_txn(db, names[depth - 1], parent, now)
            audit.append_txn(db, key, "department.created", None, made.id,
                             {"name": made.name, "path": made.path, "parent_id": parent,
                              "source": "personnel"}, now)
            known[sub] = made.id
        parent = known[sub]
    return known[path]


def apply_txn(db: sqlite_utils.Database, key: bytes, changes: list[Change],
              now: float) -> list[str]:
    """Make every change with its audit entry; the ids of accounts disabled (their
    sessions are revoked here; the caller ends their streams)."""
    known = {d.path: d.id for d in directory.departments(db)}
    paths = {v: k for k, v in known.items()}
    ended: list[str] = []
    for ch in changes:
        f = ch.fields
        if ch.op == "create":
            dep = _department_id(db, key, f.get("department", ""), now, known)
            made = accounts.create_account_txn(db, ch.login, None, f["kind"],
                                               f["display_name"], now)
            directory.update_person_txn(db, ch.login, {"kana": f.get("kana", ""),
                                                       "email": f.get("email", ""),
                                                       "department_id": dep})
            audit.append_txn(db, key, "account.created", None, made.id,
                             {"login": made.login, "kind": made.kind,
                              "department": f.get("department", ""), "source": "personnel"},
                             now)
        elif ch.op == "move":
            before = directory.person(db, ch.login)
            dep = _department_id(db, key, f["department"], now, known)
            directory.update_person_txn(db, ch.login, {"department_id": dep})
            audit.append_txn(db, key, "account.moved", None, before.id,
                             {"login": ch.login,
                              "from": paths.get(before.department_id or "", ""),
                              "to": f["department"], "source": "personnel"}, now)
        elif ch.op == "update":
            before = directory.person(db, ch.login)
            directory.update_person_txn(db, ch.login, dict(f))
            audit.append_txn(db, key, "account.updated", None, before.id,
                             {"login": ch.login, "source": "personnel",
                              "changes": {k: {"from": getattr(before, k), "to": v}
                                          for k, v in f.items()}}, now)
        elif ch.op == "leave":
            gone = accounts.set_disabled_txn(db, ch.login, True)
            audit.append_txn(db, key, "account.disabled", None, gone.id,
                             {"login": ch.login, "source": "personnel"}, now)
            ended.append(gone.id)
        else:  # pragma: no cover - relay.personnel makes only the four
            raise ValueError(ch.op)
    audit.append_txn(db, key, "personnel.imported", None, None,
                     {"changes": len(changes), "at": iso(now)}, now)
    return ended
