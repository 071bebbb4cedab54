"""Records of the structured messages people answer: polls (アンケート), schedule
adjustments (日程調整) and roll calls (参集確認).  Frozen, slotted, plain data.

Each has two public forms: the *summary* every member may see in a message, in
history and in the stream (counts, no per-person state), and the *view* one member
asks for (``GET``, or the answer to their own vote): the summary plus what that member
chose and, where the kind shows it, who answered what.  ``closed`` counts a passed
deadline (``closes_at``) where the time is known (views, events); a summary inside a
message of history says ``closed`` once the creator closed or decided it, and shows
``closes_at`` for the client to compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

FILLED_NOTICE_JA = "必要な人数が揃いました。これから参集する必要はありません"


def _past(closes_ts: float | None, now: float | None) -> bool:
    return closes_ts is not None and now is not None and now >= closes_ts


@dataclass(frozen=True, slots=True)
class PollOption:
    id: str
    label: str
    count: int

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "count": self.count}


@dataclass(frozen=True, slots=True)
class Poll:
    id: str
    message_id: str
    room_id: str
    creator: str
    question: str
    options: tuple[PollOption, ...]
    multiple: bool
    anonymous: bool
    closes_at: str | None
    closes_ts: float | None
    closed_at: str | None
    voters: int
    # {option id: account ids}; never shown for an anonymous poll
    votes: Mapping[str, tuple[str, ...]]

    def is_closed(self, now: float | None = None) -> bool:
        return self.closed_at is not None or _past(self.closes_ts, now)

    def my_votes(self, account_id: str) -> list[str]:
        return [o for o, who in self.votes.items() if account_id in who]

    def summary(self, now: float | None = None) -> dict[str, Any]:
        return {"id": self.id, "question": self.question,
                "options": [o.public() for o in self.options], "multiple": self.multiple,
                "anonymous": self.anonymous, "closes_at": self.closes_at,
                "closed": self.is_closed(now), "voters": self.voters, "creator": self.creator}

    def view(self, account_id: str, now: float) -> dict[str, Any]:
        out = self.summary(now)
        out["message_id"] = self.message_id
        out["room_id"] = self.room_id
        out["my_votes"] = self.my_votes(account_id)
        if not self.anonymous:
            out["votes"] = {o.id: list(self.votes.get(o.id, ())) for o in self.options}
        return out


@dataclass(frozen=True, slots=True)
class ScheduleSlot:
    id: str
    start: str
    end: str | None
    label: str
    yes: int
    maybe: int
    no: int

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "start": self.start, "end": self.end, "label": self.label,
                "yes": self.yes, "maybe": self.maybe, "no": self.no}


@dataclass(frozen=True, slots=True)
class ScheduleAnswer:
    account: str
    answers: Mapping[str, str]  # {slot id: "yes" | "maybe" | "no"}
    comment: str
    at: str

    def public(self) -> dict[str, Any]:
        return {"account": self.account, "answers": dict(self.answers),
                "comment": self.comment, "at": self.at}


@dataclass(frozen=True, slots=True)
class Schedule:
    id: str
    message_id: str
    room_id: str
    creator: str
    title: str
    slots: tuple[ScheduleSlot, ...]
    closes_at: str | None
    closes_ts: float | None
    decided_slot: str | None
    decided_at: str | None
    answers: tuple[ScheduleAnswer, ...]

    def is_closed(self, now: float | None = None) -> bool:
        return self.decided_slot is not None or _past(self.closes_ts, now)

    def slot(self, slot_id: str) -> ScheduleSlot | None:
        return next((s for s in self.slots if s.id == slot_id), None)

    def summary(self, now: float | None = None) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "slots": [s.public() for s in self.slots],
                "closes_at": self.closes_at, "closed": self.is_closed(now),
                "decided_slot": self.decided_slot, "decided_at": self.decided_at,
                "respondents": len(self.answers), "creator": self.creator}

    def view(self, account_id: str, now: float) -> dict[str, Any]:
        out = self.summary(now)
        out["message_id"] = self.message_id
        out["room_id"] = self.room_id
        out["answers"] = [a.public() for a in self.answers]
        mine = next((a for a in self.answers if a.account == account_id), None)
        out["my_answers"] = dict(mine.answers) if mine else {}
        return out


@dataclass(frozen=True, slots=True)
class RollCallAnswer:
    account: str
    option: str
    eta_minutes: int | None
    comment: str
    at: str

    def public(self) -> dict[str, Any]:
        return {"account": self.account, "option": self.option,
                "eta_minutes": self.eta_minutes, "comment": self.comment, "at": self.at}


@dataclass(frozen=True, slots=True)
class RollCall:
    id: str
    message_id: str
    room_id: str
    creator: str
    title: str
    needed: int | None
    options: tuple[str, ...]
    tally: tuple[int, ...]  # per option, in order
    answered: int  # members who answered
    unanswered_count: int
    closed_at: str | None
    reminded_at: str | None
    # Filled in for a view (empty in a summary): every answer, and who has not answered.
    answers: tuple[RollCallAnswer, ...] = ()
    unanswered: tuple[str, ...] = ()

    @property
    def filled(self) -> bool:
        """``needed`` members answered the first option: no more are needed."""
        return self.needed is not None and self.tally[0] >= self.needed

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "needed": self.needed,
                "options": list(self.options),
                "tally": dict(zip(self.options, self.tally)), "answered": self.answered,
                "unanswered_count": self.unanswered_count, "filled": self.filled,
                "closed": self.closed_at is not None, "creator": self.creator,
                "reminded_at": self.reminded_at}

    def view(self, account_id: str) -> dict[str, Any]:
        out = self.summary()
        out["message_id"] = self.message_id
        out["room_id"] = self.room_id
        out["answers"] = [a.public() for a in self.answers]
        out["unanswered"] = list(self.unanswered)
        mine = next((a for a in self.answers if a.account == account_id), None)
        out["my_answer"] = mine.public() if mine else None
        out["notice"] = self.notice_for(account_id)
        return out

    def notice_for(self, account_id: str) -> str | None:
        """What a member who has not answered is told once no more are needed."""
        if self.filled and account_id in self.unanswered:
            return FILLED_NOTICE_JA
        return None
