"""The store's async face for 上長承認 (``store.approvals``): methods ``Store`` inherits.
A held file is posted with its pending approval in one transaction; each decision and
each change of the settings commits with its audit entry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

from store import approvals
from store.approvals import FileApproval
from store.records import Message, Zone

if TYPE_CHECKING:
    from store.facade import AuditFor

T = TypeVar("T")


class ApprovalStore:
    """Mixed into ``store.facade.Store``."""

    if TYPE_CHECKING:
        async def _write(self, fn: Callable[..., T], *args: Any) -> T: ...
        async def _read(self, fn: Callable[..., T], *args: Any) -> T: ...
        async def _audited(self, fn: Callable[..., T], args: tuple[Any, ...],
                           audit: AuditFor, now: float) -> T: ...

    async def approval_hold(self, sender_id: str, room_id: str) -> tuple[bool, str | None]:
        """(whether this sender's file in this room waits for approval, their department)."""
        return await self._read(approvals.hold_for, sender_id, room_id)

    async def post_held_file(self, room_id: str, sender_id: str, origin_zone: Zone, name: str,
                             size: int, sha256: str, kind: str, status: str,
                             client_id: str | None, now: float, session_id: str | None,
                             department_id: str | None, *,
                             audit: AuditFor) -> tuple[Message, bool]:
        """``post_file`` with the file's pending approval and its audit entry (the
        audit function gets (message, created) and answers None for a repeat)."""
        return await self._audited(approvals.post_held_txn, (
            room_id, sender_id, origin_zone, name, size, sha256, kind, status, client_id,
            now, session_id, department_id), audit, now)

    async def get_approval(self, approval_id: str) -> FileApproval:
        return await self._read(approvals.get_approval, approval_id)

    async def approval_of_file(self, file_id: str) -> FileApproval | None:
        return await self._read(approvals.approval_of_file, file_id)

    async def approver_departments(self, account_id: str) -> list[str]:
        return await self._read(approvals.approver_departments, account_id)

    async def approvers_of(self, department_id: str | None) -> list[str]:
        return await self._read(approvals.approvers_of, department_id)

    async def may_approve(self, account_id: str, department_id: str | None) -> bool:
        return await self._read(approvals.may_decide, account_id, department_id)

    async def approval_queue(self, departments: list[str] | None, status: str | None,
                             limit: int) -> list[FileApproval]:
        return await self._read(approvals.queue, departments, status, limit)

    async def decide_approval(self, approval_id: str, decider: str | None, approve: bool,
                              reason: str, now: float, *, audit: AuditFor) -> FileApproval:
        """Approve or refuse, once (ApprovalDecided otherwise)."""
        return await self._audited(approvals.decide_txn,
                                   (approval_id, decider, approve, reason, now), audit, now)

    async def approval_settings(self) -> dict[str, Any]:
        return await self._read(approvals.settings)

    async def set_department_approval(self, department: str, on: bool, now: float, *,
                                      audit: AuditFor) -> dict[str, Any]:
        return await self._audited(approvals.set_department_txn, (department, on), audit, now)

    async def set_room_approval(self, room_id: str, on: bool, now: float, *,
                                audit: AuditFor) -> dict[str, Any]:
        return await self._audited(approvals.set_room_txn, (room_id, on), audit, now)

    async def set_approver(self, department: str, account_id: str, on: bool, now: float, *,
                           audit: AuditFor) -> dict[str, Any]:
        return await self._audited(approvals.set_approver_txn, (department, account_id, on),
                                   audit, now)
