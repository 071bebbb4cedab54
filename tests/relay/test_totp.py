"""TOTP at login (RFC 6238) and the login limits' lockout, through ``app.handle`` with a
real Store; enrolment through ``relayctl account totp`` as a real process.

Codes are computed here with ``cryptography``'s TOTP from the base32 secret the
enrolment printed, as an authenticator app would.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import trio
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from relay import accounts
from relay.commands import OPERATOR
from relay.app import build_app
from relay.config import AuthConfig, Config
from relay.web import Request, Response
from store.config import StoreConfig
from store.facade import Store
from tests.relay.test_api import PASSWORD, PEER, Clock, MemBody
from tests.audits import SETUP

REPO = Path(__file__).resolve().parents[2]
STEP = 30


def body(r: Response) -> Any:
    return json.loads(r.body) if r.body else None


def code_of(r: Response) -> str:
    return str(body(r)["error"]["code"])


def totp_code(secret_b32: str, at: float) -> str:
    padded = secret_b32 + "=" * (-len(secret_b32) % 8)
    return TOTP(base64.b32decode(padded), 6, SHA1(), STEP).generate(int(at)).decode()


class TEnv:
    def __init__(self, cfg: Config, store: Store) -> None:
        self.clock = Clock()
        self.store = store
        self.app = build_app(cfg, store, now=self.clock)
        self.ids: dict[str, str] = {}

    async def login(self, login: str, zone: str = "internet", totp: str | None = None,
                    password: str = PASSWORD, peer: str = PEER) -> Response:
        obj: dict[str, Any] = {"login": login, "password": password}
        if totp is not None:
            obj["totp"] = totp
        return await self.app.handle(Request("POST", "/api/v1/login", {}, (("content-type", "application/json"),), zone,  # type: ignore[arg-type]
                                             peer, MemBody(json.dumps(obj).encode()), True))

    async def enrol(self, login: str) -> accounts.TOTPEnrolment:
        return await self.app.ctx.run(accounts.enrol_totp(self.app.ctx, OPERATOR, login))

    async def audit(self, action: str) -> list[dict[str, Any]]:
        return [e.data for e in await self.store.audit_entries(0, 1000) if e.action == action]


def config(tmp_path: Path, **auth: Any) -> Config:
    return Config(store=StoreConfig(state_dir=str(tmp_path / "state"), password_memory_kib=64),
                  auth=AuthConfig(**auth))


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[TEnv]:
    cfg = config(tmp_path, totp_required_internet_staff=True)
    async with await Store.open(cfg.store) as store:
        e = TEnv(cfg, store)
        for login, kind in [("tanaka", "staff"), ("suzuki", "staff"), ("hoikuen", "external")]:
            e.ids[login] = (await store.create_account(login, PASSWORD, kind, login, audit=SETUP, now=time.time())).id  # type: ignore[arg-type]
        yield e


def bilingual(r: Response) -> str:
    message = str(body(r)["error"]["message"])
    ja, sep, en = message.partition(" / ")
    assert sep and ja and en.isascii(), message  # Japanese first, English after " / "
    return message


async def test_internet_staff_need_an_enrolled_valid_code(env: TEnv) -> None:
    # Not enrolled: refused with a reason the person can act on (after the password).
    r = await env.login("tanaka")
    assert r.status == 403 and code_of(r) == "totp_not_enrolled"
    bilingual(r)
    wrong = await env.login("tanaka", password="not the password")
    assert wrong.status == 401 and code_of(wrong) == "invalid_credentials"

    enrolment = await env.enrol("tanaka")
    r = await env.login("tanaka")
    assert r.status == 401 and code_of(r) == "totp_required"
    assert "TOTP" in bilingual(r)
    r = await env.login("tanaka", totp="12345")
    assert r.status == 401 and code_of(r) == "totp_invalid"
    env.clock.t += 6  # the wrong password and the wrong code used two of three attempts
    good = totp_code(enrolment.secret_b32, env.clock())
    bad = f"{(int(good) + 1) % 1_000_000:06d}"
    r = await env.login("tanaka", totp=bad)
    assert r.status == 401 and code_of(r) == "totp_invalid"
    bilingual(r)
    r = await env.login("tanaka", totp=good)
    assert r.status == 200 and body(r)["account"]["login"] == "tanaka"
    audit = await env.audit("login.refused")
    assert [a["code"] for a in audit] == ["totp_not_enrolled", "totp_required", "totp_invalid",
                                          "totp_invalid"]


async def test_a_used_code_is_refused_and_so_is_an_older_one(env: TEnv) -> None:
    enrolment = await env.enrol("tanaka")
    env.clock.t = 1_800_000_010.0  # well inside a step
    code = totp_code(enrolment.secret_b32, env.clock())
    assert (await env.login("tanaka", totp=code)).status == 200
    env.clock.t += 5  # same step: someone who saw the code over a shoulder
    r = await env.login("tanaka", totp=code, peer="203.0.113.9")
    assert r.status == 401 and code_of(r) == "totp_invalid"
    env.clock.t += STEP
    newer = totp_code(enrolment.secret_b32, env.clock())
    assert (await env.login("tanaka", totp=newer)).status == 200
    # The previous step is within the skew window, but older than the last accepted.
    older = totp_code(enrolment.secret_b32, env.clock() - STEP)
    assert older != newer
    r = await env.login("tanaka", totp=older)
    assert r.status == 401 and code_of(r) == "totp_invalid"


async def test_one_step_of_clock_skew_is_accepted_two_are_not(env: TEnv) -> None:
    enrolment = await env.enrol("suzuki")
    env.clock.t = 1_800_000_010.0
    r = await env.login("suzuki", totp=totp_code(enrolment.secret_b32, env.clock() - 2 * STEP))
    assert r.status == 401 and code_of(r) == "totp_invalid"
    r = await env.login("suzuki", totp=totp_code(enrolment.secret_b32, env.clock() + STEP))
    assert r.status == 200  # the phone's clock runs a little fast
    # Spaces as some apps show them ("123 456") are fine.
    env.clock.t += 3 * STEP
    spaced = totp_code(enrolment.secret_b32, env.clock())
    r = await env.login("suzuki", totp=spaced[:3] + " " + spaced[3:])
    assert r.status == 200


async def test_who_needs_a_code(env: TEnv) -> None:
    # Staff on LGWAN and external accounts on the internet: no code needed.
    assert (await env.login("tanaka", zone="lgwan")).status == 200
    assert (await env.login("hoikuen")).status == 200
    # An enrolled account gives its code on the internet listener...
    enrolment = await env.enrol("hoikuen")
    r = await env.login("hoikuen")
    assert r.status == 401 and code_of(r) == "totp_required"
    assert (await env.login("hoikuen", totp=totp_code(enrolment.secret_b32, env.clock()))).status == 200
    # ... but not on the closed LGWAN listener, where the office PC has no phone beside it.
    await env.enrol("tanaka")
    env.clock.t += 6
    assert (await env.login("tanaka", zone="lgwan")).status == 200


async def test_without_the_setting_unenrolled_staff_log_in_with_a_password(tmp_path: Path) -> None:
    cfg = config(tmp_path)  # totp_required_internet_staff = false (the default)
    async with await Store.open(cfg.store) as store:
        e = TEnv(cfg, store)
        await store.create_account("tanaka", PASSWORD, "staff", "田中", audit=SETUP, now=time.time())
        assert (await e.login("tanaka")).status == 200


async def test_re_enrolment_replaces_the_secret(env: TEnv) -> None:
    first = await env.enrol("tanaka")
    second = await env.enrol("tanaka")
    assert first.secret_b32 != second.secret_b32
    r = await env.login("tanaka", totp=totp_code(first.secret_b32, env.clock()))
    assert r.status == 401 and code_of(r) == "totp_invalid"
    r = await env.login("tanaka", totp=totp_code(second.secret_b32, env.clock()))
    assert r.status == 200
    assert len(await env.audit("account.totp_enrolled")) == 2


async def test_asking_for_the_code_costs_no_attempt_but_guessing_it_does(env: TEnv) -> None:
    enrolment = await env.enrol("tanaka")
    for _ in range(6):  # more than the burst of 3: the code-less first step is free
        r = await env.login("tanaka")
        assert r.status == 401 and code_of(r) == "totp_required"
    assert (await env.login("tanaka", totp=totp_code(enrolment.secret_b32, env.clock()))).status == 200
    # Guessing codes: three wrong ones, then the account waits (even with the right one).
    env.clock.t += STEP
    for guess in ("000000", "111111", "222222"):
        r = await env.login("tanaka", totp=guess, peer=f"198.51.100.{guess[0]}")
        if r.status == 200:  # one in a million: the guess was right
            continue
        assert code_of(r) == "totp_invalid"
    r = await env.login("tanaka", totp=totp_code(enrolment.secret_b32, env.clock()),
                        peer="198.51.100.99")
    assert r.status == 429 and code_of(r) == "rate_limited"
    assert dict(r.headers)["retry-after"] == "6"


async def test_a_lockout_is_audited_once_per_lockout(env: TEnv) -> None:
    for i in range(3):
        r = await env.login("suzuki", password=f"guess number {i}", peer=f"198.51.100.{i}")
        assert r.status == 401
    for i in range(10):  # a flood of refused attempts: one audit entry, not ten
        r = await env.login("suzuki", password=f"guess number {i}", peer=f"198.51.100.{50 + i}")
        assert r.status == 429
    locked = await env.audit("login.locked")
    assert len(locked) == 1
    assert locked[0]["by"] == "account" and locked[0]["key"] == "suzuki"
    assert locked[0]["peer"] == "198.51.100.50" and locked[0]["zone"] == "internet"
    assert len(await env.audit("login.failed")) == 3  # refused attempts never reach the password
    # Per IP too: five attempts from one address at five logins, then that address waits.
    for i in range(5):
        assert (await env.login(f"nobody{i}", peer="203.0.113.7")).status == 401
    r = await env.login("nobody9", peer="203.0.113.7")
    assert r.status == 429
    by_ip = [a for a in await env.audit("login.locked") if a["by"] == "ip"]
    assert by_ip == [{"by": "ip", "key": "203.0.113.7", "zone": "internet",
                      "peer": "203.0.113.7", "retry_after_s": 6.0}]
    # Much later, a new lockout is a new entry.
    env.clock.t += 3600
    for i in range(4):
        await env.login("suzuki", password=f"again {i}", peer=f"198.51.100.{100 + i}")
    assert len([a for a in await env.audit("login.locked") if a["by"] == "account"]) == 2
    assert (await env.store.audit_verify())[0]


# --------------------------------------------------------------------------- relayctl


def test_relayctl_account_totp_prints_a_working_secret_and_uri(tmp_path: Path) -> None:
    state = tmp_path / "state"
    conf = tmp_path / "relayd.toml"
    conf.write_text(f'[store]\nstate_dir = "{state}"\npassword_memory_kib = 64\n', encoding="utf-8")

    def ctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "relay.ctl", "--config", str(conf), *args],
                              capture_output=True, text=True, cwd=REPO, timeout=60)

    assert ctl("init").returncode == 0
    made = subprocess.run([sys.executable, "-m", "relay.ctl", "--config", str(conf), "account",
                           "add", "tanaka", "--kind", "staff", "--password-stdin"],
                          input=PASSWORD + "\n", capture_output=True, text=True, cwd=REPO,
                          timeout=60)
    assert made.returncode == 0, made.stderr
    out = ctl("account", "totp", "tanaka")
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line
                 and line.split(": ", 1)[0] in ("secret", "uri"))
    secret, uri = lines["secret"], lines["uri"]
    parsed = urllib.parse.urlparse(uri)
    query = dict(urllib.parse.parse_qsl(parsed.query))
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert urllib.parse.unquote(parsed.path) == "/Kakehashi:tanaka"
    assert query["secret"] == secret and query["issuer"] == "Kakehashi"
    assert (query["digits"], query["period"], query["algorithm"]) == ("6", "30", "SHA1")
    assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) == 20

    # The printed secret is the one the relay checks against.
    async def check() -> None:
        cfg = config(tmp_path, totp_required_internet_staff=True)
        async with await Store.open(cfg.store) as store:
            e = TEnv(cfg, store)
            e.clock.t = time.time()
            r = await e.login("tanaka")
            assert r.status == 401 and code_of(r) == "totp_required"
            assert (await e.login("tanaka", totp=totp_code(secret, e.clock()))).status == 200

    trio.run(check)
    missing = ctl("account", "totp", "nobody")
    assert missing.returncode == 1 and "account_not_found" in missing.stderr
