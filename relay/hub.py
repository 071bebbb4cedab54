"""The fan-out hub: events to every connected stream session of the accounts concerned.

Each stream session subscribes with a bounded queue (``HTTPConfig.ws_send_queue``
events).  ``publish`` never waits: it drops each event into the queues with
``send_nowait``; a session whose queue is full is a client that does not drain, and
is disconnected (its cancel scope cancelled) instead of slowing the publisher or any
other session (docs/SECURITY.md "Network edges").

An event is encoded to JSON once per zone, not once per session: with rooms of a few
hundred members the encoding would otherwise dominate.  The zone decides the *form*
of an event (each zone sees its own form of a file event): ``publish`` takes either one event for all or a
function ``zone -> event``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import trio

from policy.zones import ZONES
from store.records import Zone

log = logging.getLogger(__name__)

EventForm = Mapping[str, Any] | Callable[[Zone], Mapping[str, Any]]

# Why a subscription ended (kept on the subscription for the session to report).
OVERFLOW = "overflow"
REVOKED = "revoked"


@dataclass(eq=False, slots=True)
class Subscription:
    """One stream session's place in the hub.  The session reads ``receive`` and runs
    inside ``scope``; the hub cancels ``scope`` to disconnect it."""

    account_id: str
    zone: Zone
    session_id: str
    send: trio.MemorySendChannel[str]
    receive: trio.MemoryReceiveChannel[str]
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    ended: str | None = None  # OVERFLOW / REVOKED once the hub has cut it off

    def kick(self, reason: str) -> None:
        if self.ended is None:
            self.ended = reason
        self.scope.cancel()


def encode(event: Mapping[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


class Hub:
    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self._by_account: dict[str, set[Subscription]] = {}
        self.delivered = 0
        self.overflowed = 0

    # ------------------------------------------------------------ subscriptions
    def subscribe(self, account_id: str, zone: Zone, session_id: str) -> Subscription:
        send, receive = trio.open_memory_channel[str](self.queue_size)
        sub = Subscription(account_id, zone, session_id, send, receive)
        self._by_account.setdefault(account_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """The session ends: forget it (idempotent)."""
        self._forget(sub)
        sub.receive.close()

    def _forget(self, sub: Subscription) -> None:
        subs = self._by_account.get(sub.account_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_account[sub.account_id]
        sub.send.close()

    def sessions(self, account_id: str | None = None) -> int:
        """Connected stream sessions (of one account, or all)."""
        if account_id is not None:
            return len(self._by_account.get(account_id, ()))
        return sum(len(s) for s in self._by_account.values())

    def sessions_by_zone(self) -> dict[Zone, int]:
        """Connected stream sessions per zone (for /metrics)."""
        out: dict[Zone, int] = {z: 0 for z in ZONES}
        for subs in self._by_account.values():
            for sub in subs:
                out[sub.zone] += 1
        return out

    def streams_of_session(self, account_id: str, session_id: str) -> int:
        return sum(1 for s in self._by_account.get(account_id, ()) if s.session_id == session_id)

    # ------------------------------------------------------------ publishing
    def publish(self, account_ids: Iterable[str], event: EventForm) -> int:
        """Queue ``event`` for every session of ``account_ids``; returns how many
        sessions got it.  Never blocks; full queues disconnect their session."""
        encoded: dict[Zone, str] = {}
        n = 0
        for account_id in set(account_ids):
            for sub in tuple(self._by_account.get(account_id, ())):
                text = encoded.get(sub.zone)
                if text is None:
                    form = event(sub.zone) if callable(event) else event
                    text = encoded[sub.zone] = encode(form)
                try:
                    sub.send.send_nowait(text)
                except trio.WouldBlock:
                    self.overflowed += 1
                    log.info("stream session of account %s does not drain; disconnecting",
                             account_id)
                    self._drop(sub, OVERFLOW)
                except (trio.ClosedResourceError, trio.BrokenResourceError):
                    self._drop(sub, REVOKED)
                else:
                    n += 1
        self.delivered += n
        return n

    # ------------------------------------------------------------ disconnecting
    def disconnect_account(self, account_id: str) -> int:
        """Cut off every session of an account (it was disabled)."""
        subs = tuple(self._by_account.get(account_id, ()))
        for sub in subs:
            self._drop(sub, REVOKED)
        return len(subs)

    def disconnect_session(self, session_id: str, account_id: str) -> int:
        """Cut off the streams opened with one login session (it logged out)."""
        subs = [s for s in self._by_account.get(account_id, ()) if s.session_id == session_id]
        for sub in subs:
            self._drop(sub, REVOKED)
        return len(subs)

    def _drop(self, sub: Subscription, reason: str) -> None:
        # Only the send side is closed here: the session owns (and closes) its receive
        # side, and learns why from ``sub.ended`` once its scope is cancelled.
        self._forget(sub)
        sub.kick(reason)
