"""Actions as commands: the one door every change goes through.

An action that changes state is a coroutine ``command(ctx, actor, …) -> Done``:

1. the check: authorise and validate, read what it needs, write nothing;
2. one store call that makes the change and appends its audit entry in the same
   SQLite transaction (``store.facade``'s ``audit=``), so no crash leaves one
   without the other;
3. it returns ``Done``: the value for the caller, the events to publish and the
   sessions or accounts whose streams must end.

``Context.run`` awaits the command and only then publishes: events and disconnects
happen after COMMIT, never for a change that did not happen.  The HTTP routes, the
stream and relayctl (through the control socket, or on the store itself when relayd is
not running) all call the same commands, so the same action leaves the same audit
entry and the same events whichever way it came.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Generic, TypeVar

from policy.ratelimit import Limiter, Rate
from policy.zones import Zone
from store.facade import Store
from store.records import Account, Session

from relay.config import Config
from relay.hub import EventForm, Hub

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: an account through a zone, or the operator at the relay host
    (relayctl: no account, no zone; the audit entry's actor is then empty)."""

    account_id: str | None
    zone: Zone | None


OPERATOR = Actor(None, None)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request: who, through which listener, with which session."""

    account: Account
    session: Session
    token: str
    zone: Zone

    @property
    def actor(self) -> Actor:
        return Actor(self.account.id, self.zone)


@dataclass(frozen=True, slots=True)
class Event:
    """One event for the streams of ``to`` (account ids), in each zone's form."""

    to: tuple[str, ...]
    form: EventForm


@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    """What a committed command hands back: its value and its effects."""

    value: T
    events: tuple[Event, ...] = ()
    end_accounts: tuple[str, ...] = ()  # every stream of these accounts ends
    end_sessions: tuple[tuple[str, str], ...] = ()  # (session id, account id)


class Limits:
    """The rate limiters that outlive a request (one set per relayd)."""

    def __init__(self, cfg: Config) -> None:
        a = cfg.auth
        self.login_by_account = Limiter(Rate(a.login_burst_account, a.login_refill_s_account))
        self.login_by_ip = Limiter(Rate(a.login_burst_ip, a.login_refill_s_ip))
        self.sends = Limiter(Rate(a.message_burst, a.message_refill_s))
        self.uploads = Limiter(Rate(a.upload_burst, a.upload_refill_s))


class Context:
    """What commands work with: config, store, hub, clock and limits.

    relayd has one; relayctl without a running relayd makes its own, whose hub has no
    streams (so publishing reaches nobody, as nobody is connected)."""

    def __init__(self, cfg: Config, store: Store, hub: Hub, now: Callable[[], float]) -> None:
        self.cfg = cfg
        self.store = store
        self.hub = hub
        self.now = now
        self.limits = Limits(cfg)
        self.messages_posted = 0
        # Answers committed but not yet published, per roll call (relay.rollcalls).
        self.pending_answers: dict[str, list[dict[str, Any]]] = {}
        # Called with every event published (after its COMMIT), beside the streams:
        # Web Push takes its notices from here (relay.push).
        self.observers: list[Callable[[tuple[str, ...], EventForm], None]] = []

    async def run(self, command: Awaitable[Done[T]]) -> T:
        """Await a command (it has committed when it returns), then publish."""
        done = await command
        self.apply(done)
        return done.value

    def apply(self, done: Done[Any]) -> None:
        for account_id in done.end_accounts:
            self.hub.disconnect_account(account_id)
        for session_id, account_id in done.end_sessions:
            self.hub.disconnect_session(session_id, account_id)
        for event in done.events:
            self.hub.publish(event.to, event.form)
            for observe in self.observers:
                observe(event.to, event.form)
