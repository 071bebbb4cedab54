"""``relayd [--config PATH]``: the daemon's entry point and its life under systemd.

Order of a start: read the config (a refused key -> message on stderr, exit 2,
nothing touched), open the store (a state directory it cannot use -> one line
``relayd: cannot start: …``, exit 1; see store.state), make the TLS contexts, build
the app, print a first admin's one-time password if one was just made, take the
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
stops at once.  SIGHUP reloads the TLS certificate and key (certificate renewal).
The watchdog is pinged from the event loop, so a stuck loop gets relayd restarted.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import ssl
import sys
import time
from pathlib import Path
from typing import Mapping, Sequence

import trio

from policy.zones import ZONES
from relay import listeners as lsn
from relay import server as srv
from relay import tlsconf
from relay.config import Config, ConfigError, load
from sanitize.pool import PoolError
from store.db import StatePaths
from store.errors import StoreError
from store.records import Zone

log = logging.getLogger("relay.main")

EXIT_CONFIG = 2
EXIT_STARTUP = 1


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


# --------------------------------------------------------------------------- logging


class _JournalFormatter(logging.Formatter):
    """Plain lines; under journald (``JOURNAL_STREAM``) with a ``<N>`` priority prefix
    so ``journalctl -p warning`` works."""

    PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4,
                logging.ERROR: 3, logging.CRITICAL: 2}

    def __init__(self, journal: bool) -> None:
        super().__init__("relayd: %(levelname)s %(name)s: %(message)s")
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if self.journal:
            prio = self.PRIORITY.get(record.levelno, 6)
            line = "\n".join(f"<{prio}>{part}" for part in line.split("\n"))
        return line


def setup_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JournalFormatter(bool(os.environ.get("JOURNAL_STREAM"))))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # trio-websocket logs every frame at DEBUG and routine closes at INFO.
    logging.getLogger("trio-websocket").setLevel(logging.WARNING)


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


async def _signals(server: srv.Server, contexts: Mapping[Zone, ssl.SSLContext | None],
                   cfg: Config, paths: StatePaths, cancel: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for signum in signals:
            if signum == signal.SIGHUP:
                _reload_tls(contexts, cfg, paths)
                continue
            if server.draining:
                log.warning("second stop signal: stopping now (即時停止)")
                cancel.cancel()
                return
            log.warning("%s: stopping; finishing requests in flight (停止中)",
                        signal.Signals(signum).name)
            sd_notify("STOPPING=1")
            server.shutdown()


def _reload_tls(contexts: Mapping[Zone, ssl.SSLContext | None], cfg: Config,
                paths: StatePaths) -> None:
    sd_notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
    try:
        cert, key = tlsconf.certificate_files(cfg.tls, paths)
        tlsconf.check_pair(cert, key)  # a bad pair must not half-replace the live one
        for ctx in {id(c): c for c in contexts.values() if c is not None}.values():
            ctx.load_cert_chain(cert, key)  # new handshakes use it; live ones are unaffected
        log.warning("TLS certificate reloaded from %s (証明書を再読み込みしました)", cert)
    except (OSError, ssl.SSLError, tlsconf.TLSSetupError) as exc:
        log.error("TLS reload failed, keeping the old certificate: %s", exc)
    sd_notify("READY=1")


async def run(cfg: Config) -> None:
    from relay import control  # the app, and everything under it
    from relay.accounts import bootstrap_admin
    from relay.app import build_app
    from store.facade import Store

    paths = StatePaths(Path(cfg.store.state_dir))
    activated = lsn.take_activated(os.environ, os.getpid())
    store = await Store.open(cfg.store, create=True)  # relayd's first start makes the state
    app = None
    try:
        contexts = tls_contexts(cfg, paths)
        app = build_app(cfg, store, now=time.time)
        password = await bootstrap_admin(app.ctx)
        if password:
            # Printed once, never logged again and never stored in clear.
            say(f"first admin account created: login=admin one-time-password={password} "
                "(初期管理者の一回限りのパスワード。ログイン後に変更してください)")
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
            nursery.start_soon(_signals, server, contexts, cfg, paths, nursery.cancel_scope)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="relayd", description="Kakehashi relay daemon (架け橋)")
    parser.add_argument("--config", metavar="PATH", help="relayd.toml (default: embedded)")
    args = parser.parse_args(argv)
    try:
        cfg = load(args.config)
    except ConfigError as exc:
        print(f"relayd: config: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging()
    try:
        trio.run(run, cfg)
    except (lsn.ActivationError, tlsconf.TLSSetupError, PoolError) as exc:
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
