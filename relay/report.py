"""The usage report for the finance department, as relayctl prints it: a table on a
terminal (tab-separated), CSV (UTF-8 with a byte-order mark, for Excel) or JSON.
The figures are ``store.usage``'s."""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Any

from relay.records_render import BOM, day

COLUMNS = ("active_accounts", "messages", "files", "disarmed", "blocked", "sent_out", "held")
HEADINGS = ("利用者数 active", "メッセージ messages", "ファイル files",
            "無害化 disarmed", "ブロック blocked", "送出 sent_out", "保留 held")


def _dep(name: str) -> str:
    return name or "(所属なし)"


def text(report: dict[str, Any]) -> str:
    t = report["totals"]
    lines = [
        f"利用状況 / usage {day(report['from'])} 〜 {day(report['to'], end=True)} (JST)",
        f"合計 / totals: 利用者 active accounts {t['active_accounts']}, メッセージ messages "
        f"{t['messages']}, ファイル files {t['files']}, インターネットから無害化 internet files "
        f"disarmed {t['disarmed']}, ブロック blocked {t['blocked']}, LGWAN から送出 LGWAN "
        f"files sent out {t['sent_out']}, 個人番号で保留 held {t['held']}",
        "",
        "\t".join(("部署 department", *HEADINGS)),
    ]
    for d in report["departments"]:
        lines.append("\t".join((_dep(d["department"]), *(str(d[k]) for k in COLUMNS))))
    lines += ["", "\t".join(("週 week", "部署 department", *HEADINGS))]
    for w in report["weeks"]:
        lines.append("\t".join((w["week"], _dep(w["department"]), *(str(w[k]) for k in COLUMNS))))
    return "\n".join(lines) + "\n"


def csv_bytes(report: dict[str, Any]) -> bytes:
    """One table: 区分 (合計 / 部署 / 週), 週, 部署, then the figures."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(("区分", "週", "部署", "利用者数", "メッセージ", "ファイル", "無害化",
                "ブロック", "送出", "保留"))
    w.writerow(("合計", "", "", *(report["totals"][k] for k in COLUMNS)))
    for d in report["departments"]:
        w.writerow(("部署", "", _dep(d["department"]), *(d[k] for k in COLUMNS)))
    for x in report["weeks"]:
        w.writerow(("週", x["week"], _dep(x["department"]), *(x[k] for k in COLUMNS)))
    return (BOM + buf.getvalue()).encode("utf-8")


def printer(fmt: str) -> Any:
    def show(r: dict[str, Any]) -> int:
        report = r["report"]
        if fmt == "json":
            sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
        elif fmt == "csv":
            sys.stdout.flush()
            sys.stdout.buffer.write(csv_bytes(report))
            sys.stdout.buffer.flush()
        else:
            sys.stdout.write(text(report))
        return 0
    return show
