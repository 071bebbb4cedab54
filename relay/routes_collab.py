"""Routes of working together: stamps, reactions, edits and deletes, versions,
search.  Each handler reads the request's shape and calls one domain function or
command (``relay.reactions``, ``relay.edits``, ``relay.search``); stamps, replies and
mentions on new messages go through ``relay.messages.send`` (``relay.routes``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from relay import edits, errors, reactions, search
from relay.routing import Route, member, no_content, ok
from relay.commands import Caller
from relay.shapes import Fields, query_id, query_int
from relay.stamps import catalogue
from relay.web import Request, Response

if TYPE_CHECKING:
    from relay.app import RelayApp


def collab_routes(app: "RelayApp") -> list[Route]:
    ctx = app.ctx
    cfg = app.cfg

    async def stamps(req: Request, caller: Caller, p: list[str]) -> Response:
        return ok(200, {"stamps": [s.public() for s in catalogue()]})

    async def react(req: Request, caller: Caller, p: list[str]) -> Response:
        await ctx.run(reactions.react(ctx, caller, p[0], p[1], on=True))
        return no_content()

    async def unreact(req: Request, caller: Caller, p: list[str]) -> Response:
        await ctx.run(reactions.react(ctx, caller, p[0], p[1], on=False))
        return no_content()

    async def edit(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await Fields.of(req, cfg.http.max_json_bytes)
        message = await ctx.run(edits.edit(ctx, caller, p[0], f.req_str("body")))
        return ok(200, message.public())

    async def delete(req: Request, caller: Caller, p: list[str]) -> Response:
        await ctx.run(edits.delete(ctx, caller, p[0]))
        return no_content()

    async def versions(req: Request, caller: Caller, p: list[str]) -> Response:
        message, found = await edits.versions(ctx, caller, p[0])
        return ok(200, {"message": message.public(), "versions": [v.public() for v in found]})

    async def find(req: Request, caller: Caller, p: list[str]) -> Response:
        q = req.query.get("q")
        if q is None:
            raise errors.invalid_field("q", "a string", "missing")
        results = await search.search(
            ctx, caller, q, room_id=query_id(req, "room"), sender_id=query_id(req, "sender"),
            after=req.query.get("after"), before=req.query.get("before"),
            before_id=query_id(req, "before_id"),
            limit=query_int(req, "limit", search.DEFAULT_LIMIT, 1, search.MAX_LIMIT))
        return ok(200, {"results": results})

    return [
        member("GET", "/api/v1/stamps", stamps),
        member("PUT", "/api/v1/messages/{id}/reactions/{id}", react),
        member("DELETE", "/api/v1/messages/{id}/reactions/{id}", unreact),
        member("PATCH", "/api/v1/messages/{id}", edit),
        member("DELETE", "/api/v1/messages/{id}", delete),
        member("GET", "/api/v1/messages/{id}/versions", versions),
        member("GET", "/api/v1/search", find),
    ]
