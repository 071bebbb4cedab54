"""The async face of the store: what relay (and only relay) awaits.

INTERFACE CONTRACT — written first so relay/ and store/ can be built side by side.
The store helper implements every method below (keeping the signatures; adding
methods is fine).  Semantics:

* Writes go to ONE writer thread that owns the only write connection.  Calls that
  arrive within ``cfg.group_commit_ms`` share one transaction (group commit); each
  caller's ``await`` returns only after that COMMIT has returned (WAL,
  ``synchronous=FULL``).  One failing operation must not fail the others in its group
  (use a SAVEPOINT per operation).
* Reads run on a small pool of read connections in worker threads
  (``trio.to_thread.run_sync``), never on the event loop.
* scrypt (password hashing) runs in a worker thread, not the writer thread.
* Errors are ``store.errors`` classes (code + HTTP status hint).
* ``now`` is passed in where time matters, so tests control it.
"""

from __future__ import annotations

from typing import Any

from store.config import StoreConfig
from store.records import (
    Account, AccountKind, Attachment, AuditEntry, Message, Readers, Room, RoomKind,
    RoomSummary, Session, Zone,
)


class Store:
    """Open with ``await Store.open(cfg)``; close with ``await store.aclose()``."""

    @classmethod
    async def open(cls, cfg: StoreConfig) -> "Store":
        """Create the state directory if needed, apply migrations, start the writer."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Finish queued writes, stop the writer, close every connection."""
        raise NotImplementedError

    # ---------------------------------------------------------------- accounts
    async def create_account(self, login: str, password: str | None, kind: AccountKind,
                             display_name: str = "") -> Account:
        """LoginExists if taken.  ``password=None`` creates an account that cannot log in."""
        raise NotImplementedError

    async def check_password(self, login: str, password: str) -> Account | None:
        """The account if login exists, is enabled and the password matches; else None.
        Costs one scrypt either way (no timing oracle on unknown logins)."""
        raise NotImplementedError

    async def set_password(self, login: str, password: str) -> Account:
        raise NotImplementedError

    async def disable_account(self, login: str) -> Account:
        """Also revokes all the account's sessions."""
        raise NotImplementedError

    async def get_account(self, account_id: str) -> Account:
        raise NotImplementedError

    async def get_account_by_login(self, login: str) -> Account:
        raise NotImplementedError

    async def list_accounts(self) -> list[Account]:
        raise NotImplementedError

    async def set_totp_secret(self, login: str, secret: bytes | None) -> None:
        raise NotImplementedError

    async def totp_state(self, account_id: str) -> tuple[bytes | None, int]:
        """(secret or None, last accepted time-step counter)."""
        raise NotImplementedError

    async def accept_totp_step(self, account_id: str, step: int) -> bool:
        """Record ``step`` as used; False if it is not newer than the last one (replay)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- sessions
    async def create_session(self, account_id: str, zone: Zone, now: float,
                             ttl_s: float) -> tuple[str, Session]:
        """A new random token (>=128 bits, urlsafe); only its SHA-256 is stored."""
        raise NotImplementedError

    async def session_for_token(self, token: str, now: float) -> tuple[Account, Session] | None:
        """None if unknown, revoked, expired, or the account is disabled."""
        raise NotImplementedError

    async def revoke_session(self, token: str) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- rooms
    async def create_room(self, name: str, kind: RoomKind, member_ids: list[str],
                          created_by: str, now: float) -> Room:
        """AccountNotFound names the first unknown member.  A direct room has exactly two
        members; creating the same direct pair again returns the existing room."""
        raise NotImplementedError

    async def add_member(self, room_id: str, account_id: str) -> Room:
        raise NotImplementedError

    async def get_room(self, room_id: str) -> Room:
        raise NotImplementedError

    async def rooms_for(self, account_id: str) -> list[RoomSummary]:
        """The rooms the account is a member of, with unread counts and last message,
        most recently active first."""
        raise NotImplementedError

    async def is_member(self, room_id: str, account_id: str) -> bool:
        raise NotImplementedError

    async def shares_room(self, account_a: str, account_b: str) -> bool:
        raise NotImplementedError

    # ---------------------------------------------------------------- messages
    async def post_message(self, room_id: str, sender_id: str, body: str,
                           origin_zone: Zone, client_id: str | None,
                           now: float) -> tuple[Message, bool]:
        """Commit a message; (message, created).  With a ``client_id`` already used by
        this sender, returns the earlier message and created=False (idempotent).
        The sender's own read state moves to the new message."""
        raise NotImplementedError

    async def get_message(self, message_id: str) -> Message:
        raise NotImplementedError

    async def history(self, room_id: str, before: str | None, limit: int) -> list[Message]:
        """Up to ``limit`` messages older than ``before`` (or the newest), oldest first."""
        raise NotImplementedError

    async def mark_read(self, room_id: str, account_id: str, up_to: str) -> bool:
        """Move the account's read marker forward to ``up_to`` (never backwards);
        True if it moved."""
        raise NotImplementedError

    async def readers(self, message_id: str) -> Readers:
        raise NotImplementedError

    # ---------------------------------------------------------------- files (issue 4)
    async def post_file(self, room_id: str, sender_id: str, origin_zone: Zone,
                        name: str, size: int, sha256: str, kind: str, status: str,
                        client_id: str | None, now: float,
                        report: dict[str, Any] | None = None) -> tuple[Message, bool]:
        raise NotImplementedError

    async def get_attachment(self, attachment_id: str) -> Attachment:
        raise NotImplementedError

    async def finish_attachment(self, attachment_id: str, status: str, report: dict[str, Any],
                                sanitized_sha256: str | None, sanitized_size: int | None,
                                sanitized_name: str | None) -> Attachment:
        raise NotImplementedError

    async def pending_attachments(self) -> list[Attachment]:
        raise NotImplementedError

    # ---------------------------------------------------------------- audit
    async def audit(self, action: str, actor: str | None, subject: str | None,
                    data: dict[str, Any], now: float) -> AuditEntry:
        """Append one hash-chained entry (HMAC of the previous entry's MAC + this one)."""
        raise NotImplementedError

    async def audit_entries(self, after: int, limit: int) -> list[AuditEntry]:
        raise NotImplementedError

    async def audit_verify(self) -> tuple[bool, int, int | None]:
        """(ok, entries checked, id of the first bad entry or None)."""
        raise NotImplementedError
