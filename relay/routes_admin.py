"""Admin routes for rooms and one-time codes (LGWAN only): the rooms listed with their
members and department, a member added or removed, a room archived or brought back,
and an account's TOTP secret enrolled (or replaced).

These run the same commands as relayctl's ``room.*`` and ``account.totp`` operations
(``relay.directory``, ``relay.accounts``) and answer in the same shape
(``relay.directory_ops.rooms_shown``); the only difference is the actor: the admin
who called (``caller.actor``) instead of the operator, so the audit log says who.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relay import accounts, directory
from relay.commands import Caller
from relay.directory_ops import rooms_shown
from relay.routing import Route, admin, ok
from relay.shapes import Fields, query_bool
from relay.web import Request, Response

if TYPE_CHECKING:
    from relay.app import RelayApp


def room_admin_routes(app: "RelayApp") -> list[Route]:
    ctx = app.ctx

    async def fields(req: Request) -> Fields:
        return await Fields.of(req, app.cfg.http.max_json_bytes)

    async def room_list(req: Request, caller: Caller, p: list[str]) -> Response:
        found = await directory.room_infos(ctx, req.query.get("department") or None,
                                           query_bool(req, "archived"))
        return ok(200, {"rooms": await rooms_shown(ctx, found)})

    async def member(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await fields(req)
        login = f.req_str("login")
        cmd = directory.add_member if f.req_flag("add") else directory.remove_member
        room = await ctx.run(cmd(ctx, caller.actor, p[0], login))
        return ok(200, {"room": (await rooms_shown(ctx, [room]))[0]})

    async def archive(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await fields(req)
        room = await ctx.run(directory.set_archived(ctx, caller.actor, p[0],
                                                    f.req_flag("archived")))
        return ok(200, {"room": (await rooms_shown(ctx, [room]))[0]})

    async def totp(req: Request, caller: Caller, p: list[str]) -> Response:
        target = await ctx.store.get_account(p[0])
        enrol = await ctx.run(accounts.enrol_totp(ctx, caller.actor, target.login))
        return ok(200, {"login": target.login, "secret": enrol.secret_b32, "uri": enrol.uri})

    return [
        admin("GET", "/api/v1/admin/rooms", room_list),
        admin("POST", "/api/v1/admin/rooms/{id}/members", member),
        admin("POST", "/api/v1/admin/rooms/{id}/archive", archive),
        admin("POST", "/api/v1/admin/accounts/{id}/totp", totp),
    ]
