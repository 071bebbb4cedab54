"""The files of a disclosure request (情報公開) and of an audit export, written on
relayctl's side from the JSON relayd answers (``relay.records``).

* Room history as CSV: UTF-8 with a byte-order mark so Excel opens it as UTF-8, one
  row per message.  A cell that Excel would take for a formula (``=``, ``+``, ``-``,
  ``@`` first) gets a leading ``'``, and so does one starting with ``'``: a message
  must not run as a formula on the desk of whoever opens the export, and removing
  one leading ``'`` gives every text back exactly.
* Room history as PDF: A4, a Japanese font embedded (subset) so it reads the same on
  any PC and its text can be searched and extracted; made with fpdf2.
* Audit log as CSV or JSON Lines, each entry with ``prev_mac`` and ``mac``.

Times are shown in Japan time (JST).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any, Iterable

JST = dt.timezone(dt.timedelta(hours=9))
BOM = "\ufeff"
# Japanese fonts looked for when --font is not given (fonts-noto-cjk, fonts-ipaexfont).
FONTS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
         "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
         "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf")
# A cell starting with one of these gets a leading "'" (and so does one starting with
# "'" itself, so a reader strips exactly one "'" to get the text back).
_FORMULA = ("=", "+", "-", "@", "\t", "\r", "'")
_KIND = {"text": "", "file": "ファイル", "stamp": "スタンプ", "poll": "アンケート",
         "schedule": "日程調整", "rollcall": "安否確認", "system": "お知らせ", "task": "タスク",
         "note": "ノート", "location": "位置情報", "memo": "電話メモ"}


def jst(stamp: str | None) -> str:
    if not stamp:
        return ""
    moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(JST)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def day(stamp: str, end: bool = False) -> str:
    """The JST date of a period bound ([from, to): the last day is the one before)."""
    moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(JST)
    return (moment - dt.timedelta(days=1 if end else 0)).strftime("%Y-%m-%d")


def find_font(given: str | None) -> str | None:
    if given:
        return given if Path(given).is_file() else None
    return next((f for f in FONTS if Path(f).is_file()), None)


def state(m: dict[str, Any]) -> str:
    marks = []
    if m["edited_at"]:
        marks.append(f"編集済み {jst(m['edited_at'])}")
    if m["deleted_at"]:
        marks.append(f"削除済み {jst(m['deleted_at'])}")
    if m["purged_at"]:
        marks.append(f"保存期間経過により本文消去 {jst(m['purged_at'])}")
    return " / ".join(marks)


def _version(v: dict[str, Any]) -> str:
    change = "編集前" if v["change"] == "edit" else "削除前"
    return f"[{change} {jst(v['written_at'])}〜{jst(v['replaced_at'])}] {v['body']}"


def _file(f: dict[str, Any]) -> str:
    line = f"{f['name']} ({f['size']:,} バイト, {f['kind'] or '-'}) SHA-256: {f['sha256']}"
    if f["sanitized_sha256"] and f["sanitized_sha256"] != f["sha256"]:
        line += f" 無害化後 SHA-256: {f['sanitized_sha256']} ({f['sanitized_size']:,} バイト)"
    if f["status"] == "blocked":
        line += " 【ブロック】"
    if f["purged"]:
        line += " 【保存期間経過により内容削除】"
    return line


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


ROOM_HEADER = ("日時 (JST)", "メッセージID", "ログイン名", "表示名", "所属", "種類", "本文",
               "状態", "以前の版", "添付ファイル (名前, サイズ, 種類, SHA-256)", "既読者",
               "既読数")


def room_csv(history: dict[str, Any]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(ROOM_HEADER)
    for m in history["messages"]:
        w.writerow([_cell(x) for x in (
            jst(m["at"]), m["id"], m["login"], m["display_name"], m["department"],
            _KIND.get(m["kind"], m["kind"]), m["body"], state(m),
            "\n".join(_version(v) for v in m["versions"]),
            "\n".join(_file(f) for f in m["files"]), ", ".join(m["read_by"]),
            len(m["read_by"]))])
    return (BOM + buf.getvalue()).encode("utf-8")


def room_pdf(history: dict[str, Any], font: str, made_by: str, now: float) -> bytes:
    from fpdf import FPDF  # only exports need it
    from fpdf.enums import WrapMode, XPos, YPos

    room = history["room"]
    period = f"{day(history['from'])} 〜 {day(history['to'], end=True)}"

    class Doc(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("jp", size=8)
            self.cell(0, 6, f"{room['name']}  {period}    {self.page_no()} / {{nb}}", align="C")

    pdf = Doc(format="A4")
    pdf.set_title(f"{room['name']} {period}")
    pdf.set_creator("Kakehashi relayctl room export")
    pdf.set_auto_page_break(True, margin=16)
    index = _face(font)
    pdf.add_font("jp", fname=font, **({"collection_font_number": index} if index else {}))
    pdf.add_page()
    width = pdf.epw

    def para(text: str, size: float, indent: float = 0.0, gap: float = 0.0) -> None:
        pdf.set_font("jp", size=size)
        pdf.set_x(pdf.l_margin + indent)
        pdf.multi_cell(width - indent, size * 0.5, _printable(text), wrapmode=WrapMode.CHAR,
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if gap:
            pdf.ln(gap)

    kind = {"group": "グループ", "direct": "個別 (1対1)", "department": "部署"}.get(room["kind"],
                                                                              room["kind"])
    para(f"チャット記録 「{room['name']}」", 16, gap=2)
    para(f"期間: {period} (日本時間)    ルーム ID: {room['id']}    種別: {kind}"
         + (f"    部署: {room['department']}" if room["department"] else ""), 9)
    stamp = dt.datetime.fromtimestamp(now, JST).strftime("%Y-%m-%d %H:%M")
    para(f"出力: {stamp} {made_by}    メッセージ数: {len(history['messages'])}", 9, gap=3)
    for m in history["messages"]:
        who = f"{m['display_name']} ({m['login']})" + (f"  {m['department']}" if m["department"]
                                                       else "")
        kind_label = _KIND.get(m["kind"], m["kind"])
        head = f"{jst(m['at'])}  {who}" + (f"  [{kind_label}]" if kind_label else "")
        pdf.set_text_color(90, 90, 90)
        para(f"#{m['id']}  {head}", 8)
        pdf.set_text_color(0, 0, 0)
        if m["body"]:
            para(m["body"], 10)
        if state(m):
            para(f"（{state(m)}）", 8, indent=4)
        for v in m["versions"]:
            para("以前の版 " + _version(v), 8, indent=4)
        for f in m["files"]:
            para("添付: " + _file(f), 8, indent=4)
        if m["read_by"]:
            para(f"既読 {len(m['read_by'])} 名: {', '.join(m['read_by'])}", 8, indent=4)
        pdf.ln(2)
    return bytes(pdf.output())


def _face(font: str) -> int:
    """The Japanese face of a font collection (Noto CJK holds JP, KR, SC, TC, HK)."""
    if not font.lower().endswith((".ttc", ".otc")):
        return 0
    from fontTools.ttLib import TTCollection

    with TTCollection(font, lazy=True) as faces:
        for i, face in enumerate(faces.fonts):
            if " JP" in str(face["name"].getDebugName(4)):
                return i
    return 0


def _printable(text: str) -> str:
    """Control characters (other than line feeds) print as nothing useful: drop them."""
    return "".join(ch for ch in text if ch == "\n" or ch >= " ")


AUDIT_HEADER = ("id", "at", "actor", "action", "subject", "data", "prev_mac", "mac")


def audit_csv(entries: Iterable[dict[str, Any]]) -> bytes:
    """``data`` is the canonical JSON the MAC covers (store.audit.canonical)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(AUDIT_HEADER)
    for e in entries:
        w.writerow([_cell(x) for x in (e["id"], e["at"], e["actor"], e["action"], e["subject"],
                                       _canonical(e["data"]), e["prev_mac"], e["mac"])])
    return (BOM + buf.getvalue()).encode("utf-8")


def audit_jsonl(entries: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(e, ensure_ascii=False, sort_keys=True).encode() + b"\n"
                    for e in entries)


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
