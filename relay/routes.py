"""The API's routes and their handlers: each reads the request's shape, calls one
domain function or command, and shapes the answer.  No decisions live here.

``member_routes`` are open to any session (the domain functions check membership);
``admin_routes`` are declared admin-only (the app checks the caller once, and they do
not exist on the internet listener).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from policy.zones import Zone

from relay import accounts, errors, externals, files, messages, originals, rooms, sessions
from relay.routing import Route, admin, member, no_content, ok, public
from relay.commands import Caller
from relay.directory import check_directory, departments, with_departments
from relay.my_sessions import device_label
from relay.routes_time import post_message
from relay.shapes import COOKIE_PREFIX, Fields, cookie_allowed, query_id, query_int, read_json
from relay.web import Request, Response

if TYPE_CHECKING:
    from relay.app import RelayApp

AUDIT_DEFAULT_LIMIT = 100
AUDIT_MAX_LIMIT = 1000


def _cookie(zone: Zone, token: str, max_age: int, secure: bool = True) -> str:
    # Not Secure only on a plain-HTTP LGWAN listener that auth.lgwan_http_cookie allows
    # (a browser drops a Secure cookie that came over plain HTTP).
    return (f"{COOKIE_PREFIX}{zone}={token}; Path=/; Max-Age={max_age}; "
            f"HttpOnly; {'Secure; ' if secure else ''}SameSite=Strict")


def member_routes(app: "RelayApp") -> list[Route]:
    ctx = app.ctx
    cfg = app.cfg

    async def fields(req: Request) -> Fields:
        return await Fields.of(req, cfg.http.max_json_bytes)

    async def login(req: Request, p: list[str]) -> Response:
        f = await fields(req)
        token, account = await app.logins.login(f.req_str("login"), f.req_str("password"),
                                                 f.opt_str("totp"), req.zone, req.peer,
                                                 device_label(req.header("user-agent")))
        headers: tuple[tuple[str, str], ...] = ()
        if cookie_allowed(req, cfg.auth.lgwan_http_cookie):
            ttl = int(cfg.auth.session_ttl_hours * 3600)
            headers = (("set-cookie", _cookie(req.zone, token, ttl, req.tls)),)
        return ok(200, {"token": token, "account": accounts.own_view(ctx, account)}, headers)

    async def logout(req: Request, caller: Caller, p: list[str]) -> Response:
        await ctx.run(sessions.logout(ctx, caller))
        headers = ((("set-cookie", _cookie(req.zone, "", 0, req.tls)),)
                   if cookie_allowed(req, cfg.auth.lgwan_http_cookie) else ())
        return no_content(headers)

    async def me(req: Request, caller: Caller, p: list[str]) -> Response:
        return ok(200, accounts.own_view(ctx, caller.account))

    async def change_password(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await fields(req)
        account = await ctx.run(accounts.change_own_password(
            ctx, caller, f.req_str("old_password"), f.req_str("new_password"), req.peer))
        return ok(200, account.public())

    async def directory(req: Request, caller: Caller, p: list[str]) -> Response:
        found = await accounts.directory(ctx, caller)
        return ok(200, {"accounts": await with_departments(ctx, found)})

    async def department_tree(req: Request, caller: Caller, p: list[str]) -> Response:
        check_directory(caller)
        return ok(200, {"departments": [d.public() for d in await departments(ctx)]})

    async def room_list(req: Request, caller: Caller, p: list[str]) -> Response:
        return ok(200, {"rooms": [s.public() for s in await rooms.rooms_of(ctx, caller)]})

    async def create_room(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await fields(req)
        name = f.req_str("name")
        kind = f.choice("kind", ("group", "direct"), required=False) or "group"
        room = await ctx.run(rooms.create_room(ctx, caller.actor, name, kind,  # type: ignore[arg-type]
                                               f.id_list("members"), creator=caller))
        return ok(201, rooms.room_public(room))

    async def add_member(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await fields(req)
        room = await ctx.run(rooms.add_member(ctx, caller, p[0], f.id("account_id")))
        return ok(200, rooms.room_public(room))

    async def history(req: Request, caller: Caller, p: list[str]) -> Response:
        before = query_id(req, "before")
        limit = query_int(req, "limit", messages.HISTORY_DEFAULT_LIMIT, 1,
                          messages.HISTORY_MAX_LIMIT)
        found = await messages.history(ctx, caller, p[0], before, limit,
                                       after=query_id(req, "after"))
        return ok(200, {"messages": [m.public() for m in found]})

    async def send(req: Request, caller: Caller, p: list[str]) -> Response:
        return await post_message(app, caller, p[0], await fields(req))

    async def read(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await fields(req)
        await ctx.run(messages.mark_read(ctx, caller, p[0], f.id("up_to")))
        return no_content()

    async def readers(req: Request, caller: Caller, p: list[str]) -> Response:
        r = await messages.readers(ctx, caller, p[0])
        return ok(200, {"read": list(r.read), "unread": list(r.unread)})

    async def upload(req: Request, caller: Caller, p: list[str]) -> Response:
        plan = await files.check_upload(ctx, caller, p[0], req.query.get("name"),
                                        req.query.get("client_id"))
        message = await ctx.run(files.upload(ctx, app.jobs, plan, req.body))
        return ok(201, message.public())

    async def file(req: Request, caller: Caller, p: list[str]) -> Response:
        return ok(200, await files.view(ctx, caller, p[0], app.jobs))

    async def file_content(req: Request, caller: Caller, p: list[str]) -> Response:
        return (await files.content(ctx, caller, p[0], app.jobs)).response()

    async def file_original(req: Request, caller: Caller, p: list[str]) -> Response:
        return (await originals.download(ctx, caller, p[0])).response()

    async def request_original(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await fields(req)
        made = await ctx.run(originals.request(ctx, caller, p[0], f.req_str("reason")))
        return ok(201, made.public())

    return [
        public("POST", "/api/v1/login", login),
        member("POST", "/api/v1/logout", logout),
        member("GET", "/api/v1/me", me),
        member("POST", "/api/v1/me/password", change_password),
        member("GET", "/api/v1/accounts", directory),
        member("GET", "/api/v1/departments", department_tree),
        member("GET", "/api/v1/rooms", room_list),
        member("POST", "/api/v1/rooms", create_room),
        member("POST", "/api/v1/rooms/{id}/members", add_member),
        member("GET", "/api/v1/rooms/{id}/messages", history),
        member("POST", "/api/v1/rooms/{id}/messages", send),
        member("POST", "/api/v1/rooms/{id}/read", read),
        member("GET", "/api/v1/messages/{id}/readers", readers),
        member("POST", "/api/v1/rooms/{id}/files", upload),
        member("GET", "/api/v1/files/{id}", file),
        member("GET", "/api/v1/files/{id}/content", file_content),
        member("GET", "/api/v1/files/{id}/original", file_original),
        member("POST", "/api/v1/files/{id}/original-requests", request_original),
    ]


def admin_routes(app: "RelayApp") -> list[Route]:
    ctx = app.ctx
    cfg = app.cfg

    async def account_list(req: Request, caller: Caller, p: list[str]) -> Response:
        return ok(200, {"accounts": [a.public() for a in await ctx.store.list_accounts()]})

    async def create_account(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await Fields.of(req, cfg.http.max_json_bytes)
        password = f.opt_str("password")
        generated = password is None
        if generated:
            password = accounts.one_time_password()
        new = accounts.check_new_account(
            f.req_str("login"), password, f.choice("kind", accounts.ACCOUNT_KINDS) or "",
            f.opt_str("display_name") or "")
        sponsor_id = f.opt_id("sponsor")  # external accounts: relay.externals
        sponsor = (None if sponsor_id is None
                   else await externals.sponsor(ctx, account_id=sponsor_id))
        account = await ctx.run(externals.create_account(
            ctx, caller.actor, new, sponsor, f.opt_str("expires_at"), one_time=generated))
        body: dict[str, Any] = account.public()
        if generated:
            body["initial_password"] = password
        return ok(201, body)

    async def disable(req: Request, caller: Caller, p: list[str]) -> Response:
        target = await ctx.store.get_account(p[0])
        account = await ctx.run(accounts.set_disabled(ctx, caller.actor, target.login, True))
        return ok(200, account.public())

    async def reset(req: Request, caller: Caller, p: list[str]) -> Response:
        # The body is optional here: empty means "generate a one-time password".
        obj = await read_json(req, cfg.http.max_json_bytes)
        password = None if obj is None else Fields(obj).opt_str("password")
        target = await ctx.store.get_account(p[0])
        account, password = await ctx.run(
            accounts.reset_password(ctx, caller.actor, target.login, password))
        return ok(200, {"account": account.public(), "password": password})

    async def audit(req: Request, caller: Caller, p: list[str]) -> Response:
        after = query_int(req, "after", 0, 0, 10**9)
        limit = query_int(req, "limit", AUDIT_DEFAULT_LIMIT, 1, AUDIT_MAX_LIMIT)
        entries = await ctx.store.audit_entries(after, limit)
        return ok(200, {"entries": [e.public() for e in entries]})

    async def audit_verify(req: Request, caller: Caller, p: list[str]) -> Response:
        good, n, first_bad = await ctx.store.audit_verify()
        return ok(200, {"ok": good, "entries": n,
                        "first_bad": None if first_bad is None else str(first_bad)})

    async def original_requests(req: Request, caller: Caller, p: list[str]) -> Response:
        found = await originals.requests(ctx, req.query.get("status"))
        return ok(200, {"requests": [r.public() for r in found]})

    async def decide(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await Fields.of(req, cfg.http.max_json_bytes)
        approve = f.obj.get("approve")
        if not isinstance(approve, bool):
            raise errors.invalid_field("approve", "true or false",
                                       "missing" if approve is None else "wrong_type")
        decided = await ctx.run(originals.decide(ctx, caller.actor, p[0], approve,
                                                 f.opt_str("note") or ""))
        return ok(200, decided.public())

    return [
        admin("GET", "/api/v1/admin/accounts", account_list),
        admin("POST", "/api/v1/admin/accounts", create_account),
        admin("POST", "/api/v1/admin/accounts/{id}/disable", disable),
        admin("POST", "/api/v1/admin/accounts/{id}/reset", reset),
        admin("GET", "/api/v1/admin/audit", audit),
        admin("GET", "/api/v1/admin/audit/verify", audit_verify),
        admin("GET", "/api/v1/admin/original-requests", original_requests),
        admin("POST", "/api/v1/admin/original-requests/{id}/decision", decide),
    ]
