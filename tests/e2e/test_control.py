"""relayctl beside a running relayd: it goes through relayd's control socket, so an
account disabled at the command line loses its open streams at once, exactly as if
an admin had disabled it over the API."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio
import trio_websocket

from tests.e2e.harness import REPO, Relayd, relayd

pytestmark = pytest.mark.e2e

FAST_KDF = {"store": {"password_memory_kib": 64}}
PASSWORD = "tanaka-password-1"


def relayctl(r: Relayd, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relay.ctl", "--config", str(r.config_path),
                           *args], input=stdin, capture_output=True, text=True, cwd=REPO,
                          timeout=60)


async def login(r: Relayd, zone: str, name: str, password: str) -> str:
    client = r.client(zone)
    reply = await client.request("POST", "/api/v1/login",
                                 json={"login": name, "password": password})
    await client.aclose()
    assert reply.status == 200, reply.body
    return str(reply.json()["token"])


async def test_relayctl_disable_ends_the_open_stream_within_a_second(tmp_path: Path) -> None:
    with trio.fail_after(90), relayd(tmp_path, FAST_KDF) as r:
        made = relayctl(r, "account", "add", "tanaka", "--kind", "staff", "--password-stdin",
                        stdin=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
        token = await login(r, "internet", "tanaka", PASSWORD)
        async with r.ws("internet", token) as ws:
            await ws.send_message(json.dumps({"type": "ping"}))
            assert json.loads(await ws.get_message())["type"] == "pong"

            started = time.monotonic()
            off = await trio.to_thread.run_sync(relayctl, r, "account", "disable", "tanaka")
            assert off.returncode == 0, off.stderr
            with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                with trio.fail_after(1.0 + (time.monotonic() - started)):
                    while True:
                        await ws.get_message()
            assert closed.value.reason is not None
            assert closed.value.reason.code == 1008
            assert time.monotonic() - started < 1.0 + 1.0  # relayctl's own start included

        me = await r.client("internet", token).request("GET", "/api/v1/me")
        assert me.status == 401 and me.error_code == "unauthenticated"
        # relayd did it (not a second process behind its back): one entry, from the
        # operator at the host.
        admin = await login(r, "lgwan", "admin", r.admin_password or "")
        entries = (await r.client("lgwan", admin).request(
            "GET", "/api/v1/admin/audit?limit=1000")).json()["entries"]
        disabled = [e for e in entries if e["action"] == "account.disabled"]
        assert len(disabled) == 1 and disabled[0]["actor"] is None
        assert "control: account.disable -> ok" in r.log()


async def test_the_control_socket_is_the_operators_alone(tmp_path: Path) -> None:
    with trio.fail_after(60), relayd(tmp_path, FAST_KDF) as r:
        sock = r.state_dir / "run" / "control.sock"
        assert stat.S_ISSOCK(sock.stat().st_mode)
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
        if os.getuid() == 0:
            # Another local user cannot even reach the socket.
            probe = ("import socket, sys\n"
                     "s = socket.socket(socket.AF_UNIX)\n"
                     "try:\n    s.connect(sys.argv[1])\n"
                     "except PermissionError:\n    sys.exit(3)\n")
            other = subprocess.run(["/usr/bin/python3", "-c", probe, str(sock)], user=65534,
                                   capture_output=True, timeout=30)
            assert other.returncode == 3, other.stderr
    # Stopped: the socket is gone, and relayctl works on the store itself.
    assert not sock.exists()
    out = subprocess.run([sys.executable, "-m", "relay.ctl", "--config", str(r.config_path),
                          "audit", "verify"], capture_output=True, text=True, cwd=REPO,
                         timeout=60)
    assert out.returncode == 0 and "audit log intact" in out.stdout
