"""relayctl's output: what each operation's answer looks like on a terminal, or as
JSON with ``--json`` (listings: one JSON array; one object: one JSON object).

Printers take the operation's JSON answer and return the exit status.  Text goes to
stdout as one line per item, tab-separated where it is a table, so ``cut`` and
``awk`` work; messages for people carry Japanese, then English after " / ".
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

EXIT_OK, EXIT_FAILED = 0, 1

Printer = Callable[[dict[str, Any]], int]


def out(line: str = "") -> None:
    print(line)


def dump(obj: Any) -> int:
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=None)
    sys.stdout.write("\n")
    return EXIT_OK


# --------------------------------------------------------------------------- existing


def init(r: dict[str, Any]) -> int:
    if r["password"] is None:
        out("初期化済みです（管理者が存在します） / already initialised: an admin account exists")
    else:
        out("管理者 admin を作成しました。初回パスワード（一度だけ表示） / created admin "
            "\"admin\"; one-time password (shown once):")
        out(r["password"])
    return EXIT_OK


def account(verb: str) -> Printer:
    def printer(r: dict[str, Any]) -> int:
        a = r["account"]
        out(f"{verb}: {a['login']} (id {a['id']}, {a['kind']})")
        if r.get("password"):
            out("初回パスワード（一度だけ表示） / one-time password (shown once):")
            out(r["password"])
        return EXIT_OK
    return printer


def totp(r: dict[str, Any]) -> int:
    out(f"ワンタイムパスワードを登録しました / TOTP enrolled: {r['login']}")
    out("認証アプリに登録してください（一度だけ表示） / add to an authenticator app (shown once):")
    out(f"secret: {r['secret']}")
    out(f"uri: {r['uri']}")
    return EXIT_OK


def verify(r: dict[str, Any]) -> int:
    if r["ok"]:
        out(f"監査ログは正常です / audit log intact: {r['entries']} entries")
        return EXIT_OK
    print(f"監査ログが改ざんされています / audit log BROKEN at entry {r['first_bad']} "
          f"({r['entries']} entries checked)", file=sys.stderr)
    return EXIT_FAILED


def requests(r: dict[str, Any], as_json: bool = False) -> int:
    if as_json:
        return dump(r["requests"])
    for q in r["requests"]:
        out(f"{q['id']}\tfile {q['file_id']}\t{q['requester_login']}\t{q['status']}\t"
            f"{q['created_at']}\t{q['reason']}")
    if not r["requests"]:
        out("申請はありません / no requests")
    return EXIT_OK


def decision(r: dict[str, Any]) -> int:
    q = r["request"]
    until = f" (until {q['expires_at']})" if q.get("expires_at") else ""
    out(f"{q['status']}: request {q['id']} for file {q['file_id']}{until}")
    return EXIT_OK


# --------------------------------------------------------------------------- accounts


def accounts(r: dict[str, Any], as_json: bool = False) -> int:
    if as_json:
        return dump(r["accounts"])
    for a in r["accounts"]:
        line = (f"{a['login']}\t{a['display_name']}\t{a['kind']}\t{a['state']}\t"
                f"{a['department'] or '-'}")
        if a["kind"] == "external":  # its sponsor and last day (「未設定」: none yet)
            expired = " (expired)" if a.get("expired") else ""
            line += (f"\tsponsor={a.get('sponsor_login') or '未設定'}\t"
                     f"expires={a.get('expires_at') or '未設定'}{expired}")
        out(line)
    if not r["accounts"]:
        out("該当するアカウントはありません / no accounts match")
    return EXIT_OK


def account_show(r: dict[str, Any], as_json: bool = False) -> int:
    a = r["account"]
    if as_json:
        return dump(a)
    for key in ("id", "login", "display_name", "kana", "email", "kind", "state",
                "department", "created_at"):
        out(f"{key}: {a[key] if a[key] not in (None, '') else '-'}")
    rooms = ", ".join(f"{x['id']} {x['name']}" + (" (archived)" if x["archived"] else "")
                      for x in a["rooms"])
    out(f"rooms: {rooms or '-'}")
    return EXIT_OK


def logged_out(r: dict[str, Any]) -> int:
    a = r["account"]
    out(f"セッションを終了しました / sessions ended: {a['login']} (id {a['id']}), "
        f"{r['sessions_ended']}")
    return EXIT_OK


def external(verb: str) -> Printer:
    def printer(r: dict[str, Any]) -> int:
        e = r["external"]
        out(f"{verb}: {e['login']} (id {e['id']}) sponsor={e['sponsor_login'] or '未設定'} "
            f"expires={e['expires_at'] or '未設定'}")
        return EXIT_OK
    return printer


def account_changed(verb: str) -> Printer:
    def printer(r: dict[str, Any]) -> int:
        a = r["account"]
        out(f"{verb}: {a['login']} (id {a['id']}) {a['display_name']} "
            f"[{a.get('department') or '-'}]")
        return EXIT_OK
    return printer


def account_deleted(r: dict[str, Any]) -> int:
    a = r["account"]
    out(f"削除しました / deleted: {r['login']} (id {a['id']}). メッセージは「{a['display_name']}」"
        f"の名前で残ります。ログイン名 {r['login']} は再利用できます / its messages stay, shown "
        f"as \"{a['display_name']}\"; the login {r['login']} is free again")
    return EXIT_OK


def import_report(r: dict[str, Any], as_json: bool = False) -> int:
    rep = r["report"]
    if as_json:
        return dump(rep)
    for path in rep["new_departments"]:
        out(f"+ department\t{path}")
    for a in rep["new"]:
        out(f"+ new\t{a['login']}\t{a['name']}\t{a['department'] or '-'}\t{a['kind']}")
    for a in rep["moved"]:
        out(f"~ moved\t{a['login']}\t{a['from'] or '-'} -> {a['to'] or '-'}")
    for a in rep["renamed"]:
        out(f"~ renamed\t{a['login']}\t{a['from']} -> {a['to']}")
    for a in rep["updated"]:
        changes = ", ".join(f"{k}={v}" for k, v in a["changes"].items())
        out(f"~ updated\t{a['login']}\t{changes}")
    for a in rep["leaving"]:
        out(f"- leaving\t{a['login']}\t{a['name']}\t{a['department'] or '-'}")
    for a in rep["notes"]:
        out(f"! note\t{a['login']}\t{a['note']}")
    counts = (f"new {len(rep['new'])}, moved {len(rep['moved'])}, renamed "
              f"{len(rep['renamed'])}, updated {len(rep['updated'])}, leaving "
              f"{len(rep['leaving'])}, new departments {len(rep['new_departments'])}")
    if rep["applied"]:
        out(f"適用しました / applied ({rep['rows']} rows): {counts}. 新しいアカウントには "
            "relayctl account reset でパスワードを設定してください / give new accounts a "
            "password with relayctl account reset")
    else:
        out(f"変更していません（--apply で適用） / nothing changed, use --apply to apply "
            f"({rep['rows']} rows): {counts}")
    return EXIT_OK


# --------------------------------------------------------------------------- departments


def departments(r: dict[str, Any], as_json: bool = False) -> int:
    if as_json:
        return dump(r["departments"])
    for d in r["departments"]:
        depth = d["path"].count("/")
        out(f"{d['id']}\t{'  ' * depth}{d['name']}\t{d['accounts']}")
    if not r["departments"]:
        out("部署はありません / no departments")
    return EXIT_OK


def department(verb: str) -> Printer:
    def printer(r: dict[str, Any]) -> int:
        d = r["department"]
        out(f"{verb}: {d['path']} (id {d['id']})")
        return EXIT_OK
    return printer


# --------------------------------------------------------------------------- rooms


def rooms(r: dict[str, Any], as_json: bool = False) -> int:
    if as_json:
        return dump(r["rooms"])
    for x in r["rooms"]:
        state = "archived" if x["archived"] else "open"
        out(f"{x['id']}\t{x['name']}\t{x['kind']}\t{len(x['members'])}\t{state}\t"
            f"{x['department'] or '-'}\t{x['last_message_at'] or '-'}")
    if not r["rooms"]:
        out("ルームはありません / no rooms")
    return EXIT_OK


def room_show(r: dict[str, Any], as_json: bool = False) -> int:
    x = r["room"]
    if as_json:
        return dump(x)
    for key in ("id", "name", "kind", "department", "archived", "created_at", "messages",
                "last_message_at"):
        out(f"{key}: {x[key] if x[key] not in (None, '') else '-'}")
    out(f"members: {', '.join(x['member_logins']) or '-'}")
    return EXIT_OK


def room(verb: str) -> Printer:
    def printer(r: dict[str, Any]) -> int:
        x = r["room"]
        out(f"{verb}: room {x['id']} {x['name']} ({len(x['members'])} members"
            f"{', archived' if x['archived'] else ''})")
        return EXIT_OK
    return printer
