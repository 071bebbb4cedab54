"""The store's error hierarchy: stable codes the relay maps to HTTP statuses."""

from __future__ import annotations


class StoreError(Exception):
    """Base: ``code`` is the API error code, ``status`` the HTTP status hint."""

    code = "store_error"
    status = 500

    def __init__(self, message: str = "", **details: object) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.details = details


class NotFound(StoreError):
    code, status = "not_found", 404


class Conflict(StoreError):
    code, status = "conflict", 409


class LoginExists(Conflict):
    code = "login_exists"


class AccountNotFound(NotFound):
    code = "account_not_found"


class RoomNotFound(NotFound):
    code = "room_not_found"


class MessageNotFound(NotFound):
    code = "message_not_found"


class FileNotFound(NotFound):
    code = "file_not_found"


class NotMember(StoreError):
    """The account is not a member of the room it tried to act in."""

    code, status = "not_member", 403


class SessionEnded(StoreError):
    """The session a write was made through has ended (logged out, revoked with its
    account, expired) by the time the write reached the database."""

    code, status = "unauthenticated", 401


class Invalid(StoreError):
    """A request the store cannot carry out as asked (our caller's misuse or bad input)."""

    code, status = "invalid_request", 400


class FileTooLarge(StoreError):
    """An upload went over its byte cap; the partial blob was discarded."""

    code, status = "file_too_large", 413


class Corrupt(StoreError):
    """Stored bytes failed their integrity check (hash or AES-GCM tag)."""

    code, status = "store_corrupt", 500


class StoreUnavailable(StoreError):
    """The store is closed, or the database refused a write (disk full, I/O error)."""

    code, status = "store_unavailable", 503


class StorageFull(StoreUnavailable):
    """The state directory's file system is full (SQLITE_FULL, ENOSPC, EDQUOT): the
    write was not made, nothing earlier is harmed, and the same write may be retried
    once space returns (``store.diskfull``)."""

    code = "storage_full"


class RoomArchived(StoreError):
    """The room was archived: it keeps its history and takes nothing new."""

    code, status = "room_archived", 403


class DepartmentNotFound(NotFound):
    code = "department_not_found"


class DepartmentExists(Conflict):
    code = "department_exists"


class RequestNotFound(NotFound):
    code = "original_request_not_found"


class AlreadyDecided(Conflict):
    """An original request that was already approved or denied."""

    code = "original_request_decided"


class StateUnusable(StoreError):
    """The state directory cannot be opened as it is.  relayd and relayctl refuse to
    start and print the message: one line that says what is wrong and where."""

    code, status = "state_unusable", 503


class NoState(StateUnusable):
    """There is no database, and this command may not create one."""

    code = "no_state"


class KeyMissing(StateUnusable):
    """A key the existing database was written with is not where it was looked for;
    making a new one would break the audit chain and lose the quarantine."""

    code = "key_missing"


class KeyUnusable(StateUnusable):
    """A key file is there but does not hold a key."""

    code = "key_unusable"


class NotADatabase(StateUnusable):
    code = "not_a_database"


class SchemaTooNew(StateUnusable):
    """The database was written by a newer version; this one must not touch it."""

    code = "schema_too_new"


class DatabaseCorrupt(StateUnusable):
    """The database failed its check when it was opened."""

    code = "database_corrupt"
