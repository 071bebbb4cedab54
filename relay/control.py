"""relayctl's door into relayd: the control operations and the local control socket.

``OPERATIONS`` names every relayctl command that reads or changes the store; each runs
the same commands as the HTTP API (``relay.accounts``, ``relay.rooms``,
``relay.originals``) and returns plain JSON.  When relayd runs, relayctl sends
``{"op": NAME, "args": {...}}`` as one line to ``<state_dir>/run/control.sock`` and
relayd runs it with its own hub, so every effect is immediate (a disabled account's
streams end at once).  When relayd does not run, relayctl runs the same operation on
the store itself.

The socket is the operator's, not the network's: it is created 0600 in a 0700
directory, and relayd answers only a peer whose uid is root or its own
(SO_PEERCRED), so another local user cannot reach it even through a loose directory.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
from pathlib import Path
from typing import Any, Awaitable, Callable

import trio

from policy.errors import Forbidden

from relay import accounts, directory_ops, errors, externals, lifecycle_ops, originals
from relay import approvals_cli, records
from relay.commands import OPERATOR, Actor, Context

log = logging.getLogger(__name__)

# A personnel file (account import) travels in one request: room for tens of
# thousands of rows.
MAX_REQUEST_BYTES = 16 * 1024 * 1024
# A client that connects and says nothing is dropped after this long; an operation
# that waits on the store has this long to finish.
CONTROL_TIMEOUT_S = 60.0
BACKLOG = 16

Operation = Callable[[Context, dict[str, Any]], Awaitable[dict[str, Any]]]


# --------------------------------------------------------------------------- operations


async def _init(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    return {"password": await accounts.bootstrap_admin(ctx)}


async def _account_add(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    password = a.get("password")
    generated = password is None
    if generated:
        password = accounts.one_time_password()
    new = accounts.check_new_account(a["login"], password, a["kind"], a.get("display_name", ""))
    sponsor = (await externals.sponsor(ctx, login=a["sponsor"]) if a.get("sponsor") is not None
               else None)
    account = await ctx.run(externals.create_account(ctx, OPERATOR, new, sponsor,
                                                     a.get("expires_at"), one_time=generated))
    return {"account": account.public(), "password": password if generated else None}


async def _account_disable(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    account = await ctx.run(accounts.set_disabled(ctx, OPERATOR, a["login"], True))
    return {"account": account.public()}


async def _account_enable(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    account = await ctx.run(accounts.set_disabled(ctx, OPERATOR, a["login"], False))
    return {"account": account.public()}


async def _account_reset(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    account, password = await ctx.run(
        accounts.reset_password(ctx, OPERATOR, a["login"], a.get("password")))
    return {"account": account.public(), "password": password}


async def _account_totp(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    enrol = await ctx.run(accounts.enrol_totp(ctx, OPERATOR, a["login"]))
    return {"login": a["login"], "secret": enrol.secret_b32, "uri": enrol.uri}


async def _audit_verify(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    good, n, first_bad = await ctx.store.audit_verify()
    return {"ok": good, "entries": n, "first_bad": first_bad}


async def _original_list(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    found = await originals.requests(ctx, a.get("status"))
    logins = {acc.id: acc.login for acc in await ctx.store.list_accounts()}
    return {"requests": [{**r.public(), "requester_login": logins.get(r.requester, r.requester)}
                         for r in found]}


async def _original_decide(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    admin = await ctx.store.get_account_by_login(a["admin"])
    if admin.kind != "admin" or admin.disabled:
        raise Forbidden(f"{a['admin']} は有効な管理者ではありません / {a['admin']} is not an "
                        "enabled admin account", code="forbidden")
    req = await ctx.run(originals.decide(ctx, Actor(admin.id, None), a["id"],
                                         bool(a["approve"]), a.get("note", "")))
    return {"request": req.public()}


OPERATIONS: dict[str, Operation] = {
    "init": _init,
    "account.add": _account_add,
    "account.disable": _account_disable,
    "account.enable": _account_enable,
    "account.reset": _account_reset,
    "account.totp": _account_totp,
    "audit.verify": _audit_verify,
    "original.list": _original_list,
    "original.decide": _original_decide,
    # accounts listed, shown, renamed, moved, deleted, imported; departments; rooms
    **directory_ops.OPERATIONS,
    # sessions ended, external accounts' sponsor and last day
    **lifecycle_ops.OPERATIONS,
    # exports for a disclosure request (情報公開), the audit log, the usage report
    **records.OPERATIONS,
    # 上長承認: the queue, decisions, where approval applies and who approves
    **approvals_cli.OPERATIONS,
}


async def execute(ctx: Context, request: dict[str, Any]) -> dict[str, Any]:
    """``{"ok": result}`` or ``{"error": {"code", "message", "details"}}``; never raises
    for anything the request says."""
    try:
        op = OPERATIONS.get(request.get("op", ""))
        if op is None:
            raise errors.error("unknown_command", {"op": str(request.get("op"))[:80]})
        args = request.get("args")
        return {"ok": await op(ctx, args if isinstance(args, dict) else {})}
    except (KeyError, TypeError) as exc:
        http = errors.error("unknown_command", {"problem": str(exc)[:200]})
    except Exception as exc:
        http = errors.for_exception(exc, f"control operation {request.get('op')!r}")
    return {"error": {"code": http.code, "message": http.message, "details": http.details}}


# --------------------------------------------------------------------------- relayd's side


def _peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


async def serve(ctx: Context, path: Path,
                task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Listen on ``path`` until cancelled; one request per connection."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a socket left by a relayd that was killed
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # never a moment where the socket is open to others
    try:
        await sock.bind(str(path))
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    sock.listen(BACKLOG)
    listener = trio.SocketListener(sock)
    try:
        task_status.started()
        await trio.serve_listeners(lambda s: _serve_one(ctx, s), [listener])
    finally:
        path.unlink(missing_ok=True)


async def _serve_one(ctx: Context, stream: trio.SocketStream) -> None:
    async with stream:
        with trio.move_on_after(CONTROL_TIMEOUT_S):
            if _peer_uid(stream.socket) not in (0, os.getuid()):
                reply = {"error": {"code": "control_refused",
                                   "message": errors.CODES["control_refused"][1],
                                   "details": {}}}
            else:
                raw = await _read_line(stream)
                try:
                    request = json.loads(raw)
                except (UnicodeDecodeError, json.JSONDecodeError):
                    request = {}
                reply = await execute(ctx, request if isinstance(request, dict) else {})
                log.info("control: %s -> %s", request.get("op") if isinstance(request, dict)
                         else "?", "ok" if "ok" in reply else reply["error"]["code"])
            try:
                await stream.send_all(json.dumps(reply, ensure_ascii=False).encode() + b"\n")
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass


async def _read_line(stream: trio.SocketStream) -> bytes:
    buf = bytearray()
    while b"\n" not in buf and len(buf) <= MAX_REQUEST_BYTES:
        chunk = await stream.receive_some(MAX_REQUEST_BYTES)
        if not chunk:
            break
        buf += chunk
    return bytes(buf.split(b"\n", 1)[0])


# --------------------------------------------------------------------------- relayctl's side


class NotRunning(Exception):
    """No relayd answers on the control socket: run the operation locally."""


def call(path: Path, op: str, args: dict[str, Any],
         timeout_s: float = CONTROL_TIMEOUT_S) -> dict[str, Any]:
    """Send one operation to a running relayd (blocking); NotRunning if none listens."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout_s)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise NotRunning(str(exc)) from None
        sock.sendall(json.dumps({"op": op, "args": args}, ensure_ascii=False).encode() + b"\n")
        buf = bytearray()
        while b"\n" not in buf:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            buf += chunk
    finally:
        sock.close()
    reply = json.loads(bytes(buf).split(b"\n", 1)[0] or b"{}")
    if not isinstance(reply, dict) or not ({"ok", "error"} & reply.keys()):
        raise RuntimeError("relayd の応答が不正です / relayd sent no answer")
    return reply
