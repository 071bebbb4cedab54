"""relayctl's command line: the parser, and the control operation (with its printer)
each parsed command line stands for.  relay.ctl runs it; relay.ctl_output prints it.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from typing import Any, Callable

from relay import accounts, approvals_cli, ctl_output as o, directory, originals, personnel
from relay import records_cli

Printer = Callable[[dict[str, Any]], int]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="relayctl", description="Kakehashi relayd の管理 / "
                                "administer relayd's state directory")
    p.add_argument("--config", metavar="PATH", help="relayd.toml (default: embedded default)")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("init", help="create the state directory and the first admin")

    account = sub.add_parser("account", help="accounts").add_subparsers(dest="action", required=True)
    add = account.add_parser("add", help="create an account")
    add.add_argument("login")
    add.add_argument("--kind", required=True, choices=accounts.ACCOUNT_KINDS)
    add.add_argument("--display-name", default="")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of stdin "
                          "(without it a one-time password is generated and printed)")
    add.add_argument("--sponsor", metavar="LOGIN",
                     help="external accounts: the staff account responsible (required)")
    add.add_argument("--expires", metavar="YYYY-MM-DD",
                     help="external accounts: the last day of use (default: one year)")
    listing = account.add_parser("list", help="list accounts (deleted ones only with "
                                 "--state deleted)")
    listing.add_argument("--kind", choices=accounts.ACCOUNT_KINDS)
    listing.add_argument("--department", metavar="PATH",
                         help="in this department or one under it (総務部/総務課)")
    listing.add_argument("--state", choices=directory.ACCOUNT_STATES)
    listing.add_argument("--expiring", type=int, metavar="DAYS",
                         help="external accounts whose last day is within DAYS, or past")
    listing.add_argument("--json", action="store_true", help="a JSON array")
    show = account.add_parser("show", help="one account, its department and rooms")
    show.add_argument("login")
    show.add_argument("--json", action="store_true")
    for verb, what in (("disable", "disable an account and end its sessions"),
                       ("enable", "enable a disabled account again"),
                       ("delete", "delete an account: its messages stay under "
                                  "「削除されたアカウント」, its login is free again"),
                       ("totp", "enrol (or replace) the account's TOTP secret and print it "
                                "once")):
        account.add_parser(verb, help=what).add_argument("login")
    reset = account.add_parser("reset", help="set a new password (a one-time one unless "
                               "--password-stdin); the account's sessions end")
    reset.add_argument("login")
    reset.add_argument("--password-stdin", action="store_true")
    account.add_parser("logout", help="end every session of the account (its streams "
                       "close; it stays enabled)").add_argument("login")
    sponsor = account.add_parser("sponsor", help="an external account's sponsor (staff)")
    sponsor.add_argument("login")
    sponsor.add_argument("sponsor", metavar="SPONSOR")
    expires = account.add_parser("expires", help="an external account's last day of use")
    expires.add_argument("login")
    expires.add_argument("date", metavar="YYYY-MM-DD")
    rename = account.add_parser("rename", help="change the display name")
    rename.add_argument("login")
    rename.add_argument("display_name")
    move = account.add_parser("department", help="put the account in a department")
    move.add_argument("login")
    where = move.add_mutually_exclusive_group(required=True)
    where.add_argument("department", nargs="?", metavar="PATH")
    where.add_argument("--none", action="store_true", help="in no department")
    imp = account.add_parser("import", help="compare with a personnel CSV (login, name, "
                             "kana, department, kind, email); --apply to apply")
    imp.add_argument("file", help="the CSV file, or - for standard input")
    imp.add_argument("--apply", action="store_true",
                     help="apply the changes (one transaction); without it nothing changes")
    imp.add_argument("--json", action="store_true")

    dep = sub.add_parser("department", help="departments (部・課・係)").add_subparsers(
        dest="action", required=True)
    dadd = dep.add_parser("add", help="add a department")
    dadd.add_argument("name")
    dadd.add_argument("--parent", metavar="PATH", help="the department it belongs to")
    dep.add_parser("list", help="the department tree").add_argument("--json", action="store_true")
    dren = dep.add_parser("rename", help="rename a department")
    dren.add_argument("department", metavar="PATH")
    dren.add_argument("name")

    room = sub.add_parser("room", help="rooms").add_subparsers(dest="action", required=True)
    create = room.add_parser("create", help="create a group room")
    create.add_argument("name")
    create.add_argument("--member", action="append", default=[], metavar="LOGIN",
                        help="a member's login (repeat; the first is recorded as creator)")
    create.add_argument("--department", metavar="PATH",
                        help="a room for this department: its enabled accounts (and those "
                             "of the departments under it) are members")
    rlist = room.add_parser("list", help="list rooms")
    rlist.add_argument("--department", metavar="PATH")
    state = rlist.add_mutually_exclusive_group()
    state.add_argument("--archived", action="store_const", const=True, dest="archived")
    state.add_argument("--open", action="store_const", const=False, dest="archived")
    rlist.add_argument("--json", action="store_true")
    rshow = room.add_parser("show", help="one room and its members")
    rshow.add_argument("id")
    rshow.add_argument("--json", action="store_true")
    for verb in ("add-member", "remove-member"):
        m = room.add_parser(verb, help=f"{verb.replace('-', ' ')} (audited)")
        m.add_argument("id")
        m.add_argument("login")
    for verb, what in (("archive", "make a room read-only (sends answer room_archived)"),
                       ("unarchive", "open an archived room again")):
        room.add_parser(verb, help=what).add_argument("id")
    records_cli.add_room_export(room)

    audit = sub.add_parser("audit", help="audit log").add_subparsers(dest="action", required=True)
    audit.add_parser("verify", help="check the hash chain of the audit log")
    records_cli.add_audit_export(audit)
    records_cli.add_report(sub)

    original = sub.add_parser("original", help="requests for quarantined originals").add_subparsers(
        dest="action", required=True)
    olist = original.add_parser("list", help="list requests (default: pending)")
    olist.add_argument("--status", default="pending", choices=originals.REQUEST_STATUSES)
    olist.add_argument("--json", action="store_true")
    for verb in ("approve", "deny"):
        decide = original.add_parser(verb, help=f"{verb} a request (audited)")
        decide.add_argument("id")
        decide.add_argument("--note", default="")
        decide.add_argument("--admin", default="admin", metavar="LOGIN",
                            help="the admin account recorded as deciding (default: admin)")

    approvals_cli.add_parser(sub)

    sub.add_parser("sanitize", help="disarm local files (relayctl sanitize --help)")

    bk = sub.add_parser("backup", help="online backup of the state directory into DEST "
                        "(a new or empty directory; relayd may keep running)")
    bk.add_argument("dest")
    rs = sub.add_parser("restore", help="restore a backup into the state directory "
                        "(relayd must be stopped)")
    rs.add_argument("backup")
    rs.add_argument("--replace", action="store_true",
                    help="move the current state aside (<state_dir>.before-restore-TIME) first")
    return p


def operation(args: argparse.Namespace) -> tuple[str, dict[str, Any], Printer]:
    """The control operation, its arguments and its printer for a command line.
    policy Invalid (``invalid_csv``) when an import file cannot be read as text."""
    records_op = records_cli.operation(args)  # room export, audit export, report
    if records_op is not None:
        return records_op
    approval_op = approvals_cli.operation(args)  # 上長承認
    if approval_op is not None:
        return approval_op
    command, action = args.command, getattr(args, "action", None)
    as_json = bool(getattr(args, "json", False))
    password = sys.stdin.readline().rstrip("\r\n") if getattr(args, "password_stdin", False) else None
    if command == "init":
        return "init", {}, o.init
    if command == "account":
        if action == "add":
            return "account.add", {"login": args.login, "kind": args.kind,
                                   "display_name": args.display_name, "password": password,
                                   "sponsor": args.sponsor, "expires_at": args.expires}, \
                o.account("作成しました / created")
        if action == "reset":
            return ("account.reset", {"login": args.login, "password": password},
                    o.account("パスワードを再設定しました / password reset"))
        if action == "list":
            return ("account.list", {"kind": args.kind, "department": args.department,
                                     "state": args.state, "expiring": args.expiring},
                    partial(o.accounts, as_json=as_json))
        if action == "logout":
            return "account.logout", {"login": args.login}, o.logged_out
        if action == "sponsor":
            return ("account.sponsor", {"login": args.login, "sponsor": args.sponsor},
                    o.external("担当者を変更しました / sponsor set"))
        if action == "expires":
            return ("account.expires", {"login": args.login, "expires_at": args.date},
                    o.external("有効期限を変更しました / last day set"))
        if action == "show":
            return "account.show", {"login": args.login}, partial(o.account_show, as_json=as_json)
        if action == "rename":
            return ("account.rename", {"login": args.login, "display_name": args.display_name},
                    o.account_changed("表示名を変更しました / renamed"))
        if action == "department":
            return ("account.department", {"login": args.login,
                                           "department": None if args.none else args.department},
                    o.account_changed("部署を変更しました / moved"))
        if action == "import":
            if args.file == "-":  # under systemd-run the service user may not read the file
                content = personnel.decode(sys.stdin.buffer.read())
            else:
                with open(args.file, "rb") as f:
                    content = personnel.decode(f.read())
            return ("account.import", {"content": content, "apply": args.apply},
                    partial(o.import_report, as_json=as_json))
        if action == "delete":
            return "account.delete", {"login": args.login}, o.account_deleted
        if action == "totp":
            return "account.totp", {"login": args.login}, o.totp
        verb = "無効化しました / disabled" if action == "disable" else "有効にしました / enabled"
        return f"account.{action}", {"login": args.login}, o.account(verb)
    if command == "department":
        if action == "add":
            return ("department.add", {"name": args.name, "parent": args.parent},
                    o.department("作成しました / created"))
        if action == "list":
            return "department.list", {}, partial(o.departments, as_json=as_json)
        return ("department.rename", {"department": args.department, "name": args.name},
                o.department("名前を変更しました / renamed"))
    if command == "room":
        if action == "create":
            return ("room.create", {"name": args.name, "members": args.member,
                                    "department": args.department},
                    o.room("作成しました / created"))
        if action == "list":
            return ("room.list", {"department": args.department, "archived": args.archived},
                    partial(o.rooms, as_json=as_json))
        if action == "show":
            return "room.show", {"id": args.id}, partial(o.room_show, as_json=as_json)
        if action in ("add-member", "remove-member"):
            add = action == "add-member"
            return ("room.member", {"id": args.id, "login": args.login, "add": add},
                    o.room("追加しました / member added" if add else
                           "外しました / member removed"))
        archive = action == "archive"
        return ("room.archive", {"id": args.id, "archived": archive},
                o.room("アーカイブしました / archived" if archive else
                       "アーカイブを解除しました / unarchived"))
    if command == "audit":
        return "audit.verify", {}, o.verify
    if action == "list":
        return "original.list", {"status": args.status}, partial(o.requests, as_json=as_json)
    return ("original.decide", {"id": args.id, "approve": action == "approve",
                                "note": args.note, "admin": args.admin}, o.decision)
