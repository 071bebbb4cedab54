"""The store's async face for polls, schedule adjustments and roll calls: methods
``Store`` inherits (``store.facade`` holds the plumbing they use).  Creates, closes,
decisions and reminders commit with their audit entry; votes and answers are their
own record, like read markers, and are not audited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, TypeVar

from store import polls, rollcalls, schedules
from store.records import Message, Zone
from store.vote_records import Poll, RollCall, RollCallAnswer, Schedule, ScheduleAnswer

if TYPE_CHECKING:
    from store.facade import AuditFor

T = TypeVar("T")


class VoteStore:
    """Mixed into ``store.facade.Store``."""

    if TYPE_CHECKING:
        async def _write(self, fn: Callable[..., T], *args: Any) -> T: ...
        async def _read(self, fn: Callable[..., T], *args: Any) -> T: ...
        async def _audited(self, fn: Callable[..., T], args: tuple[Any, ...],
                           audit: AuditFor, now: float) -> T: ...

    # ---------------------------------------------------------------- polls
    async def create_poll(self, room_id: str, creator: str, question: str, options: list[str],
                          multiple: bool, anonymous: bool, closes_ts: float | None,
                          zone: Zone, client_id: str | None, session_id: str | None,
                          now: float, *, audit: AuditFor) -> tuple[Message, bool]:
        """The poll and its message; (message, created).  Idempotent on ``client_id``
        (the audit function gets the pair and answers None for a repeat)."""
        return await self._audited(polls.create_txn, (
            room_id, creator, question, options, multiple, anonymous, closes_ts, zone,
            client_id, session_id, now), audit, now)

    async def get_poll(self, poll_id: str) -> Poll:
        return await self._read(polls.get_poll, poll_id)

    async def vote(self, poll_id: str, account_id: str, option_ids: list[str],
                   session_id: str | None, now: float) -> tuple[Poll, bool]:
        """Replace the account's vote; (poll, changed).  PollClosed, UnknownOption."""
        return await self._write(polls.vote_txn, poll_id, account_id, option_ids, session_id,
                                 now)

    async def close_poll(self, poll_id: str, account_id: str, now: float, *,
                         audit: AuditFor) -> tuple[Poll, bool]:
        return await self._audited(polls.close_txn, (poll_id, account_id, now), audit, now)

    # ---------------------------------------------------------------- schedules
    async def create_schedule(self, room_id: str, creator: str, title: str,
                              slots: list[tuple[float, float | None, str]],
                              closes_ts: float | None, zone: Zone, client_id: str | None,
                              session_id: str | None, now: float, *,
                              audit: AuditFor) -> tuple[Message, bool]:
        return await self._audited(schedules.create_txn, (
            room_id, creator, title, slots, closes_ts, zone, client_id, session_id, now),
            audit, now)

    async def get_schedule(self, schedule_id: str) -> Schedule:
        return await self._read(schedules.get_schedule, schedule_id)

    async def answer_schedule(self, schedule_id: str, account_id: str,
                              answers: Mapping[str, str], comment: str,
                              session_id: str | None,
                              now: float) -> tuple[Schedule, ScheduleAnswer | None]:
        return await self._write(schedules.answer_txn, schedule_id, account_id, answers,
                                 comment, session_id, now)

    async def decide_schedule(self, schedule_id: str, account_id: str, slot_id: str,
                              announcement: str, zone: Zone, session_id: str | None,
                              now: float, *, audit: AuditFor) -> tuple[Schedule, Message]:
        return await self._audited(schedules.decide_txn, (
            schedule_id, account_id, slot_id, announcement, zone, session_id, now), audit, now)

    # ---------------------------------------------------------------- roll calls
    async def create_rollcall(self, room_id: str, creator: str, title: str,
                              needed: int | None, options: list[str], zone: Zone,
                              client_id: str | None, session_id: str | None, now: float, *,
                              audit: AuditFor) -> tuple[Message, bool]:
        return await self._audited(rollcalls.create_txn, (
            room_id, creator, title, needed, options, zone, client_id, session_id, now),
            audit, now)

    async def get_rollcall(self, rollcall_id: str, full: bool = True) -> RollCall:
        """With ``full``, every answer and who has not answered; else the summary."""
        return await self._read(rollcalls.get_rollcall, rollcall_id, full)

    async def answer_rollcall(self, rollcall_id: str, account_id: str, option: str,
                              eta_minutes: int | None, comment: str, session_id: str | None,
                              now: float
                              ) -> tuple[RollCall, RollCallAnswer, tuple[str, ...] | None]:
        return await self._write(rollcalls.answer_txn, rollcall_id, account_id, option,
                                 eta_minutes, comment, session_id, now)

    async def close_rollcall(self, rollcall_id: str, account_id: str, now: float, *,
                             audit: AuditFor) -> tuple[RollCall, bool]:
        return await self._audited(rollcalls.close_txn, (rollcall_id, account_id, now),
                                   audit, now)

    async def remind_rollcall(self, rollcall_id: str, account_id: str, not_before: float,
                              now: float, *, audit: AuditFor) -> tuple[RollCall, float | None]:
        return await self._audited(rollcalls.remind_txn, (rollcall_id, account_id,
                                                          not_before, now), audit, now)
