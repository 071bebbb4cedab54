"""The outbound 個人番号 scan: scans/s of the current reading against the previous one.

    .venv/bin/python -m bench.mynumber            # a few seconds
    .venv/bin/python -m bench.mynumber --repeat 9 # steadier figures

Every message and file name leaving LGWAN goes through ``policy.mynumber``; the file
check will put whole extracted texts through it.  Measured in one run, on the same
inputs: the previous reading (kept below, ASCII/fullwidth digits in 4-4-4 only) and
today's ``find`` / ``find_my_numbers``.  Inputs: a typical 200-character business
message (a phone number, a date, an amount, no 個人番号), the same with a spelled-out
個人番号, about 100 KB of such prose, a 100 KB CSV of staff rows with a 個人番号 and a
phone number each, and 100 KB made to be hard (long runs of digits and separators).
Best of ``--repeat`` timings; each timing runs for at least 0.2 s.
"""

from __future__ import annotations

import argparse
import re
import sys
import timeit
import unicodedata
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from policy import mynumber  # noqa: E402

# The reading before digits in other spellings were taken into account.
_OLD_CANDIDATE = re.compile(r"(?<!\d)(\d{4})[ \-]?(\d{4})[ \-]?(\d{4})(?!\d)")


def old_find(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", text).replace("\u2212", "-").replace("\u2010", "-")
    hits = []
    for m in _OLD_CANDIDATE.finditer(folded):
        digits = "".join(m.groups())
        if mynumber.is_valid(digits):
            hits.append(digits)
    return hits


MESSAGE = (
    "お疲れさまです。子育て支援課の山田です。令和8年12月3日（木）14:00からの打合せの件で、"
    "資料を共有します。予算額は1,234,567,890円、問い合わせ先は03-1234-5678（内線2345）、"
    "担当携帯は090-1234-5678です。ご確認のほど、よろしくお願いいたします。会場は本庁舎3階"
    "301会議室、〒100-0001 千代田区1-2-3 です。"
)
MESSAGE_WITH_NUMBER = MESSAGE[:120] + "番号は１２３４ー５６７８ー９０１８です。" + MESSAGE[120:180]


def csv_text(size: int) -> str:
    rows: list[str] = []
    length = 0
    while length < size:
        i = len(rows)
        first11 = f"{(i * 7919) % 10**11:011d}"
        rows.append(f"{i},職員{i},{first11}{mynumber.check_digit(first11)},"
                    f"03-1234-{i % 10000:04d},2026/04/01\n")
        length += len(rows[-1])
    return "".join(rows)


def inputs() -> dict[str, str]:
    prose = (MESSAGE * (100_000 // len(MESSAGE) + 1))[:100_000]
    return {
        "message, 200 chars": MESSAGE[:200],
        "message with a number": MESSAGE_WITH_NUMBER[:200],
        "prose, 100 KB": prose,
        "csv, 100 KB": csv_text(100_000),
        "digits and spaces, 100 KB": "1 " * 50_000,
        "digits and ZWSP, 100 KB": "1\u200b" * 50_000,
        "4-4-3 runs, 100 KB": "1234-5678-901 " * 7_143,
    }


def best_rate(fn: Callable[[str], object], text: str, repeat: int) -> float:
    timer = timeit.Timer(lambda: fn(text))
    n, _ = timer.autorange()
    n = max(n, 1)
    while True:
        t = timer.timeit(n)
        if t >= 0.2:
            break
        n *= 2
    best = min([t] + [timer.timeit(n) for _ in range(repeat - 1)])
    return n / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, unicodedata {unicodedata.unidata_version}")
    print(f"{'input':<28}{'chars':>8}  {'old scans/s':>12}  {'new scans/s':>12}  "
          f"{'new MB/s':>9}  {'new/old':>7}  found old/new")
    for name, text in inputs().items():
        old = best_rate(old_find, text, args.repeat)
        new = best_rate(mynumber.find_my_numbers, text, args.repeat)
        mb = new * len(text.encode()) / 1e6
        print(f"{name:<28}{len(text):>8}  {old:>12,.0f}  {new:>12,.0f}  {mb:>9.1f}  "
              f"{new / old:>7.2f}  {len(old_find(text))}/{len(mynumber.find(text))}")


if __name__ == "__main__":
    main()
