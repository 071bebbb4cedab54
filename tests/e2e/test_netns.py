"""Two real networks: relayd on a dual-homed host between an LGWAN segment and an
internet segment, built from network namespaces joined by veth pairs.

    [lgwan ns] 192.0.2.10 --veth-- 192.0.2.1 [relay ns] 198.51.100.1 --veth-- 198.51.100.10 [inet ns]
                                    lg0                   in0

relayd runs in the relay namespace (the venv's ``relayd``, through ``ip netns exec``);
the clients run in the other two (``ip netns exec NS python client.py JOB``, printing
JSON).  Shown over real routing, not loopback:

* each side reaches its own listener and not the other one; admin paths answer 404 on
  the internet side and work from LGWAN; an LGWAN staff member and an internet staff
  member chat in one room through relayd (history and the WebSocket stream);
* a neighbour on the internet segment that routes the LGWAN subnet to the relay host
  reaches a socket bound to the LGWAN *address* (Linux accepts a packet for any local
  address on any interface), but not one bound to the LGWAN *device*; relayd under
  systemd-style socket activation with ``BindToDevice=`` sockets keeps each zone on
  its own segment;
* 三層の対策 at start: relayd refuses a relay host that forwards between its legs or
  routes one leg's network through the other (one line, exit 1), starts with a
  warning and ``kakehashi_host_routes_between_legs 1`` when that is allowed, and
  ``0`` on a host that does not route;
* with the LGWAN leg down (a disaster can take LGWAN out while the internet still
  works), the internet listener keeps serving its members, and LGWAN sees what they
  said once its leg is back.

Needs root and iproute2 (``.ci/bootstrap test`` installs it); skipped otherwise.
Everything is created with unique names and deleted at the end, also on failure, and
namespaces left behind by an earlier run that died are removed first.
"""

from __future__ import annotations

import json
import re
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.e2e.harness import REPO, Relayd, default_config, merge, start_relayd, toml_dumps

pytestmark = [pytest.mark.e2e, pytest.mark.netns]

PREFIX = "kkh-"
RELAY_LGWAN, LGWAN_PC = "192.0.2.1", "192.0.2.10"            # TEST-NET-1
RELAY_INTERNET, PHONE = "198.51.100.1", "198.51.100.10"      # TEST-NET-2
LGWAN_PORT, INTERNET_PORT = 8080, 8443
CLIENT_TIMEOUT_S = 20
# A connection attempt that never became a TCP connection.
NOT_CONNECTED = {"ENETUNREACH", "EHOSTUNREACH", "ECONNREFUSED", "TimeoutError"}

PASSWORDS = {"tanaka": "tanaka-password-1", "suzuki": "suzuki-password-1",
             "kanri": "kanri-password-1"}
CONFIG = {
    "listeners": {"lgwan": {"host": RELAY_LGWAN, "port": LGWAN_PORT},
                  "internet": {"host": RELAY_INTERNET, "port": INTERNET_PORT}},
    "store": {"password_memory_kib": 64},
    "sanitize": {"workers": 1},
}


# --------------------------------------------------------------------------- namespaces


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def _netns_names() -> list[str]:
    out = ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _remove_leftovers() -> None:
    """Namespaces ``kkh-<pid>-...`` whose test process is gone (a run killed before
    its finalizer ran)."""
    for name in _netns_names():
        if not name.startswith(PREFIX):
            continue
        try:
            pid = int(name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
            ip("netns", "del", name, check=False)


@dataclass(frozen=True)
class Nets:
    relay: str
    lgwan: str
    inet: str

    def all(self) -> tuple[str, str, str]:
        return (self.relay, self.lgwan, self.inet)


def _delete(nets: Nets) -> None:
    for ns in nets.all():
        if ns not in _netns_names():
            continue
        # Anything still running in it was started by this test (relayd, a client).
        for pid in ip("netns", "pids", ns, check=False).stdout.split():
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass
        ip("netns", "del", ns, check=False)  # its veth ends go with it


def _build(nets: Nets) -> None:
    for ns in nets.all():
        ip("netns", "add", ns)
    ip("link", "add", "lg0", "netns", nets.relay, "type", "veth",
       "peer", "name", "eth0", "netns", nets.lgwan)
    ip("link", "add", "in0", "netns", nets.relay, "type", "veth",
       "peer", "name", "eth0", "netns", nets.inet)
    for ns, dev, addr in [(nets.relay, "lg0", RELAY_LGWAN), (nets.relay, "in0", RELAY_INTERNET),
                          (nets.lgwan, "eth0", LGWAN_PC), (nets.inet, "eth0", PHONE)]:
        ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
        ip("-n", ns, "link", "set", dev, "up")
    for ns in nets.all():
        ip("-n", ns, "link", "set", "lo", "up")
    # The relay host is not a router (the default in a new namespace; said here so
    # the test does not depend on it).
    subprocess.run(["ip", "netns", "exec", nets.relay, "sysctl", "-qw",
                    "net.ipv4.ip_forward=0"], capture_output=True, timeout=20)


@pytest.fixture(scope="module")
def nets() -> Iterator[Nets]:
    if sys.platform != "linux":
        pytest.skip("network namespaces are Linux only")
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces (run as root, e.g. in CI)")
    if shutil.which("ip") is None:
        pytest.skip("needs iproute2's `ip` (apt-get install iproute2; .ci/bootstrap test does)")
    _remove_leftovers()
    tag = f"{PREFIX}{os.getpid()}-{secrets.token_hex(2)}"
    nets = Nets(f"{tag}-relay", f"{tag}-lgwan", f"{tag}-inet")
    probe = ip("netns", "add", nets.relay, check=False)
    if probe.returncode != 0:
        pytest.skip(f"network namespaces not permitted here: {probe.stderr.strip()}")
    ip("netns", "del", nets.relay, check=False)
    try:
        _build(nets)
    except RuntimeError as exc:
        _delete(nets)
        if "Operation not permitted" in str(exc):
            pytest.skip(f"veth pairs not permitted here: {exc}")
        raise
    try:
        yield nets
    finally:
        _delete(nets)


# --------------------------------------------------------------------------- processes

LAUNCH = r'''
"""Start relayd like systemd's socket units would: bind each zone's socket (address,
port and, with BindToDevice=, the interface), pass them as LISTEN_FDS, exec relayd."""
import os, socket, sys
from pathlib import Path

args = sys.argv[1:]
binds = []  # zone=host:port[%device]
while args and "=" in args[0]:
    binds.append(args.pop(0))
config = args[args.index("--config") + 1]
held, names = [], []
for spec in binds:
    zone, _, where = spec.partition("=")
    where, _, device = where.partition("%")
    host, _, port = where.rpartition(":")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if device:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
    s.bind((host, int(port)))
    s.listen(128)
    held.append(os.dup(s.fileno()))   # above 3+n before the dup2s below
    names.append(zone)
    s.close()
high = [os.dup2(fd, 100 + i) for i, fd in enumerate(held)]
for i in range(len(high)):
    os.dup2(100 + i, 3 + i)
    os.close(100 + i)
if names:
    os.environ.update(LISTEN_FDS=str(len(names)), LISTEN_FDNAMES=":".join(names),
                      LISTEN_PID=str(os.getpid()))
relayd = str(Path(sys.executable).parent / "relayd")
os.execv(relayd, [relayd, "--config", config])
'''

CLIENT = r'''
"""A client inside one namespace: one JSON job in argv[1], JSON lines on stdout."""
import errno, json, socket, ssl, sys
sys.path.insert(0, sys.argv[2])
import trio
from relay.tlsconf import client_context
from tests.e2e.harness import Endpoint, HTTPClient, request_sync, ws_connect, ws_recv_json, ws_send_json

job = json.loads(sys.argv[1])


def endpoint(t):
    return Endpoint.parse(t["address"], client_context(job["cafile"]) if t.get("tls") else None)


def failure(exc):
    if isinstance(exc, ssl.SSLError):
        return "tls:" + type(exc).__name__
    if exc.errno:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return type(exc).__name__


def probe(t):
    if t.get("tcp"):
        host, _, port = t["address"].rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=3).close()
            return {"connected": True}
        except OSError as exc:
            return {"error": failure(exc)}
    try:
        r = request_sync(endpoint(t), t.get("method", "GET"), t["path"], json=t.get("json"),
                         token=t.get("token"), timeout=5)
    except OSError as exc:
        return {"error": failure(exc)}
    try:
        body = r.json()
    except ValueError:
        body = r.body.decode("utf-8", "replace") if t.get("text") else None
    return {"status": r.status, "code": r.error_code, "body": body}


async def next_event(ws, want, me=None):
    while True:
        ev = await ws_recv_json(ws, 15)
        if ev["type"] == want and (me is None or ev["message"]["sender"] != me):
            return ev


async def chat():
    ep = endpoint(job["target"])
    client = HTTPClient(ep)
    login = await client.request("POST", "/api/v1/login",
                                 json={"login": job["login"], "password": job["password"]})
    assert login.status == 200, login.body
    client.token = login.json()["token"]
    me = login.json()["account"]["id"]
    room = job["room"]
    async with ws_connect(ep, client.token) as ws:
        await ws_send_json(ws, {"type": "ping"})
        await next_event(ws, "pong")
        print(json.dumps({"ready": True}), flush=True)   # subscribed: events will reach us
        out = {}
        if job["role"] == "lgwan":
            await trio.to_thread.run_sync(sys.stdin.readline)   # the other side is ready
            r = await client.request("POST", f"/api/v1/rooms/{room}/messages",
                                     json={"body": job["say"], "client_id": "pc-1"})
            out["sent"] = [r.status, r.json()]
            out["heard"] = (await next_event(ws, "message.created", me))["message"]
        else:
            out["heard"] = (await next_event(ws, "message.created", me))["message"]
            await ws_send_json(ws, {"type": "send", "room_id": room, "body": job["say"],
                                    "client_id": "ph-1"})
            out["ack"] = await next_event(ws, "ack")
        r = await client.request("GET", f"/api/v1/rooms/{room}/messages")
        out["history"] = r.json()["messages"]
    await client.aclose()
    print(json.dumps(out), flush=True)


if job["op"] == "probe":
    print(json.dumps([probe(t) for t in job["targets"]]))
else:
    async def main():
        with trio.fail_after(float(job["timeout"])):
            await chat()
    trio.run(main)
'''


@dataclass
class Scene:
    nets: Nets
    tmp: Path
    launch: Path
    client: Path

    def client_cmd(self, ns: str, job: dict[str, Any]) -> list[str]:
        return ["ip", "netns", "exec", ns, sys.executable, str(self.client),
                json.dumps(job), str(REPO)]

    def probe(self, ns: str, r: Relayd | None, *targets: dict[str, Any]) -> list[dict[str, Any]]:
        job = {"op": "probe", "cafile": str(r.cafile) if r else "", "targets": list(targets)}
        proc = subprocess.run(self.client_cmd(ns, job), capture_output=True, text=True,
                              timeout=CLIENT_TIMEOUT_S, cwd=REPO)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)  # type: ignore[no-any-return]

    def relayd(self, *binds: str, config: dict[str, Any] | None = None) -> Relayd:
        # relayd lives in its own namespace: the test host cannot reach its listeners
        # to change the first admin's password (the scenes use relayctl instead).
        return start_relayd(self.tmp, merge(CONFIG, config or {}),
                            launcher=("ip", "netns", "exec", self.nets.relay,
                                      sys.executable, str(self.launch), *binds),
                            change_admin_password=False)

    def relayd_refused(self, config: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        """relayd started in the relay namespace where it is expected not to start."""
        path = self.tmp / "refused.toml"
        path.write_text(toml_dumps(merge(default_config(self.tmp / "state"),
                                         merge(CONFIG, config))), encoding="utf-8")
        return subprocess.run(["ip", "netns", "exec", self.nets.relay, sys.executable, "-m",
                               "relay.main", "--config", str(path)],
                              capture_output=True, text=True, timeout=60, cwd=REPO)

    def relayctl(self, *args: str, stdin: str = "") -> str:
        cfg = self.tmp / "relayctl.toml"
        if not cfg.exists():
            cfg.write_text(f'[store]\nstate_dir = "{self.tmp / "state"}"\npassword_memory_kib = 64\n',
                           encoding="utf-8")
        proc = subprocess.run([sys.executable, "-m", "relay.ctl", "--config", str(cfg), *args],
                              input=stdin, capture_output=True, text=True, timeout=60, cwd=REPO)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout


@pytest.fixture
def scene(nets: Nets, tmp_path: Path) -> Scene:
    launch, client = tmp_path / "launch.py", tmp_path / "client.py"
    launch.write_text(LAUNCH, encoding="utf-8")
    client.write_text(CLIENT, encoding="utf-8")
    return Scene(nets, tmp_path, launch, client)


def health(address: str, tls: bool) -> dict[str, Any]:
    return {"address": address, "tls": tls, "path": "/healthz"}


LGWAN_ADDR = f"{RELAY_LGWAN}:{LGWAN_PORT}"
INTERNET_ADDR = f"{RELAY_INTERNET}:{INTERNET_PORT}"


# --------------------------------------------------------------------------- tests


def test_each_side_reaches_its_own_listener_and_staff_chat_across(scene: Scene) -> None:
    nets = scene.nets
    # Accounts and the room are made with relayctl before relayd starts.
    scene.relayctl("init")
    for login, kind in (("tanaka", "staff"), ("suzuki", "staff"), ("kanri", "admin")):
        scene.relayctl("account", "add", login, "--kind", kind, "--password-stdin",
                       stdin=PASSWORDS[login] + "\n")
    out = scene.relayctl("room", "create", "子育て支援課 連絡", "--member", "tanaka",
                         "--member", "suzuki")
    room = re.search(r"created: room (\d+) ", out).group(1)  # type: ignore[union-attr]

    r = scene.relayd()
    try:
        assert (r.lgwan, r.internet) == (LGWAN_ADDR, INTERNET_ADDR), r.log()

        # Each side reaches only its own listener: the other zone's address is not
        # on its network at all.
        own, other = scene.probe(nets.lgwan, r, health(LGWAN_ADDR, False),
                                 health(INTERNET_ADDR, True))
        assert own["status"] == 200 and own["body"] == {"status": "ok"}, own
        assert other.get("error") in NOT_CONNECTED, other
        own, other, other_tcp = scene.probe(
            nets.inet, r, health(INTERNET_ADDR, True), health(LGWAN_ADDR, False),
            {"address": LGWAN_ADDR, "tcp": True})
        assert own["status"] == 200 and own["body"] == {"status": "ok"}, own
        assert other.get("error") in NOT_CONNECTED, other
        assert other_tcp.get("error") in NOT_CONNECTED, other_tcp
        # ... nor on the address it can reach (a listener on 0.0.0.0 would be there).
        wrong_port, = scene.probe(nets.inet, r, {"address": f"{RELAY_INTERNET}:{LGWAN_PORT}",
                                                 "tcp": True})
        assert wrong_port == {"error": "ECONNREFUSED"}, wrong_port
        wrong_port, = scene.probe(nets.lgwan, r, {"address": f"{RELAY_LGWAN}:{INTERNET_PORT}",
                                                  "tcp": True})
        assert wrong_port == {"error": "ECONNREFUSED"}, wrong_port

        # Admin paths: reachable from LGWAN, absent (404) on the internet side.
        login = {"address": LGWAN_ADDR, "method": "POST", "path": "/api/v1/login",
                 "json": {"login": "kanri", "password": PASSWORDS["kanri"]}}
        admin_token = scene.probe(nets.lgwan, r, login)[0]["body"]["token"]
        anon, accounts, metrics = scene.probe(
            nets.lgwan, r, {"address": LGWAN_ADDR, "path": "/api/v1/admin/accounts"},
            {"address": LGWAN_ADDR, "path": "/api/v1/admin/accounts", "token": admin_token},
            {"address": LGWAN_ADDR, "path": "/metrics"})
        assert anon["status"] == 401, anon
        assert accounts["status"] == 200, accounts
        assert metrics["status"] == 200, metrics
        phone_login = {"address": INTERNET_ADDR, "tls": True, "method": "POST",
                       "path": "/api/v1/login",
                       "json": {"login": "suzuki", "password": PASSWORDS["suzuki"]}}
        phone_token = scene.probe(nets.inet, r, phone_login)[0]["body"]["token"]
        results = scene.probe(nets.inet, r, *[
            {"address": INTERNET_ADDR, "tls": True, "path": path, "token": token}
            for path in ("/api/v1/admin/accounts", "/api/v1/admin/audit/verify", "/metrics")
            for token in (None, phone_token)])
        for res in results:
            assert (res["status"], res["code"]) == (404, "not_found"), res

        # A chat through relayd: the phone listens on the internet side, the office PC
        # says something from LGWAN, the phone answers over the stream.
        common = {"op": "chat", "cafile": str(r.cafile), "room": room, "timeout": CLIENT_TIMEOUT_S}
        phone = subprocess.Popen(scene.client_cmd(nets.inet, {
            **common, "role": "internet", "target": {"address": INTERNET_ADDR, "tls": True},
            "login": "suzuki", "password": PASSWORDS["suzuki"], "say": "了解です"}),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        office = subprocess.Popen(scene.client_cmd(nets.lgwan, {
            **common, "role": "lgwan", "target": {"address": LGWAN_ADDR},
            "login": "tanaka", "password": PASSWORDS["tanaka"],
            "say": "明日の健診は 9 時からです"}),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=REPO)
        try:
            assert phone.stdout and office.stdout and office.stdin
            assert json.loads(phone.stdout.readline() or "{}") == {"ready": True}, phone.stderr
            assert json.loads(office.stdout.readline() or "{}") == {"ready": True}, office.stderr
            office.stdin.write("go\n")
            office.stdin.flush()
            phone_out, phone_err = phone.communicate(timeout=CLIENT_TIMEOUT_S)
            office_out, office_err = office.communicate(timeout=CLIENT_TIMEOUT_S)
        finally:
            for p in (phone, office):
                if p.poll() is None:
                    p.kill()
                    p.wait(5)
        assert phone.returncode == 0 and office.returncode == 0, (phone_err, office_err)
        at_phone, at_office = json.loads(phone_out), json.loads(office_out)
        status, sent = at_office["sent"]
        assert status == 201 and sent["origin_zone"] == "lgwan"
        assert at_phone["heard"] == sent  # live, over the internet side's stream
        ack = at_phone["ack"]
        assert ack["client_id"] == "ph-1" and ack["message"]["origin_zone"] == "internet"
        assert at_office["heard"]["id"] == ack["message"]["id"]
        assert at_office["heard"]["body"] == "了解です"
        for history in (at_phone["history"], at_office["history"]):
            assert [(m["body"], m["origin_zone"]) for m in history] == [
                ("明日の健診は 9 時からです", "lgwan"), ("了解です", "internet")]
    finally:
        r.stop()


def test_a_neighbour_routing_to_the_lgwan_address_is_kept_out_by_the_device(scene: Scene) -> None:
    nets = scene.nets
    # A host on the internet segment (or the upstream router) sends packets for the
    # LGWAN subnet to the relay host; an LGWAN PC does the converse.
    ip("-n", nets.inet, "route", "add", "192.0.2.0/24", "via", RELAY_INTERNET)
    ip("-n", nets.lgwan, "route", "add", "198.51.100.0/24", "via", RELAY_LGWAN)
    try:
        # Why an address alone is no boundary: Linux accepts a packet for any local
        # address on any interface (the weak host model), so a socket bound to the
        # LGWAN address answers the neighbour; one bound to the LGWAN device does not.
        held = subprocess.Popen(
            ["ip", "netns", "exec", nets.relay, sys.executable, "-c",
             "import socket, sys\n"
             "a = socket.create_server(('192.0.2.1', 9001))\n"
             "b = socket.socket(); b.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'lg0')\n"
             "b.bind(('192.0.2.1', 9002)); b.listen()\n"
             "print('ready', flush=True); sys.stdin.read()\n"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert held.stdout and held.stdout.readline().strip() == "ready"
            by_address, by_device = scene.probe(
                nets.inet, None, {"address": f"{RELAY_LGWAN}:9001", "tcp": True},
                {"address": f"{RELAY_LGWAN}:9002", "tcp": True})
            assert by_address == {"connected": True}, by_address
            assert by_device == {"error": "ECONNREFUSED"}, by_device
        finally:
            held.kill()
            held.wait(5)

        # relayd as systemd starts it (one socket per zone with BindToDevice=), then
        # relayd binding by itself with [listeners.*] device.
        by_device = {"listeners": {"lgwan": {"device": "lg0"}, "internet": {"device": "in0"}}}
        for start in (lambda: scene.relayd(f"lgwan={LGWAN_ADDR}%lg0",
                                           f"internet={INTERNET_ADDR}%in0"),
                      lambda: scene.relayd(config=by_device)):
            r = start()
            try:
                assert (r.lgwan, r.internet) == (LGWAN_ADDR, INTERNET_ADDR), r.log()
                own, other = scene.probe(nets.inet, r, health(INTERNET_ADDR, True),
                                         health(LGWAN_ADDR, False))
                assert own["status"] == 200, own
                assert other == {"error": "ECONNREFUSED"}, other
                own, other = scene.probe(nets.lgwan, r, health(LGWAN_ADDR, False),
                                         health(INTERNET_ADDR, True))
                assert own["status"] == 200, own
                assert other == {"error": "ECONNREFUSED"}, other
            finally:
                r.stop()
    finally:
        ip("-n", nets.inet, "route", "del", "192.0.2.0/24", check=False)
        ip("-n", nets.lgwan, "route", "del", "198.51.100.0/24", check=False)


def sysctl(ns: str, setting: str) -> None:
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", setting], check=True,
                   capture_output=True, timeout=20)


def routes_gauge(scene: Scene, r: Relayd) -> float:
    got, = scene.probe(scene.nets.lgwan, r, {"address": LGWAN_ADDR, "path": "/metrics",
                                             "text": True})
    assert got["status"] == 200, got
    m = re.search(r"^kakehashi_host_routes_between_legs (\S+)$", got["body"], re.M)
    assert m, got["body"][:2000]
    return float(m.group(1))


def test_relayd_refuses_a_relay_host_that_forwards_between_its_legs(scene: Scene) -> None:
    relay = scene.nets.relay
    sysctl(relay, "net.ipv4.ip_forward=1")
    try:
        refused = scene.relayd_refused({})
        assert refused.returncode == 1, refused.stderr
        lines = [line for line in refused.stderr.splitlines() if line.startswith("relayd:")]
        assert len(lines) == 1 and lines[0].startswith("relayd: cannot start: "), refused.stderr
        assert "net.ipv4.ip_forward=1" in lines[0] and "allow_routing" in lines[0]
        assert "三層の対策" in lines[0]
        assert not (scene.tmp / "state" / "kakehashi.db").exists()  # nothing was opened

        # Allowed by the operator: it starts, and says so in the log and in /metrics.
        r = scene.relayd(config={"listeners": {"allow_routing": True}})
        try:
            assert (r.lgwan, r.internet) == (LGWAN_ADDR, INTERNET_ADDR), r.log()
            assert "ROUTES BETWEEN ITS LGWAN AND INTERNET LEGS" in r.log()
            assert "net.ipv4.ip_forward=1" in r.log()
            assert routes_gauge(scene, r) == 1
        finally:
            r.stop()
    finally:
        sysctl(relay, "net.ipv4.ip_forward=0")
    r = scene.relayd()
    try:
        assert "ROUTES BETWEEN" not in r.log()
        assert routes_gauge(scene, r) == 0
    finally:
        r.stop()


def test_relayd_refuses_a_route_from_one_legs_network_through_the_other(scene: Scene) -> None:
    # No forwarding, but the relay host sends part of the internet segment through an
    # LGWAN gateway: the two segments meet somewhere else.
    ip("-n", scene.nets.relay, "route", "add", "198.51.100.128/25", "via", LGWAN_PC,
       "dev", "lg0")
    try:
        refused = scene.relayd_refused({"listeners": {"lgwan": {"device": "lg0"},
                                                      "internet": {"device": "in0"}}})
        assert refused.returncode == 1, refused.stderr
        assert "route 198.51.100.128/25 via 192.0.2.10 dev lg0" in refused.stderr, \
            refused.stderr
        assert "ip_forward=1" not in refused.stderr
    finally:
        ip("-n", scene.nets.relay, "route", "del", "198.51.100.128/25", check=False)


def test_with_the_lgwan_leg_down_the_internet_listener_keeps_serving(scene: Scene) -> None:
    nets = scene.nets
    scene.relayctl("init")
    for login in ("tanaka", "suzuki"):
        scene.relayctl("account", "add", login, "--kind", "staff", "--password-stdin",
                       stdin=PASSWORDS[login] + "\n")
    out = scene.relayctl("room", "create", "災害対策本部", "--member", "tanaka",
                         "--member", "suzuki")
    room = re.search(r"created: room (\d+) ", out).group(1)  # type: ignore[union-attr]
    r = scene.relayd()

    def login(ns: str, address: str, tls: bool, who: str) -> str:
        got, = scene.probe(ns, r, {"address": address, "tls": tls, "method": "POST",
                                   "path": "/api/v1/login",
                                   "json": {"login": who, "password": PASSWORDS[who]}})
        assert got["status"] == 200, got
        return str(got["body"]["token"])

    try:
        ip("-n", nets.relay, "link", "set", "lg0", "down")
        try:
            gone, = scene.probe(nets.lgwan, r, health(LGWAN_ADDR, False))
            assert gone.get("error") in NOT_CONNECTED, gone
            # A staff member on a phone logs in, posts and reads, as if nothing happened.
            token = login(nets.inet, INTERNET_ADDR, True, "suzuki")
            sent, history, healthz = scene.probe(
                nets.inet, r,
                {"address": INTERNET_ADDR, "tls": True, "method": "POST", "token": token,
                 "path": f"/api/v1/rooms/{room}/messages",
                 "json": {"body": "避難所Aは開設済みです", "client_id": "ph-1"}},
                {"address": INTERNET_ADDR, "tls": True, "token": token,
                 "path": f"/api/v1/rooms/{room}/messages"},
                health(INTERNET_ADDR, True))
            assert sent["status"] == 201, sent
            assert [m["body"] for m in history["body"]["messages"]] == ["避難所Aは開設済みです"]
            assert healthz["status"] == 200, healthz
            assert r.proc.poll() is None, r.log()
        finally:
            ip("-n", nets.relay, "link", "set", "lg0", "up")
        # The leg is back: the office reads what was said while it was away.
        token = login(nets.lgwan, LGWAN_ADDR, False, "tanaka")
        history, = scene.probe(nets.lgwan, r, {"address": LGWAN_ADDR, "token": token,
                                               "path": f"/api/v1/rooms/{room}/messages"})
        assert [(m["body"], m["origin_zone"]) for m in history["body"]["messages"]] == [
            ("避難所Aは開設済みです", "internet")]
    finally:
        r.stop()
