"""The routes of accounts over the years: a person's sessions (seen, one ended), the
external accounts a staff member sponsors, and the admin's side (every session of an
account ended, external accounts listed, their sponsor and last day changed).
Handlers read the request's shape and call relay.my_sessions / relay.externals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relay import externals, my_sessions
from relay.routing import Route, admin, member, no_content, ok
from relay.commands import Caller
from relay.shapes import Fields, query_int
from relay.web import Request, Response

if TYPE_CHECKING:
    from relay.app import RelayApp


def lifecycle_routes(app: "RelayApp") -> list[Route]:
    ctx = app.ctx
    cfg = app.cfg

    async def my_session_list(req: Request, caller: Caller, p: list[str]) -> Response:
        return ok(200, {"sessions": await my_sessions.sessions_of(ctx, caller)})

    async def end_my_session(req: Request, caller: Caller, p: list[str]) -> Response:
        await ctx.run(my_sessions.end_own_session(ctx, caller, p[0]))
        return no_content()

    async def my_sponsored(req: Request, caller: Caller, p: list[str]) -> Response:
        return ok(200, {"accounts": await externals.sponsored(ctx, caller)})

    async def end_sessions(req: Request, caller: Caller, p: list[str]) -> Response:
        target = await ctx.store.get_account(p[0])
        account, n = await ctx.run(my_sessions.end_all_sessions(ctx, caller.actor,
                                                                 target.login))
        return ok(200, {"account": account.public(), "sessions_ended": n})

    async def external_list(req: Request, caller: Caller, p: list[str]) -> Response:
        days = (query_int(req, "expiring", 0, 0, externals.MAX_TERM_DAYS)
                if "expiring" in req.query else None)
        return ok(200, {"accounts": await externals.listing(ctx, days)})

    async def sponsorship(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await Fields.of(req, cfg.http.max_json_bytes)
        target = await ctx.store.get_account(p[0])
        sponsor_id = f.opt_id("sponsor")
        sponsor = (None if sponsor_id is None
                   else await externals.sponsor(ctx, account_id=sponsor_id))
        changed = await ctx.run(externals.set_sponsorship(
            ctx, caller.actor, target.login, sponsor, f.opt_str("expires_at")))
        return ok(200, changed.public(ctx.now()))

    return [
        member("GET", "/api/v1/me/sessions", my_session_list),
        member("DELETE", "/api/v1/me/sessions/{id}", end_my_session),
        member("GET", "/api/v1/me/sponsored", my_sponsored),
        admin("POST", "/api/v1/admin/accounts/{id}/sessions/end", end_sessions),
        admin("GET", "/api/v1/admin/external-accounts", external_list),
        admin("PATCH", "/api/v1/admin/accounts/{id}/sponsorship", sponsorship),
    ]
