"""The stream session's event writer over a real WebSocket pair (trio-websocket on
both ends of an in-memory stream): events queued while the writer was busy go out
in one write, yet arrive as separate frames, whole and in order."""

from __future__ import annotations

import json

import trio
import trio.testing
from trio_websocket import WebSocketConnection, wrap_client_stream, wrap_server_stream

from relay import stream
from relay.hub import Hub


class CountingStream(trio.abc.HalfCloseableStream):
    """The server's side of the pipe, counting the writes it is asked to do."""

    def __init__(self, inner: trio.abc.HalfCloseableStream) -> None:
        self.inner = inner
        self.writes = 0

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += 1
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_queued_events_go_in_one_write_and_arrive_as_frames_in_order() -> None:
    left, right = trio.testing.memory_stream_pair()
    server_side = CountingStream(right)
    hub = Hub(queue_size=256)
    sub = hub.subscribe("7", "lgwan", "s1")
    n = 100
    for i in range(n):  # a burst in a busy room, queued before the writer runs
        hub.publish(["7"], {"type": "message.created", "message": {"id": str(i), "body": "あ" * i}})
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            accepted: list[WebSocketConnection] = []

            async def serve() -> None:
                request = await wrap_server_stream(nursery, server_side)
                accepted.append(await request.accept())

            nursery.start_soon(serve)
            client_ws = await wrap_client_stream(nursery, left, "relay", "/api/v1/stream")
            while not accepted:
                await trio.sleep(0)
            writes_before = server_side.writes
            conn = stream._Conn(accepted[0])
            nursery.start_soon(stream._events, conn, sub)
            got = [json.loads(await client_ws.get_message()) for _ in range(n)]
            assert [g["message"]["id"] for g in got] == [str(i) for i in range(n)]
            assert all(g["message"]["body"] == "あ" * i for i, g in enumerate(got))
            # 100 queued events in two writes (64 + 36), not a hundred.
            assert stream.SEND_BATCH == 64
            assert server_side.writes - writes_before == 2
            assert not conn.torn
            nursery.cancel_scope.cancel()
