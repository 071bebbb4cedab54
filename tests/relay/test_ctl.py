"""relayctl against a real state directory: the commands an operator types, their
output, exit status, and what they leave in the store relayd reads."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from relay.ctl import _sanitize_args
from store.config import StoreConfig
from store.facade import Store

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Ctl:
    config: Path
    state: Path

    def __call__(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "relay.ctl", "--config", str(self.config), *args],
            input=stdin, capture_output=True, text=True, cwd=REPO, timeout=60)

    def store(self) -> StoreConfig:
        return StoreConfig(state_dir=str(self.state), password_memory_kib=64)


@pytest.fixture
def ctl(tmp_path: Path) -> Ctl:
    state = tmp_path / "state"
    config = tmp_path / "relayd.toml"
    config.write_text(f'[store]\nstate_dir = "{state}"\npassword_memory_kib = 64\n', encoding="utf-8")
    return Ctl(config, state)


def in_store(cfg: StoreConfig, fn):  # type: ignore[no-untyped-def]
    async def run():  # type: ignore[no-untyped-def]
        async with await Store.open(cfg) as store:
            return await fn(store)
    return trio.run(run)


def test_init_creates_one_admin_once(ctl: Ctl) -> None:
    first = ctl("init")
    assert first.returncode == 0, first.stderr
    password = first.stdout.strip().splitlines()[-1]
    assert len(password) >= 16
    again = ctl("init")
    assert again.returncode == 0 and password not in again.stdout
    admin = in_store(ctl.store(), lambda s: s.check_password("admin", password, 0.0))
    assert admin is not None and admin.kind == "admin"


def test_commands_other_than_init_refuse_without_state(ctl: Ctl) -> None:
    r = ctl("audit", "verify")
    assert r.returncode == 1 and "no_state" in r.stderr and "relayctl init" in r.stderr
    assert not ctl.state.exists()  # nothing was created
    assert ctl("init").returncode == 0 and ctl("audit", "verify").returncode == 0


def test_account_add_disable_and_clear_errors(ctl: Ctl) -> None:
    assert ctl("init").returncode == 0
    r = ctl("account", "add", "tanaka", "--kind", "staff", "--display-name", "田中 一郎",
            "--password-stdin", stdin="correct horse battery\n")
    assert r.returncode == 0, r.stderr
    assert "tanaka" in r.stdout
    acct = in_store(ctl.store(), lambda s: s.check_password("tanaka", "correct horse battery", 0.0))
    assert acct is not None and acct.display_name == "田中 一郎" and acct.kind == "staff"

    dup = ctl("account", "add", "tanaka", "--kind", "staff", "--password-stdin",
              stdin="another password\n")
    assert dup.returncode == 1 and "login_exists" in dup.stderr and "tanaka" not in dup.stdout
    weak = ctl("account", "add", "kimura", "--kind", "staff", "--password-stdin", stdin="short\n")
    assert weak.returncode == 1 and "weak_password" in weak.stderr
    bad_kind = ctl("account", "add", "kimura", "--kind", "boss", "--password-stdin", stdin="x\n")
    assert bad_kind.returncode == 2

    # Without --password-stdin a one-time password is generated and shown once.
    gen = ctl("account", "add", "hoikuen", "--kind", "external", "--sponsor", "tanaka")
    assert gen.returncode == 0, gen.stderr
    generated = gen.stdout.strip().splitlines()[-1]
    assert in_store(ctl.store(), lambda s: s.check_password("hoikuen", generated, 0.0)) is not None

    off = ctl("account", "disable", "tanaka")
    assert off.returncode == 0, off.stderr
    assert in_store(ctl.store(), lambda s: s.check_password("tanaka", "correct horse battery", 0.0)) is None
    missing = ctl("account", "disable", "ghost")
    assert missing.returncode == 1 and "account_not_found" in missing.stderr


def test_room_create_resolves_logins(ctl: Ctl) -> None:
    assert ctl("init").returncode == 0
    for login in ("tanaka", "suzuki"):
        assert ctl("account", "add", login, "--kind", "staff").returncode == 0
    bad = ctl("room", "create", "防災", "--member", "tanaka", "--member", "ghost")
    assert bad.returncode == 1 and "ghost" in bad.stderr
    ok = ctl("room", "create", " 防災 ", "--member", "tanaka", "--member", "suzuki")
    assert ok.returncode == 0, ok.stderr

    async def rooms(store: Store):  # type: ignore[no-untyped-def]
        suzuki = await store.get_account_by_login("suzuki")
        return await store.rooms_for(suzuki.id)

    [summary] = in_store(ctl.store(), rooms)
    assert summary.room.name == "防災" and len(summary.room.members) == 2


def test_audit_verify_detects_an_edit(ctl: Ctl) -> None:
    assert ctl("init").returncode == 0
    assert ctl("account", "add", "tanaka", "--kind", "staff").returncode == 0
    ok = ctl("audit", "verify")
    assert ok.returncode == 0 and "2 entries" in ok.stdout, ok.stdout
    db = sqlite3.connect(ctl.state / next(p.name for p in ctl.state.iterdir()
                                          if p.suffix in (".db", ".sqlite", ".sqlite3")))
    with db:
        db.execute("UPDATE audit SET subject = 'someone-else' WHERE id = 1")
    db.close()
    broken = ctl("audit", "verify")
    assert broken.returncode == 1 and "BROKEN" in broken.stderr


def test_bad_config_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[store]\nstate_dir = 5\n", encoding="utf-8")
    r = Ctl(config, tmp_path)("init")
    assert r.returncode == 2 and "store.state_dir" in r.stderr


def test_sanitize_arguments_are_passed_through_untouched() -> None:
    assert _sanitize_args(["sanitize", "--json", "a.pdf", "--out", "d"]) == \
        (None, ["--json", "a.pdf", "--out", "d"])
    assert _sanitize_args(["--config", "x.toml", "sanitize", "-h"]) == ("x.toml", ["-h"])
    assert _sanitize_args(["--config=x.toml", "sanitize"]) == ("x.toml", [])
    assert _sanitize_args(["account", "add", "sanitize"]) is None


def test_sanitize_uses_the_configs_limits(ctl: Ctl, tmp_path: Path) -> None:
    # The operator's [sanitize] limits apply to relayctl sanitize as they do to relayd.
    import io
    import json

    from PIL import Image

    photo = tmp_path / "写真.png"
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buf, "PNG")
    photo.write_bytes(buf.getvalue())
    out = tmp_path / "out"
    default = ctl("sanitize", str(photo), "--out", str(out), "--json")
    assert default.returncode == 0, default.stderr
    assert json.loads(default.stdout.splitlines()[0])["verdict"] == "clean"
    with ctl.config.open("a", encoding="utf-8") as f:
        f.write("[sanitize]\nmax_input_bytes = 100\nworkers = 1\n")
    capped = ctl("sanitize", str(photo), "--out", str(tmp_path / "out2"), "--json")
    assert capped.returncode == 0, capped.stderr
    line = json.loads(capped.stdout.splitlines()[0])
    assert (line["verdict"], line["reason"], line["output"]) == ("blocked", "too_large", None)
