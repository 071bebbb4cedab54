"""``relayd [--config PATH]``: the daemon's entry point and its life under systemd.

Order of a start: read the config (a refused key -> message on stderr, exit 2,
nothing touched), check that the host does not route between its two legs
(relay.segments; refused -> one line, exit 1), open the store (a state directory
it cannot use -> one line
``relayd: cannot start: …``, exit 1; see store.state), make the TLS contexts, build
the app, write a first admin's one-time password to
``<state_dir>/initial-admin-password`` (0600; the log says where, never the password)
if one was just made, take the
listeners (socket activation or bind), then report ``READY=1`` once both zones
accept.  The chosen
addresses go to stderr as one line and to ``<state_dir>/run/ports.json``, so tests
and operators using port 0 can find them::

    relayd: listening lgwan=127.0.0.1:8080 internet=127.0.0.1:8443

The disarm worker pool starts with the app (``RelayApp.run``) before the listeners
accept, and resumes every attachment left ``pending`` by the last run; the control
socket for relayctl (``relay.control``) opens before the listeners too.

SIGTERM / SIGINT: ``STOPPING=1``, stop accepting, let requests in flight finish
(``http.drain_timeout_s``), close streams, close the store.  A second signal
stops at once.  SIGHUP reads the configuration again and applies what can change
without a restart (relay.reload; the TLS certificate and key included).
``relayd --check-config`` names every bad key and exits; ``--version`` says which
version this is.
The watchdog is pinged from the event loop, so a stuck loop gets relayd restarted.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import signal
import socket
import ssl
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import trio

from policy.zones import ZONES
from relay import listeners as lsn
from relay import logs, reload, segments
from relay import server as srv
from relay import tlsconf
from relay.config import Config, ConfigError, load
from sanitize.pool import PoolError
from store.db import StatePaths
from store.errors import StoreError
from store.records import Zone

if TYPE_CHECKING:
    from relay.app import RelayApp

log = logging.getLogger("relay.main")

EXIT_CONFIG = 2
EXIT_STARTUP = 1
INITIAL_PASSWORD_FILE = "initial-admin-password"


# --------------------------------------------------------------------------- systemd


def sd_notify(state: str, env: Mapping[str, str] = os.environ) -> bool:
    """Send ``state`` to systemd ($NOTIFY_SOCKET); False when not under systemd or
    when it was not sent.  It is called on the event loop, so it never blocks: when
    the supervisor's socket is full (it stopped reading), the message is dropped."""
    addr = env.get("NOTIFY_SOCKET", "")
    if not addr:
        return False
    if addr.startswith("@"):  # abstract namespace
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(addr)
            s.send(state.encode("utf-8"), socket.MSG_DONTWAIT)
    except BlockingIOError:
        log.debug("sd_notify %r dropped: the notify socket is full", state.split("=")[0])
        return False
    except OSError as exc:
        log.warning("sd_notify %r failed: %s", state.split("=")[0], exc)
        return False
    return True


def watchdog_interval(env: Mapping[str, str], pid: int) -> float | None:
    """Seconds between watchdog pings (half of WatchdogSec), or None when off."""
    usec = env.get("WATCHDOG_USEC")
    if not usec or env.get("WATCHDOG_PID") not in (None, str(pid)):
        return None
    try:
        return max(int(usec) / 2e6, 0.01)
    except ValueError:
        return None


async def _watchdog(interval: float) -> None:
    while True:
        sd_notify("WATCHDOG=1")
        await trio.sleep(interval)


# --------------------------------------------------------------------------- output


def say(line: str) -> None:
    """One operator line on stderr, outside the logging format (machine-readable)."""
    print(f"relayd: {line}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- running


def tls_contexts(cfg: Config, paths: StatePaths) -> dict[Zone, ssl.SSLContext | None]:
    hosts = tuple({cfg.listeners.internet.host, cfg.listeners.lgwan.host} - {"", "0.0.0.0", "::"})
    internet = tlsconf.server_context(cfg.tls, paths, hosts)
    lgwan_tls = cfg.listeners.lgwan.tls or cfg.tls.lgwan
    return {"internet": internet, "lgwan": internet if lgwan_tls else None}


def listening_line(listeners: Sequence[lsn.ZoneListener]) -> tuple[str, dict[str, list[str]]]:
    by_zone: dict[str, list[str]] = {z: [] for z in ZONES}
    for zl in listeners:
        by_zone[zl.zone].append(zl.address())
    return "listening " + " ".join(f"{z}={','.join(a)}" for z, a in by_zone.items()), by_zone


async def _signals(server: srv.Server, app: "RelayApp",
                   contexts: Mapping[Zone, ssl.SSLContext | None], config_path: str | None,
                   paths: StatePaths, cancel: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for signum in signals:
            if signum == signal.SIGHUP:
                sd_notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
                reload.reload(app, server, contexts, config_path, paths)
                sd_notify("READY=1")
                continue
            if server.draining:
                log.warning("second stop signal: stopping now (即時停止)")
                cancel.cancel()
                return
            log.warning("%s: stopping; finishing requests in flight (停止中)",
                        signal.Signals(signum).name)
            sd_notify("STOPPING=1")
            server.shutdown()


def write_initial_password(paths: StatePaths, password: str) -> Path:
    """The first admin's one-time password, in a file only relayd's user (root) can
    read: never in the log, which many people read and which is kept for years."""
    path = paths.root / INITIAL_PASSWORD_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(password + "\n")
    return path


async def run(cfg: Config, config_path: str | None = None) -> None:
    from relay import control  # the app, and everything under it
    from relay.accounts import bootstrap_admin
    from relay.app import build_app
    from store.facade import Store

    paths = StatePaths(Path(cfg.store.state_dir))
    activated = lsn.take_activated(os.environ, os.getpid())
    # 三層の対策: a host that routes between its legs is refused before anything opens.
    routed = segments.check(segments.legs_of(
        {"lgwan": cfg.listeners.lgwan, "internet": cfg.listeners.internet}, activated),
        cfg.listeners.allow_routing)
    store = await Store.open(cfg.store, create=True)  # relayd's first start makes the state
    app = None
    try:
        contexts = tls_contexts(cfg, paths)
        app = build_app(cfg, store, now=time.time)
        segments.export(app.prom.registry, routed)
        password = await bootstrap_admin(app.ctx)
        if password:
            where = write_initial_password(paths, password)
            say(f"first admin account created: login=admin; its one-time password is in "
                f"{where} (readable by root only; 初期管理者の一回限りのパスワードはこのファイルに"
                "あります。ログイン後に変更し、ファイルを削除してください)")
        listeners = await lsn.open_listeners(
            {"lgwan": cfg.listeners.lgwan, "internet": cfg.listeners.internet},
            contexts, activated)
        server = srv.Server(app, cfg.http)
        app.open_connections = server.open_connections
        async with trio.open_nursery() as nursery:
            # The disarm pool and its jobs (pending ones from before a restart first)
            # and retention, running before the first request can queue a job.
            await nursery.start(app.run)
            # relayctl's door: the same commands, with this relayd's streams.
            await nursery.start(control.serve, app.ctx, paths.control_socket)
            await nursery.start(_serve, server, listeners, nursery.cancel_scope)
            line, by_zone = listening_line(listeners)
            paths.write_ports(os.getpid(), by_zone)
            say(line)
            sd_notify("READY=1\nSTATUS=" + line)
            interval = watchdog_interval(os.environ, os.getpid())
            if interval is not None:
                nursery.start_soon(_watchdog, interval)
            nursery.start_soon(_signals, server, app, contexts, config_path, paths,
                               nursery.cancel_scope)
    finally:
        with trio.CancelScope(shield=True):
            if app is not None:
                # Jobs cut short stay pending in the store and are resumed next start.
                await app.aclose()
            await store.aclose()
    log.warning("stopped (停止しました)")


async def _serve(server: srv.Server, listeners: Sequence[lsn.ZoneListener],
                 done: trio.CancelScope,
                 task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    # serve() returns once the drain is over; then the watchdog and signal tasks end too.
    await server.serve(listeners, task_status=task_status)
    done.cancel()


def version() -> str:
    try:
        return importlib.metadata.version("kakehashi")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def check_config(path: str | None) -> int:
    """``--check-config``: every bad key on its own line (exit 2), or ``config OK``;
    also whether the TLS pair named there can be used."""
    try:
        cfg = load(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"relayd: config: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    if cfg.tls.cert_file or cfg.tls.key_file:
        try:
            tlsconf.check_pair(cfg.tls.cert_file, cfg.tls.key_file)
        except (OSError, ssl.SSLError, tlsconf.TLSSetupError) as exc:
            print(f"relayd: config: tls.cert_file: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    print(f"relayd: config OK: {path or '(embedded default)'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="relayd", description="Kakehashi relay daemon (架け橋)")
    parser.add_argument("--config", metavar="PATH", help="relayd.toml (default: embedded)")
    parser.add_argument("--check-config", action="store_true",
                        help="check the configuration (every bad key is named) and exit")
    parser.add_argument("--version", action="version", version=f"relayd {version()}")
    args = parser.parse_args(argv)
    if args.check_config:
        return check_config(args.config)
    try:
        cfg = load(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"relayd: config: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    logs.setup(cfg.log)
    try:
        trio.run(run, cfg, args.config)
    except (lsn.ActivationError, tlsconf.TLSSetupError, PoolError, segments.HostRoutes) as exc:
        print(f"relayd: cannot start: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    except StoreError as exc:  # the state directory refused (store.state): one line
        print(f"relayd: cannot start: {exc.message} [{exc.code}]", file=sys.stderr)
        return EXIT_STARTUP
    except OSError as exc:
        print(f"relayd: cannot start: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
