"""relayctl's operations on accounts over the years (``relay.control.OPERATIONS``
takes them in): every session of an account ended (``account logout``), an external
account's sponsor and last day changed, and the sponsor and last day beside each
account of a listing.  The changes are commands of relay.my_sessions and
relay.externals run as the operator.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from relay import externals, my_sessions
from relay.commands import OPERATOR, Context

Operation = Callable[[Context, dict[str, Any]], Awaitable[dict[str, Any]]]


async def _logout(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    account, n = await ctx.run(my_sessions.end_all_sessions(ctx, OPERATOR, a["login"]))
    return {"account": account.public(), "sessions_ended": n}


async def _sponsor(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    sponsor = await externals.sponsor(ctx, login=a["sponsor"])
    s = await ctx.run(externals.set_sponsorship(ctx, OPERATOR, a["login"], sponsor_account=sponsor))
    return {"external": s.public(ctx.now())}


async def _expires(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    s = await ctx.run(externals.set_sponsorship(ctx, OPERATOR, a["login"],
                                                expires_at=a["expires_at"]))
    return {"external": s.public(ctx.now())}


async def with_sponsorship(ctx: Context, rows: list[dict[str, Any]],
                           expiring_days: int | None) -> list[dict[str, Any]]:
    """Listing rows (``{"id", ...}``) with ``sponsor_login`` and ``expires_at`` (null but
    for external accounts); with ``expiring_days``, only the external accounts whose
    last day is that close or past."""
    found = {e["id"]: e for e in await externals.listing(ctx, expiring_days)}
    out = []
    for row in rows:
        e = found.get(row["id"])
        if expiring_days is not None and e is None:
            continue
        out.append({**row, "sponsor_login": e["sponsor_login"] if e else None,
                    "expires_at": e["expires_at"] if e else None,
                    "expired": bool(e and e["expired"])})
    return out


OPERATIONS: dict[str, Operation] = {
    "account.logout": _logout,
    "account.sponsor": _sponsor,
    "account.expires": _expires,
}
