"""The HTTP server: one nursery of connections over every zone's listeners.

``Server.serve`` takes the zones' listening sockets (``relay.listeners``) and runs
until ``shutdown()``: each connection runs in its own task under one nursery, with the
header phase (TLS handshake included) bounded by ``header_timeout_s``, every write
bounded by ``send_stall_timeout_s``, and a bounded close in ``finally``.  Connections
per client address are capped (``max_connections_per_ip``; the excess gets a 429),
and the open connections per zone are counted for /metrics.  An exception in one
connection is logged and ends that connection only.  Protocol decisions live in
``relay.http``; this module does the I/O and the clock; a WebSocket upgrade goes to
``relay.wsupgrade``.
"""

from __future__ import annotations

import errno
import logging
from typing import Callable, Sequence

import h11
import trio

from policy.zones import ZONES, Zone
from relay import errors, http
from relay.config import HTTPConfig
from relay.listeners import AddressCap, ZoneListener
from relay.web import CLOSE_TIMEOUT_S, App, HTTPError, Request, Response
from relay.wsupgrade import _StreamUpgrade

log = logging.getLogger("relay.server")

# Lingering close: after an error answer, read and discard what the client is still
# sending for at most this long / this much, so the answer is not lost to a TCP reset.
LINGER_S = 2.0
LINGER_BYTES = 1024 * 1024
# accept() errors that mean "out of a resource", not "the listener is broken"
# (as in trio's serve_listeners): wait and retry.
ACCEPT_CAPACITY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
ACCEPT_RETRY_S = 0.1


class _Closed(Exception):
    """The peer went away; nothing more to say to it."""


class Server:
    """Serves ``app`` on zone listeners with the limits of ``cfg``."""

    def __init__(self, app: App, cfg: HTTPConfig, *,
                 clock: Callable[[], float] = trio.current_time) -> None:
        self.app = app
        self.cfg = cfg
        self.clock = clock
        self.draining = False
        self._per_address = AddressCap(cfg.max_connections_per_ip)
        self._conns: set[_Connection] = set()
        self._accept_scope = trio.CancelScope()
        self._empty = trio.Event()

    async def serve(self, listeners: Sequence[ZoneListener], *, drain_s: float | None = None,
                    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Accept on every listener until ``shutdown()``, then give connections up to
        ``drain_s`` (default ``drain_timeout_s``) to finish.  Takes ownership of the
        listeners (closes them)."""
        if drain_s is None:
            drain_s = self.cfg.drain_timeout_s
        try:
            async with trio.open_nursery() as conn_nursery:
                with self._accept_scope:
                    async with trio.open_nursery() as accepting:
                        for zl in listeners:
                            accepting.start_soon(self._accept_loop, zl, conn_nursery)
                        task_status.started()
                # No new connections from here on.
                for zl in listeners:
                    await trio.aclose_forcefully(zl.listener)
                with trio.move_on_after(drain_s):
                    if self._conns:
                        await self._empty.wait()
                if self._conns:
                    log.warning("stop: %d connection(s) still busy after %.0f s; closing them",
                                len(self._conns), drain_s)
                conn_nursery.cancel_scope.cancel()
        finally:
            for zl in listeners:
                await trio.aclose_forcefully(zl.listener)

    def shutdown(self) -> None:
        """Begin a graceful stop: stop accepting, close idle connections and streams,
        let requests in flight finish (each then closes its connection)."""
        if self.draining:
            return
        self.draining = True
        self._accept_scope.cancel()
        for conn in list(self._conns):
            conn.on_drain()

    @property
    def connections(self) -> int:
        return len(self._conns)

    def open_connections(self) -> dict[Zone, int]:
        """Open connections per zone (a /metrics gauge), refused ones included until
        they are closed."""
        out: dict[Zone, int] = {z: 0 for z in ZONES}
        for conn in self._conns:
            out[conn.zone] += 1
        return out

    async def _accept_loop(self, zl: ZoneListener, nursery: trio.Nursery) -> None:
        while True:
            try:
                stream = await zl.listener.accept()
            except OSError as exc:
                if exc.errno in ACCEPT_CAPACITY_ERRNOS:
                    log.error("accept on %s: %s (リソース不足); retrying", zl.address(), exc)
                    await trio.sleep(ACCEPT_RETRY_S)
                    continue
                raise
            conn = _Connection(self, zl, stream)
            self._conns.add(conn)  # before the task starts, so a drain sees it
            nursery.start_soon(conn.run_guarded)

    def _forget(self, conn: _Connection) -> None:
        self._conns.discard(conn)
        if not self._conns and self.draining:
            self._empty.set()

    def _admit(self, peer: str) -> bool:
        return self._per_address.admit(peer)

    def _release(self, peer: str) -> None:
        self._per_address.release(peer)


def _peer_of(stream: trio.SocketStream) -> str:
    try:
        name = stream.socket.getpeername()
    except OSError:
        return "?"
    return str(name[0]) if isinstance(name, tuple) else str(name)


class _Connection:
    """One client connection: keep-alive HTTP requests, or one WebSocket stream."""

    def __init__(self, server: Server, zl: ZoneListener, stream: trio.SocketStream) -> None:
        self.server = server
        self.cfg = server.cfg
        self.zone = zl.zone
        self.peer = _peer_of(stream)
        self.tls = zl.ssl_context is not None
        self.stream: trio.abc.Stream = (
            trio.SSLStream(stream, zl.ssl_context, server_side=True, https_compatible=True)
            if zl.ssl_context is not None else stream)
        self.h11 = http.new_connection(self.cfg.max_header_bytes)
        self.scope = trio.CancelScope()
        self.busy = False  # a request is being handled: a drain lets it finish
        self.linger = False  # the client may still be sending: linger before closing
        self.upgrade: _StreamUpgrade | None = None

    def on_drain(self) -> None:
        if self.upgrade is not None and self.upgrade.ws is not None:
            self.upgrade.going_away()
        elif not self.busy:
            self.scope.cancel()

    async def run_guarded(self) -> None:
        admitted = self.server._admit(self.peer)
        try:
            with self.scope:
                if admitted:
                    await self._run()
                else:
                    log.info("%s %s: over %d connections from one address; refused (429)",
                             self.zone, self.peer, self.cfg.max_connections_per_ip)
                    await self._refuse()
        except (_Closed, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except Exception:
            log.exception("%s %s: connection failed (接続エラー)", self.zone, self.peer)
        finally:
            if admitted:
                self.server._release(self.peer)
            self.server._forget(self)
            with trio.move_on_after(CLOSE_TIMEOUT_S + LINGER_S, shield=True):
                await self._close()

    async def _close(self) -> None:
        if self.linger and not self.server.draining:
            # Half-close the TCP connection (under TLS too: everything we meant to say
            # is sent), then discard what still arrives, undecrypted.
            raw = self.stream.transport_stream if isinstance(self.stream, trio.SSLStream) else self.stream
            with trio.move_on_after(LINGER_S):
                try:
                    if isinstance(raw, trio.abc.HalfCloseableStream):
                        await raw.send_eof()
                    got = 0
                    while got < LINGER_BYTES:
                        data = await raw.receive_some(http.RECEIVE_BYTES)
                        if not data:
                            break
                        got += len(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError):
                    pass
        with trio.move_on_after(CLOSE_TIMEOUT_S):
            await self.stream.aclose()
        await trio.aclose_forcefully(self.stream)

    # ------------------------------------------------------------------ I/O

    async def _receive(self) -> None:
        try:
            data = bytes(await self.stream.receive_some(http.RECEIVE_BYTES))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        self.h11.receive_data(data)

    async def _send(self, data: bytes | None) -> None:
        if not data:
            return
        with trio.move_on_after(self.cfg.send_stall_timeout_s) as cs:
            try:
                await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                raise _Closed() from None
        if cs.cancelled_caught:
            log.info("%s %s: client stopped reading; closing", self.zone, self.peer)
            raise _Closed()

    async def _send_error(self, err: HTTPError) -> None:
        """Answer with ``err`` and end the connection."""
        self.linger = True
        data = http.error_bytes(self.h11, err)
        with trio.move_on_after(CLOSE_TIMEOUT_S):
            try:
                await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

    async def _refuse(self) -> None:
        with trio.move_on_after(CLOSE_TIMEOUT_S):
            if isinstance(self.stream, trio.SSLStream):
                await self.stream.do_handshake()
            await self._send_error(errors.too_many_connections())

    # ------------------------------------------------------------------ HTTP

    async def _run(self) -> None:
        deadline = self.server.clock() + self.cfg.header_timeout_s
        if isinstance(self.stream, trio.SSLStream):
            with trio.move_on_at(deadline) as cs:
                await self.stream.do_handshake()
            if cs.cancelled_caught:
                log.info("%s %s: TLS handshake too slow; closed", self.zone, self.peer)
                return
        first = True
        while True:
            with trio.move_on_at(deadline) as cs:
                try:
                    event = await self._read_head()
                except HTTPError as err:
                    log.info("%s %s: %d %s", self.zone, self.peer, err.status, err.code)
                    await self._send_error(err)
                    return
            if cs.cancelled_caught:
                # An idle keep-alive connection just ends; a started or first request
                # gets its 408.
                if first or self.h11.trailing_data[0]:
                    log.info("%s %s: request head too slow (408)", self.zone, self.peer)
                    await self._send_error(errors.request_timeout())
                return
            if event is None:
                return
            if self.server.draining and not first:
                return
            self.busy = True
            keep = await self._handle(event)
            self.busy = False
            if not keep or self.server.draining:
                return
            self.h11.start_next_cycle()
            first = False
            deadline = self.server.clock() + self.cfg.header_timeout_s

    async def _read_head(self) -> h11.Request | None:
        while True:
            ev = http.next_event(self.h11, self.cfg.max_header_bytes)
            if ev is h11.NEED_DATA:
                await self._receive()
            elif isinstance(ev, h11.Request):
                return ev
            elif isinstance(ev, h11.ConnectionClosed):
                return None
            else:
                raise errors.bad_request(f"unexpected {type(ev).__name__}")

    async def _pull(self, deadline: float) -> bytes:
        with trio.fail_at(deadline):
            while True:
                ev = http.next_event(self.h11, self.cfg.max_header_bytes)
                if ev is h11.NEED_DATA:
                    if self.h11.they_are_waiting_for_100_continue:
                        await self._send(self.h11.send(
                            h11.InformationalResponse(status_code=100, headers=[])))
                    await self._receive()
                elif isinstance(ev, h11.Data):
                    if ev.data:
                        return bytes(ev.data)
                elif isinstance(ev, h11.EndOfMessage) or ev is h11.PAUSED:
                    return b""
                else:
                    raise errors.bad_request(f"unexpected {type(ev).__name__}")

    def _request(self, event: h11.Request) -> tuple[Request, http.RequestBody]:
        head = http.parse_head(event)
        body = http.RequestBody(self._pull, self.server.clock, content_length=head.content_length,
                                min_bps=self.cfg.min_body_rate_bps,
                                stall_s=self.cfg.header_timeout_s)
        return http.make_request(head, zone=self.zone, peer=self.peer, tls=self.tls, body=body), body

    async def _handle(self, event: h11.Request) -> bool:
        """Answer one request; True if the connection can take another."""
        try:
            req, body = self._request(event)
        except HTTPError as err:
            await self._send_error(err)
            return False
        if req.path == http.STREAM_PATH and http.is_websocket_upgrade(event):
            self.upgrade = _StreamUpgrade(self, event, req, body)
            await self.upgrade.run()
            return False
        resp = await self._call_app(req)
        return await self._respond(req, resp, body)

    async def _call_app(self, req: Request) -> Response:
        try:
            return await self.server.app.handle(req)
        except HTTPError as err:
            if err.status >= 500:
                log.error("%s %s %s %s: %d %s", self.zone, self.peer, req.method, req.path,
                          err.status, err.code)
            return err.response()
        except Exception:
            log.exception("%s %s %s %s: handler failed (内部エラー)", self.zone, self.peer,
                          req.method, req.path)
            return errors.internal_error().response()

    def _must_close(self, body: http.RequestBody) -> bool:
        if self.server.draining or self.h11.their_state is h11.ERROR or body.failed:
            return True
        if self.h11.their_state is h11.SEND_BODY:
            unread = body.unread()
            return unread is None or unread > http.MAX_DRAIN_BYTES
        return False

    async def _respond(self, req: Request, resp: Response, body: http.RequestBody) -> bool:
        close = self._must_close(body)
        stream = resp.stream
        try:
            await self._send(self.h11.send(http.response_head(resp, close=close)))
            if req.method != "HEAD":
                if stream is not None:
                    async for chunk in stream:
                        if chunk:
                            await self._send(self.h11.send(h11.Data(data=chunk)))
                elif resp.body:
                    await self._send(self.h11.send(h11.Data(data=resp.body)))
            await self._send(self.h11.send(h11.EndOfMessage()))
        except h11.LocalProtocolError as exc:
            # The app's headers and body disagree (e.g. Content-Length): our bug.
            log.error("%s %s %s: response not sendable: %s", self.zone, req.method, req.path, exc)
            return False
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        if close:
            self.linger = self.h11.their_state is not h11.DONE
            return False
        if self.h11.their_state is h11.SEND_BODY:
            # A small unread body (the app answered without reading it): drain it.
            try:
                with trio.fail_after(self.cfg.header_timeout_s):
                    while await self._pull(self.server.clock() + self.cfg.header_timeout_s):
                        pass
            except (HTTPError, trio.TooSlowError):
                return False
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE
