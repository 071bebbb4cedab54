"""The April personnel transfer (人事異動): a CSV from the personnel system, compared
with the accounts, and applied in one transaction.

The file has a header line naming at least the columns ``login, name, kana,
department, kind, email`` (in any order; other columns are ignored).  ``department``
is a path from the top, 部/課/係 separated by "/" ("総務部/総務課/文書係"); ``kind`` is
staff (the default when empty), external or admin.  Excel writes such files in
Shift_JIS (cp932) or in UTF-8 with a byte-order mark: both are read, and plain UTF-8.

The comparison says what would change: new accounts, moves between departments, new
display names, other changes (kana, email, kind), new departments, and the accounts
leaving: staff accounts, enabled, that the file does not name.  Applying it makes every
change in ONE store transaction with one audit entry per change (store.personnel);
leaving accounts are disabled, never deleted, and their sessions and streams end.
New accounts have no password yet: give each one with ``relayctl account reset``.

A malformed file is refused whole, before anything is compared, with every problem's
line number and reason.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from policy import text
from policy.errors import Invalid
from store import directory as sd
from store import personnel
from store.personnel import Change

from relay.accounts import ACCOUNT_KINDS, LOGIN_RE
from relay.commands import Actor, Context, Done
from relay.outbound import enforce_outbound

COLUMNS = ("login", "name", "kana", "department", "kind", "email")
MAX_PROBLEMS = 50  # listed at most; the file is refused either way
MAX_ROWS = 100_000


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    login: str
    name: str
    kana: str
    department: str
    kind: str
    email: str


def _refuse(problems: list[tuple[int, str]]) -> Invalid:
    first_line, first = problems[0]
    return Invalid(f"CSV ファイルが不正です（{first_line} 行目: {first}） / malformed CSV "
                   f"(line {first_line}: {first})", code="invalid_csv",
                   problems=[{"line": n, "reason": r} for n, r in problems[:MAX_PROBLEMS]],
                   count=len(problems))


def decode(data: bytes) -> str:
    """The file's text: UTF-8 (with or without a BOM), else Shift_JIS (cp932)."""
    if data.startswith(b"\xef\xbb\xbf"):
        encodings = ["utf-8-sig"]
    else:
        encodings = ["utf-8", "cp932"]
    for enc in encodings:
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    for n, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode(encodings[-1])
        except UnicodeDecodeError:
            break
    raise _refuse([(n, "文字コードを読めません（UTF-8 でも Shift_JIS でもありません） / "
                       "not UTF-8 and not Shift_JIS (cp932)")])


def _department(raw: str) -> str | None:
    """The normalised path, or None when it is not one."""
    parts = [text.normalise(p).strip() for p in raw.replace("／", "/").split("/")]
    if raw.strip() == "":
        return ""
    if any(not p for p in parts) or len(parts) > sd.MAX_DEPTH:
        return None
    return sd.PATH_SEP.join(parts)


def parse(content: str) -> list[Row]:
    """The rows of the file; Invalid ``invalid_csv`` naming every problem."""
    reader = csv.reader(io.StringIO(content, newline=""))
    problems: list[tuple[int, str]] = []
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise _refuse([(1, f"CSV として読めません / not CSV: {exc}")]) from None
    if header is None:
        raise _refuse([(1, "空のファイルです / the file is empty")])
    names = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise _refuse([(1, "見出しに列がありません / header lacks column(s): "
                           + ", ".join(missing))])
    at = {c: names.index(c) for c in COLUMNS}
    rows: list[Row] = []
    seen: dict[str, int] = {}
    try:
        for record in reader:
            n = reader.line_num
            if not record or all(not f.strip() for f in record):
                continue
            if len(rows) >= MAX_ROWS:
                problems.append((n, f"{MAX_ROWS} 行を超えています / more than {MAX_ROWS} rows"))
                break
            if len(record) != len(header):
                problems.append((n, f"列の数が {len(record)} です（見出しは {len(header)}） / "
                                    f"{len(record)} fields, the header has {len(header)}"))
                continue
            v = {c: record[i].strip() for c, i in at.items()}
            kind = v["kind"].lower() or "staff"
            dep = _department(v["department"])
            if not LOGIN_RE.fullmatch(v["login"]):
                problems.append((n, f"ログイン名が不正です / invalid login {v['login'][:40]!r}"))
            elif v["login"].lower() in seen:
                problems.append((n, f"ログイン名 {v['login']} が {seen[v['login'].lower()]} "
                                    f"行目と重複しています / login {v['login']} repeats line "
                                    f"{seen[v['login'].lower()]}"))
            if not text.normalise(v["name"]).strip():
                problems.append((n, "氏名が空です / empty name"))
            if kind not in ACCOUNT_KINDS:
                problems.append((n, f"種別が不正です / invalid kind {v['kind'][:20]!r} "
                                    "(staff, external, admin)"))
            if dep is None:
                problems.append((n, f"部署が不正です（部/課/係、{sd.MAX_DEPTH} 階層まで） / "
                                    f"invalid department {v['department'][:60]!r}"))
            if v["email"] and ("@" not in v["email"] or any(c.isspace() for c in v["email"])):
                problems.append((n, f"メールアドレスが不正です / invalid email "
                                    f"{v['email'][:60]!r}"))
            seen.setdefault(v["login"].lower(), n)
            rows.append(Row(n, v["login"], text.normalise(v["name"]).strip()[:text.MAX_NAME_CHARS],
                            text.normalise(v["kana"]).strip()[:text.MAX_NAME_CHARS],
                            dep or "", kind, v["email"]))
    except csv.Error as exc:
        problems.append((reader.line_num, f"CSV として読めません / not CSV: {exc}"))
    if problems:
        raise _refuse(problems)
    return rows


async def plan(ctx: Context, rows: list[Row]) -> tuple[list[Change], dict[str, Any]]:
    """The changes the file asks for, and the same as a report (what ``--apply``
    would do): new, moved, renamed, updated, leaving, new_departments, notes."""
    people = [p for p in await sd.read(ctx.store, sd.people) if p.state != "deleted"]
    deps = {d.id: d.path for d in await sd.read(ctx.store, sd.departments)}
    by_login = {p.login.lower(): p for p in people}
    changes: list[Change] = []
    report: dict[str, Any] = {"new": [], "moved": [], "renamed": [], "updated": [],
                              "leaving": [], "new_departments": [], "notes": []}
    for dep in dict.fromkeys(r.department for r in rows if r.department):
        parts = dep.split(sd.PATH_SEP)
        for i in range(1, len(parts) + 1):
            sub = sd.PATH_SEP.join(parts[:i])
            if sub not in deps.values() and sub not in report["new_departments"]:
                report["new_departments"].append(sub)
    for r in rows:
        p = by_login.get(r.login.lower())
        if p is None:
            changes.append(Change("create", r.login, {
                "display_name": r.name, "kana": r.kana, "email": r.email, "kind": r.kind,
                "department": r.department}))
            report["new"].append({"login": r.login, "name": r.name, "department": r.department,
                                  "kind": r.kind})
            continue
        current = deps.get(p.department_id or "", "")
        if current != r.department:
            changes.append(Change("move", p.login, {"department": r.department}))
            report["moved"].append({"login": p.login, "from": current, "to": r.department})
        fields = {k: new for k, old, new in (("display_name", p.display_name, r.name),
                                             ("kana", p.kana, r.kana),
                                             ("email", p.email, r.email),
                                             ("kind", p.kind, r.kind)) if old != new}
        if fields:
            changes.append(Change("update", p.login, fields))
            if "display_name" in fields:
                report["renamed"].append({"login": p.login, "from": p.display_name,
                                          "to": r.name})
            rest = {k: v for k, v in fields.items() if k != "display_name"}
            if rest:
                report["updated"].append({"login": p.login, "changes": rest})
        if p.state == "disabled":
            report["notes"].append({"login": p.login, "note": "無効のままです（再開は account "
                                    "enable） / stays disabled (use account enable)"})
    named = {r.login.lower() for r in rows}
    for p in people:
        if p.kind == "staff" and p.state == "enabled" and p.login.lower() not in named:
            changes.append(Change("leave", p.login))
            report["leaving"].append({"login": p.login, "name": p.display_name,
                                      "department": deps.get(p.department_id or "", "")})
    return changes, report


async def import_file(ctx: Context, actor: Actor, content: str,
                      apply: bool) -> Done[dict[str, Any]]:
    """Compare (and with ``apply``, apply) a personnel file.  The report says what
    changed, or would change; ``applied`` says which."""
    rows = parse(content)
    for r in rows:
        # Display names are seen on both sides: the 個人番号 check a message gets.
        outbound = text.scan_outbound(r.name, ctx.cfg.policy)
        if outbound.verdict != "allow":
            await enforce_outbound(ctx, actor.account_id, None, outbound, "display_name")
    changes, report = await plan(ctx, rows)
    report["rows"] = len(rows)
    report["applied"] = False
    ended: list[str] = []
    if apply and changes:
        ended = await sd.write_many(ctx.store, personnel.apply_txn, changes, ctx.now())
        report["applied"] = True
    return Done(report, end_accounts=tuple(ended))
