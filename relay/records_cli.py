"""relayctl's records commands: ``room export``, ``audit export`` and ``report``; their
arguments, their control operation (``relay.records``) and what they print or write.

The dates given (``--from``, ``--to``, Japan time, both days included) become the
period relayd reads.  The file named by ``--out`` is written by relayctl itself, never
over an existing file; relayd only answers the JSON, so it needs no font and never
writes where the operator points.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from relay import records, records_render as render, report

Printer = Callable[[dict[str, Any]], int]


def _date(text: str) -> str:
    try:
        records.period(text, text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"日付は YYYY-MM-DD です / not a date: {text!r}") from None
    return text


def _new_file(text: str) -> str:
    if os.path.lexists(text):
        raise argparse.ArgumentTypeError(f"既にあります（上書きしません） / {text} exists; "
                                         "an export never overwrites a file")
    return text


def _period_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="first", required=True, type=_date, metavar="YYYY-MM-DD",
                   help="first day (Japan time)")
    p.add_argument("--to", dest="last", required=True, type=_date, metavar="YYYY-MM-DD",
                   help="last day, included")


def add_room_export(room: Any) -> None:
    ex = room.add_parser("export", help="a room's history for a disclosure request (情報公開) "
                         "as CSV or PDF (audited: records.exported)")
    ex.add_argument("id")
    _period_args(ex)
    ex.add_argument("--format", required=True, choices=("csv", "pdf"))
    ex.add_argument("--out", required=True, type=_new_file, metavar="FILE")
    ex.add_argument("--note", default="", help="the request's reference (開示請求番号 …), "
                    "kept in the audit entry")
    ex.add_argument("--font", metavar="PATH", help="a Japanese TTF/OTF/TTC font for the PDF "
                    "(default: Noto Sans CJK JP from fonts-noto-cjk)")


def add_audit_export(audit: Any) -> None:
    ex = audit.add_parser("export", help="the audit entries of a period, with their chain MACs "
                          "(audited: records.exported)")
    _period_args(ex)
    ex.add_argument("--format", required=True, choices=("csv", "jsonl"))
    ex.add_argument("--out", required=True, type=_new_file, metavar="FILE")
    ex.add_argument("--note", default="")


def add_report(sub: Any) -> None:
    rp = sub.add_parser("report", help="usage per department and ISO week (finance)")
    _period_args(rp)
    how = rp.add_mutually_exclusive_group()
    how.add_argument("--csv", action="store_true", help="CSV (UTF-8 with BOM) on stdout")
    how.add_argument("--json", action="store_true")


def _period(args: argparse.Namespace) -> tuple[str, str]:
    try:
        return records.period(args.first, args.last)
    except ValueError as exc:  # the last day before the first: a usage error
        print(f"relayctl: 期間が不正です / invalid period: {exc} [invalid_period]",
              file=sys.stderr)
        raise SystemExit(2) from None


def _operator() -> str:
    """Who ran relayctl: the person behind sudo, else the OS user."""
    return os.environ.get("SUDO_USER") or getpass.getuser()


def operation(args: argparse.Namespace) -> tuple[str, dict[str, Any], Printer] | None:
    """The operation of a records command line, or None for any other command."""
    command, action = args.command, getattr(args, "action", None)
    if command == "report":
        start, end = _period(args)
        return ("report", {"from": start, "to": end},
                report.printer("csv" if args.csv else "json" if args.json else "text"))
    if (command, action) not in (("room", "export"), ("audit", "export")):
        return None
    start, end = _period(args)
    who = {"from": start, "to": end, "format": args.format, "note": args.note,
           "operator": _operator()}
    if command == "audit":
        return "audit.export", who, _write(args.out, lambda r: _audit_bytes(r, args.format))
    font = None
    if args.format == "pdf":
        font = render.find_font(args.font)
        if font is None:
            print("relayctl: 日本語フォントがありません。fonts-noto-cjk を入れるか --font で指定して"
                  "ください / no Japanese font: apt-get install fonts-noto-cjk, or give --font",
                  file=sys.stderr)
            raise SystemExit(1)
    operator = who["operator"]

    def room_bytes(r: dict[str, Any]) -> bytes:
        if font is None:
            return render.room_csv(r["history"])
        return render.room_pdf(r["history"], font, operator, time.time())
    return "room.export", {"room": args.id, **who}, _write(args.out, room_bytes)


def _audit_bytes(r: dict[str, Any], fmt: str) -> bytes:
    return render.audit_csv(r["entries"]) if fmt == "csv" else render.audit_jsonl(r["entries"])


def _write(out: str, make: Callable[[dict[str, Any]], bytes]) -> Printer:
    def printer(r: dict[str, Any]) -> int:
        data = make(r)
        try:
            with open(out, "xb") as f:
                f.write(data)
        except OSError as exc:
            print(f"relayctl: 書き込めません / cannot write {out}: {exc.strerror}",
                  file=sys.stderr)
            return 1
        if "history" in r:
            h = r["history"]
            what = (f"room {h['room']['id']} {h['room']['name']}: "
                    f"{len(h['messages'])} messages")
            span = (h["from"], h["to"])
        else:
            what, span = f"audit: {len(r['entries'])} entries", (r["from"], r["to"])
        print(f"書き出しました / exported {what}, {render.day(span[0])} .. "
              f"{render.day(span[1], end=True)} -> {Path(out)} ({len(data):,} bytes)")
        return 0
    return printer
