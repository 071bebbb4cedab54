"""``relayctl sanitize FILE… --out DIR [--json] [--jobs N]``: disarm local files.

Runs every file through the same sandboxed worker pool the daemon uses and writes the
rebuilt files into DIR under their mapped names (報告書.docm -> 報告書.docx), never
over an existing file.  Blocked files are results, not errors: the exit status is 0
when every file was processed, 1 when a file could not be read or written, 2 for a
usage error.  Output: one line per file in Japanese and English, or with ``--json``
one JSON object per line (API.md "Command line"); a progress bar on stderr when it
is a terminal.

relayctl launches the fork server (``sanitize.forkserver``) before it loads its
configuration and imports this module, and hands it to ``main``: the server's
imports are most of a small file's time, and they overlap with the rest of the
start that way (``python -m bench.workers`` measures the whole process).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TextIO

from sanitize.config import SanitizeConfig
from sanitize.engine import blocked
from sanitize.forkserver import ForkServer
from sanitize.pool import PoolError, WorkerPool
from sanitize.report import Result, Verdict

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_LABELS = {Verdict.SANITIZED: "無害化済み sanitized", Verdict.CLEAN: "問題なし clean",
           Verdict.BLOCKED: "ブロック blocked"}


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _Usage(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="relayctl sanitize",
                description="ファイルを無害化して DIR に書き出す / disarm files into DIR")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--out", required=True, metavar="DIR", type=Path,
                   help="出力先ディレクトリ / output directory (created if missing)")
    p.add_argument("--json", action="store_true",
                   help="1 ファイル 1 行の JSON / one JSON object per file on stdout")
    p.add_argument("--jobs", type=int, default=0, metavar="N",
                   help="ワーカー数 / worker processes (default: [sanitize] workers or CPUs)")
    return p


def main(argv: list[str], cfg: SanitizeConfig | None = None,
         server: ForkServer | None = None) -> int:
    """Entry point; ``cfg`` is the ``[sanitize]`` section when relayctl has loaded one;
    ``server`` a fork server launched by the caller, which is ours to close from now on
    (closing it twice is harmless: the pool closes it too)."""
    try:
        return _main(argv, cfg or SanitizeConfig(), server)
    finally:
        if server is not None:
            server.close()  # after a usage error it is still importing: killed


def _main(argv: list[str], cfg: SanitizeConfig, server: ForkServer | None) -> int:
    try:
        args = _parser().parse_args(argv)
        inputs = [Path(f) for f in args.files]
        for path in inputs:
            if not path.is_file():
                raise _Usage(f"{path}: ファイルがありません / no such file")
        if args.jobs < 0:
            raise _Usage("--jobs: 0 以上 / must be >= 0")
        if args.out.exists() and not args.out.is_dir():
            raise _Usage(f"{args.out}: ディレクトリではありません / not a directory")
    except _Usage as exc:
        print(f"relayctl sanitize: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    args.out.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(args.jobs or cfg.workers or os.cpu_count() or 1, len(inputs)))
    try:
        pool = WorkerPool(cfg, workers=workers, server=server)
    except PoolError as exc:
        print(f"relayctl sanitize: {exc}", file=sys.stderr)
        return EXIT_FAILED
    with pool:
        return _run_all(pool, inputs, args.out, args.json)


def _run_all(pool: WorkerPool, inputs: list[Path], out_dir: Path, as_json: bool) -> int:
    bar = _Progress(len(inputs), sys.stderr)
    status = EXIT_OK
    # One thread per worker keeps every worker busy; results are printed in input order.
    with ThreadPoolExecutor(max_workers=pool.size) as ex:
        futures = [ex.submit(_disarm_file, pool, path) for path in inputs]
        for fut in futures:
            fut.add_done_callback(lambda _f: bar.advance())
        for path, fut in zip(inputs, futures):
            result, error = fut.result()
            written: Path | None = None
            if error is None and result.output is not None and result.output_name:
                try:
                    written = _write_new(out_dir, result.output_name, result.output)
                except OSError as exc:
                    error = f"write: {exc.strerror or exc}"
            if error is not None:
                status = EXIT_FAILED
            bar.clear()
            print(_json_line(path, written, result, error) if as_json
                  else _human_line(path, written, result, error), flush=True)
            bar.draw()
    bar.clear()
    return status


def _disarm_file(pool: WorkerPool, path: Path) -> tuple[Result, str | None]:
    try:
        if path.stat().st_size > pool.cfg.max_input_bytes:
            # Do not read a huge file just to hear it is too large.
            return blocked("unknown", "too_large", f"{path.stat().st_size} bytes"), None
        data = path.read_bytes()
    except OSError as exc:
        return blocked("unknown", "internal_error", str(exc)), f"read: {exc.strerror or exc}"
    return pool.run(data, path.name), None


def _write_new(out_dir: Path, name: str, data: bytes) -> Path:
    """Write ``data`` as ``name`` in ``out_dir``, adding -1, -2, … rather than
    replacing anything (O_EXCL also wins against a file appearing meanwhile)."""
    stem, dot, ext = name.rpartition(".")
    if not stem:
        stem, dot, ext = name, "", ""
    for n in range(10_000):
        candidate = out_dir / (name if n == 0 else f"{stem}-{n}{dot}{ext}")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return candidate
    raise FileExistsError(f"no free name for {name} in {out_dir}")


def _json_line(path: Path, written: Path | None, result: Result, error: str | None) -> str:
    obj: dict[str, object] = {
        "input": str(path),
        "output": str(written) if written else None,
        "verdict": result.verdict.value,
        "kind": result.kind,
        "removed": [r.as_dict() for r in result.removed],
    }
    if result.reason:
        obj["reason"] = result.reason
    if error:
        obj["error"] = error
    obj["seconds"] = round(result.seconds, 3)
    return json.dumps(obj, ensure_ascii=False)


def _human_line(path: Path, written: Path | None, result: Result, error: str | None) -> str:
    head = f"{path}: {_LABELS[result.verdict]}"
    if written:
        head += f" → {written}"
    if error:
        return f"{head} — 処理できませんでした / could not be processed ({error})"
    if result.verdict is Verdict.SANITIZED:
        codes = ", ".join(dict.fromkeys(r.code for r in result.removed))
        return f"{head} — {result.message_ja} / {result.message_en} [{codes}]"
    tail = f" [{result.reason}]" if result.reason else ""
    return f"{head} — {result.message_ja} / {result.message_en}{tail}"


class _Progress:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.on = stream.isatty()
        self._lock = threading.Lock()

    def advance(self) -> None:
        with self._lock:
            self.done += 1
        self.draw()

    def draw(self) -> None:
        if not self.on:
            return
        with self._lock:
            width = 30
            filled = width * self.done // max(self.total, 1)
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] "
                              f"{self.done}/{self.total}")
            self.stream.flush()

    def clear(self) -> None:
        if self.on:
            with self._lock:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
