"""relayd's log lines: timestamps and levels off journald, JSON lines when asked, one
line per request when asked (never a query, where a stream token travels), and nothing
personal: a lockout of a login that never existed does not write what was typed."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
from typing import Iterator

import pytest

from relay import logs
from relay.config import LogConfig
from tests.relay.test_api import Env, env  # noqa: F401


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    buf = io.StringIO()
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield buf
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


def test_text_lines_carry_a_utc_timestamp_and_the_level(captured: io.StringIO) -> None:
    logs.setup(LogConfig(), captured)
    logging.getLogger("relay.test").warning("停止中 / stopping")
    line = captured.getvalue().strip()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z relayd: WARNING relay\.test: "
                        r"停止中 / stopping", line), line


def test_under_journald_the_priority_replaces_the_timestamp(
        captured: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
    logs.setup(LogConfig(), captured)
    logging.getLogger("relay.test").error("disk full")
    assert captured.getvalue().strip() == "<3>relayd: ERROR relay.test: disk full"


def test_json_lines_and_the_level_setting(captured: io.StringIO) -> None:
    logs.setup(LogConfig(format="json", level="warning"), captured)
    logging.getLogger("relay.test").info("not written")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("relay.test").exception("failed")
    [line] = captured.getvalue().strip().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "error" and entry["logger"] == "relay.test"
    assert entry["msg"] == "failed" and "ValueError: boom" in entry["exc"]
    assert entry["ts"].endswith("Z")


async def test_one_line_per_request_without_its_query(env: Env, captured: io.StringIO) -> None:
    logs.setup(LogConfig(), captured)
    await env.call("GET", "/healthz")
    assert "relay.access" not in captured.getvalue()  # off by default
    env.app.cfg = env.app.ctx.cfg = dataclasses.replace(env.app.cfg,
                                                        log=LogConfig(requests=True))
    await env.call("GET", "/api/v1/stream", query={"token": "SECRET-TOKEN"})
    await env.call("GET", "/api/v1/me")
    lines = [l for l in captured.getvalue().splitlines() if "relay.access" in l]
    assert len(lines) == 2
    assert re.search(r"relay\.access: lgwan GET /api/v1/stream 426 [\d.]+ ms$", lines[0])
    assert re.search(r"lgwan GET /api/v1/me 401 ", lines[1])
    assert "SECRET-TOKEN" not in captured.getvalue()


async def test_a_lockout_never_logs_a_login_that_is_not_an_account(
        env: Env, captured: io.StringIO) -> None:
    logs.setup(LogConfig(), captured)
    typed = "MyPassw0rd!typed-in-the-login-field"
    for _ in range(5):
        await env.login(typed, password="whatever it was")
    for _ in range(5):  # from another address: the per-address limit is not the one hit
        await env.login("tanaka", password="wrong password!", peer="192.0.2.20")
    out = captured.getvalue()
    assert typed not in out
    assert "login attempts for account (no such account) over the limit" in out
    assert "login attempts for account tanaka over the limit" in out
