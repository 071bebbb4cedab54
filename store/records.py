"""Records the store hands out: frozen, slotted, plain data (no SQL, no I/O).

Ids are strings on the wire (API.md); in SQLite they are INTEGER PRIMARY KEYs, so
message ids order by arrival and `before=` pagination is a plain comparison.
Timestamps are RFC 3339 UTC strings ("2026-11-22T03:04:05.123Z").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from policy.zones import Zone

AccountKind = Literal["staff", "external", "admin"]
RoomKind = Literal["group", "direct"]
FileStatus = Literal["pending", "ready", "blocked"]


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    login: str
    display_name: str
    kind: AccountKind
    disabled: bool
    created_at: str
    # A password an admin set: until it is changed the session may do nothing else.
    must_change_password: bool = False

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "login": self.login, "display_name": self.display_name,
                "kind": self.kind, "disabled": self.disabled,
                "password_change_required": self.must_change_password}


@dataclass(frozen=True, slots=True)
class Session:
    id: str  # row id, never the token
    account_id: str
    zone: Zone
    created_at: str
    expires_at: str


@dataclass(frozen=True, slots=True)
class Attachment:
    id: str
    message_id: str
    room_id: str
    name: str
    size: int
    kind: str  # detected kind (sanitize.kinds), "" until detected
    status: FileStatus
    origin_zone: Zone
    sha256: str  # of the original
    sanitized_sha256: str | None = None
    sanitized_size: int | None = None
    sanitized_name: str | None = None
    report: dict[str, Any] = field(default_factory=dict)
    # 上長承認 (store.approvals): None when the file needs none, else pending |
    # approved | refused; the reason of a refusal is for LGWAN eyes only.
    approval: str | None = None
    approval_reason: str = ""

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "size": self.size, "kind": self.kind,
                "status": self.status, "report": self.report, "origin_zone": self.origin_zone,
                "approval": self.approval}


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    room_id: str
    sender: str  # account id
    body: str
    created_at: str
    origin_zone: Zone
    client_id: str | None = None
    attachments: tuple[Attachment, ...] = ()
    read_count: int = 0
    kind: str = "text"  # "text" | "file" | "stamp" | "poll" | … (API.md, Message)
    stamp: str | None = None  # the stamp id of a stamp message
    reply_to: str | None = None
    quote: Quote | None = None  # the message replied to, as the reply shows it
    mentions: tuple[str, ...] = ()  # account ids
    edited_at: str | None = None
    deleted: bool = False
    reactions: tuple[Reaction, ...] = ()
    urgent: bool = False  # a roll call always is
    # What a structured kind carries (a Poll, a Schedule, a RollCall: store.vote_records),
    # shown under the kind's name in its summary form; None for the other kinds.
    detail: Any = None

    def public(self) -> dict[str, Any]:
        out = self._public()
        if self.detail is not None:
            out[self.kind] = self.detail.summary()
        return out

    def _public(self) -> dict[str, Any]:
        return {"id": self.id, "room_id": self.room_id, "sender": self.sender,
                "body": self.body, "created_at": self.created_at,
                "origin_zone": self.origin_zone,
                "attachments": [a.public() for a in self.attachments],
                "read_count": self.read_count, "kind": self.kind, "stamp": self.stamp,
                "reply_to": self.reply_to,
                "quote": self.quote.public() if self.quote else None,
                "mentions": list(self.mentions), "edited_at": self.edited_at,
                "deleted": self.deleted, "reactions": [r.public() for r in self.reactions],
                "urgent": self.urgent}


@dataclass(frozen=True, slots=True)
class Reaction:
    """One stamp on a message and who put it there (in the order they did)."""

    stamp: str
    accounts: tuple[str, ...]

    def public(self) -> dict[str, Any]:
        return {"stamp": self.stamp, "accounts": list(self.accounts)}


@dataclass(frozen=True, slots=True)
class Quote:
    """The message a reply answers: enough to show it above the reply."""

    id: str
    sender: str
    kind: str
    body: str  # its first QUOTE_CHARS characters; "" when deleted
    deleted: bool

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "sender": self.sender, "kind": self.kind,
                "body": self.body, "deleted": self.deleted}


@dataclass(frozen=True, slots=True)
class MessageVersion:
    """An earlier body of an edited or deleted message."""

    id: str
    message_id: str
    body: str
    written_at: str  # when this body was written
    replaced_at: str
    replaced_by: str | None  # account id
    change: Literal["edit", "delete"]

    def public(self) -> dict[str, Any]:
        return {"body": self.body, "written_at": self.written_at,
                "replaced_at": self.replaced_at, "replaced_by": self.replaced_by,
                "change": self.change}


@dataclass(frozen=True, slots=True)
class Room:
    id: str
    name: str
    kind: RoomKind
    members: tuple[str, ...]  # account ids, sorted numerically
    created_at: str
    created_by: str


@dataclass(frozen=True, slots=True)
class RoomSummary:
    """A room as one member sees it in the room list."""

    room: Room
    unread: int
    last_message: Message | None
    mentions: int = 0  # unread messages that mention this member
    archived: bool = False  # readable, but nothing more is sent to it

    def public(self) -> dict[str, Any]:
        return {"id": self.room.id, "name": self.room.name, "kind": self.room.kind,
                "members": list(self.room.members), "unread": self.unread,
                "mentions": self.mentions, "archived": self.archived,
                "last_message": self.last_message.public() if self.last_message else None}


@dataclass(frozen=True, slots=True)
class Readers:
    read: tuple[str, ...]  # account ids that have read the message (既読)
    unread: tuple[str, ...]  # members who have not (未読); the sender counts as read


@dataclass(frozen=True, slots=True)
class Audit:
    """The audit entry an action asks for; the store appends it in the same
    transaction as the action's change (``AuditFor``), so neither exists alone."""

    action: str
    actor: str | None  # account id; None for the operator at the relay host
    subject: str | None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: str
    actor: str | None  # account id, or None for the system
    action: str  # "login.ok", "login.failed", "account.created", "file.crossed", …
    subject: str | None
    data: dict[str, Any]
    prev_mac: str
    mac: str

    def public(self) -> dict[str, Any]:
        return {"id": str(self.id), "at": self.at, "actor": self.actor,
                "action": self.action, "subject": self.subject, "data": self.data,
                "mac": self.mac}


@dataclass(frozen=True, slots=True)
class OriginalRequest:
    """An LGWAN user's request for the original of a disarmed file (API.md, Files)."""

    id: str
    file_id: str
    requester: str  # account id
    reason: str
    status: Literal["pending", "approved", "denied"]
    created_at: str
    decided_by: str | None = None
    decided_at: str | None = None
    note: str = ""
    expires_at: str | None = None  # when an approved release ends

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "file_id": self.file_id, "requester": self.requester,
                "reason": self.reason, "status": self.status, "created_at": self.created_at,
                "decided_by": self.decided_by, "decided_at": self.decided_at,
                "note": self.note, "expires_at": self.expires_at}
