"""Web Push as a phone receives it: a push service on 127.0.0.1 (run by the test)
gets what relayd sends, decrypts it with the keys a browser would hold (RFC 8291),
and checks relayd's VAPID signature (RFC 8292).  No message text is ever in a push."""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import os
from pathlib import Path
from typing import Any, AsyncIterator

import h11
import http_ece
import pytest
import trio
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from relay.app import build_app
from relay.config import PushConfig
from store.facade import Store
from tests.audits import SETUP
from tests.relay.test_api import PASSWORD, Clock, Env, body, code, make_config

TIMEOUT_S = 20


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclasses.dataclass
class Browser:
    """What a browser's PushManager holds for one subscription."""

    key: ec.EllipticCurvePrivateKey = dataclasses.field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = dataclasses.field(default_factory=lambda: os.urandom(16))

    def keys(self) -> dict[str, str]:
        point = self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)
        return {"p256dh": b64(point), "auth": b64(self.auth)}

    def decrypt(self, data: bytes) -> Any:
        return json.loads(http_ece.decrypt(data, private_key=self.key, auth_secret=self.auth,
                                           version="aes128gcm"))


@dataclasses.dataclass
class PushService:
    port: int = 0
    received: list[tuple[str, dict[str, str], bytes]] = dataclasses.field(default_factory=list)
    arrived: trio.Event = dataclasses.field(default_factory=trio.Event)

    async def handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        target, headers, data = "", {}, b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Request):
                target = event.target.decode()
                headers = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                data += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        self.received.append((target, headers, data))
        self.arrived.set()
        status = 410 if target.endswith("/gone") else 201
        await stream.send_all(conn.send(h11.Response(status_code=status, headers=[
            ("content-length", "0")])) + conn.send(h11.EndOfMessage()))
        await stream.aclose()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Env, PushService]]:
    cfg = make_config(tmp_path)
    cfg = dataclasses.replace(cfg, push=PushConfig(allow_loopback_http=True))
    store = await Store.open(cfg.store)
    clock = Clock()
    env = Env(build_app(cfg, store, now=clock), store, clock)
    for login, kind in [("tanaka", "staff"), ("suzuki", "staff")]:
        env.ids[login] = (await store.create_account(login, PASSWORD, kind, login.title(),  # type: ignore[arg-type]
                                                     audit=SETUP, now=clock())).id
    service = PushService()
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(functools.partial(trio.serve_tcp, service.handle, 0,
                                                          host="127.0.0.1"))
        service.port = listeners[0].socket.getsockname()[1]
        await nursery.start(env.app.push.run)
        try:
            yield env, service
        finally:
            nursery.cancel_scope.cancel()
            await store.aclose()


def verify_vapid(header: str, public_key: str, audience: str) -> dict[str, Any]:
    """The claims of a ``vapid t=JWT,k=KEY`` header whose ES256 signature verifies."""
    scheme, _, params = header.partition(" ")
    fields = dict(p.split("=", 1) for p in params.split(","))
    assert scheme == "vapid" and fields["k"] == public_key
    head, claims, sig = fields["t"].split(".")
    raw = unb64(sig)
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                     int.from_bytes(raw[32:], "big"))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(public_key))
    key.verify(signature, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    decoded = json.loads(unb64(claims))
    assert decoded["aud"] == audience
    return decoded  # type: ignore[no-any-return]


async def subscribe(env: Env, login: str, endpoint: str, browser: Browser) -> Any:
    return await env.call("POST", "/api/v1/push/subscriptions",
                          {"endpoint": endpoint, "keys": browser.keys()}, as_=login,
                          zone="internet")


async def test_a_phone_gets_a_push_with_room_and_sender_but_never_the_text(
        world: tuple[Env, PushService]) -> None:
    env, service = world
    with trio.fail_after(TIMEOUT_S):
        phone = Browser()
        endpoint = f"http://127.0.0.1:{service.port}/push/tanaka-phone"
        r = await subscribe(env, "tanaka", endpoint, phone)
        assert r.status == 201, body(r)
        room = await env.room("suzuki", "tanaka")
        sent = await env.call("POST", f"/api/v1/rooms/{room}/messages",
                              {"body": "本日の会議は 15 時からです"}, as_="suzuki")
        assert sent.status == 201
        await service.arrived.wait()
        target, headers, data = service.received[0]
        assert target == "/push/tanaka-phone"
        assert headers["content-encoding"] == "aes128gcm" and int(headers["ttl"]) > 0
        assert "会議".encode() not in data
        notice = phone.decrypt(data)
        assert notice == {"type": "message", "room_id": room, "sender": env.ids["suzuki"],
                          "urgent": False}
        key = body(await env.call("GET", "/api/v1/push/key", as_="tanaka", zone="internet"))
        claims = verify_vapid(headers["authorization"], key["public_key"],
                              f"http://127.0.0.1:{service.port}")
        assert claims["sub"].startswith("mailto:")
        # The sender's own message brings them no push.
        assert len(service.received) == 1


async def test_a_subscription_the_push_service_says_is_gone_is_removed(
        world: tuple[Env, PushService]) -> None:
    env, service = world
    with trio.fail_after(TIMEOUT_S):
        r = await subscribe(env, "tanaka", f"http://127.0.0.1:{service.port}/gone", Browser())
        assert r.status == 201
        room = await env.room("suzuki", "tanaka")
        await env.call("POST", f"/api/v1/rooms/{room}/messages", {"body": "x"}, as_="suzuki")
        await service.arrived.wait()
        while await env.store.push_subscriptions([env.ids["tanaka"]], env.clock()):
            await trio.sleep(0.01)


async def test_a_lost_phone_whose_session_was_ended_gets_no_more_pushes(
        world: tuple[Env, PushService]) -> None:
    env, service = world
    with trio.fail_after(TIMEOUT_S):
        lost = body(await env.login("tanaka", "internet"))["token"]
        r = await env.call("POST", "/api/v1/push/subscriptions",
                           {"endpoint": f"http://127.0.0.1:{service.port}/push/lost",
                            "keys": Browser().keys()}, token=lost, zone="internet")
        assert r.status == 201, body(r)
        kept = Browser()
        assert (await subscribe(env, "tanaka", f"http://127.0.0.1:{service.port}/push/kept",
                                kept)).status == 201
        # From the office PC, tanaka ends the lost phone's session.
        sessions = body(await env.call("GET", "/api/v1/me/sessions", as_="tanaka"))["sessions"]
        me = body(await env.call("GET", "/api/v1/me", token=lost, zone="internet"))
        assert me["login"] == "tanaka"
        lost_id = next(s["id"] for s in body(await env.call(
            "GET", "/api/v1/me/sessions", token=lost, zone="internet"))["sessions"] if s["current"])
        assert any(s["id"] == lost_id for s in sessions)
        assert (await env.call("DELETE", f"/api/v1/me/sessions/{lost_id}", as_="tanaka")).status == 204
        room = await env.room("suzuki", "tanaka")
        await env.call("POST", f"/api/v1/rooms/{room}/messages", {"body": "x"}, as_="suzuki")
        await service.arrived.wait()
        await trio.sleep(0.3)  # a push to the lost phone would have been posted meanwhile
        assert [t for t, _h, _d in service.received] == ["/push/kept"]


@pytest.mark.parametrize("endpoint, keys, zone, want", [
    ("https://evil.example/push", None, "internet", "push_endpoint_refused"),
    ("http://192.0.2.1/push", None, "internet", "push_endpoint_refused"),
    ("https://fcm.googleapis.com/fcm/send/abc", {"p256dh": "AAAA", "auth": "AAAA"},
     "internet", "push_key_invalid"),
    ("https://fcm.googleapis.com/fcm/send/abc", None, "lgwan", "push_internet_only"),
])
async def test_relayd_posts_only_to_push_services_it_knows(
        world: tuple[Env, PushService], endpoint: str, keys: dict[str, str] | None,
        zone: str, want: str) -> None:
    env, _service = world
    r = await env.call("POST", "/api/v1/push/subscriptions",
                       {"endpoint": endpoint, "keys": keys or Browser().keys()}, as_="tanaka",
                       zone=zone)
    assert r.status in (400, 403) and code(r) == want
    assert await env.store.push_subscriptions([env.ids["tanaka"]], env.clock()) == []


async def test_plain_http_to_loopback_is_refused_unless_configured(tmp_path: Path) -> None:
    from relay.push import check_endpoint
    from policy.errors import Invalid
    with pytest.raises(Invalid):
        check_endpoint("http://127.0.0.1:9/push", PushConfig())
    assert check_endpoint("https://fcm.googleapis.com/fcm/send/x", PushConfig())
    assert check_endpoint("https://a.notify.windows.com/w/?token=x", PushConfig())
