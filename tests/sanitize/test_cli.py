"""``relayctl sanitize``: files in, rebuilt files and one report line per file out."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from sanitize.cli import main

ROOT = Path(__file__).resolve().parents[2]
ELF = b"\x7fELF\x02\x01\x01" + bytes(57)
KEYS = {"input", "output", "verdict", "kind", "removed", "seconds"}


def jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x8825] = {2: (35.0, 41.0, 0.0)}  # GPS
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (0, 90, 0)).save(buf, "JPEG", exif=exif)
    return buf.getvalue()


@pytest.fixture
def inputs(tmp_path: Path) -> list[Path]:
    src = tmp_path / "in"
    src.mkdir()
    files = {"report.pdf": ELF, "現場写真.JPG": jpeg(), "blob.dat": bytes(range(256)) * 4}
    for name, data in files.items():
        (src / name).write_bytes(data)
    return [src / name for name in files]


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, list[dict]]:
    status = main(argv)
    out = capsys.readouterr().out
    return status, [json.loads(line) for line in out.splitlines()]


def test_json_report_per_file(inputs: list[Path], tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sanitize.formats.images")
    out = tmp_path / "out"
    status, lines = run_json(capsys, [*map(str, inputs), "--out", str(out), "--json",
                                      "--jobs", "2"])
    assert status == 0
    assert [line["input"] for line in lines] == [str(p) for p in inputs]  # input order
    elf, photo, blob = lines
    assert set(elf) == KEYS | {"reason"}
    assert (elf["verdict"], elf["kind"], elf["reason"], elf["output"]) == (
        "blocked", "executable", "executable", None)
    assert (blob["verdict"], blob["reason"]) == ("blocked", "unknown_kind")
    assert set(photo) == KEYS
    assert photo["verdict"] == "sanitized" and photo["kind"] == "jpeg"
    assert any(r["code"] and "detail" in r for r in photo["removed"])
    assert photo["output"] == str(out / "現場写真.JPG")
    with Image.open(photo["output"]) as im:
        assert im.size == (40, 30) and not im.getexif()
    # Blocked files leave nothing behind.
    assert sorted(os.listdir(out)) == ["現場写真.JPG"]


def test_existing_files_are_never_overwritten(inputs: list[Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sanitize.formats.images")
    out = tmp_path / "out"
    out.mkdir()
    (out / "現場写真.JPG").write_bytes(b"keep me")
    photo = [str(inputs[1])]
    status, lines = run_json(capsys, [*photo, *photo, "--out", str(out), "--json"])
    assert status == 0
    assert [line["output"] for line in lines] == [str(out / "現場写真-1.JPG"),
                                                 str(out / "現場写真-2.JPG")]
    assert (out / "現場写真.JPG").read_bytes() == b"keep me"


def test_human_lines_in_japanese_and_english(inputs: list[Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(inputs[0]), "--out", str(tmp_path / "out")]) == 0
    line, = capsys.readouterr().out.splitlines()
    assert str(inputs[0]) in line
    assert "ブロック" in line and "blocked" in line
    assert "実行ファイル" in line and "Executables" in line


@pytest.mark.parametrize("argv", [
    ["missing.pdf", "--out", "OUT"],
    ["IN", "--json"],  # no --out
    ["--out", "OUT"],  # no file
    ["IN", "--out", "OUT", "--jobs", "-1"],
])
def test_usage_errors(inputs: list[Path], tmp_path: Path, argv: list[str],
                      capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.replace("OUT", str(tmp_path / "out")).replace("IN", str(inputs[0]))
            .replace("missing.pdf", str(tmp_path / "missing.pdf")) for a in argv]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("relayctl sanitize:")
    assert not (tmp_path / "out").exists()  # nothing was done


def _cli(args: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    code = "import sys; from sanitize.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, timeout=60, **kw)


def test_as_a_process_without_a_terminal(inputs: list[Path], tmp_path: Path) -> None:
    proc = _cli([str(inputs[0]), "--out", str(tmp_path / "out"), "--json"],
                capture_output=True)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["reason"] == "executable"
    assert proc.stderr == b""  # no progress bar when stderr is not a terminal


def test_progress_bar_on_a_terminal(inputs: list[Path], tmp_path: Path) -> None:
    parent, child = pty.openpty()
    try:
        proc = _cli([*map(str, inputs), "--out", str(tmp_path / "out"), "--json"],
                    stdout=subprocess.PIPE, stderr=child)
        os.close(child)
        child = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(parent, 4096)
            except OSError:  # EIO: the writer is gone
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        if child >= 0:
            os.close(child)
        os.close(parent)
    assert proc.returncode == 0
    assert b"3/3" in drawn
    assert len(proc.stdout.splitlines()) == 3


# -- through relayctl -------------------------------------------------------------------

# What the other commands need (the configuration's own sections, store.config among
# them, are read by every command).
_HEAVY = ("store.facade", "store.db", "trio", "sqlite3", "relay.commands", "relay.control",
          "relay.hub", "relay.ctl_args")


def test_relayctl_sanitize_imports_nothing_of_the_store_or_relayd(inputs: list[Path],
                                                                   tmp_path: Path) -> None:
    """Its start is most of a small file's time: relay.ctl imports per command."""
    code = ("import sys; from relay.ctl import main; status = main(sys.argv[1:]); "
            f"heavy = {_HEAVY!r}; "
            "print(' '.join(sorted(m for m in sys.modules "
            "if any(m == h or m.startswith(h + '.') for h in heavy)))); sys.exit(status)")
    proc = subprocess.run([sys.executable, "-c", code, "sanitize", str(inputs[0]), "--out",
                           str(tmp_path / "out"), "--json"], cwd=ROOT, capture_output=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    report, imported = proc.stdout.decode().splitlines()
    assert json.loads(report)["reason"] == "executable"
    assert imported == ""


def _forkservers_of(pid: int) -> list[int]:
    """This process's children that run the fork server."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"sanitize.forkserver" in cmdline:
            out.append(int(entry.name))
    return out


@pytest.mark.parametrize("argv", [["sanitize", "--out", "OUT"],  # no file: usage error
                                  ["--config", "MISSING", "sanitize", "IN", "--out", "OUT"]])
def test_relayctl_ends_the_fork_server_it_launched_early(inputs: list[Path], tmp_path: Path,
                                                         argv: list[str]) -> None:
    """relayctl launches the fork server before it reads its configuration and
    arguments; when those are wrong, the server goes with it."""
    from relay.ctl import main as relayctl

    argv = [a.replace("OUT", str(tmp_path / "out")).replace("IN", str(inputs[0]))
            .replace("MISSING", str(tmp_path / "missing.toml")) for a in argv]
    assert relayctl(argv) == 2
    assert _forkservers_of(os.getpid()) == []


def test_a_worker_of_the_command_lines_server_imports_fonttools_under_its_sandbox() -> None:
    """relayctl's fork server leaves fontTools out (a quarter of its start): the first
    embedded font makes the sandboxed worker import it, and the font is rebuilt, not
    dropped."""
    from sanitize.config import SanitizeConfig
    from sanitize.forkserver import launch
    from sanitize.pool import WorkerPool
    from tests.sanitize import pdf_fixtures as fx

    server = launch(wait=False, defer_fonts=True)
    with WorkerPool(SanitizeConfig(), workers=1, server=server) as pool:
        server_pid, [worker_pid] = server.pid(), pool.worker_pids()
        assert "/fontTools/" not in Path(f"/proc/{server_pid}/maps").read_text()
        for data in (fx.truetype_pdf(), fx.cff_pdf()):
            result = pool.run(data, "font.pdf")
            codes = [r.code for r in result.removed]
            assert "pdf.font_hinting" in codes and "pdf.font_removed" not in codes, codes
        assert "/fontTools/" in Path(f"/proc/{worker_pid}/maps").read_text()
        if pool.sandbox.get("seccomp") == "filter":  # as the other sandbox tests
            assert pool.sandbox["landlock"].startswith("abi ")
    assert server.problems == []
