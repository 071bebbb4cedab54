"""relayctl: administer relayd's state directory from the command line.

    relayctl [--config PATH] init
    relayctl [--config PATH] account add LOGIN --kind staff|external|admin
                                         [--display-name N] [--password-stdin]
    relayctl [--config PATH] account disable|enable LOGIN
    relayctl [--config PATH] account reset LOGIN [--password-stdin]
    relayctl [--config PATH] account totp LOGIN
    relayctl [--config PATH] room create NAME --member LOGIN [--member LOGIN ...]
    relayctl [--config PATH] audit verify
    relayctl [--config PATH] original list [--status pending|approved|denied|all]
    relayctl [--config PATH] original approve|deny ID [--note N] [--admin LOGIN]
    relayctl [--config PATH] sanitize FILE... --out DIR [--json]
    relayctl [--config PATH] backup DEST
    relayctl [--config PATH] restore BACKUP [--replace]

Every command on the store is one of ``relay.control.OPERATIONS``: with relayd
running, relayctl sends it over relayd's control socket, so its effects are immediate
(``account disable`` ends the account's open streams at once); otherwise it runs the
same operation on the store itself.  Only ``init`` may create a state directory.
``backup`` reads files and works beside a running relayd; ``restore`` replaces the
database and refuses while relayd runs.

Exit status: 0 done, 1 refused or failed (the reason on stderr), 2 usage or
configuration error.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import trio

from store.db import StatePaths
from store.errors import StoreError
from store.facade import Store

from relay import accounts, config, control, errors, originals
from relay.commands import Context
from relay.hub import Hub

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
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
    disable = account.add_parser("disable", help="disable an account and end its sessions")
    disable.add_argument("login")
    enable = account.add_parser("enable", help="enable a disabled account again")
    enable.add_argument("login")
    reset = account.add_parser("reset", help="set a new password (a one-time one unless "
                               "--password-stdin); the account's sessions end")
    reset.add_argument("login")
    reset.add_argument("--password-stdin", action="store_true")
    totp = account.add_parser("totp", help="enrol (or replace) the account's TOTP secret "
                              "and print it once")
    totp.add_argument("login")

    room = sub.add_parser("room", help="rooms").add_subparsers(dest="action", required=True)
    create = room.add_parser("create", help="create a group room")
    create.add_argument("name")
    create.add_argument("--member", action="append", required=True, metavar="LOGIN",
                        help="a member's login (repeat; the first is recorded as creator)")

    audit = sub.add_parser("audit", help="audit log").add_subparsers(dest="action", required=True)
    audit.add_parser("verify", help="check the hash chain of the audit log")

    original = sub.add_parser("original", help="requests for quarantined originals").add_subparsers(
        dest="action", required=True)
    listing = original.add_parser("list", help="list requests (default: pending)")
    listing.add_argument("--status", default="pending", choices=originals.REQUEST_STATUSES)
    for verb in ("approve", "deny"):
        decide = original.add_parser(verb, help=f"{verb} a request (audited)")
        decide.add_argument("id")
        decide.add_argument("--note", default="")
        decide.add_argument("--admin", default="admin", metavar="LOGIN",
                            help="the admin account recorded as deciding (default: admin)")

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


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    sanitize_call = _sanitize_args(argv)
    if sanitize_call is not None:
        config_path, rest = sanitize_call
        cfg = _load(config_path)
        return EXIT_USAGE if cfg is None else _sanitize(rest, cfg)
    args = _parser().parse_args(argv)
    cfg = _load(args.config)
    if cfg is None:
        return EXIT_USAGE
    if args.command in ("backup", "restore"):
        # Files only: restore must not open (and so create) the database it replaces.
        return _backup(args, cfg) if args.command == "backup" else _restore(args, cfg)
    op, op_args = _operation(args)
    try:
        reply = _run(cfg, op, op_args)
    except StoreError as exc:  # the store cannot be opened (no state, a missing key, …)
        http = errors.translate(exc)
        assert http is not None
        print(f"relayctl: {http.message if http.message else exc} [{exc.code}]",
              file=sys.stderr)
        return EXIT_FAILED
    except (OSError, RuntimeError) as exc:
        print(f"relayctl: relayd に接続できません / cannot reach relayd: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if "error" in reply:
        err = reply["error"]
        detail = "".join(f" ({k}: {v})" for k, v in err.get("details", {}).items())
        print(f"relayctl: {err['message']}{detail} [{err['code']}]", file=sys.stderr)
        return EXIT_FAILED
    return _PRINTERS[op](reply["ok"])


def _operation(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The control operation and its arguments for a parsed command line."""
    command, action = args.command, getattr(args, "action", None)
    password = sys.stdin.readline().rstrip("\r\n") if getattr(args, "password_stdin", False) else None
    if command == "init":
        return "init", {}
    if command == "account":
        if action == "add":
            return "account.add", {"login": args.login, "kind": args.kind,
                                   "display_name": args.display_name, "password": password}
        if action == "reset":
            return "account.reset", {"login": args.login, "password": password}
        return f"account.{action}", {"login": args.login}
    if command == "room":
        return "room.create", {"name": args.name, "members": args.member}
    if command == "audit":
        return "audit.verify", {}
    if action == "list":
        return "original.list", {"status": args.status}
    return "original.decide", {"id": args.id, "approve": action == "approve",
                               "note": args.note, "admin": args.admin}


def _run(cfg: config.Config, op: str, op_args: dict[str, Any]) -> dict[str, Any]:
    """Through relayd's control socket when it runs, else on the store itself."""
    path = StatePaths(Path(cfg.store.state_dir)).control_socket
    try:
        return control.call(path, op, op_args)
    except control.NotRunning:
        pass
    return trio.run(_run_locally, cfg, op, op_args)


async def _run_locally(cfg: config.Config, op: str, op_args: dict[str, Any]) -> dict[str, Any]:
    store = await Store.open(cfg.store, create=op == "init")
    try:
        ctx = Context(cfg, store, Hub(cfg.http.ws_send_queue), time.time)
        return await control.execute(ctx, {"op": op, "args": op_args})
    finally:
        await store.aclose()


def _load(path: str | None) -> config.Config | None:
    try:
        return config.load(path)
    except config.ConfigError as exc:
        print(f"relayctl: 設定エラー / configuration error: {exc}", file=sys.stderr)
        return None


def _sanitize_args(argv: list[str]) -> tuple[str | None, list[str]] | None:
    """(config path, the arguments after ``sanitize``) if that is the command: they
    belong to the disarm engine's own parser, so argparse here must not see them."""
    path, i = None, 0
    if argv[:1] == ["--config"] and len(argv) > 1:
        path, i = argv[1], 2
    elif argv and argv[0].startswith("--config="):
        path, i = argv[0].partition("=")[2], 1
    if len(argv) > i and argv[i] == "sanitize":
        return path, argv[i + 1:]
    return None


def _sanitize(argv: list[str], cfg: config.Config) -> int:
    from sanitize import cli  # imported here: the other commands do not need the engine

    return int(cli.main(argv, cfg.sanitize) or 0)


def _external_keys(cfg: config.Config) -> list[str]:
    """Key files that live outside the state directory, so no backup holds them."""
    out = [f for f in (cfg.store.audit_key_file, cfg.store.quarantine_key_file) if f]
    cred = os.environ.get("CREDENTIALS_DIRECTORY")
    if cred:
        out += [str(p) for p in sorted(Path(cred).glob("*.key"))]
    return out


def _backup(args: argparse.Namespace, cfg: config.Config) -> int:
    from store import backup

    started = time.monotonic()
    try:
        out = backup.backup(cfg.store.state_dir, args.dest)
    except (OSError, RuntimeError, sqlite3.Error) as exc:
        print(f"relayctl: バックアップできません / backup failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    files = sum(1 for p in out.rglob("*") if p.is_file())
    print(f"バックアップしました / backed up {cfg.store.state_dir} -> {out} "
          f"({files} files, {time.monotonic() - started:.1f} s)")
    for key in _external_keys(cfg):
        print(f"注意: 鍵 {key} は含まれません。別に保管してください / note: {key} is not "
              "in the backup; keep a copy of it yourself", file=sys.stderr)
    return EXIT_OK


def _restore(args: argparse.Namespace, cfg: config.Config) -> int:
    from store import backup

    state = Path(cfg.store.state_dir)
    try:
        busy = backup.in_use(state)
        if busy:
            print(f"relayctl: 復元できません: relayd を停止してください / cannot restore: {busy}; "
                  "stop it first (systemctl stop relayd)", file=sys.stderr)
            return EXIT_FAILED
        backup.check_backup(args.backup)
        if StatePaths(state).db.exists():
            if not args.replace:
                print(f"relayctl: 復元できません: {state} にデータがあります / cannot restore: "
                      f"{state} already holds a database; use --replace to move it aside",
                      file=sys.stderr)
                return EXIT_FAILED
            aside = backup.set_aside(state)
            print(f"退避しました / moved the current state to {aside}")
        backup.restore(args.backup, state)
    except (OSError, RuntimeError, sqlite3.Error) as exc:
        print(f"relayctl: 復元できません / restore failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"復元しました / restored {args.backup} -> {state}; relayd を起動できます / "
          "start relayd now")
    for key in _external_keys(cfg):
        print(f"注意: 鍵 {key} はバックアップ時と同じものが必要です / note: {key} must be "
              "the same key as when the backup was made", file=sys.stderr)
    return EXIT_OK


# --------------------------------------------------------------------------- output


def _print_init(r: dict[str, Any]) -> int:
    if r["password"] is None:
        print("初期化済みです（管理者が存在します） / already initialised: an admin account exists")
    else:
        print("管理者 admin を作成しました。初回パスワード（一度だけ表示） / created admin "
              "\"admin\"; one-time password (shown once):")
        print(r["password"])
    return EXIT_OK


def _print_account(verb: str) -> Callable[[dict[str, Any]], int]:
    def out(r: dict[str, Any]) -> int:
        a = r["account"]
        print(f"{verb}: {a['login']} (id {a['id']}, {a['kind']})")
        if r.get("password"):
            print("初回パスワード（一度だけ表示） / one-time password (shown once):")
            print(r["password"])
        return EXIT_OK
    return out


def _print_totp(r: dict[str, Any]) -> int:
    print(f"ワンタイムパスワードを登録しました / TOTP enrolled: {r['login']}")
    print("認証アプリに登録してください（一度だけ表示） / add to an authenticator app "
          "(shown once):")
    print(f"secret: {r['secret']}")
    print(f"uri: {r['uri']}")
    return EXIT_OK


def _print_room(r: dict[str, Any]) -> int:
    room = r["room"]
    print(f"作成しました / created room {room['id']}: {room['name']} "
          f"({len(room['members'])} members)")
    return EXIT_OK


def _print_verify(r: dict[str, Any]) -> int:
    if r["ok"]:
        print(f"監査ログは正常です / audit log intact: {r['entries']} entries")
        return EXIT_OK
    print(f"監査ログが改ざんされています / audit log BROKEN at entry {r['first_bad']} "
          f"({r['entries']} entries checked)", file=sys.stderr)
    return EXIT_FAILED


def _print_requests(r: dict[str, Any]) -> int:
    for q in r["requests"]:
        print(f"{q['id']}\tfile {q['file_id']}\t{q['requester_login']}\t{q['status']}\t"
              f"{q['created_at']}\t{q['reason']}")
    if not r["requests"]:
        print("申請はありません / no requests")
    return EXIT_OK


def _print_decision(r: dict[str, Any]) -> int:
    q = r["request"]
    until = f" (until {q['expires_at']})" if q.get("expires_at") else ""
    print(f"{q['status']}: request {q['id']} for file {q['file_id']}{until}")
    return EXIT_OK


_PRINTERS: dict[str, Callable[[dict[str, Any]], int]] = {
    "init": _print_init,
    "account.add": _print_account("作成しました / created"),
    "account.disable": _print_account("無効化しました / disabled"),
    "account.enable": _print_account("有効にしました / enabled"),
    "account.reset": _print_account("パスワードを再設定しました / password reset"),
    "account.totp": _print_totp,
    "room.create": _print_room,
    "audit.verify": _print_verify,
    "original.list": _print_requests,
    "original.decide": _print_decision,
}


if __name__ == "__main__":
    sys.exit(main())
