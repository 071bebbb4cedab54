"""Routes of Web Push: relayd's public VAPID key, and a phone's subscription."""

from __future__ import annotations

from typing import TYPE_CHECKING

from relay import push
from relay.routing import Route, member, no_content, ok
from relay.commands import Caller
from relay.shapes import Fields
from relay.web import Request, Response

if TYPE_CHECKING:
    from relay.app import RelayApp


def push_routes(app: "RelayApp") -> list[Route]:
    ctx = app.ctx

    async def key(req: Request, caller: Caller, p: list[str]) -> Response:
        return ok(200, {"public_key": push.public_key(await ctx.store.vapid_key())})

    async def subscribe(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await Fields.of(req, app.cfg.http.max_json_bytes)
        keys = Fields(f.obj.get("keys"), "keys")
        sub = await ctx.run(push.subscribe(ctx, caller, f.req_str("endpoint"),
                                           keys.req_str("p256dh"), keys.req_str("auth")))
        if app.push.subscribed is not None:
            app.push.subscribed.add(caller.account.id)
        return ok(201, {"id": sub.id})

    async def unsubscribe(req: Request, caller: Caller, p: list[str]) -> Response:
        await ctx.run(push.unsubscribe(ctx, caller, p[0]))
        return no_content()

    return [
        member("GET", "/api/v1/push/key", key),
        member("POST", "/api/v1/push/subscriptions", subscribe),
        member("DELETE", "/api/v1/push/subscriptions/{id}", unsubscribe),
    ]
