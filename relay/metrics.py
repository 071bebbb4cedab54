"""/metrics: what relayd counts, through prometheus_client, in one registry per app
(never the library's global one, so tests can run several apps side by side).

Counted where it happens: HTTP answers and refused logins (``Metrics.response``, from
the app), disarm verdicts and their latency (relay.disarm_jobs).  Read when scraped
(``_Live``): stream sessions per zone, events and overflows from the hub, messages
posted, the store's commits and their latency, open connections, the disarm queue and
the worker pool (workers lost by reason, retired), and the seconds left on the TLS
certificate.  Plus the process (CPU, memory, file descriptors) and
``kakehashi_build_info``.  Every family has HELP text; names kept from the hand-written
exposition this replaced: dashboards keep working.
"""

from __future__ import annotations

import logging
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from prometheus_client import (
    CollectorRegistry, Counter, Info, ProcessCollector, disable_created_metrics, generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric,
)
from prometheus_client.registry import Collector

from policy.zones import ZONES
from store.db import StatePaths

from relay import tlsconf

if TYPE_CHECKING:
    from relay.app import RelayApp

log = logging.getLogger(__name__)

# "_created" series double every counter and no dashboard of ours reads them.
disable_created_metrics()

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LOGIN_PATH = "/api/v1/login"
# Refusals of a login that count as a failed attempt (a wrong guess), and the one
# that means the limits locked it out.
LOGIN_FAILURES = ("invalid_credentials", "totp_invalid", "zone_forbidden")
LOCKED_OUT = "rate_limited"


def _version() -> str:
    from relay.main import version
    return version()


class Metrics:
    """The app's registry and the counters the app and its parts increment."""

    def __init__(self, app: "RelayApp") -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        Info("kakehashi_build", "The running relayd: version and Python",
             registry=self.registry).info({"version": _version(),
                                          "python": platform.python_version()})
        self.responses = Counter("kakehashi_http_responses", "Answers of the API by zone and "
                                 "status class (not connection-level refusals)",
                                 ["zone", "code"], registry=self.registry)
        self.login_failures = Counter("kakehashi_login_failures", "Refused login attempts "
                                      "(wrong password, wrong code, zone) by zone",
                                      ["zone", "code"], registry=self.registry)
        self.login_lockouts = Counter("kakehashi_login_rate_limited", "Login attempts "
                                      "refused because the login limits locked them out",
                                      ["zone"], registry=self.registry)
        for zone in ZONES:
            self.login_lockouts.labels(zone)
        self.registry.register(_Live(app))

    def response(self, zone: str, path: str, status: int, code: str | None) -> None:
        self.responses.labels(zone, f"{status // 100}xx").inc()
        if path == LOGIN_PATH and code in LOGIN_FAILURES:
            self.login_failures.labels(zone, code).inc()
        elif path == LOGIN_PATH and code == LOCKED_OUT:
            self.login_lockouts.labels(zone).inc()

    def text(self) -> bytes:
        return generate_latest(self.registry)


class _CertExpiry:
    """Seconds until the TLS certificate's notAfter, read again when the file changes
    (a renewal with SIGHUP shows at once)."""

    def __init__(self) -> None:
        self._seen: tuple[str, float] | None = None
        self._not_after: float | None = None

    def seconds_left(self, app: "RelayApp", now: float) -> float | None:
        try:
            cert = self._path(app)
            if cert is None:
                return None
            stamp = (str(cert), os.stat(cert).st_mtime)
            if stamp != self._seen:
                from cryptography import x509
                parsed = x509.load_pem_x509_certificate(Path(cert).read_bytes())
                self._not_after = parsed.not_valid_after_utc.timestamp()
                self._seen = stamp
        except (OSError, ValueError) as exc:
            log.debug("certificate expiry unknown: %s", exc)
            return None
        return None if self._not_after is None else self._not_after - now


    @staticmethod
    def _path(app: "RelayApp") -> Path | None:
        """The certificate relayd serves, in tlsconf's order, without making one."""
        if app.cfg.tls.cert_file:
            return Path(app.cfg.tls.cert_file)
        creds = os.environ.get("CREDENTIALS_DIRECTORY")
        if creds and (Path(creds) / tlsconf.CREDENTIAL_CERT).exists():
            return Path(creds) / tlsconf.CREDENTIAL_CERT
        own = StatePaths(Path(app.cfg.store.state_dir)).tls_cert
        return own if own.exists() else None


class _Live(Collector):
    """Figures read from the running parts at each scrape."""

    def __init__(self, app: "RelayApp") -> None:
        self.app = app
        self.cert = _CertExpiry()

    def collect(self) -> Iterator[Metric]:
        app = self.app
        hub = app.hub
        g = GaugeMetricFamily("kakehashi_stream_sessions", "Connected stream sessions")
        g.add_metric([], hub.sessions())
        yield g
        by_zone = GaugeMetricFamily("kakehashi_stream_sessions_by_zone",
                                    "Connected stream sessions per zone", labels=["zone"])
        for zone, n in sorted(hub.sessions_by_zone().items()):
            by_zone.add_metric([zone], n)
        yield by_zone
        yield CounterMetricFamily("kakehashi_events_delivered", "Events queued to stream "
                                  "sessions", value=hub.delivered)
        yield CounterMetricFamily("kakehashi_stream_overflows", "Streams disconnected because "
                                  "the client did not read", value=hub.overflowed)
        yield CounterMetricFamily("kakehashi_messages_posted", "Messages (and uploads) "
                                  "committed", value=app.ctx.messages_posted)
        groups, ops = app.store.commit_stats
        yield CounterMetricFamily("kakehashi_store_group_commits", "SQLite COMMITs",
                                  value=groups)
        yield CounterMetricFamily("kakehashi_store_ops_committed", "Writes committed "
                                  "(divided by group commits: the batching)", value=ops)
        bounds, counts, total = app.store.commit_latency
        h = HistogramMetricFamily("kakehashi_store_commit_seconds", "Seconds from BEGIN to "
                                  "COMMIT of each group commit, fsync included")
        h.add_metric([], [(str(b), c) for b, c in zip(bounds, counts)] + [("+Inf", groups)],
                     total)
        yield h
        conns = GaugeMetricFamily("kakehashi_open_connections", "Open connections per zone",
                                  labels=["zone"])
        for zone, n in sorted(app.open_connections().items()):
            conns.add_metric([zone], n)
        yield conns
        yield from self._disarm()
        left = self.cert.seconds_left(app, app.ctx.now())
        if left is not None:
            yield GaugeMetricFamily("kakehashi_tls_certificate_expiry_seconds", "Seconds "
                                    "until the TLS certificate's notAfter (negative: expired)",
                                    value=left)

    def _disarm(self) -> Iterator[Metric]:
        jobs = self.app.jobs
        yield from jobs.metrics.jobs.collect()
        yield from jobs.metrics.seconds.collect()
        queued, running = jobs.depth()
        yield GaugeMetricFamily("kakehashi_disarm_queue_depth", "Files waiting for a "
                                "worker", value=queued)
        yield GaugeMetricFamily("kakehashi_disarm_running", "Files being disarmed",
                                value=running)
        pool = jobs.pool
        workers = GaugeMetricFamily("kakehashi_disarm_workers", "Worker processes of the "
                                    "disarm pool", value=0 if pool is None else pool.size)
        yield workers
        lost = CounterMetricFamily("kakehashi_disarm_workers_lost", "Workers killed or "
                                   "dead during a file, by reason (worker_crashed, timeout, "
                                   "limit_exceeded); each file was blocked", labels=["reason"])
        seen = dict(getattr(pool, "lost", {}))
        for reason in sorted({"worker_crashed", "timeout", "limit_exceeded", *seen}):
            lost.add_metric([reason], seen.get(reason, 0))
        yield lost
        yield CounterMetricFamily("kakehashi_disarm_workers_retired", "Workers replaced "
                                  "while healthy (memory grown or job count reached)",
                                  value=getattr(pool, "retired", 0))

