"""Routes of time: scheduled messages, reminders and the after-hours setting.  Each
handler reads the request's shape and calls one domain function or command
(``relay.schedule_send``, ``relay.reminders``, ``relay.hours``); ``send_at`` and
``urgent`` on a new message come through ``relay.routes`` (``post_message``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from relay import errors, hours, messages, reminders, schedule_send
from relay.routing import Route, member, no_content, ok
from relay.commands import Caller
from relay.shapes import Fields
from relay.web import Request, Response

if TYPE_CHECKING:
    from relay.app import RelayApp


async def post_message(app: "RelayApp", caller: Caller, room_id: str, f: Fields) -> Response:
    """``POST /api/v1/rooms/{id}/messages``: 201 and the message with ``notify_at``,
    or with ``send_at`` 202 and the schedule."""
    ctx = app.ctx
    if f.obj.get("send_at") is not None:
        for name in ("reply_to", "stamp"):
            if f.obj.get(name) is not None:
                raise errors.invalid_field(name, "nothing, with send_at")
        scheduled = await ctx.run(schedule_send.schedule(
            ctx, caller, room_id, f.opt_str("body"), f.opt_str("client_id"),
            f.obj["send_at"], hours.urgent_of(f.obj)))
        app.timed.wake()
        return ok(202, {"scheduled": scheduled.public()})
    message = await ctx.run(messages.send(
        ctx, caller, room_id, f.opt_str("body"), f.opt_str("client_id"),
        reply_to=f.opt_id("reply_to"), stamp=f.opt_str("stamp"), urgent=hours.urgent_of(f.obj)))
    return ok(201, hours.answer(ctx, message))


def time_routes(app: "RelayApp") -> list[Route]:
    ctx = app.ctx
    cfg = app.cfg

    async def scheduled(req: Request, caller: Caller, p: list[str]) -> Response:
        return ok(200, {"scheduled": [s.public() for s in await schedule_send.mine(ctx, caller)]})

    async def cancel(req: Request, caller: Caller, p: list[str]) -> Response:
        await ctx.run(schedule_send.cancel(ctx, caller, p[0]))
        return no_content()

    async def remind(req: Request, caller: Caller, p: list[str]) -> Response:
        reminded = await ctx.run(reminders.remind(ctx, caller, p[0]))
        return ok(200, {"reminded": reminded})

    async def settings(req: Request, caller: Caller, p: list[str]) -> Response:
        return ok(200, await hours.get_settings(ctx, caller))

    async def change_settings(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await Fields.of(req, cfg.http.max_json_bytes)
        if "after_hours" not in f.obj:
            raise errors.invalid_field("after_hours", "true or false", "missing")
        return ok(200, await ctx.run(hours.set_after_hours(ctx, caller, f.obj["after_hours"])))

    return [
        member("GET", "/api/v1/scheduled", scheduled),
        member("DELETE", "/api/v1/scheduled/{id}", cancel),
        member("POST", "/api/v1/messages/{id}/remind", remind),
        member("GET", "/api/v1/me/settings", settings),
        member("PUT", "/api/v1/me/settings", change_settings),
    ]
