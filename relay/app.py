"""The application: the route table, who may call what, and the answer to every request.

``RelayApp.handle`` turns one parsed ``Request`` into a ``Response``; nothing here
touches a socket, so tests call it directly.  Each route declares once what it needs
(``relay.routing``: ``public``, ``member`` -- any session --, or ``admin``) and handlers
of the last two receive a ``Caller`` that is never None; admin routes (and ``/metrics``) exist only on
the LGWAN listener: elsewhere they are not in the table at all and answer exactly like
an unknown path (404, before any authentication that could tell them apart).
Errors are translated once, here (``relay.errors``).
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Mapping

import trio

from policy import access
from sanitize.pool import WorkerPool
from store.facade import Store

from relay import errors, externals, stream
from relay.commands import Context
from relay.config import Config
from relay.disarm_jobs import DisarmJobs
from relay.hub import Hub
from relay.logs import request_line
from relay.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE, Metrics
from relay.my_sessions import last_seen
from relay.push import PushSender
from relay.routes import admin_routes, member_routes
from relay.routes_admin import room_admin_routes
from relay.routes_approvals import approval_routes
from relay.routes_collab import collab_routes
from relay.routes_lifecycle import lifecycle_routes
from relay.routes_push import push_routes
from relay.routes_time import time_routes
from relay.routes_votes import vote_routes
from relay.routes_work import work_routes
from relay.routing import ok, public, segments
from relay.schedule_send import TimedWork
from relay.sessions import Logins, authenticate
from relay.shapes import bearer_token, credentials, same_origin
from relay.web import Accept, Request, Response
from relay.webclient import web_routes

log = logging.getLogger(__name__)

# All a session may do while its password, set by someone else, is still to be changed.
PASSWORD_CHANGE_ROUTES = frozenset({("GET", "/api/v1/me"), ("POST", "/api/v1/me/password"),
                                    ("POST", "/api/v1/logout")})

def build_app(cfg: Config, store: Store, now: Callable[[], float] = time.time,
              pool: WorkerPool | None = None) -> "RelayApp":
    """The app; ``pool`` is a disarm pool the caller owns (else ``run`` starts one)."""
    return RelayApp(cfg, store, now, pool)


class RelayApp:
    """``relay.web.App`` for both listeners; the request's zone decides the rest."""

    def __init__(self, cfg: Config, store: Store, now: Callable[[], float],
                 pool: WorkerPool | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.hub = Hub(cfg.http.ws_send_queue)
        self.ctx = Context(cfg, store, self.hub, now)
        self.logins = Logins(self.ctx)
        self.jobs = DisarmJobs(self.ctx, pool)
        self.timed = TimedWork(self.ctx)  # scheduled sends, digests of held notifications
        self.push = PushSender(self.ctx)
        self.ctx.observers.append(self.push.notify)
        self.routes = [
            public("GET", "/healthz", self.healthz),
            public("GET", "/metrics", self.metrics, lgwan_only=True),
            public("GET", "/api/v1/stream", self.stream_without_upgrade),
            *member_routes(self), *admin_routes(self), *web_routes(self),
            *collab_routes(self), *vote_routes(self), *work_routes(self),
            *time_routes(self), *lifecycle_routes(self), *push_routes(self),
            *approval_routes(self), *room_admin_routes(self)]
        self.prom = Metrics(self)  # /metrics, one registry per app
        # Open connections per zone, from the server layer (relay.main sets it).
        self.open_connections: Callable[[], Mapping[str, int]] = dict

    # ------------------------------------------------------------ background work
    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Background work until cancelled: the disarm pool and its jobs (pending ones
        from before a restart first), retention, sessions' last use, external
        accounts' expiry, scheduled sends and the digests of held notifications.
        Started once the store is open."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.timed.run)
            nursery.start_soon(last_seen(self.ctx).run, self.ctx)  # sessions' last use
            nursery.start_soon(externals.watch, self.ctx)  # external accounts' expiry
            nursery.start_soon(self.push.run)  # Web Push notices
            await self.jobs.run(task_status=task_status)
            nursery.cancel_scope.cancel()

    async def aclose(self) -> None:
        """Cancel the background work and close the disarm pool (if ``run`` made it)."""
        await self.jobs.aclose()

    # ------------------------------------------------------------ App protocol
    async def handle(self, req: Request) -> Response:
        started = time.monotonic()
        code = None
        try:
            response = await self._dispatch(req)
        except Exception as exc:
            err = errors.for_exception(exc, f"{req.method} {req.path}")
            code, response = err.code, err.response()
        self.prom.response(req.zone, req.path, response.status, code)
        if self.cfg.log.requests:
            request_line(req.zone, req.method, req.path, response.status,
                         time.monotonic() - started)
        return response

    async def handle_stream(self, req: Request, accept: Accept) -> Response | None:
        """Refuse (a Response) or run the stream until it ends (None).  The Origin is
        checked only when a browser sends one (our own page's, or a configured one);
        native clients send none."""
        try:
            origin = req.header("origin")
            if origin is not None and not same_origin(req, self.cfg.http.allowed_origins):
                raise errors.origin_forbidden(origin)
            # Browsers cannot set headers on a WebSocket: they use the cookie (or ?token=).
            token = (bearer_token(req, self.cfg.auth.lgwan_http_cookie)
                     or req.query.get("token"))
            caller = await authenticate(self.ctx, token, req.zone)
            if caller.account.must_change_password:
                raise errors.error("password_change_required")
        except Exception as exc:
            return errors.for_exception(exc, "stream authentication").response()
        await stream.run(self.ctx, caller, accept)
        return None

    async def _dispatch(self, req: Request) -> Response:
        parts = segments(req.path)
        allowed: list[str] = []
        for route in self.routes:
            if route.lgwan_only and not access.admin_paths_exist(req.zone):
                continue
            params = route.match(parts)
            if params is None:
                continue
            # HEAD is answered by the server from GET if it wants to; we do not.
            if route.method != req.method:
                allowed.append(route.method)
                continue
            if route.access == "public":
                return await route.handler(req, params)
            token, via_cookie = credentials(req, self.cfg.auth.lgwan_http_cookie)
            if via_cookie and req.method not in ("GET", "HEAD") and not same_origin(
                    req, self.cfg.http.allowed_origins):
                # A change asked for by a page of another site, riding on the cookie.
                raise errors.origin_forbidden(req.header("origin") or "")
            caller = await authenticate(self.ctx, token, req.zone)
            if (caller.account.must_change_password
                    and (route.method, route.path) not in PASSWORD_CHANGE_ROUTES):
                raise errors.error("password_change_required")
            if route.access == "admin":
                access.check_admin(caller.account.kind, caller.zone)
            return await route.handler(req, caller, params)
        if allowed:
            raise errors.method_not_allowed(allowed)
        raise errors.not_found()

    # ------------------------------------------------------------ operations
    async def healthz(self, req: Request, p: list[str]) -> Response:
        """200 when the store answers and the disarm workers run; 503 otherwise, so a
        load balancer or monitor sees a relayd that accepts connections but cannot
        serve them."""
        problems = []
        if not await self.store.healthy():
            problems.append("store")
        if not self.jobs.serving():
            problems.append("disarm_workers")
        if problems:
            return ok(503, {"status": "unavailable", "failing": problems},
                      (("retry-after", "5"),))
        return ok(200, {"status": "ok"})

    async def metrics(self, req: Request, p: list[str]) -> Response:
        """Prometheus text format (LGWAN listener only, like every operations path)."""
        return Response(200, (("content-type", METRICS_CONTENT_TYPE),
                              ("cache-control", "no-store")), self.prom.text())

    async def stream_without_upgrade(self, req: Request, p: list[str]) -> Response:
        raise errors.upgrade_required()
