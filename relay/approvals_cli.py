"""relayctl's 上長承認 commands: their arguments, their control operations (the same
commands of ``relay.approvals`` the web uses) and what they print.

    relayctl approval list [--status pending|approved|refused|all] [--json]
    relayctl approval approve ID [--as LOGIN]
    relayctl approval refuse ID --reason TEXT [--as LOGIN]
    relayctl approval require (--department PATH | --room ID) [--off]
    relayctl approval approver LOGIN --department PATH [--remove]
    relayctl approval settings [--json]

``--as`` names the account recorded as deciding (default ``admin``): an enabled admin,
or an approver of the sender's department, checked as on the web.
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any, Awaitable, Callable

from policy.errors import Forbidden

from relay import approvals
from relay.commands import OPERATOR, Actor, Context
from relay.ctl_output import EXIT_OK, dump

Printer = Callable[[dict[str, Any]], int]


def add_parser(sub: Any) -> None:
    ap = sub.add_parser("approval", help="上長承認: files from LGWAN waiting for an approver "
                        "before internet members get them").add_subparsers(
        dest="action", required=True)
    listing = ap.add_parser("list", help="approvals (default: pending), newest first")
    listing.add_argument("--status", default="pending", choices=approvals.QUEUE_STATUSES)
    listing.add_argument("--json", action="store_true")
    for verb, what in (("approve", "approve: internet members may download the file"),
                       ("refuse", "refuse with a reason: internet members never get it")):
        d = ap.add_parser(verb, help=f"{what} (audited)")
        d.add_argument("id")
        d.add_argument("--reason", default="", required=verb == "refuse")
        d.add_argument("--as", dest="who", default="admin", metavar="LOGIN",
                       help="the account recorded as deciding (default: admin)")
    req = ap.add_parser("require", help="where files need approval (audited)")
    where = req.add_mutually_exclusive_group(required=True)
    where.add_argument("--department", metavar="PATH",
                       help="files posted by its members and those of departments under it")
    where.add_argument("--room", metavar="ID", help="every LGWAN file posted in the room")
    req.add_argument("--off", action="store_true", help="no longer needed there")
    who = ap.add_parser("approver", help="who approves for a department (and those under "
                        "it) (audited)")
    who.add_argument("login")
    who.add_argument("--department", required=True, metavar="PATH")
    who.add_argument("--remove", action="store_true")
    ap.add_parser("settings", help="where approval applies and who approves").add_argument(
        "--json", action="store_true")


def operation(args: argparse.Namespace) -> tuple[str, dict[str, Any], Printer] | None:
    """The operation of an ``approval`` command line, or None for any other command."""
    if args.command != "approval":
        return None
    action, as_json = args.action, bool(getattr(args, "json", False))
    if action == "list":
        return "approval.list", {"status": args.status}, partial(_print_list, as_json=as_json)
    if action in ("approve", "refuse"):
        return ("approval.decide", {"id": args.id, "approve": action == "approve",
                                    "reason": args.reason, "as": args.who}, _print_decided)
    if action == "require":
        return ("approval.require", {"department": args.department, "room": args.room,
                                     "required": not args.off}, _print_changed)
    if action == "approver":
        return ("approval.approver", {"login": args.login, "department": args.department,
                                      "approver": not args.remove}, _print_changed)
    return "approval.settings", {}, partial(_print_settings, as_json=as_json)


# --------------------------------------------------------------------------- operations


async def _list(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    logins = {acc.id: acc.login for acc in await ctx.store.list_accounts()}
    return {"approvals": [{**g.public(), "sender_login": logins.get(g.sender, g.sender)}
                          for g in await approvals.operator_queue(ctx, a.get("status"))]}


async def _decide(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    who = await ctx.store.get_account_by_login(a.get("as") or "admin")
    if who.disabled:
        raise Forbidden(f"{who.login} は無効なアカウントです / {who.login} is disabled",
                        code="not_approver")
    decided = await ctx.run(approvals.decide(ctx, Actor(who.id, None), a["id"],
                                             bool(a["approve"]), a.get("reason", "")))
    return {"approval": decided.public()}


async def _require(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    if a.get("room"):
        return await ctx.run(approvals.set_room(ctx, OPERATOR, a["room"], bool(a["required"])))
    return await ctx.run(approvals.set_department(ctx, OPERATOR, a["department"],
                                                  bool(a["required"])))


async def _approver(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    account = await ctx.store.get_account_by_login(a["login"])
    return await ctx.run(approvals.set_approver(ctx, OPERATOR, a["department"], account.id,
                                                bool(a["approver"])))


async def _settings_op(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    got = await ctx.store.approval_settings()
    logins = {acc.id: acc.login for acc in await ctx.store.list_accounts()}
    for d in got["departments"]:
        d["approver_logins"] = [logins.get(i, i) for i in d["approvers"]]
    return got


OPERATIONS: dict[str, Callable[[Context, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "approval.list": _list,
    "approval.decide": _decide,
    "approval.require": _require,
    "approval.approver": _approver,
    "approval.settings": _settings_op,
}


# --------------------------------------------------------------------------- output


def _print_list(r: dict[str, Any], as_json: bool = False) -> int:
    if as_json:
        return dump(r["approvals"])
    for g in r["approvals"]:
        print(f"{g['id']}\tfile {g['file_id']}\t{g['name']}\t{g['sender_login']}\t"
              f"{g['status']}\t{g['created_at']}\t{g['reason']}")
    if not r["approvals"]:
        print("承認の依頼はありません / no approvals")
    return EXIT_OK


def _print_decided(r: dict[str, Any]) -> int:
    g = r["approval"]
    why = f" ({g['reason']})" if g["reason"] else ""
    print(f"{g['status']}: approval {g['id']} for file {g['file_id']} {g['name']}{why}")
    return EXIT_OK


def _print_changed(r: dict[str, Any]) -> int:
    where = r.get("path") or f"room {r.get('room_id')} {r.get('name', '')}"
    if "approver" in r:
        verb = "承認者にしました / approver added" if r["approver"] else \
            "承認者から外しました / approver removed"
        print(f"{verb}: account {r['account_id']} for {where}")
    else:
        verb = "承認が必要です / approval required" if r["required"] else \
            "承認は不要です / approval not required"
        print(f"{verb}: {where}")
    return EXIT_OK


def _print_settings(r: dict[str, Any], as_json: bool = False) -> int:
    if as_json:
        return dump(r)
    for d in r["departments"]:
        if d["required"] or d["approvers"]:
            mark = "承認必要 / required" if d["required"] else "-"
            print(f"department\t{d['path']}\t{mark}\t{','.join(d['approver_logins']) or '-'}")
    for room in r["rooms"]:
        print(f"room\t{room['id']}\t{room['name']}\t承認必要 / required")
    return EXIT_OK
