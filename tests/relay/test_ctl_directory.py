"""relayctl as an operator types it: the personnel import from files Excel wrote,
``--json`` listings, and output into a pipe whose reader went away."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.relay.test_ctl import REPO, Ctl, ctl  # noqa: F401  (the fixture)

HEADER = "login,name,kana,department,kind,email\r\n"


def write_csv(path: Path, rows: list[str], encoding: str) -> Path:
    path.write_bytes((HEADER + "".join(r + "\r\n" for r in rows)).encode(encoding))
    return path


def test_import_from_shift_jis_shows_the_diff_then_applies_it(ctl: Ctl, tmp_path: Path) -> None:
    assert ctl("init").returncode == 0
    assert ctl("account", "add", "suzuki", "--kind", "staff").returncode == 0
    f = write_csv(tmp_path / "jinji.csv",
                  ["tanaka,田中 一郎,たなか,総務部/総務課,staff,tanaka@example.lg.jp"], "cp932")
    dry = ctl("account", "import", str(f))
    assert dry.returncode == 0, dry.stderr
    assert "+ new\ttanaka\t田中 一郎\t総務部/総務課\tstaff" in dry.stdout
    assert "- leaving\tsuzuki" in dry.stdout and "nothing changed" in dry.stdout
    assert "tanaka" not in ctl("account", "list").stdout

    # From standard input, as under systemd-run --pipe (the service user cannot read
    # the operator's file).
    r = subprocess.run([sys.executable, "-m", "relay.ctl", "--config", str(ctl.config),
                        "account", "import", "-", "--apply", "--json"],
                       input=f.read_bytes(), capture_output=True, cwd=REPO, timeout=60)
    applied = subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(),
                                          r.stderr.decode())
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["applied"] is True
    listed = json.loads(ctl("account", "list", "--json").stdout)
    assert {a["login"]: (a["state"], a["department"]) for a in listed} == {
        "admin": ("enabled", ""), "suzuki": ("disabled", ""),
        "tanaka": ("enabled", "総務部/総務課")}


def test_a_malformed_file_names_each_line_and_changes_nothing(ctl: Ctl, tmp_path: Path) -> None:
    assert ctl("init").returncode == 0
    f = write_csv(tmp_path / "bad.csv", ["tanaka,田中,,総務部,staff,", "x y,,,,boss,"],
                  "utf-8-sig")
    r = ctl("account", "import", str(f), "--apply")
    assert r.returncode == 1 and "[invalid_csv]" in r.stderr
    assert "3 行目 / line 3: ログイン名が不正です / invalid login 'x y'" in r.stderr
    assert "氏名が空です / empty name" in r.stderr
    assert ctl("account", "list", "--json").stdout.count('"login"') == 1  # admin only
    missing = ctl("account", "import", str(tmp_path / "nowhere.csv"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr


def test_output_into_a_closed_pipe_ends_quietly(ctl: Ctl, tmp_path: Path) -> None:
    assert ctl("init").returncode == 0
    rows = [f"user{i:05d},職員 {i},しょくいん,総務部/総務課,staff,user{i}@example.lg.jp"
            for i in range(3000)]
    f = write_csv(tmp_path / "many.csv", rows, "utf-8")
    assert ctl("account", "import", str(f), "--apply").returncode == 0
    for args in (["account", "list"], ["account", "list", "--json"]):
        cmd = " ".join([sys.executable, "-m", "relay.ctl", "--config", str(ctl.config), *args])
        r = subprocess.run(["bash", "-c", f"{cmd} | head -c 100; s=${{PIPESTATUS[0]}}; echo; echo rc=$s"],
                           capture_output=True, cwd=REPO, timeout=120)
        # head -c may cut a character in two: bytes, not text.
        out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        assert "Traceback" not in err and "BrokenPipe" not in err, err
        assert out.strip().splitlines()[-1] == "rc=141"
        assert out.startswith("admin" if "--json" not in args else '[{"id": "1"')
