"""The WebSocket stream on an HTTP connection: ``GET /api/v1/stream`` with
``Upgrade: websocket`` is handed to ``App.handle_stream`` with an ``accept()`` that
replays the head h11 already read in front of the socket (``ReplayStream``) and lets
trio-websocket do the handshake.  The server pings each stream
(``ws_ping_interval_s``) and ends it when no pong comes (``ws_ping_timeout_s``).  A
stream whose write was cut off half-way (the app gave up on a client that does not
read) is dropped without a closing handshake: the next frame would be garbage and the
client would not read it anyway.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import h11
import trio
import trio_websocket

from relay import errors, http
from relay.config import HTTPConfig
from relay.web import CLOSE_TIMEOUT_S, HTTPError, Request, Response

if TYPE_CHECKING:
    from relay.server import _Connection

log = logging.getLogger("relay.server")


class ReplayStream(trio.abc.Stream):
    """A stream that first returns ``prefix``, then whatever ``inner`` receives.

    It also notices a write that did not finish (cancelled or failed half-way):
    ``torn`` is then true, and only dropping the connection is left."""

    def __init__(self, inner: trio.abc.Stream, prefix: bytes) -> None:
        self._inner = inner
        self._prefix = prefix
        self._sending = 0

    @property
    def torn(self) -> bool:
        return self._sending > 0

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self._prefix:
            n = len(self._prefix) if max_bytes is None else max_bytes
            out, self._prefix = self._prefix[:n], self._prefix[n:]
            await trio.lowlevel.checkpoint()
            return out
        return await self._inner.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self._sending += 1
        await self._inner.send_all(data)
        self._sending -= 1  # not reached when cancelled or failed: the stream is torn

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self._inner.aclose()


class _StreamUpgrade:
    """``GET /api/v1/stream`` with ``Upgrade: websocket``: the app decides."""

    def __init__(self, conn: _Connection, event: h11.Request, req: Request,
                 body: http.RequestBody) -> None:
        self.conn = conn
        self.event = event
        self.req = req
        self.body = body
        self.ws: trio_websocket.WebSocketConnection | None = None
        self.replay: ReplayStream | None = None
        self.leaving = False
        self.pinger_scope = trio.CancelScope()

    async def run(self) -> None:
        conn = self.conn
        # The upgrade request has no body; h11 then pauses (it might switch protocol).
        try:
            with trio.fail_after(conn.cfg.header_timeout_s):
                if await self.body.read_all(0):
                    raise errors.bad_request("body on an upgrade request")
        except (HTTPError, trio.TooSlowError):
            await conn._send_error(errors.bad_request("body on an upgrade request"))
            return
        refusal: Response | None = None
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                try:
                    refusal = await conn.server.app.handle_stream(self.req, self._accept)
                except trio_websocket.ConnectionClosed:
                    pass
                except HTTPError as err:
                    refusal = err.response()
                finally:
                    # Close while the reader still runs, so the client's close reply
                    # is read; then the reader ends with the stream, within a bound.
                    self.leaving = True  # a drain from now on has nothing to do
                    self.pinger_scope.cancel()
                    if self.ws is not None:
                        await self._close_ws()
                        nursery.cancel_scope.deadline = min(
                            nursery.cancel_scope.deadline,
                            trio.current_time() + CLOSE_TIMEOUT_S)
                    else:
                        nursery.cancel_scope.cancel()
        except Exception:
            log.exception("%s %s: stream failed (ストリームエラー)", conn.zone, conn.peer)
            if self.ws is None:
                refusal = errors.internal_error().response()
        if self.ws is None:
            if refusal is None:
                log.error("%s %s: handle_stream neither accepted nor refused", conn.zone, conn.peer)
                refusal = errors.internal_error().response()
            try:
                await conn._send(conn.h11.send(http.response_head(refusal, close=True)))
                if refusal.body:
                    await conn._send(conn.h11.send(h11.Data(data=refusal.body)))
                await conn._send(conn.h11.send(h11.EndOfMessage()))
            except h11.LocalProtocolError as exc:
                log.error("%s %s: refusal not sendable: %s", conn.zone, conn.peer, exc)

    async def _accept(self) -> trio_websocket.WebSocketConnection:
        if self.ws is not None:
            raise RuntimeError("accept() called twice")
        conn = self.conn
        trailing, _closed = conn.h11.trailing_data
        replay = self.replay = ReplayStream(conn.stream, http.replay_bytes(self.event, trailing))
        with trio.fail_after(conn.cfg.header_timeout_s):
            request = await trio_websocket.wrap_server_stream(
                self.nursery, replay, message_queue_size=conn.cfg.ws_receive_queue,
                max_message_size=conn.cfg.ws_max_message_bytes)
            self.ws = await request.accept()
        conn.busy = False  # a stream is not "in flight": a drain closes it
        self.nursery.start_soon(self._pinger, self.ws)
        if conn.server.draining:
            self.going_away()
        return self.ws

    def going_away(self) -> None:
        """Close the stream with 1001 while its reader still runs (so the client's
        close reply is read), then end the connection."""

        async def close() -> None:
            await self._close_ws()
            self.conn.scope.cancel()

        if not self.leaving:
            self.leaving = True
            self.nursery.start_soon(close)

    async def _pinger(self, ws: trio_websocket.WebSocketConnection) -> None:
        cfg = self.conn.cfg
        with self.pinger_scope:
            await self._ping_until_dead(ws, cfg)

    async def _ping_until_dead(self, ws: trio_websocket.WebSocketConnection, cfg: HTTPConfig) -> None:
        while True:
            await trio.sleep(cfg.ws_ping_interval_s)
            with trio.move_on_after(cfg.ws_ping_timeout_s) as cs:
                try:
                    await ws.ping()
                except trio_websocket.ConnectionClosed:
                    return
            if cs.cancelled_caught:
                log.info("%s %s: no pong within %.0f s; closing stream",
                         self.conn.zone, self.conn.peer, cfg.ws_ping_timeout_s)
                self.conn.scope.cancel()
                return

    async def _close_ws(self) -> None:
        assert self.ws is not None
        if self.replay is not None and self.replay.torn:
            # A frame was cut off half-way (the client stopped reading and the app gave
            # up on it): a close frame now would be garbage to a client that is not
            # reading anyway.  Drop the transport; the reader then ends at once.
            log.info("%s %s: stream cut off (client not reading); dropped",
                     self.conn.zone, self.conn.peer)
            await trio.aclose_forcefully(self.conn.stream)
            return
        code = 1001 if self.conn.server.draining else 1000
        with trio.move_on_after(CLOSE_TIMEOUT_S, shield=True):
            await self.ws.aclose(code)
