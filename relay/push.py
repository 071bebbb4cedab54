"""Web Push to installed phones: subscriptions, and the notices relayd sends.

A phone that installed the web client subscribes through the internet listener
(``POST /api/v1/push/subscriptions`` with what the browser's PushManager gave it).
When a message is created, each member other than the sender gets a push on each of
their subscriptions: by default only *that* something came, from whom and in which
room — never the text (``{"type": "message", "room_id", "sender"}``), so nothing of a
message rests in a push service.  A message whose notification business hours hold
(``notify: false``) sends no push.

Sending never slows a request: notices go into a bounded queue that a background task
drains (a full queue drops the notice and logs it once).  Each push is encrypted for
its browser (RFC 8291, ``http_ece``), signed with relayd's VAPID key (RFC 8292,
``py_vapid``) and posted over trio with h11.  A push service that answers 404 or 410
ended the subscription: it is removed.  Endpoints must be https to a host in
``push.endpoint_hosts`` — a client cannot make relayd post anywhere else.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import logging
import os
import ssl
import time
import urllib.parse
from typing import Any, Mapping

import h11
import http_ece
import trio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from policy.errors import Forbidden, Invalid
from store.push import PushSubscription
from store.records import Audit

from relay.commands import Caller, Context, Done
from relay.config import PushConfig
from relay.hub import EventForm

log = logging.getLogger(__name__)

QUEUE = 1000  # notices waiting to be sent
SENDERS = 4  # pushes in flight at once
SEND_TIMEOUT_S = 10.0
TTL_S = 24 * 3600  # how long a push service keeps a notice for an offline phone
MAX_ENDPOINT_CHARS = 1024
MAX_KEY_CHARS = 200


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_endpoint(endpoint: str, cfg: PushConfig) -> str:
    """The endpoint if relayd may post to it; 400 ``push_endpoint_refused`` else."""
    url = urllib.parse.urlsplit(endpoint)
    host = (url.hostname or "").lower()
    loopback = cfg.allow_loopback_http and url.scheme == "http" and host == "127.0.0.1"
    allowed = url.scheme == "https" and any(fnmatch.fnmatchcase(host, p)
                                            for p in cfg.endpoint_hosts)
    if len(endpoint) > MAX_ENDPOINT_CHARS or not (allowed or loopback):
        raise Invalid("この通知先は使えません / this push endpoint is not allowed",
                      code="push_endpoint_refused", host=host[:100])
    return endpoint


def _check_key(value: str, name: str, size: int) -> str:
    try:
        raw = unb64url(value)
    except (ValueError, TypeError):
        raw = b""
    if len(value) > MAX_KEY_CHARS or len(raw) != size:
        raise Invalid(f"通知の鍵 {name} が不正です / keys.{name} is not a valid key",
                      code="push_key_invalid", key=name)
    return value


async def subscribe(ctx: Context, caller: Caller, endpoint: str, p256dh: str,
                    auth: str) -> Done[PushSubscription]:
    if caller.zone != "internet":
        raise Forbidden("通知の登録はスマートフォン（インターネット側）からのみできます / push is "
                        "subscribed from the internet listener", code="push_internet_only")
    check_endpoint(endpoint, ctx.cfg.push)
    _check_key(p256dh, "p256dh", 65)
    _check_key(auth, "auth", 16)
    host = urllib.parse.urlsplit(endpoint).hostname
    sub = await ctx.store.add_push_subscription(
        caller.account.id, caller.session.id, endpoint, p256dh, auth, now=ctx.now(),
        audit=lambda s: Audit("push.subscribed", caller.account.id, s.id, {"host": host}))
    return Done(sub)


async def unsubscribe(ctx: Context, caller: Caller, subscription_id: str) -> Done[bool]:
    gone = await ctx.store.remove_push_subscription(
        subscription_id, caller.account.id, now=ctx.now(),
        audit=Audit("push.unsubscribed", caller.account.id, subscription_id, {}))
    return Done(gone)


def public_key(key: ec.EllipticCurvePrivateKey) -> str:
    """What a browser's ``applicationServerKey`` takes: the uncompressed point."""
    return b64url(key.public_key().public_bytes(serialization.Encoding.X962,
                                                serialization.PublicFormat.UncompressedPoint))


class PushSender:
    """The queue of notices and the task that sends them (``run`` in relayd's nursery)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._in, self._out = trio.open_memory_channel[tuple[tuple[str, ...], dict[str, Any]]](
            QUEUE)
        self._dropping = False
        # Accounts with a subscription: most have none, and a message for them must not
        # cost a database read (None until ``run`` has read them).
        self.subscribed: set[str] | None = None
        self.sent = 0
        self.failed = 0

    def notify(self, to: tuple[str, ...], event: EventForm) -> None:
        """Called after COMMIT with every published event; queues the ones that notify
        (a message, in the one form every zone sees)."""
        if (not self.ctx.cfg.push.enabled or callable(event)
                or event.get("type") != "message.created"):
            return
        message = event.get("message") or {}
        if event.get("notify") is False or not isinstance(message, dict):
            return
        sender = message.get("sender")
        known = self.subscribed
        recipients = tuple(a for a in to if a != sender and (known is None or a in known))
        if not recipients:
            return
        notice = {"type": "message", "room_id": message.get("room_id"), "sender": sender,
                  "urgent": bool(message.get("urgent"))}
        try:
            self._in.send_nowait((recipients, notice))
            self._dropping = False
        except trio.WouldBlock:
            if not self._dropping:
                log.warning("push queue full: notices dropped (プッシュ通知を送れません)")
            self._dropping = True

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        key = await self.ctx.store.vapid_key()
        self.subscribed = await self.ctx.store.push_subscribers()
        limiter = trio.Semaphore(SENDERS)
        async with trio.open_nursery() as nursery:
            task_status.started()
            async for recipients, notice in self._out:
                subs = await self.ctx.store.push_subscriptions(list(recipients), self.ctx.now())
                for sub in subs:
                    await limiter.acquire()
                    nursery.start_soon(self._send_one, key, sub, notice, limiter)

    async def _send_one(self, key: ec.EllipticCurvePrivateKey, sub: PushSubscription,
                        notice: dict[str, Any], limiter: trio.Semaphore) -> None:
        try:
            status = await send_push(key, self.ctx.cfg.push, sub, notice)
            if status in (404, 410):  # the browser unsubscribed or the phone is gone
                await self.ctx.store.remove_push_subscription(sub.id, None, audit=None,
                                                              now=self.ctx.now())
            elif status >= 300:
                self.failed += 1
                log.info("push to %s answered %d", urllib.parse.urlsplit(sub.endpoint).hostname,
                         status)
            else:
                self.sent += 1
        except (OSError, trio.TooSlowError, trio.BrokenResourceError, h11.ProtocolError) as exc:
            self.failed += 1
            log.info("push to %s failed: %s", urllib.parse.urlsplit(sub.endpoint).hostname, exc)
        finally:
            limiter.release()


def encrypt(payload: bytes, sub: PushSubscription) -> bytes:
    """RFC 8291 (aes128gcm) for this browser, with a fresh key for every message."""
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    return bytes(http_ece.encrypt(payload, salt=os.urandom(16), private_key=ephemeral,
                                  dh=unb64url(sub.p256dh), auth_secret=unb64url(sub.auth),
                                  version="aes128gcm"))


def vapid_headers(key: ec.EllipticCurvePrivateKey, endpoint: str, contact: str) -> dict[str, str]:
    url = urllib.parse.urlsplit(endpoint)
    vapid = Vapid02(private_key=key)
    claims = {"aud": f"{url.scheme}://{url.netloc}", "sub": contact,
              "exp": int(time.time()) + 12 * 3600}
    return {k.lower(): v for k, v in vapid.sign(claims).items()}


async def send_push(key: ec.EllipticCurvePrivateKey, cfg: PushConfig, sub: PushSubscription,
                    notice: Mapping[str, Any]) -> int:
    """POST one encrypted notice to the subscription's push service; its status."""
    url = urllib.parse.urlsplit(check_endpoint(sub.endpoint, cfg))
    body = encrypt(json.dumps(notice, separators=(",", ":")).encode(), sub)
    headers = {"host": url.netloc, "ttl": str(TTL_S), "content-encoding": "aes128gcm",
               "content-type": "application/octet-stream", "content-length": str(len(body)),
               "urgency": "high" if notice.get("urgent") else "normal",
               **vapid_headers(key, sub.endpoint, cfg.contact)}
    port = url.port or (443 if url.scheme == "https" else 80)
    with trio.fail_after(SEND_TIMEOUT_S):
        stream: trio.abc.Stream = await trio.open_tcp_stream(url.hostname or "", port)
        if url.scheme == "https":
            stream = trio.SSLStream(stream, ssl.create_default_context(),
                                    server_hostname=url.hostname)
        async with stream:
            conn = h11.Connection(h11.CLIENT)
            target = (url.path or "/") + (f"?{url.query}" if url.query else "")
            await stream.send_all(conn.send(h11.Request(
                method="POST", target=target, headers=list(headers.items()))))
            await stream.send_all(conn.send(h11.Data(data=body)))
            await stream.send_all(conn.send(h11.EndOfMessage()))
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(bytes(await stream.receive_some(65536)))
                elif isinstance(event, h11.Response):
                    return int(event.status_code)
                elif isinstance(event, h11.ConnectionClosed):
                    raise trio.BrokenResourceError("push service closed the connection")
