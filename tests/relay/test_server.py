"""relay.server (and relayd's process edges) over real sockets on 127.0.0.1.

A tiny App stands in for relay.api, so these tests say what the network layer
promises whatever the routes are: limits and their API.md answers, keep-alive, the
WebSocket hand-over, TLS policy, socket activation, drain, sd_notify.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import trio
import trio_websocket

from relay import main as relayd_main
from relay import listeners as lsn
from relay import server as srv
from relay import tlsconf
from relay.config import HTTPConfig, ListenerConfig, TLSConfig
from relay.web import Accept, HTTPError, Request, Response, json_response
from tests.e2e.harness import Endpoint, HTTPClient, ws_connect

GUARD_S = 20  # every test stops by itself


class TinyApp:
    """Routes that exercise the seam, nothing more."""

    def __init__(self) -> None:
        self.release = trio.Event()
        self.entered = trio.Event()

    async def handle(self, req: Request) -> Response:
        if req.path == "/who":
            return json_response(200, {"zone": req.zone, "tls": req.tls, "peer": req.peer})
        if req.path == "/json":
            data = json.loads(await req.body.read_all(1000) or b"null")
            return json_response(200, {"got": data})
        if req.path == "/upload":
            h = hashlib.sha256()
            n = 0
            async for chunk in req.body.chunks(64 * 1024):
                h.update(chunk)
                n += len(chunk)
            return json_response(201, {"size": n, "sha256": h.hexdigest()})
        if req.path == "/boom":
            raise RuntimeError("handler bug")
        if req.path == "/wait":
            self.entered.set()
            await self.release.wait()
            return json_response(200, {"waited": True})
        if req.path == "/endless":
            return Response(200, (("content-type", "application/octet-stream"),),
                            stream=endless())
        raise HTTPError(404, "not_found", "ありません / not found")

    async def handle_stream(self, req: Request, accept: Accept) -> Response | None:
        if req.header("authorization") != "Bearer good":
            return json_response(401, {"error": {"code": "unauthenticated", "message": "",
                                                 "details": {}}})
        ws = await accept()
        try:
            while True:
                msg = await ws.get_message()
                await ws.send_message(msg)
        except trio_websocket.ConnectionClosed:
            return None


async def endless() -> AsyncIterator[bytes]:
    chunk = b"x" * 65536
    while True:
        yield chunk


@dataclasses.dataclass
class Running:
    server: srv.Server
    app: TinyApp
    lgwan: Endpoint
    internet: Endpoint
    cafile: Path


def contexts(tmp_path: Path, min_version: str = "1.3") -> tuple[ssl.SSLContext, Path]:
    ctx = tlsconf.server_context(TLSConfig(min_version=min_version), tmp_path)  # type: ignore[arg-type]
    return ctx, tmp_path / "tls" / tlsconf.CERT_NAME


@asynccontextmanager
async def running(tmp_path: Path, min_version: str = "1.3",
                  activated: dict[str, socket.socket] | None = None,
                  **http_cfg: Any) -> AsyncIterator[Running]:
    cfg = HTTPConfig(**http_cfg)
    ctx, cafile = contexts(tmp_path, min_version)
    app = TinyApp()
    server = srv.Server(app, cfg)
    listeners = await lsn.open_listeners(
        {"lgwan": ListenerConfig(port=0), "internet": ListenerConfig(port=0, tls=True)},
        {"lgwan": None, "internet": ctx}, activated or {})
    ports = {zl.zone: zl.listener.socket.getsockname()[1] for zl in listeners}
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, listeners)
        yield Running(server, app,
                      Endpoint("127.0.0.1", ports["lgwan"]),
                      Endpoint("127.0.0.1", ports["internet"], tlsconf.client_context(cafile)),
                      cafile)
        server.shutdown()


async def raw_exchange(ep: Endpoint, *parts: bytes, pause: float = 0.0) -> bytes:
    """Send ``parts`` (pausing between them) and read until the server closes."""
    stream = await ep.connect()
    try:
        for i, part in enumerate(parts):
            if i and pause:
                await trio.sleep(pause)
            try:
                await stream.send_all(part)
            except trio.BrokenResourceError:
                break
        out = b""
        while True:
            try:
                data = await stream.receive_some(65536)
            except trio.BrokenResourceError:
                break
            if not data:
                break
            out += data
        return out
    finally:
        await trio.aclose_forcefully(stream)


def status_and_json(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body) if body else None


# --------------------------------------------------------------------------- HTTP


async def test_zone_comes_from_the_listener_and_keep_alive_reuses_the_connection(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with running(tmp_path) as r:
            for ep, zone, tls in ((r.lgwan, "lgwan", False), (r.internet, "internet", True)):
                client = HTTPClient(ep)
                first = await client.request("GET", "/who", headers={"x-zone": "lgwan"})
                second = await client.request("POST", "/json", json={"本文": "こんにちは"})
                assert first.json() == {"zone": zone, "tls": tls, "peer": "127.0.0.1"}
                assert second.json() == {"got": {"本文": "こんにちは"}}
                assert client.connections_opened == 1
                assert first.headers["x-content-type-options"] == "nosniff"
                assert first.headers["cache-control"] == "no-store"
                await client.aclose()


async def test_upload_streams_through_chunks(tmp_path: Path) -> None:
    data = os.urandom(50_000)
    with trio.fail_after(GUARD_S):
        async with running(tmp_path) as r:
            client = HTTPClient(r.lgwan)
            reply = await client.request("POST", "/upload", body=data)
            assert reply.status == 201
            assert reply.json() == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            await client.aclose()


async def test_oversized_headers_get_431(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with running(tmp_path) as r:
            raw = await raw_exchange(
                r.lgwan, b"GET /who HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (17 * 1024) + b"\r\n\r\n")
            status, headers, body = status_and_json(raw)
            assert status == 431 and body["error"]["code"] == "headers_too_large"
            assert headers["connection"] == "close"


async def test_oversized_bodies_get_413_declared_or_chunked(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with running(tmp_path) as r:
            declared = await raw_exchange(
                r.lgwan, b"POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n",
                b"{" * 5000)
            status, _, body = status_and_json(declared)
            assert status == 413 and body["error"]["code"] == "body_too_large"
            chunked = await raw_exchange(
                r.internet, b"POST /json HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                *[b"200\r\n" + b"[" * 0x200 + b"\r\n"] * 4, b"0\r\n\r\n")
            status, _, body = status_and_json(chunked)
            assert status == 413 and body["error"]["details"] == {"limit": 1000}


async def test_slow_headers_get_408_and_the_connection_closes(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with running(tmp_path, header_timeout_s=0.3) as r:
            # Half a request line, then nothing: the server answers 408 and hangs up.
            raw = await raw_exchange(r.lgwan, b"GET /who HTTP/1.1\r\nHo")
            status, headers, body = status_and_json(raw)
            assert status == 408 and body["error"]["code"] == "request_timeout"
            # A TLS client that never finishes its handshake is cut off too.
            with trio.socket.socket() as s:
                await s.connect(("127.0.0.1", r.internet.port))
                await s.send(b"\x16\x03\x01")
                assert await s.recv(100) == b""
            # Others are unaffected.
            reply = await HTTPClient(r.lgwan).request("GET", "/who")
            assert reply.status == 200


async def test_a_body_slower_than_the_minimum_rate_gets_408(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with running(tmp_path, min_body_rate_bps=1000) as r:
            raw = await raw_exchange(
                r.lgwan, b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n",
                b"x" * 10)
            status, _, body = status_and_json(raw)
            assert status == 408 and body["error"]["code"] == "request_timeout"


@pytest.mark.parametrize("garbage", [
    b"NOT HTTP AT ALL\r\n\r\n",
    b"GET /who HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\n",
    b"GET /who HTTP/1.1\r\nBad Header\r\n\r\n",
    b"GET http://elsewhere/ HTTP/1.1\r\nHost: x\r\n\r\n",
])
async def test_malformed_http_gets_400_json(tmp_path: Path, garbage: bytes) -> None:
    with trio.fail_after(GUARD_S):
        async with running(tmp_path) as r:
            status, _, body = status_and_json(await raw_exchange(r.lgwan, garbage))
            assert status == 400 and body["error"]["code"] == "bad_request"


async def test_a_failing_handler_is_a_500_for_that_request_only(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with running(tmp_path) as r:
            client = HTTPClient(r.lgwan)
            boom = await client.request("GET", "/boom")
            assert boom.status == 500 and boom.error_code == "internal_error"
            missing = await client.request("GET", "/nope")
            assert missing.status == 404 and missing.error_code == "not_found"
            assert (await client.request("GET", "/who")).status == 200
            assert client.connections_opened == 1
            await client.aclose()


async def test_connections_per_ip_are_capped_with_429(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with running(tmp_path, max_connections_per_ip=2) as r:
            held = [HTTPClient(r.lgwan), HTTPClient(r.internet)]
            for c in held:  # both admitted and kept alive
                assert (await c.request("GET", "/who")).status == 200
            status, headers, body = status_and_json(
                await raw_exchange(r.lgwan, b"GET /who HTTP/1.1\r\nHost: x\r\n\r\n"))
            assert status == 429 and headers["retry-after"]
            assert body["error"]["code"] == "too_many_connections"
            await held[0].aclose()
            with trio.fail_after(5):  # the slot is given back when a connection ends
                while True:
                    c = HTTPClient(r.lgwan)
                    if (await c.request("GET", "/who")).status == 200:
                        break
                    await trio.sleep(0.05)
            await c.aclose()
            await held[1].aclose()


def test_the_connection_cap_counts_an_ipv6_client_by_its_64(tmp_path: Path) -> None:
    server = srv.Server(TinyApp(), HTTPConfig(max_connections_per_ip=2))
    assert server._admit("2001:db8:1:2::10") and server._admit("2001:db8:1:2::beef")
    # A third address of the same /64 is the same client: refused.
    assert not server._admit("2001:db8:1:2:ffff::1")
    assert server._admit("2001:db8:1:3::1")  # another /64 is another client
    server._release("2001:db8:1:2::10")
    assert server._admit("2001:db8:1:2::77")


async def test_content_length_with_transfer_encoding_is_refused_and_the_connection_closed(
        tmp_path: Path) -> None:
    smuggled = (b"POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"2\r\n{}\r\n0\r\n\r\n"
                b"GET /who HTTP/1.1\r\nHost: x\r\n\r\n")
    with trio.fail_after(GUARD_S):
        async with running(tmp_path) as r:
            raw = await raw_exchange(r.lgwan, smuggled)
    # One answer (400), then the server closed: the request behind it was never served.
    assert raw.count(b"HTTP/1.1 ") == 1
    status, headers, body = status_and_json(raw)
    assert status == 400 and body["error"]["code"] == "bad_request"
    assert headers.get("connection") == "close"


async def test_a_client_that_stops_reading_a_response_is_cut_off(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with running(tmp_path, send_stall_timeout_s=0.5) as r:
            stuck = trio.socket.socket()
            stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            await stuck.connect(("127.0.0.1", r.lgwan.port))
            await stuck.send(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
            while r.server.connections == 0:
                await trio.sleep(0.01)
            # Others are served while the response to the stuck client is stalled.
            assert (await HTTPClient(r.internet).request("GET", "/who")).status == 200
            while r.server.open_connections()["lgwan"]:  # then the stalled one is closed
                await trio.sleep(0.05)
            stuck.close()


async def test_open_connections_are_counted_per_zone(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with running(tmp_path) as r:
            assert r.server.open_connections() == {"lgwan": 0, "internet": 0}
            clients = [HTTPClient(r.lgwan), HTTPClient(r.lgwan), HTTPClient(r.internet)]
            for c in clients:
                assert (await c.request("GET", "/who")).status == 200  # kept alive
            assert r.server.open_connections() == {"lgwan": 2, "internet": 1}
            for c in clients:
                await c.aclose()
            while r.server.connections:
                await trio.sleep(0.01)
            assert r.server.open_connections() == {"lgwan": 0, "internet": 0}


async def test_expect_100_continue_and_head(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with running(tmp_path) as r:
            raw = await raw_exchange(
                r.lgwan,
                b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n"
                b"Connection: close\r\n\r\n", b"abc", pause=0.3)
            # The client waits for the 100 before sending; the body then arrives.
            assert raw.startswith(b"HTTP/1.1 100 ")
            assert b"HTTP/1.1 201 Created" in raw
            head = await raw_exchange(r.lgwan, b"HEAD /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n")


# --------------------------------------------------------------------------- WebSocket


async def test_websocket_echo_through_accept_on_both_listeners(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with running(tmp_path) as r:
            for ep in (r.lgwan, r.internet):
                async with ws_connect(ep, "good") as ws:
                    for text in ("こんにちは", "x" * 100_000):
                        await ws.send_message(text)
                        assert await ws.get_message() == text


async def test_websocket_refused_by_the_app_gets_its_http_answer(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with running(tmp_path) as r:
            with pytest.raises(trio_websocket.ConnectionRejected) as info:
                async with ws_connect(r.lgwan, "bad"):
                    pass
            assert info.value.status_code == 401
            assert json.loads(info.value.body or b"")["error"]["code"] == "unauthenticated"
            # /api/v1/stream without Upgrade is an ordinary request for the app.
            plain = await HTTPClient(r.lgwan).request("GET", "/api/v1/stream")
            assert plain.status == 404


async def test_a_frame_over_the_limit_closes_that_client_only(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with running(tmp_path) as r:  # default limit: 1 MiB
            async with ws_connect(r.internet, "good") as calm, ws_connect(r.lgwan, "good") as big:
                await calm.send_message("before")
                assert await calm.get_message() == "before"
                await big.send_message(b"\0" * (1024 * 1024 + 1))
                with pytest.raises(trio_websocket.ConnectionClosed) as info:
                    await big.get_message()
                assert info.value.reason is not None and info.value.reason.code == 1009  # too big
                await calm.send_message("after")
                assert await calm.get_message() == "after"


# --------------------------------------------------------------------------- TLS


def tls_client(cafile: Path, version: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = tlsconf.client_context(cafile)
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


async def handshake(port: int, ctx: ssl.SSLContext) -> trio.SSLStream[trio.SocketStream]:
    stream = trio.SSLStream(await trio.open_tcp_stream("127.0.0.1", port), ctx,
                            server_hostname="127.0.0.1")
    await stream.do_handshake()
    return stream


async def test_internet_listener_speaks_tls13_and_refuses_tls12_by_default(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with running(tmp_path) as r:
            s = await handshake(r.internet.port, tlsconf.client_context(r.cafile))
            assert s.version() == "TLSv1.3"
            assert s.selected_alpn_protocol() == "http/1.1"
            await s.aclose()
            with pytest.raises(trio.BrokenResourceError):
                await handshake(r.internet.port, tls_client(r.cafile, ssl.TLSVersion.TLSv1_2))


@pytest.mark.parametrize("groups, accepted", [
    ("X25519", True), ("P-256", True), ("P-384", True),
    ("P-521", False), ("X448", False), ("ffdhe2048", False),
])
async def test_the_internet_listener_offers_exactly_the_modern_groups(
        tmp_path: Path, groups: str, accepted: bool) -> None:
    with trio.fail_after(GUARD_S):
        async with running(tmp_path) as r:
            client = tlsconf.client_context(r.cafile)
            assert tlsconf.set_groups(client, groups)  # the client offers only this one
            if accepted:
                s = await handshake(r.internet.port, client)
                assert s.version() == "TLSv1.3"
                await s.aclose()
            else:
                with pytest.raises(trio.BrokenResourceError):
                    await handshake(r.internet.port, client)


async def test_min_version_12_allows_only_intermediate_ciphers(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with running(tmp_path, min_version="1.2") as r:
            s = await handshake(r.internet.port, tls_client(r.cafile, ssl.TLSVersion.TLSv1_2))
            assert s.version() == "TLSv1.2"
            cipher = s.cipher()
            assert cipher is not None and cipher[0] in tlsconf.INTERMEDIATE_CIPHERS.split(":")
            await s.aclose()
            weak = tls_client(r.cafile, ssl.TLSVersion.TLSv1_2)
            weak.set_ciphers("AES128-SHA:AES256-SHA")  # no forward secrecy
            with pytest.raises(trio.BrokenResourceError):
                await handshake(r.internet.port, weak)


def test_self_signed_pair_is_made_once_and_reused(tmp_path: Path) -> None:
    cert, key = tlsconf.certificate_files(TLSConfig(), tmp_path)
    first = (cert.read_bytes(), key.read_bytes())
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    cert2, key2 = tlsconf.certificate_files(TLSConfig(), tmp_path)
    assert (cert2, key2) == (cert, key)
    assert (cert2.read_bytes(), key2.read_bytes()) == first
    # Near expiry it is made again.
    import datetime
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=400)
    tlsconf.ensure_self_signed(tmp_path / "tls", now=later)
    assert cert.read_bytes() != first[0]


def test_configured_files_and_systemd_credentials_win_over_self_signed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made_cert, made_key = tlsconf.ensure_self_signed(tmp_path / "elsewhere")
    cfg = TLSConfig(cert_file=str(made_cert), key_file=str(made_key))
    assert tlsconf.certificate_files(cfg, tmp_path / "state") == (made_cert, made_key)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "tls.crt").write_bytes(made_cert.read_bytes())
    (creds / "tls.key").write_bytes(made_key.read_bytes())
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert tlsconf.certificate_files(TLSConfig(), tmp_path / "state") == (
        creds / "tls.crt", creds / "tls.key")
    assert not (tmp_path / "state").exists()
    with pytest.raises(tlsconf.TLSSetupError):
        tlsconf.server_context(TLSConfig(cert_file=str(made_cert), key_file=str(made_cert)),
                               tmp_path)


# --------------------------------------------------------------------------- process edges


def test_activation_variables_are_parsed_like_sd_listen_fds() -> None:
    env = {"LISTEN_PID": "42", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "internet:lgwan"}
    assert lsn.activated_fds(env, 42) == {"internet": 3, "lgwan": 4}
    assert lsn.activated_fds(env, 43) == {}  # meant for another process
    assert lsn.activated_fds({}, 42) == {}
    for bad in ({"LISTEN_FDS": "2", "LISTEN_FDNAMES": "lgwan"},
                {"LISTEN_FDS": "1", "LISTEN_FDNAMES": "admin"},
                {"LISTEN_FDS": "2", "LISTEN_FDNAMES": "lgwan:lgwan"},
                {"LISTEN_FDS": "x"}):
        with pytest.raises(lsn.ActivationError):
            lsn.activated_fds(bad, 42)


def listening_socket() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


async def test_socket_activation_serves_the_passed_sockets_in_their_zones(tmp_path: Path) -> None:
    lg, inet = listening_socket(), listening_socket()
    ports = {"lgwan": lg.getsockname()[1], "internet": inet.getsockname()[1]}
    first = 900  # consecutive descriptors, as systemd passes them from 3 up
    os.dup2(lg.fileno(), first)
    os.dup2(inet.fileno(), first + 1)
    lg.close()
    inet.close()
    env = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "2", "LISTEN_FDNAMES": "lgwan:internet",
           "OTHER": "kept"}
    activated = lsn.take_activated(env, os.getpid(), first_fd=first)
    assert env == {"OTHER": "kept"}  # not inherited by child processes
    with trio.fail_after(GUARD_S):
        async with running(tmp_path, activated=activated) as r:
            assert (r.lgwan.port, r.internet.port) == (ports["lgwan"], ports["internet"])
            assert (await HTTPClient(r.lgwan).request("GET", "/who")).json()["zone"] == "lgwan"
            assert (await HTTPClient(r.internet).request("GET", "/who")).json()["zone"] == "internet"


async def test_drain_finishes_requests_in_flight_and_closes_the_rest(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with running(tmp_path) as r:
            idle = HTTPClient(r.lgwan)
            assert (await idle.request("GET", "/who")).status == 200
            busy = HTTPClient(r.internet)
            result: dict[str, Any] = {}

            async def slow_request() -> None:
                reply = await busy.request("GET", "/wait")
                result["reply"] = reply

            async with ws_connect(r.lgwan, "good") as ws, trio.open_nursery() as nursery:
                nursery.start_soon(slow_request)
                await r.app.entered.wait()
                r.server.shutdown()
                with pytest.raises(trio_websocket.ConnectionClosed) as info:
                    await ws.get_message()
                assert info.value.reason is not None and info.value.reason.code == 1001  # going away
                with pytest.raises(OSError):  # no new connections
                    await trio.open_tcp_stream("127.0.0.1", r.lgwan.port)
                r.app.release.set()
            reply = result["reply"]
            assert reply.json() == {"waited": True} and reply.headers["connection"] == "close"


async def test_drain_cuts_off_what_is_still_running_after_drain_timeout(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with running(tmp_path, drain_timeout_s=0.2) as r:
            stream = await r.lgwan.connect()
            await stream.send_all(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
            await r.app.entered.wait()
            r.server.shutdown()  # /wait is never released
            with trio.fail_after(5):  # drain_timeout_s (0.2 s here), not the 10 s default
                assert await stream.receive_some(65536) == b""  # cut off, no answer
            await stream.aclose()


async def test_sd_notify_sends_datagrams_to_notify_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        assert relayd_main.sd_notify("READY=1", {"NOTIFY_SOCKET": path})
        assert sock.recv(100) == b"READY=1"
    assert not relayd_main.sd_notify("READY=1", {})
    assert relayd_main.watchdog_interval({"WATCHDOG_USEC": "30000000"}, 1) == 15.0
    assert relayd_main.watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "2"}, 1) is None
    assert relayd_main.watchdog_interval({}, 1) is None


def test_a_refused_config_exits_2_and_touches_nothing(tmp_path: Path) -> None:
    conf = tmp_path / "relayd.toml"
    state = tmp_path / "state"
    conf.write_text(f'[store]\nstate_dir = "{state}"\n[listeners.internet]\nport = "x"\n',
                    encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "relay.main", "--config", str(conf)],
                         capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 2
    assert out.stderr.strip() == "relayd: config: listeners.internet.port: expected an integer"
    assert not state.exists()


# A launcher that does what systemd does for socket activation: the sockets become
# fds 3 and 4, LISTEN_PID is relayd's own pid (exec keeps it).
ACTIVATING_LAUNCHER = (
    "import os, sys\n"
    "a, b = os.dup(int(sys.argv[1])), os.dup(int(sys.argv[2]))\n"
    "os.dup2(a, 3); os.dup2(b, 4)\n"
    "os.set_inheritable(3, True); os.set_inheritable(4, True)\n"
    "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='2',"
    " LISTEN_FDNAMES='lgwan:internet')\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[3:]])\n"
)


def datagrams(sock: socket.socket, until: str, timeout: float = 20.0) -> list[str]:
    got: list[str] = []
    sock.settimeout(timeout)
    while until not in got:
        got.extend(sock.recv(4096).decode().split("\n"))
    return got


@pytest.mark.e2e
def test_relayd_under_systemd_activation_notify_watchdog_reload_and_stop(tmp_path: Path) -> None:
    from tests.e2e.harness import start_relayd

    lg, inet = listening_socket(), listening_socket()
    notify_path = str(tmp_path / "notify")
    with lg, inet, socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(notify_path)
        r = start_relayd(
            tmp_path, launcher=(sys.executable, "-c", ACTIVATING_LAUNCHER,
                                str(lg.fileno()), str(inet.fileno())),
            pass_fds=(lg.fileno(), inet.fileno()),
            env={"NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "200000"})
        try:
            # The passed sockets are served (the config's port 0 is not bound).
            assert r.lgwan == "127.0.0.1:%d" % lg.getsockname()[1]
            assert r.internet == "127.0.0.1:%d" % inet.getsockname()[1]
            first = datagrams(notify, "READY=1")
            assert any(line.startswith("STATUS=listening lgwan=") for line in first)
            assert "WATCHDOG=1" in datagrams(notify, "WATCHDOG=1")
            assert r.request_sync("lgwan", "GET", "/healthz").status == 200
            assert r.request_sync("internet", "GET", "/healthz").status == 200
            ports = json.loads((r.state_dir / "run" / "ports.json").read_text())
            assert ports["lgwan"] == [r.lgwan] and ports["internet"] == [r.internet]
            r.signal(__import__("signal").SIGHUP)  # certificate reload
            assert "RELOADING=1" in datagrams(notify, "RELOADING=1")
            assert "READY=1" in datagrams(notify, "READY=1")
            assert r.stop() == 0
            assert "STOPPING=1" in datagrams(notify, "STOPPING=1")
        finally:
            if r.proc.poll() is None:
                r.kill()
