"""The 個人番号 check of files leaving LGWAN: its cost on 10 MB files, beside the
detect-only job it replaces for rooms that reach the internet.

    .venv/bin/python -m bench.outbound_files             # about a minute
    .venv/bin/python -m bench.outbound_files --repeat 5  # steadier figures
    .venv/bin/python -m bench.outbound_files --mb 20     # bigger files

Both jobs go end to end through a real ``WorkerPool`` (one worker): the file is written
into the worker's job file, the worker answers, the pool re-validates the answer.
Baseline: ``pool.detect`` (what an LGWAN file cost before: the kind only).  Measured:
``pool.scan`` (detect, extract the text, ``policy.mynumber.find_my_numbers``), on

* a spreadsheet made with openpyxl (about ``--mb`` MB of xlsx): rows of an id, a
  name, a twelve-digit number cell, amounts, a date and a note; one row in 5,000 holds
  a valid 個人番号, the others twelve digits that fail the check digit;
* a CSV of the same rows (UTF-8 with BOM), cut to ``--mb`` MB.

The two jobs alternate, ``--repeat`` times each; the best and the median are printed,
with the characters of text read and the numbers found (so a regression that reads
nothing shows as one).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import openpyxl  # noqa: E402

from policy import mynumber  # noqa: E402
from policy.config import PolicyConfig  # noqa: E402
from sanitize.config import SanitizeConfig  # noqa: E402
from sanitize.pool import WorkerPool  # noqa: E402

HIT_EVERY = 5000


def number(i: int) -> int:
    first11 = f"{(i * 7919 + 10**10) % 10**11:011d}"
    check = mynumber.check_digit(first11)
    # Most rows: a twelve-digit number whose last digit is wrong (not a 個人番号).
    last = check if i % HIT_EVERY == 0 else (check + 1) % 10
    return int(first11 + str(last))


def row(i: int) -> list[object]:
    return [i, f"職員{i:06d}", number(i), (i * 37) % 1_000_000, f"2026-{i % 12 + 1:02d}-01",
            "子育て支援課" if i % 3 else "備考：電話 03-1234-5678"]


def make_xlsx(megabytes: float) -> tuple[bytes, int]:
    """An xlsx of about ``megabytes`` MB (rows estimated from a sample, then written)."""
    def build(rows: int) -> bytes:
        wb = openpyxl.Workbook(write_only=True)
        ws = wb.create_sheet("名簿")
        ws.append(["番号", "氏名", "個人番号", "金額", "日付", "備考"])
        for i in range(1, rows + 1):
            ws.append(row(i))
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()
    sample = 20_000
    per_row = len(build(sample)) / sample
    rows = int(megabytes * 1024 * 1024 / per_row)
    return build(rows), rows


def make_csv(megabytes: float) -> tuple[bytes, int]:
    limit = int(megabytes * 1024 * 1024)
    lines = ["\ufeff番号,氏名,個人番号,金額,日付,備考\r\n"]
    size = len(lines[0].encode())
    i = 0
    while size < limit:
        i += 1
        lines.append(",".join(str(v) for v in row(i)) + "\r\n")
        size += len(lines[-1].encode())
    return "".join(lines).encode("utf-8"), i


def timed(fn: object, *args: object) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args)  # type: ignore[operator]
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=float, default=10.0)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    kinds = PolicyConfig().outbound_kinds
    print(f"building the files ({args.mb:g} MB each) ...", flush=True)
    xlsx, xlsx_rows = make_xlsx(args.mb)
    csv, csv_rows = make_csv(args.mb)
    files = [("名簿.xlsx", xlsx, xlsx_rows), ("名簿.csv", csv, csv_rows)]
    cfg = SanitizeConfig(workers=1, timeout_s=600, cpu_s=600, memory_mib=2048)
    with WorkerPool(cfg) as pool:
        pool.detect(b"warm", "warm.txt")
        print(f"{'file':<10} {'MB':>6} {'rows':>8} {'job':<22} {'best s':>7} {'median s':>9}"
              f" {'MB/s':>6}  result")
        for name, data, rows in files:
            detect_s: list[float] = []
            scan_s: list[float] = []
            kind = scan = None
            for _ in range(args.repeat):
                s, kind = timed(pool.detect, data, name)
                detect_s.append(s)
                s, scan = timed(pool.scan, data, name, kinds)
                scan_s.append(s)
            mb = len(data) / 1024 / 1024
            for label, times, result in (
                    ("detect (baseline)", detect_s, f"kind={kind}"),
                    ("scan (extract+check)", scan_s,
                     f"{scan.outcome} chars={scan.chars:,} found={len(scan.found)} "  # type: ignore[union-attr]
                     f"{scan.detail}")):  # type: ignore[union-attr]
                print(f"{name:<10} {mb:6.1f} {rows:8,} {label:<22} {min(times):7.3f}"
                      f" {statistics.median(times):9.3f} {mb / min(times):6.1f}  {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
