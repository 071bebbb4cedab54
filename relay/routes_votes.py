"""Routes of answering together: polls (アンケート), schedule adjustments (日程調整)
and roll calls (参集確認).  Each handler reads the request's shape and calls one
command or read of ``relay.polls``, ``relay.schedules`` or ``relay.rollcalls``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from policy.votes import ANSWERS, MAX_SLOTS

from relay import errors, polls, rollcalls, schedules
from relay.routing import Route, member, ok
from relay.commands import Caller
from relay.shapes import ID_RE, Fields
from relay.web import Request, Response

if TYPE_CHECKING:
    from relay.app import RelayApp


def _answers(f: Fields) -> dict[str, str]:
    """``answers``: {slot id: "yes" | "maybe" | "no"}."""
    value = f.obj.get("answers")
    if not isinstance(value, dict):
        raise errors.invalid_field("answers", "an object of slot id: yes, maybe or no")
    if len(value) > MAX_SLOTS:
        raise errors.invalid_field("answers", f"at most {MAX_SLOTS} slots")
    for key, said in value.items():
        if not ID_RE.fullmatch(key):
            raise errors.invalid_field(f"answers.{key[:20]}", "a slot id")
        if said not in ANSWERS:
            raise errors.invalid_field(f"answers.{key}", '"yes", "maybe" or "no"')
    return dict(value)


def vote_routes(app: "RelayApp") -> list[Route]:
    ctx = app.ctx
    limit = app.cfg.http.max_json_bytes

    # ---------------------------------------------------------------- polls
    async def create_poll(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await Fields.of(req, limit)
        message = await ctx.run(polls.create(
            ctx, caller, p[0], f.req_str("question"), f.str_list("options") or [],
            f.flag("multiple"), f.flag("anonymous"), f.opt_str("closes_at"),
            f.opt_str("client_id")))
        return ok(201, message.public())

    async def get_poll(req: Request, caller: Caller, p: list[str]) -> Response:
        poll = await polls.get(ctx, caller, p[0])
        return ok(200, poll.view(caller.account.id, ctx.now()))

    async def vote(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await Fields.of(req, limit)
        poll = await ctx.run(polls.vote(ctx, caller, p[0], f.id_list("options")))
        return ok(200, poll.view(caller.account.id, ctx.now()))

    async def close_poll(req: Request, caller: Caller, p: list[str]) -> Response:
        poll = await ctx.run(polls.close(ctx, caller, p[0]))
        return ok(200, poll.view(caller.account.id, ctx.now()))

    # ---------------------------------------------------------------- schedules
    async def create_schedule(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await Fields.of(req, limit)
        slots = [{"start": s.req_str("start"), "end": s.opt_str("end"),
                  "label": s.opt_str("label")} for s in f.objects("slots")]
        message = await ctx.run(schedules.create(
            ctx, caller, p[0], f.req_str("title"), slots, f.opt_str("closes_at"),
            f.opt_str("client_id")))
        return ok(201, message.public())

    async def get_schedule(req: Request, caller: Caller, p: list[str]) -> Response:
        schedule = await schedules.get(ctx, caller, p[0])
        return ok(200, schedule.view(caller.account.id, ctx.now()))

    async def answer_schedule(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await Fields.of(req, limit)
        schedule = await ctx.run(schedules.answer(ctx, caller, p[0], _answers(f),
                                                  f.opt_str("comment")))
        return ok(200, schedule.view(caller.account.id, ctx.now()))

    async def decide(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await Fields.of(req, limit)
        schedule, announced = await ctx.run(schedules.decide(ctx, caller, p[0], f.id("slot")))
        return ok(200, {**schedule.view(caller.account.id, ctx.now()),
                        "announcement": announced.public()})

    # ---------------------------------------------------------------- roll calls
    async def create_rollcall(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await Fields.of(req, limit)
        message = await ctx.run(rollcalls.create(
            ctx, caller, p[0], f.req_str("title"), f.opt_int("needed"),
            f.str_list("options", required=False), f.opt_str("client_id")))
        return ok(201, message.public())

    async def get_rollcall(req: Request, caller: Caller, p: list[str]) -> Response:
        call = await rollcalls.get(ctx, caller, p[0])
        return ok(200, call.view(caller.account.id))

    async def answer_rollcall(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await Fields.of(req, limit)
        call, mine = await ctx.run(rollcalls.answer(
            ctx, caller, p[0], f.req_str("option"), f.opt_int("eta_minutes"),
            f.opt_str("comment")))
        return ok(200, {**call.summary(), "message_id": call.message_id,
                        "room_id": call.room_id, "my_answer": mine.public()})

    async def remind(req: Request, caller: Caller, p: list[str]) -> Response:
        call = await ctx.run(rollcalls.remind(ctx, caller, p[0]))
        return ok(200, {"reminded": list(call.unanswered)})

    async def close_rollcall(req: Request, caller: Caller, p: list[str]) -> Response:
        await ctx.run(rollcalls.close(ctx, caller, p[0]))
        call = await rollcalls.get(ctx, caller, p[0])
        return ok(200, call.view(caller.account.id))

    return [
        member("POST", "/api/v1/rooms/{id}/polls", create_poll),
        member("GET", "/api/v1/polls/{id}", get_poll),
        member("POST", "/api/v1/polls/{id}/votes", vote),
        member("POST", "/api/v1/polls/{id}/close", close_poll),
        member("POST", "/api/v1/rooms/{id}/schedules", create_schedule),
        member("GET", "/api/v1/schedules/{id}", get_schedule),
        member("POST", "/api/v1/schedules/{id}/answers", answer_schedule),
        member("POST", "/api/v1/schedules/{id}/decide", decide),
        member("POST", "/api/v1/rooms/{id}/rollcalls", create_rollcall),
        member("GET", "/api/v1/rollcalls/{id}", get_rollcall),
        member("POST", "/api/v1/rollcalls/{id}/answers", answer_rollcall),
        member("POST", "/api/v1/rollcalls/{id}/remind", remind),
        member("POST", "/api/v1/rollcalls/{id}/close", close_rollcall),
    ]
