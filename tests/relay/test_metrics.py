"""/metrics as Prometheus reads it: every family parsed by prometheus_client's own
parser, each with its HELP, the names dashboards already use, and the figures an
operator alerts on moving when their event happens."""

from __future__ import annotations

import time
from pathlib import Path

from relay.app import build_app
from relay.tlsconf import ensure_self_signed
from store.facade import Store
from tests.audits import SETUP
from tests.metrics import families, value
from tests.relay.test_api import PASSWORD, Clock, Env, env, make_config  # noqa: F401

KEPT = ("kakehashi_stream_sessions", "kakehashi_events_delivered", "kakehashi_stream_overflows",
        "kakehashi_messages_posted", "kakehashi_store_group_commits",
        "kakehashi_store_ops_committed", "kakehashi_http_responses",
        "kakehashi_open_connections", "kakehashi_disarm_jobs", "kakehashi_disarm_seconds",
        "kakehashi_disarm_queue_depth", "kakehashi_disarm_running")
ADDED = ("kakehashi_build_info", "process_cpu_seconds", "process_resident_memory_bytes",
         "kakehashi_login_failures", "kakehashi_login_rate_limited",
         "kakehashi_stream_sessions_by_zone", "kakehashi_store_commit_seconds",
         "kakehashi_disarm_workers", "kakehashi_disarm_workers_lost",
         "kakehashi_disarm_workers_retired")


async def scrape(env: Env) -> str:
    r = await env.call("GET", "/metrics")
    assert r.status == 200
    return r.body.decode()


async def test_every_family_parses_has_help_and_keeps_its_name(env: Env) -> None:
    text = await scrape(env)
    found = families(text)
    for name in KEPT + ADDED:
        assert name in found, f"{name} missing from /metrics"
    for name, family in found.items():
        assert family.documentation.strip(), f"{name} has no HELP"  # type: ignore[attr-defined]
    assert found["kakehashi_disarm_seconds"].type == "histogram"  # type: ignore[attr-defined]
    assert found["kakehashi_store_commit_seconds"].type == "histogram"  # type: ignore[attr-defined]
    assert value(text, "kakehashi_build_info") == 1


async def test_failed_logins_lockouts_and_commits_are_counted(env: Env) -> None:
    for _ in range(2):
        r = await env.login("tanaka", password="wrong password!")
        assert r.status == 401
    for _ in range(5):  # past the per-account burst: locked out
        await env.login("suzuki", password="wrong password!")
    text = await scrape(env)
    assert value(text, "kakehashi_login_failures_total", zone="lgwan",
                 code="invalid_credentials") >= 5
    assert value(text, "kakehashi_login_rate_limited_total", zone="lgwan") >= 1
    assert value(text, "kakehashi_store_commit_seconds_count") == \
        value(text, "kakehashi_store_group_commits_total") > 0


async def test_two_apps_keep_their_own_figures(tmp_path: Path) -> None:
    texts = []
    for n in range(2):
        cfg = make_config(tmp_path / str(n))
        async with await Store.open(cfg.store) as store:
            await store.create_account("tanaka", PASSWORD, "staff", "田中", audit=SETUP,
                                       now=time.time())
            e = Env(build_app(cfg, store, now=Clock()), store, Clock())
            for _ in range(n + 1):
                await e.login("tanaka", password="wrong password!")
            texts.append(await scrape(e))
    assert [value(t, "kakehashi_login_failures_total", code="invalid_credentials")
            for t in texts] == [1, 2]


async def test_seconds_until_the_certificate_expires(env: Env) -> None:
    assert "kakehashi_tls_certificate_expiry_seconds" not in await scrape(env)
    ensure_self_signed(Path(env.app.cfg.store.state_dir) / "tls")
    left = value(await scrape(env), "kakehashi_tls_certificate_expiry_seconds")
    # The self-signed certificate of a trial lasts about a year (or more).
    assert 300 * 86400 < left < 3 * 366 * 86400
