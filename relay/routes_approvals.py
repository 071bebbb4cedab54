"""Routes of 上長承認 (``relay.approvals``): an approver's queue, the held file for them
to look at, the decision; and the admin's settings of where approval applies and who
approves (admin routes, LGWAN only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from relay import approvals
from relay.commands import Caller
from relay.routing import Route, admin, member, ok
from relay.shapes import Fields
from relay.web import Request, Response

if TYPE_CHECKING:
    from relay.app import RelayApp


def approval_routes(app: "RelayApp") -> list[Route]:
    ctx = app.ctx

    async def fields(req: Request) -> Fields:
        return await Fields.of(req, app.cfg.http.max_json_bytes)

    async def queue(req: Request, caller: Caller, p: list[str]) -> Response:
        return ok(200, await approvals.queue(ctx, caller, req.query.get("status")))

    async def content(req: Request, caller: Caller, p: list[str]) -> Response:
        return (await approvals.content(ctx, caller, p[0])).response()

    async def decide(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await fields(req)
        decided = await ctx.run(approvals.decide(ctx, caller.actor, p[0], f.req_flag("approve"),
                                                 f.opt_str("reason") or ""))
        return ok(200, decided.public())

    async def settings(req: Request, caller: Caller, p: list[str]) -> Response:
        return ok(200, await ctx.store.approval_settings())

    async def department(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await fields(req)
        return ok(200, await ctx.run(approvals.set_department(ctx, caller.actor, p[0],
                                                              f.req_flag("required"))))

    async def room(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await fields(req)
        return ok(200, await ctx.run(approvals.set_room(ctx, caller.actor, p[0],
                                                        f.req_flag("required"))))

    async def approver(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await fields(req)
        return ok(200, await ctx.run(approvals.set_approver(
            ctx, caller.actor, p[0], f.id("account_id"), f.req_flag("approver"))))

    return [
        member("GET", "/api/v1/approvals", queue),
        member("GET", "/api/v1/approvals/{id}/content", content),
        member("POST", "/api/v1/approvals/{id}/decision", decide),
        admin("GET", "/api/v1/admin/approval-settings", settings),
        admin("POST", "/api/v1/admin/approval-settings/departments/{id}", department),
        admin("POST", "/api/v1/admin/approval-settings/rooms/{id}", room),
        admin("POST", "/api/v1/admin/approval-settings/departments/{id}/approvers", approver),
    ]
