"""A person's sessions: seeing them (device, zone, since when, last used, whether it is
this one), ending one (a lost phone), and an admin ending all of an account's.

The device is what the User-Agent at login says, shortened to what a person
recognises ("Safari (iPhone)", "Edge (Windows)").  Last use is remembered in memory
on every authenticated request (one dict assignment) and written in one batch about
once a minute by ``LastSeen.run``: the request itself never waits for it; a listing
shows the remembered time even before it is written.  Ending a session ends its
streams at once (``Done.end_sessions``).
"""

from __future__ import annotations

import logging
import re
import weakref
from typing import Any

import trio

from store import own_sessions as so
from store.errors import StoreError
from store.records import Account, Audit

from relay.commands import Actor, Caller, Context, Done

log = logging.getLogger(__name__)

DEVICE_MAX_CHARS = 80  # what is stored of a device label
FLUSH_INTERVAL_S = 60.0  # last use is written at most this often per session

# (pattern, name), first match wins: the order matters (Edge and Opera also say
# "Chrome", Chrome also says "Safari", iPad/iPhone also say "Mac OS X").
_SYSTEMS = ((r"iPhone", "iPhone"), (r"iPad", "iPad"), (r"Android", "Android"),
            (r"CrOS", "ChromeOS"), (r"Windows", "Windows"), (r"Macintosh|Mac OS X", "Mac"),
            (r"Linux", "Linux"))
_BROWSERS = ((r"Edg(e|A|iOS)?/", "Edge"), (r"OPR/|Opera", "Opera"),
             (r"Firefox/|FxiOS/", "Firefox"), (r"Chrome/|CriOS/", "Chrome"),
             (r"Safari/", "Safari"))
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")


def device_label(user_agent: str | None) -> str:
    """A short name for the device a login came from; "" when it said nothing."""
    ua = _UNPRINTABLE.sub(" ", user_agent or "").strip()
    if not ua:
        return ""
    system = next((name for pat, name in _SYSTEMS if re.search(pat, ua)), None)
    browser = next((name for pat, name in _BROWSERS if re.search(pat, ua)), None)
    if browser and system:
        return f"{browser} ({system})"
    if browser or system:
        return browser or system or ""
    # A native client or a tool: its own first word ("Kakehashi-iOS/1.2", "curl/8.5").
    return ua.split(" ", 1)[0][:DEVICE_MAX_CHARS]


class LastSeen:
    """When each session was last used, held until the next batch write."""

    def __init__(self) -> None:
        self._pending: dict[str, float] = {}

    def mark(self, session_id: str, now: float) -> None:
        self._pending[session_id] = now

    def get(self, session_id: str) -> float | None:
        return self._pending.get(session_id)

    async def flush(self, ctx: Context) -> int:
        """Write what was remembered in one transaction; returns how many sessions."""
        taken, self._pending = self._pending, {}
        if taken:
            await so.touch(ctx.store, [(t, int(sid)) for sid, t in taken.items()])
        return len(taken)

    async def run(self, ctx: Context) -> None:
        """Flush about once a minute until cancelled (relay.app starts it)."""
        while True:
            await trio.sleep(FLUSH_INTERVAL_S)
            try:
                await self.flush(ctx)
            except StoreError as exc:  # a last-use time is not worth more than a log line
                log.warning("session last use not written: %s", exc)


_SEEN: "weakref.WeakKeyDictionary[Context, LastSeen]" = weakref.WeakKeyDictionary()


def last_seen(ctx: Context) -> LastSeen:
    """The relayd's one LastSeen (per Context)."""
    seen = _SEEN.get(ctx)
    if seen is None:
        seen = _SEEN[ctx] = LastSeen()
    return seen


# --------------------------------------------------------------------------- reads


async def sessions_of(ctx: Context, caller: Caller) -> list[dict[str, Any]]:
    """The caller's live sessions, in both zones, newest first."""
    seen = last_seen(ctx)
    out = []
    for s in await so.read(ctx.store, so.live_sessions, caller.account.id, ctx.now()):
        pending = seen.get(s.id)
        if pending is not None and (s.last_seen_ts or 0) < pending:
            s = so.SessionInfo(s.id, s.account_id, s.zone, s.device, s.created_at,
                               s.expires_at, pending)
        out.append(s.public(current=s.id == caller.session.id,
                            streams=ctx.hub.streams_of_session(caller.account.id, s.id)))
    return out


# --------------------------------------------------------------------------- commands


async def end_own_session(ctx: Context, caller: Caller, session_id: str) -> Done[None]:
    """End one of the caller's sessions (any zone; this one too): its token answers
    401 from now on and its open streams close (1008 ``session revoked``)."""
    me = caller.account.id
    ended = await so.write(
        ctx.store, so.end_session_txn, (me, session_id, ctx.now()),
        lambda s: Audit("session.ended", me, me, {
            "session_id": s.id, "zone": s.zone, "device": s.device, "by": "self",
            "from_zone": caller.zone}), ctx.now())
    return Done(None, end_sessions=((ended.id, me),))


async def end_all_sessions(ctx: Context, actor: Actor, login: str) -> Done[tuple[Account, int]]:
    """An admin (or the operator) ends every session of an account, and its streams;
    the account stays enabled: its owner logs in again."""
    target = await ctx.store.get_account_by_login(login)
    ended = await so.write(
        ctx.store, so.end_all_txn, (target.id,),
        lambda ids: Audit("account.sessions_ended", actor.account_id, target.id,
                          {"login": target.login, "sessions_ended": len(ids)}), ctx.now())
    return Done((target, len(ended)), end_accounts=(target.id,))
