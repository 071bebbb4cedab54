"""The listening sockets: one or more per zone, from systemd socket activation
(``LISTEN_FDS`` with ``LISTEN_FDNAMES`` ``lgwan`` / ``internet``) or bound from the config,
optionally pinned to a network interface (SO_BINDTODEVICE).
"""

from __future__ import annotations

import os
import socket
import ssl
from dataclasses import dataclass
from typing import Mapping, MutableMapping

import trio

from policy.ratelimit import ip_key
from policy.zones import ZONES, Zone
from relay.config import ListenerConfig


@dataclass(frozen=True, slots=True)
class ZoneListener:
    zone: Zone
    listener: trio.SocketListener
    ssl_context: ssl.SSLContext | None

    def address(self) -> str:
        return format_address(self.listener.socket.getsockname())


def format_address(sockname: tuple[object, ...] | str) -> str:
    """``127.0.0.1:8080`` / ``[::1]:8443`` for a socket name."""
    if isinstance(sockname, str):
        return sockname
    host, port = str(sockname[0]), int(sockname[1])  # type: ignore[call-overload]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --------------------------------------------------------------------------- listeners


class ActivationError(Exception):
    """The listening sockets cannot be used as they are (those systemd passed in, or
    binding one to its configured device)."""


SD_LISTEN_FDS_START = 3


def activated_fds(env: Mapping[str, str], pid: int, first_fd: int = SD_LISTEN_FDS_START) -> dict[str, int]:
    """Parse sd_listen_fds(3) variables: zone name -> fd.  Empty when not activated
    (or the variables are meant for another process)."""
    if "LISTEN_FDS" not in env:
        return {}
    if env.get("LISTEN_PID") not in (None, str(pid)):
        return {}
    try:
        count = int(env["LISTEN_FDS"])
    except ValueError:
        raise ActivationError(f"LISTEN_FDS={env['LISTEN_FDS']!r} is not a number") from None
    names = env.get("LISTEN_FDNAMES", "").split(":") if count else []
    if len(names) != count:
        raise ActivationError(
            f"LISTEN_FDNAMES must name each of the {count} sockets (lgwan / internet); "
            "set FileDescriptorName= in the .socket units")
    out: dict[str, int] = {}
    for i, name in enumerate(names):
        if name not in ZONES:
            raise ActivationError(f"socket named {name!r}: expected lgwan or internet")
        if name in out:
            raise ActivationError(f"two sockets named {name!r}")
        out[name] = first_fd + i
    return out


def take_activated(environ: MutableMapping[str, str], pid: int,
                   first_fd: int = SD_LISTEN_FDS_START) -> dict[str, socket.socket]:
    """The activated listening sockets by zone; the variables are removed so child
    processes (disarm workers) do not believe they were activated too."""
    fds = activated_fds(environ, pid, first_fd)
    for var in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        environ.pop(var, None)
    out: dict[str, socket.socket] = {}
    for name, fd in fds.items():
        os.set_inheritable(fd, False)
        sock = socket.socket(fileno=fd)
        if sock.type != socket.SOCK_STREAM:
            raise ActivationError(f"socket {name!r} is not a stream socket")
        out[name] = sock
    return out


async def open_listeners(listeners: Mapping[Zone, ListenerConfig],
                         contexts: Mapping[Zone, ssl.SSLContext | None],
                         activated: Mapping[str, socket.socket]) -> list[ZoneListener]:
    """One or more listening sockets per zone: the activated one, else bound per config."""
    out: list[ZoneListener] = []
    for zone in ZONES:
        ctx = contexts.get(zone)
        if zone in activated:
            sock = activated[zone]
            sock.setblocking(False)
            out.append(ZoneListener(zone, trio.SocketListener(trio.socket.from_stdlib_socket(sock)), ctx))
            continue
        lc = listeners[zone]
        for lst in await trio.open_tcp_listeners(lc.port, host=lc.host):
            if lc.device:
                bind_to_device(lst.socket, lc.device)
            out.append(ZoneListener(zone, lst, ctx))
    return out


def bind_to_device(sock: trio.socket.SocketType, device: str) -> None:
    """Accept connections only from ``device``.  On a listening socket this takes
    effect for every later SYN: the kernel matches the device at lookup time."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
    except OSError as exc:
        raise ActivationError(
            f"インターフェース {device!r} に待ち受けを限定できません / cannot bind the "
            f"listener to device {device!r}: {exc.strerror} (needs root or CAP_NET_RAW; "
            "under systemd use BindToDevice= in the .socket unit)") from None


class AddressCap:
    """Open connections per client address, at most ``limit`` each.  Keyed like the
    login limits: an IPv6 client holds a whole /64, so a cap per exact address would
    be no cap at all."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def admit(self, peer: str) -> bool:
        key = ip_key(peer)
        n = self._open.get(key, 0)
        if n >= self.limit:
            return False
        self._open[key] = n + 1
        return True

    def release(self, peer: str) -> None:
        key = ip_key(peer)
        n = self._open.get(key, 0) - 1
        if n > 0:
            self._open[key] = n
        else:
            self._open.pop(key, None)
