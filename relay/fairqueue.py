"""The disarm queue's order: fair between zones and between uploaders, and bounded.

Sans I/O: ``DisarmJobs`` pushes a job with its owner (the uploader's account) and zone,
its workers ``pop`` the next one and report ``done``.  The rules:

* zones take turns (a flood from the internet does not hold up LGWAN's files, nor the
  other way round), and within a zone the uploaders take turns, in the order they
  first queued a job (round robin), so one account's hundred files wait behind
  everyone else's next file, not in front of it;
* one uploader holds at most ``workers - 1`` workers (at least one), so a worker is
  always free for someone else: jobs are not pre-empted, and another account's small
  file must not wait for a worker that a flood of costly files (each may take many
  seconds) all occupy.  The price: one uploader alone uses one core less;
* the queue is bounded: ``admits`` says whether an uploader may queue another file
  (at most ``per_owner`` waiting or running, at most ``total`` waiting in all); the
  upload is refused before its body is read, so nothing is lost.  Jobs resumed after
  a restart are queued whatever the bounds (they are already stored).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Generic, Hashable, TypeVar

from policy.zones import ZONES, Zone

T = TypeVar("T", bound=Hashable)


class FairQueue(Generic[T]):
    def __init__(self, workers: int, per_owner: int, total: int) -> None:
        self.workers = workers
        self.per_owner = per_owner
        self.total = total
        # zone -> owner -> that owner's waiting jobs, owners in turn order.
        self._waiting: dict[Zone, OrderedDict[str, deque[T]]] = {z: OrderedDict() for z in ZONES}
        self._running: dict[str, int] = {}
        self._next_zone = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def running(self) -> int:
        return sum(self._running.values())

    def load_of(self, owner: str) -> int:
        """The owner's jobs waiting and running."""
        waiting = sum(len(q.get(owner, ())) for q in self._waiting.values())
        return waiting + self._running.get(owner, 0)

    def admits(self, owner: str) -> bool:
        return self._size < self.total and self.load_of(owner) < self.per_owner

    def push(self, owner: str, zone: Zone, item: T) -> None:
        self._waiting[zone].setdefault(owner, deque()).append(item)
        self._size += 1

    def pop(self) -> tuple[str, T] | None:
        """The next job to start, or None when none may start now."""
        cap = max(1, self.workers - 1)
        for i in range(len(ZONES)):
            zone = ZONES[(self._next_zone + i) % len(ZONES)]
            owners = self._waiting[zone]
            for owner in list(owners):
                if self._running.get(owner, 0) >= cap:
                    continue
                jobs = owners.pop(owner)
                item = jobs.popleft()
                if jobs:
                    owners[owner] = jobs  # to the back of the zone's turn order
                self._next_zone = (self._next_zone + i + 1) % len(ZONES)
                self._running[owner] = self._running.get(owner, 0) + 1
                self._size -= 1
                return owner, item
        return None

    def done(self, owner: str) -> None:
        n = self._running.get(owner, 0) - 1
        if n > 0:
            self._running[owner] = n
        else:
            self._running.pop(owner, None)
