"""The start check of 三層の対策: the relay host must not route between its two legs.

relayd is meant to be the only path between LGWAN and the internet.  A host that
forwards IP packets (``net.ipv4.ip_forward``, a leg's ``conf.<dev>.forwarding``,
``net.ipv6.conf.all.forwarding``) is a router between the segments whatever relayd
does, and a route that sends one leg's network out through the other leg means the
two segments meet somewhere else.  Before the store is opened relayd looks at both:
it refuses to start (one line, exit 1), or, with ``[listeners] allow_routing = true``,
starts with a warning in the log; ``kakehashi_host_routes_between_legs`` says which
(1 routed, 0 not).

The check applies when a listener is bound to a device or to an address that is not
loopback: the embedded default (both on 127.0.0.1) is a trial on one machine, where
forwarding on a developer's laptop means nothing for LGWAN.  A leg's device is its
``device`` (or the socket's SO_BINDTODEVICE under socket activation), else the
interface that holds its address; with a wildcard address only forwarding is checked.

Read once at start: SIGHUP does not check again (a sysctl changed later shows in the
host's own monitoring, not here).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from prometheus_client import CollectorRegistry, Gauge

log = logging.getLogger(__name__)

IPIface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
WILDCARDS = ("", "0.0.0.0", "::")
# Route types that carry no packet between networks.
NOT_FORWARDED = {"local", "broadcast", "multicast", "anycast", "unreachable", "prohibit",
                 "blackhole", "throw", "nat"}


class HostRoutes(Exception):
    """The host routes between the legs and routing was not allowed."""


@dataclass(frozen=True, slots=True)
class Leg:
    zone: str
    host: str
    device: str  # "" when the listener is not bound to one


@dataclass(frozen=True, slots=True)
class Host:
    """What the check reads of the host; the real one comes from ``read_host``."""
    sysctls: Mapping[str, str]             # "net.ipv4.ip_forward" -> "1"
    addresses: Mapping[str, list[IPIface]]  # device -> its addresses with their prefix
    routes: list[dict[str, Any]]            # `ip -j route` objects: dst, dev, gateway, type


def legs_of(listeners: Mapping[str, Any], activated: Mapping[str, socket.socket]) -> list[Leg]:
    """The two legs as relayd will listen on them: an activated socket's own address
    and device, else the configured host and device."""
    legs = []
    for zone, lc in listeners.items():
        sock = activated.get(zone)
        if sock is None:
            legs.append(Leg(zone, lc.host, lc.device))
            continue
        host = str(sock.getsockname()[0]) if sock.family in (socket.AF_INET,
                                                            socket.AF_INET6) else "127.0.0.1"
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 64)
            device = raw.split(b"\0", 1)[0].decode()
        except OSError:
            device = ""
        legs.append(Leg(zone, host, device))
    return legs


def applies(legs: Iterable[Leg]) -> bool:
    def loopback(host: str) -> bool:
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host.strip("[]")).is_loopback
        except ValueError:
            return False
    return any(leg.device or not loopback(leg.host) for leg in legs)


def _ip_json(*args: str) -> list[dict[str, Any]]:
    if shutil.which("ip") is None:
        return []
    try:
        out = subprocess.run(["ip", "-j", *args], capture_output=True, text=True,
                             timeout=10, check=True).stdout
        data = json.loads(out or "[]")
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    return data if isinstance(data, list) else []


def _proc_routes() -> list[dict[str, Any]]:
    """IPv4 routes from /proc/net/route, for a host without iproute2."""
    routes = []
    try:
        lines = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return []
    for line in lines:
        f = line.split()
        if len(f) < 8:
            continue
        dst = ipaddress.IPv4Address(int(f[1], 16).to_bytes(4, "little"))
        mask = ipaddress.IPv4Address(int(f[7], 16).to_bytes(4, "little"))
        gw = ipaddress.IPv4Address(int(f[2], 16).to_bytes(4, "little"))
        net = ipaddress.IPv4Network(f"{dst}/{mask}", strict=False)
        route: dict[str, Any] = {"dst": "default" if net.prefixlen == 0 else str(net),
                                 "dev": f[0]}
        if int(gw):
            route["gateway"] = str(gw)
        routes.append(route)
    return routes


def read_host(devices: Iterable[str]) -> Host:
    """The host as it is: forwarding of the host and of ``devices``, every address,
    every route (all tables, both families)."""
    addresses: dict[str, list[IPIface]] = {}
    for link in _ip_json("addr", "show"):
        for a in link.get("addr_info", []):
            try:
                iface = ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}")
            except (KeyError, ValueError):
                continue
            addresses.setdefault(str(link.get("ifname", "")), []).append(iface)
    sysctls = {}
    names = ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"]
    for dev in devices:
        names += [f"net.ipv4.conf.{dev}.forwarding", f"net.ipv6.conf.{dev}.forwarding"]
    for name in names:
        try:
            sysctls[name] = Path("/proc/sys", *name.split(".")).read_text().strip()
        except OSError:
            pass
    routes = (_ip_json("route", "show", "table", "all")
              + _ip_json("-6", "route", "show", "table", "all")) if shutil.which("ip") \
        else _proc_routes()
    return Host(sysctls, addresses, routes)


def _device_of(leg: Leg, host: Host) -> str:
    if leg.device or leg.host in WILDCARDS:
        return leg.device
    try:
        addr = ipaddress.ip_address(leg.host.strip("[]"))
    except ValueError:
        return ""
    for dev, ifaces in host.addresses.items():
        if any(i.ip == addr for i in ifaces):
            return dev
    return ""


def findings(legs: list[Leg], host: Host) -> list[str]:
    """Why this host routes between the legs (empty: it does not)."""
    found = [f"{name}={value}" for name, value in host.sysctls.items()
             if name.endswith(("ip_forward", "forwarding")) and value not in ("0", "")]
    devices = {leg.zone: _device_of(leg, host) for leg in legs}
    for a in legs:
        for b in legs:
            dev_a = devices[a.zone]
            if a is b or not dev_a or not devices[b.zone] or dev_a == devices[b.zone]:
                continue
            # Link-local networks (fe80::/64 on every interface) are never forwarded.
            targets = [i.network for i in host.addresses.get(devices[b.zone], [])
                       if not i.network.is_link_local]
            for route in host.routes:
                dst = route.get("dst", "")
                if (route.get("dev") != dev_a or dst in ("default", "")
                        or route.get("type", "unicast") in NOT_FORWARDED
                        or route.get("table") == "local"):
                    continue
                try:
                    net = ipaddress.ip_network(dst, strict=False)
                except ValueError:
                    continue
                if any(t.version == net.version and net.overlaps(t) for t in targets):
                    via = f" via {route['gateway']}" if route.get("gateway") else ""
                    found.append(f"route {dst}{via} dev {dev_a}: the {b.zone} leg's network "
                                 f"through the {a.zone} leg")
    return list(dict.fromkeys(found))


def check(legs: list[Leg], allow: bool, host: Host | None = None) -> list[str]:
    """The findings (empty: not routed, or the check does not apply); HostRoutes when
    there are some and routing is not allowed."""
    if not applies(legs):
        return []
    if host is None:
        first = read_host([])
        # Each leg's device: the configured one, or the one that holds its address.
        host = read_host(sorted({d for d in (_device_of(leg, first) for leg in legs) if d}))
    found = findings(legs, host)
    if not found:
        log.info("segments: this host does not route between its legs (三層の対策)")
        return []
    what = "; ".join(found)
    if not allow:
        raise HostRoutes(
            f"このホストは LGWAN とインターネットの間をルーティングします（三層の対策） / "
            f"this host routes between its LGWAN and internet legs: {what}; turn it off "
            "(sysctl -w net.ipv4.ip_forward=0, remove the route) or set [listeners] "
            "allow_routing = true")
    log.warning("このホストは LGWAN とインターネットの間をルーティングしています"
                "（allow_routing = true で起動） / THIS HOST ROUTES BETWEEN ITS LGWAN AND "
                "INTERNET LEGS (started because [listeners] allow_routing = true): %s", what)
    return found


def export(registry: CollectorRegistry, found: list[str]) -> None:
    """``kakehashi_host_routes_between_legs`` in the app's registry."""
    Gauge("kakehashi_host_routes_between_legs",
          "1 when the relay host routes between its LGWAN and internet legs (IP forwarding "
          "on, or a route from one leg's network through the other; read at start); 0 "
          "otherwise or when both listeners are on loopback",
          registry=registry).set(1 if found else 0)
