"""The application: API.md's routes on top of ``relay.service``.

``build_app`` returns the ``relay.web.App`` the server drives: ``handle`` turns one
parsed ``Request`` into a ``Response`` (routing, authentication, JSON shapes, error
translation); ``handle_stream`` runs a WebSocket session (``relay.stream``).  Nothing
here touches a socket, so tests call ``app.handle(Request(...))`` directly.

Admin routes (and ``/metrics``) exist only on the LGWAN listener: on the internet
listener they are not in the routing table at all, so they answer exactly like an unknown path (404, before
any authentication that could tell them apart).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping

import trio

from policy import access
from sanitize.pool import WorkerPool
from store.facade import Store
from store.records import Zone

from relay import errors, service, stream
from relay.config import Config
from relay.files import FileService
from relay.hub import Hub
from relay.service import Caller, Service
from relay.shapes import COOKIE_PREFIX, ID_RE, Fields, bearer_token, query_id, query_int
from relay.web import Accept, Request, Response, json_response

log = logging.getLogger(__name__)

AUDIT_DEFAULT_LIMIT = 100


async def bootstrap_admin(store: Store, now: Callable[[], float] = time.time) -> str | None:
    """Create login "admin" with a random one-time password when no admin account
    exists and return the password (print it once); else None."""
    return await service.bootstrap_admin(store, now())


def build_app(cfg: Config, store: Store, now: Callable[[], float] = time.time,
              pool: WorkerPool | None = None) -> "RelayApp":
    """The app; ``pool`` is a disarm pool the caller owns (else ``run`` starts one)."""
    return RelayApp(cfg, store, now, pool)


def ok(status: int, obj: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    # Answers carry personal data: no cache keeps them.
    return json_response(status, obj, headers=(("cache-control", "no-store"), *headers))


def no_content(headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(204, (("cache-control", "no-store"), *headers))


# --------------------------------------------------------------------------- routing

Handler = Callable[[Request, "Caller | None", list[str]], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: tuple[str, ...]  # path segments; "{id}" matches an id
    handler: Handler
    auth: bool = True
    lgwan_only: bool = False  # admin and operations paths: absent elsewhere

    def match(self, segments: list[str]) -> list[str] | None:
        if len(segments) != len(self.pattern):
            return None
        params: list[str] = []
        for want, got in zip(self.pattern, segments):
            if want == "{id}":
                if not ID_RE.fullmatch(got):
                    return None
                params.append(got)
            elif want != got:
                return None
        return params


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/") if path.strip("/") else []


class RelayApp:
    """``relay.web.App`` for both listeners; the request's zone decides the rest."""

    def __init__(self, cfg: Config, store: Store, now: Callable[[], float],
                 pool: WorkerPool | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.now = now
        self.hub = Hub(cfg.http.ws_send_queue)
        self.service = Service(cfg, store, self.hub, now)
        self.files = FileService(cfg, store, self.hub, self.service, now, pool)
        self.routes = self._routes()
        self.responses: dict[tuple[str, str], int] = {}  # (zone, "2xx") -> count, for /metrics
        # Open connections per zone, from the server layer (relay.main sets it).
        self.open_connections: Callable[[], Mapping[str, int]] = dict

    def _routes(self) -> list[Route]:
        def r(method: str, path: str, handler: Handler, **kw: bool) -> Route:
            return Route(method, tuple(_segments(path)), handler, **kw)

        return [
            r("GET", "/healthz", self.healthz, auth=False),
            r("GET", "/metrics", self.metrics, auth=False, lgwan_only=True),
            r("POST", "/api/v1/login", self.login, auth=False),
            r("POST", "/api/v1/logout", self.logout),
            r("GET", "/api/v1/me", self.me),
            r("GET", "/api/v1/accounts", self.directory),
            r("GET", "/api/v1/rooms", self.rooms),
            r("POST", "/api/v1/rooms", self.create_room),
            r("POST", "/api/v1/rooms/{id}/members", self.add_member),
            r("GET", "/api/v1/rooms/{id}/messages", self.history),
            r("POST", "/api/v1/rooms/{id}/messages", self.send),
            r("POST", "/api/v1/rooms/{id}/read", self.read),
            r("GET", "/api/v1/messages/{id}/readers", self.readers),
            r("POST", "/api/v1/rooms/{id}/files", self.upload),
            r("GET", "/api/v1/files/{id}", self.file),
            r("GET", "/api/v1/files/{id}/content", self.file_content),
            r("GET", "/api/v1/files/{id}/original", self.file_original),
            r("POST", "/api/v1/files/{id}/original-requests", self.request_original),
            r("GET", "/api/v1/stream", self.stream_without_upgrade, auth=False),
            r("GET", "/api/v1/admin/accounts", self.admin_accounts, lgwan_only=True),
            r("POST", "/api/v1/admin/accounts", self.admin_create_account, lgwan_only=True),
            r("POST", "/api/v1/admin/accounts/{id}/disable", self.admin_disable, lgwan_only=True),
            r("POST", "/api/v1/admin/accounts/{id}/reset", self.admin_reset, lgwan_only=True),
            r("GET", "/api/v1/admin/audit", self.admin_audit, lgwan_only=True),
            r("GET", "/api/v1/admin/audit/verify", self.admin_audit_verify, lgwan_only=True),
            r("GET", "/api/v1/admin/original-requests", self.admin_original_requests,
              lgwan_only=True),
            r("POST", "/api/v1/admin/original-requests/{id}/decision", self.admin_decide,
              lgwan_only=True),
        ]

    # ------------------------------------------------------------ background work
    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Background work until cancelled: the disarm pool and its jobs (pending ones
        from before a restart first), retention.  Started once the store is open."""
        await self.files.run(task_status=task_status)

    async def aclose(self) -> None:
        """Cancel the background work and close the disarm pool (if ``run`` made it)."""
        await self.files.aclose()

    # ------------------------------------------------------------ App protocol
    async def handle(self, req: Request) -> Response:
        try:
            response = await self._dispatch(req)
        except Exception as exc:  # translated once, here (STYLE.md rule 4)
            response = errors.for_exception(exc, f"{req.method} {req.path}").response()
        key = (req.zone, f"{response.status // 100}xx")
        self.responses[key] = self.responses.get(key, 0) + 1
        return response

    async def handle_stream(self, req: Request, accept: Accept) -> Response | None:
        """Refuse (a Response) or run the stream until it ends (None).  The Origin is
        checked only when a browser sends one; native clients send none."""
        try:
            origin = req.header("origin")
            if origin is not None and origin not in self.cfg.http.allowed_origins:
                raise errors.origin_forbidden(origin)
            # Browsers cannot set headers on a WebSocket: they use ?token= (or the cookie).
            token = bearer_token(req) or req.query.get("token")
            caller = await self.service.authenticate(token, req.zone)
        except Exception as exc:
            return errors.for_exception(exc, "stream authentication").response()
        await stream.run(self.service, caller, accept)
        return None

    async def _dispatch(self, req: Request) -> Response:
        segments = _segments(req.path)
        allowed: list[str] = []
        for route in self.routes:
            if route.lgwan_only and not access.admin_paths_exist(req.zone):
                continue
            params = route.match(segments)
            if params is None:
                continue
            # HEAD is answered by the server from GET if it wants to; we do not.
            if route.method != req.method:
                allowed.append(route.method)
                continue
            caller = None
            if route.auth:
                caller = await self.service.authenticate(bearer_token(req), req.zone)
            return await route.handler(req, caller, params)
        if allowed:
            raise errors.method_not_allowed(allowed)
        raise errors.not_found()

    async def _fields(self, req: Request) -> Fields:
        return await Fields.of(req, self.cfg.http.max_json_bytes)

    # ------------------------------------------------------------ handlers
    async def healthz(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        return ok(200, {"status": "ok"})

    async def metrics(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        """Prometheus text format (LGWAN listener only, like every operations path)."""
        groups, ops = self.store.commit_stats
        lines = [
            "# TYPE kakehashi_stream_sessions gauge",
            f"kakehashi_stream_sessions {self.hub.sessions()}",
            "# TYPE kakehashi_events_delivered_total counter",
            f"kakehashi_events_delivered_total {self.hub.delivered}",
            "# TYPE kakehashi_stream_overflows_total counter",
            f"kakehashi_stream_overflows_total {self.hub.overflowed}",
            "# TYPE kakehashi_messages_posted_total counter",
            f"kakehashi_messages_posted_total {self.service.messages_posted}",
            "# TYPE kakehashi_store_group_commits_total counter",
            f"kakehashi_store_group_commits_total {groups}",
            "# TYPE kakehashi_store_ops_committed_total counter",
            f"kakehashi_store_ops_committed_total {ops}",
            "# TYPE kakehashi_http_responses_total counter",
            *(f'kakehashi_http_responses_total{{zone="{z}",code="{c}"}} {n}'
              for (z, c), n in sorted(self.responses.items())),
            "# TYPE kakehashi_open_connections gauge",
            *(f'kakehashi_open_connections{{zone="{z}"}} {n}'
              for z, n in sorted(self.open_connections().items())),
            *self.files.metric_lines(),
        ]
        return Response(200, (("content-type", "text/plain; version=0.0.4; charset=utf-8"),
                              ("cache-control", "no-store")), ("\n".join(lines) + "\n").encode())

    async def stream_without_upgrade(self, req: Request, caller: Caller | None,
                                     p: list[str]) -> Response:
        raise errors.upgrade_required()

    async def login(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        f = await self._fields(req)
        login, password, totp = f.req_str("login"), f.req_str("password"), f.opt_str("totp")
        token, account = await self.service.login(login, password, totp, req.zone, req.peer)
        headers: tuple[tuple[str, str], ...] = ()
        if req.tls:
            ttl = int(self.cfg.auth.session_ttl_hours * 3600)
            headers = (("set-cookie", _cookie(req.zone, token, ttl)),)
        return ok(200, {"token": token, "account": account.public()}, headers)

    async def logout(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        assert caller is not None
        await self.service.logout(caller)
        headers = (("set-cookie", _cookie(req.zone, "", 0)),) if req.tls else ()
        return no_content(headers)

    async def me(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        assert caller is not None
        return ok(200, caller.account.public())

    async def directory(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        assert caller is not None
        accounts = await self.service.directory(caller)
        return ok(200, {"accounts": [a.public() for a in accounts]})

    async def rooms(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        assert caller is not None
        return ok(200, {"rooms": [s.public() for s in await self.service.rooms(caller)]})

    async def create_room(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        assert caller is not None
        f = await self._fields(req)
        name = f.req_str("name")
        kind = f.choice("kind", ("group", "direct"), required=False) or "group"
        members = f.id_list("members")
        new = await self.service.check_create_room(caller, name, kind, members)  # type: ignore[arg-type]
        room = await self.service.do_create_room(caller, new)
        return ok(201, service.room_public(room))

    async def add_member(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        assert caller is not None
        f = await self._fields(req)
        add = await self.service.check_add_member(caller, p[0], f.id("account_id"))
        room = await self.service.do_add_member(add)
        return ok(200, service.room_public(room))

    async def history(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        assert caller is not None
        before = query_id(req, "before")
        limit = query_int(req, "limit", service.HISTORY_DEFAULT_LIMIT, 1, service.HISTORY_MAX_LIMIT)
        messages = await self.service.history(caller, p[0], before, limit)
        return ok(200, {"messages": [m.public() for m in messages]})

    async def send(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        assert caller is not None
        f = await self._fields(req)
        send = await self.service.check_send(caller, p[0], f.req_str("body"), f.opt_str("client_id"))
        message = await self.service.do_send(send)
        return ok(201, message.public())

    async def read(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        assert caller is not None
        f = await self._fields(req)
        read = await self.service.check_read(caller, p[0], f.id("up_to"))
        await self.service.do_read(read)
        return no_content()

    async def readers(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        assert caller is not None
        r = await self.service.readers(caller, p[0])
        return ok(200, {"read": list(r.read), "unread": list(r.unread)})

    # ------------------------------------------------------------ files
    async def upload(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        assert caller is not None
        plan = await self.files.check_upload(caller, p[0], req.query.get("name"),
                                             req.query.get("client_id"))
        message = await self.files.do_upload(plan, req.body)
        return ok(201, message.public())

    async def file(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        assert caller is not None
        return ok(200, await self.files.view(caller, p[0]))

    async def file_content(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        assert caller is not None
        return (await self.files.content(caller, p[0])).response()

    async def file_original(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        assert caller is not None
        return (await self.files.original(caller, p[0])).response()

    async def request_original(self, req: Request, caller: Caller | None,
                               p: list[str]) -> Response:
        assert caller is not None
        f = await self._fields(req)
        request = await self.files.request_original(caller, p[0], f.req_str("reason"))
        return ok(201, request.public())

    async def admin_original_requests(self, req: Request, caller: Caller | None,
                                      p: list[str]) -> Response:
        assert caller is not None
        requests = await self.files.requests(caller, req.query.get("status"))
        return ok(200, {"requests": [r.public() for r in requests]})

    async def admin_decide(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        assert caller is not None
        self.service.check_admin(caller)
        f = await self._fields(req)
        approve = f.obj.get("approve")
        if not isinstance(approve, bool):
            raise errors.invalid_field("approve", "true or false",
                                       "missing" if approve is None else "wrong_type")
        decided = await self.files.decide(caller, p[0], approve, f.opt_str("note") or "")
        return ok(200, decided.public())

    # ------------------------------------------------------------ admin
    async def admin_accounts(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        assert caller is not None
        self.service.check_admin(caller)
        accounts = await self.store.list_accounts()
        return ok(200, {"accounts": [a.public() for a in accounts]})

    async def admin_create_account(self, req: Request, caller: Caller | None,
                                   p: list[str]) -> Response:
        assert caller is not None
        self.service.check_admin(caller)
        f = await self._fields(req)
        password = f.opt_str("password")
        generated = password is None
        if generated:
            password = service.one_time_password()
        new = service.check_new_account(
            f.req_str("login"), password, f.choice("kind", service.ACCOUNT_KINDS) or "",
            f.opt_str("display_name") or "")
        account = await self.service.admin_create_account(caller, new)
        body: dict[str, Any] = account.public()
        if generated:
            body["initial_password"] = password
        return ok(201, body)

    async def admin_disable(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        assert caller is not None
        return ok(200, (await self.service.admin_disable(caller, p[0])).public())

    async def admin_reset(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        assert caller is not None
        self.service.check_admin(caller)
        # The body is optional here: empty means "generate a one-time password".
        obj = await req.json(self.cfg.http.max_json_bytes)
        password = None if obj is None else Fields(obj).opt_str("password")
        account, password = await self.service.admin_reset(caller, p[0], password)
        return ok(200, {"account": account.public(), "password": password})

    async def admin_audit(self, req: Request, caller: Caller | None, p: list[str]) -> Response:
        assert caller is not None
        after = query_int(req, "after", 0, 0, 10**9)
        limit = query_int(req, "limit", AUDIT_DEFAULT_LIMIT, 1, service.AUDIT_MAX_LIMIT)
        entries = await self.service.admin_audit(caller, after, limit)
        return ok(200, {"entries": [e.public() for e in entries]})

    async def admin_audit_verify(self, req: Request, caller: Caller | None,
                                 p: list[str]) -> Response:
        assert caller is not None
        return ok(200, await self.service.admin_audit_verify(caller))


def _cookie(zone: Zone, token: str, max_age: int) -> str:
    return (f"{COOKIE_PREFIX}{zone}={token}; Path=/; Max-Age={max_age}; "
            "HttpOnly; Secure; SameSite=Strict")
