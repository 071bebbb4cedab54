"""上長承認: files from LGWAN that wait for an approver before internet members get them.

Where it applies is the operator's setting: a department (``departments.file_approval``:
files its members -- and the members of the departments under it -- post) and/or a
room (``rooms.file_approval``: every LGWAN file posted there).  Who decides: the
approvers of the sender's department or of a department above it (``approvers``);
admins always may.  One ``file_approvals`` row per held attachment, posted in the same
transaction as the file (``post_held_txn``), so no file that needs an approval is ever
without its row; the attachment carries the row's status and reason as
``Attachment.approval`` / ``approval_reason`` (``store.messages.ATT_COLS``).

Synchronous SQL, run by the facade (``store.facade_approvals``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

import sqlite_utils

from store.db import int_id, iso
from store.directory import department_by_path, departments, subtree
from store.errors import Conflict, NotFound, RoomNotFound
from store.files import get_attachment, post_file_txn
from store.records import Message, Zone

STATUSES = ("pending", "approved", "refused")


class ApprovalNotFound(NotFound):
    code = "approval_not_found"


class ApprovalDecided(Conflict):
    """The approval was decided already (once only)."""

    code = "approval_decided"


@dataclass(frozen=True, slots=True)
class FileApproval:
    id: str
    file_id: str
    message_id: str
    room_id: str
    room_name: str
    sender: str
    department_id: str | None  # the sender's department when posted (None: none)
    file_name: str
    size: int
    kind: str
    status: str  # pending | approved | refused
    created_at: str
    decided_by: str | None
    decided_at: str | None
    reason: str

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "file_id": self.file_id, "message_id": self.message_id,
                "room_id": self.room_id, "room_name": self.room_name, "sender": self.sender,
                "department_id": self.department_id, "name": self.file_name,
                "size": self.size, "kind": self.kind, "status": self.status,
                "created_at": self.created_at, "decided_by": self.decided_by,
                "decided_at": self.decided_at, "reason": self.reason}


_COLS = ("f.id, f.attachment_id, a.message_id, f.room_id, r.name, f.sender, f.department_id, "
         "a.name, a.size, a.kind, f.status, f.created_at, f.decided_by, f.decided_at, f.reason")
_FROM = ("FROM file_approvals f JOIN attachments a ON a.id = f.attachment_id "
         "JOIN rooms r ON r.id = f.room_id")


def _opt(v: Any) -> str | None:
    return None if v is None else str(v)


def _from_row(row: Sequence[Any]) -> FileApproval:
    return FileApproval(id=str(row[0]), file_id=str(row[1]), message_id=str(row[2]),
                        room_id=str(row[3]), room_name=row[4], sender=str(row[5]),
                        department_id=_opt(row[6]), file_name=row[7], size=int(row[8]),
                        kind=row[9], status=row[10], created_at=row[11],
                        decided_by=_opt(row[12]), decided_at=row[13], reason=row[14])


def get_approval(db: sqlite_utils.Database, approval_id: str) -> FileApproval:
    row = db.conn.execute(f"SELECT {_COLS} {_FROM} WHERE f.id = ?",
                          (int_id(approval_id),)).fetchone()
    if row is None:
        raise ApprovalNotFound(f"承認の依頼がありません / no such approval: {approval_id}",
                               approval_id=approval_id)
    return _from_row(row)


def approval_of_file(db: sqlite_utils.Database, file_id: str) -> FileApproval | None:
    row = db.conn.execute(f"SELECT {_COLS} {_FROM} WHERE f.attachment_id = ?",
                          (int_id(file_id),)).fetchone()
    return None if row is None else _from_row(row)


# ------------------------------------------------------------------------- who and where


def _ancestors(db: sqlite_utils.Database, dep_id: int | None) -> list[int]:
    """The department and those above it (部 > 課 > 係: at most three)."""
    out: list[int] = []
    while dep_id is not None and dep_id not in out:
        out.append(dep_id)
        row = db.conn.execute("SELECT parent_id FROM departments WHERE id = ?",
                              (dep_id,)).fetchone()
        dep_id = None if row is None else row[0]
    return out


def _department_of(db: sqlite_utils.Database, account_id: str) -> int | None:
    row = db.conn.execute("SELECT department_id FROM accounts WHERE id = ?",
                          (int_id(account_id),)).fetchone()
    return None if row is None else row[0]


def hold_for(db: sqlite_utils.Database, sender_id: str, room_id: str) -> tuple[bool, str | None]:
    """(whether a file this sender posts in this room waits for approval, the sender's
    department).  Whether the room reaches the internet is the relay's to ask."""
    dep = _department_of(db, sender_id)
    room = db.conn.execute("SELECT file_approval FROM rooms WHERE id = ?",
                           (int_id(room_id),)).fetchone()
    held = bool(room and room[0])
    chain = _ancestors(db, dep)
    if not held and chain:
        marks = ",".join("?" * len(chain))
        held = db.conn.execute(f"SELECT 1 FROM departments WHERE id IN ({marks}) "
                               "AND file_approval = 1 LIMIT 1", chain).fetchone() is not None
    return held, _opt(dep)


def approver_departments(db: sqlite_utils.Database, account_id: str) -> list[str]:
    """Departments whose files this account may decide: those it approves for and
    every department under them."""
    rows = db.conn.execute("SELECT department_id FROM approvers WHERE account_id = ?",
                           (int_id(account_id),)).fetchall()
    out: list[str] = []
    for (dep,) in rows:
        out += [d for d in subtree(db, str(dep)) if d not in out]
    return out


def may_decide(db: sqlite_utils.Database, account_id: str, department_id: str | None) -> bool:
    if department_id is None:
        return False
    chain = _ancestors(db, int_id(department_id))
    if not chain:
        return False
    marks = ",".join("?" * len(chain))
    return db.conn.execute(f"SELECT 1 FROM approvers WHERE account_id = ? AND department_id IN "
                           f"({marks}) LIMIT 1", (int_id(account_id), *chain)).fetchone() is not None


def approvers_of(db: sqlite_utils.Database, department_id: str | None) -> list[str]:
    """The enabled accounts that approve for this department or one above it."""
    chain = _ancestors(db, None if department_id is None else int_id(department_id))
    if not chain:
        return []
    marks = ",".join("?" * len(chain))
    rows = db.conn.execute(
        f"SELECT DISTINCT p.account_id FROM approvers p JOIN accounts a ON a.id = p.account_id "
        f"WHERE p.department_id IN ({marks}) AND a.disabled = 0 AND a.deleted_at IS NULL "
        "ORDER BY p.account_id", chain).fetchall()
    return [str(r[0]) for r in rows]


def queue(db: sqlite_utils.Database, departments_of: list[str] | None, status: str | None,
          limit: int) -> list[FileApproval]:
    """Approvals in id order: of these departments (None: every one, for admins),
    optionally only those with ``status``."""
    where, args = [], []  # type: list[str], list[Any]
    if departments_of is not None:
        if not departments_of:
            return []
        where.append(f"f.department_id IN ({','.join('?' * len(departments_of))})")
        args += [int(d) for d in departments_of]
    if status is not None:
        where.append("f.status = ?")
        args.append(status)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = db.conn.execute(f"SELECT {_COLS} {_FROM} {clause} ORDER BY f.id DESC LIMIT ?",
                           (*args, limit)).fetchall()
    return [_from_row(r) for r in rows]


# ------------------------------------------------------------------------- writes


def post_held_txn(db: sqlite_utils.Database, room_id: str, sender_id: str, origin_zone: Zone,
                  name: str, size: int, sha256: str, kind: str, status: str,
                  client_id: str | None, now: float, session_id: str | None,
                  department_id: str | None) -> tuple[Message, bool]:
    """``post_file_txn`` and the file's pending approval, in one transaction."""
    message, created = post_file_txn(db, room_id, sender_id, origin_zone, name, size, sha256,
                                     kind, status, client_id, now, None, session_id)
    if not created:
        return message, False
    att = message.attachments[0]
    db.conn.execute(
        "INSERT INTO file_approvals (attachment_id, room_id, sender, department_id, status, "
        "created_at) VALUES (?, ?, ?, ?, 'pending', ?)",
        (int(att.id), int(att.room_id), int_id(sender_id),
         None if department_id is None else int_id(department_id), iso(now)))
    return dataclasses.replace(message, attachments=(get_attachment(db, att.id),)), True


def decide_txn(db: sqlite_utils.Database, approval_id: str, decider: str | None, approve: bool,
               reason: str, now: float) -> FileApproval:
    got = get_approval(db, approval_id)
    if got.status != "pending":
        raise ApprovalDecided(f"決定済みです / approval already {got.status}",
                              approval_id=approval_id, status=got.status)
    db.conn.execute(
        "UPDATE file_approvals SET status = ?, decided_by = ?, decided_at = ?, reason = ? "
        "WHERE id = ?", ("approved" if approve else "refused",
                         None if decider is None else int_id(decider), iso(now), reason,
                         int(got.id)))
    return get_approval(db, approval_id)


def set_department_txn(db: sqlite_utils.Database, department: str, on: bool) -> dict[str, Any]:
    dep = department_by_path(db, department)  # DepartmentNotFound
    db.conn.execute("UPDATE departments SET file_approval = ? WHERE id = ?", (int(on), int(dep.id)))
    return {"department_id": dep.id, "path": dep.path, "required": on}


def set_room_txn(db: sqlite_utils.Database, room_id: str, on: bool) -> dict[str, Any]:
    row = db.conn.execute("SELECT id, name FROM rooms WHERE id = ?", (int_id(room_id),)).fetchone()
    if row is None:
        raise RoomNotFound(f"トークがありません / no such room: {room_id}", room_id=room_id)
    db.conn.execute("UPDATE rooms SET file_approval = ? WHERE id = ?", (int(on), row[0]))
    return {"room_id": str(row[0]), "name": row[1], "required": on}


def set_approver_txn(db: sqlite_utils.Database, department: str, account_id: str,
                     on: bool) -> dict[str, Any]:
    dep = department_by_path(db, department)
    if on:
        db.conn.execute("INSERT OR IGNORE INTO approvers (department_id, account_id) "
                        "VALUES (?, ?)", (int(dep.id), int_id(account_id)))
    else:
        db.conn.execute("DELETE FROM approvers WHERE department_id = ? AND account_id = ?",
                        (int(dep.id), int_id(account_id)))
    return {"department_id": dep.id, "path": dep.path, "account_id": account_id,
            "approver": on}


def settings(db: sqlite_utils.Database) -> dict[str, Any]:
    """Where approval applies and who approves (relayctl, the admin page)."""
    on = {str(r[0]) for r in db.conn.execute("SELECT id FROM departments WHERE file_approval = 1")}
    who: dict[str, list[str]] = {}
    for dep, acc in db.conn.execute("SELECT department_id, account_id FROM approvers "
                                    "ORDER BY department_id, account_id"):
        who.setdefault(str(dep), []).append(str(acc))
    rooms = [{"id": str(r[0]), "name": r[1]} for r in db.conn.execute(
        "SELECT id, name FROM rooms WHERE file_approval = 1 ORDER BY id")]
    return {"departments": [{**d.public(), "required": d.id in on,
                             "approvers": who.get(d.id, [])} for d in departments(db)],
            "rooms": rooms}
