"""relayctl: administer relayd's state directory from the command line.

    relayctl [--config PATH] init
    relayctl [--config PATH] account add LOGIN --kind staff|external|admin
                                         [--display-name N] [--password-stdin]
    relayctl [--config PATH] account disable LOGIN
    relayctl [--config PATH] account totp LOGIN
    relayctl [--config PATH] room create NAME --member LOGIN [--member LOGIN ...]
    relayctl [--config PATH] audit verify
    relayctl [--config PATH] original list [--status pending|approved|denied|all]
    relayctl [--config PATH] original approve|deny ID [--note N] [--admin LOGIN]
    relayctl [--config PATH] sanitize FILE... --out DIR [--json]
    relayctl [--config PATH] backup DEST
    relayctl [--config PATH] restore BACKUP [--replace]

It opens the same store as relayd (SQLite in WAL mode, so both may run at once) and
goes through the same validation as the admin API (``relay.service``).  Exit status:
0 done, 1 refused or failed (the reason on stderr), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Awaitable, Callable, Sequence

import trio

from policy import text
from policy.errors import PolicyError
from store.errors import AccountNotFound, StoreError
from store.facade import Store

from relay import config, errors, files, service

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class Refused(Exception):
    """A command that cannot be carried out; the message goes to stderr."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="relayctl", description="Kakehashi relayd の管理 / "
                                "administer relayd's state directory")
    p.add_argument("--config", metavar="PATH", help="relayd.toml (default: embedded default)")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("init", help="create the state directory and the first admin")

    account = sub.add_parser("account", help="accounts").add_subparsers(dest="action", required=True)
    add = account.add_parser("add", help="create an account")
    add.add_argument("login")
    add.add_argument("--kind", required=True, choices=service.ACCOUNT_KINDS)
    add.add_argument("--display-name", default="")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of stdin "
                          "(without it a one-time password is generated and printed)")
    disable = account.add_parser("disable", help="disable an account and end its sessions")
    disable.add_argument("login")
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
    listing.add_argument("--status", default="pending", choices=files.REQUEST_STATUSES)
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
    command = _COMMANDS[(args.command, getattr(args, "action", None))]
    password = None
    if getattr(args, "password_stdin", False):
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        return trio.run(_with_store, cfg, lambda store: command(store, args, password))
    except Refused as exc:
        print(f"relayctl: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (StoreError, PolicyError) as exc:
        http = errors.translate(exc)
        assert http is not None
        detail = "".join(f" ({k}: {v})" for k, v in http.details.items())
        print(f"relayctl: {http.message}{detail} [{http.code}]", file=sys.stderr)
        return EXIT_FAILED


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


async def _with_store(cfg: config.Config, command: Callable[[Store], Awaitable[int]]) -> int:
    store = await Store.open(cfg.store)
    try:
        return await command(store)
    finally:
        await store.aclose()


# --------------------------------------------------------------------------- commands


async def _init(store: Store, args: argparse.Namespace, password: str | None) -> int:
    first = await service.bootstrap_admin(store, time.time())
    if first is None:
        print("初期化済みです（管理者が存在します） / already initialised: an admin account exists")
    else:
        print("管理者 admin を作成しました。初回パスワード（一度だけ表示） / created admin "
              "\"admin\"; one-time password (shown once):")
        print(first)
    return EXIT_OK


async def _account_add(store: Store, args: argparse.Namespace, password: str | None) -> int:
    generated = password is None
    if generated:
        password = service.one_time_password()
    new = service.check_new_account(args.login, password, args.kind, args.display_name)
    account = await service.do_create_account(store, new, None, time.time())
    print(f"作成しました / created: {account.login} (id {account.id}, {account.kind})")
    if generated:
        print("初回パスワード（一度だけ表示） / one-time password (shown once):")
        print(password)
    return EXIT_OK


async def _account_disable(store: Store, args: argparse.Namespace, password: str | None) -> int:
    account = await store.disable_account(args.login)
    await store.audit("account.disabled", None, account.id, {"login": account.login}, time.time())
    print(f"無効化しました / disabled: {account.login} (id {account.id})")
    return EXIT_OK


async def _account_totp(store: Store, args: argparse.Namespace, password: str | None) -> int:
    enrol = await service.do_enrol_totp(store, args.login, None, time.time())
    print(f"ワンタイムパスワードを登録しました / TOTP enrolled: {args.login}")
    print("認証アプリに登録してください（一度だけ表示） / add to an authenticator app "
          "(shown once):")
    print(f"secret: {enrol.secret_b32}")
    print(f"uri: {enrol.uri}")
    return EXIT_OK


async def _room_create(store: Store, args: argparse.Namespace, password: str | None) -> int:
    name = text.room_name(args.name)
    ids: list[str] = []
    for login in dict.fromkeys(args.member):
        try:
            ids.append((await store.get_account_by_login(login)).id)
        except AccountNotFound:
            raise Refused(f"メンバーが見つかりません / unknown member: {login}") from None
    now = time.time()
    room = await store.create_room(name, "group", ids, ids[0], now)
    await store.audit("room.created", None, room.id, {"name": room.name, "members": ids}, now)
    print(f"作成しました / created room {room.id}: {room.name} ({len(room.members)} members)")
    return EXIT_OK


async def _audit_verify(store: Store, args: argparse.Namespace, password: str | None) -> int:
    ok, n, first_bad = await store.audit_verify()
    if ok:
        print(f"監査ログは正常です / audit log intact: {n} entries")
        return EXIT_OK
    print(f"監査ログが改ざんされています / audit log BROKEN at entry {first_bad} "
          f"({n} entries checked)", file=sys.stderr)
    return EXIT_FAILED


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
    from store.db import DB_NAME

    state = Path(cfg.store.state_dir)
    try:
        busy = backup.in_use(state)
        if busy:
            print(f"relayctl: 復元できません: relayd を停止してください / cannot restore: {busy}; "
                  "stop it first (systemctl stop relayd)", file=sys.stderr)
            return EXIT_FAILED
        backup.check_backup(args.backup)
        if (state / DB_NAME).exists():
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


async def _original_list(store: Store, args: argparse.Namespace, password: str | None) -> int:
    requests = await store.original_requests(files.check_request_status(args.status),
                                             files.REQUEST_LIST_LIMIT)
    logins = {a.id: a.login for a in await store.list_accounts()}
    for r in requests:
        print(f"{r.id}\tfile {r.file_id}\t{logins.get(r.requester, r.requester)}\t{r.status}\t"
              f"{r.created_at}\t{r.reason}")
    if not requests:
        print("申請はありません / no requests")
    return EXIT_OK


async def _original_decide(store: Store, args: argparse.Namespace, password: str | None) -> int:
    cfg = _load(args.config)
    assert cfg is not None  # main() has loaded it once already
    try:
        admin = await store.get_account_by_login(args.admin)
    except AccountNotFound:
        raise Refused(f"管理者が見つかりません / unknown admin: {args.admin}") from None
    if admin.kind != "admin" or admin.disabled:
        raise Refused(f"{args.admin} は有効な管理者ではありません / not an enabled admin account")
    req = await files.do_decide(store, cfg, args.id, admin.id, args.action == "approve",
                                args.note, time.time())
    until = f" (until {req.expires_at})" if req.expires_at else ""
    print(f"{req.status}: request {req.id} for file {req.file_id}{until}")
    return EXIT_OK


Command = Callable[[Store, argparse.Namespace, "str | None"], Awaitable[int]]
_COMMANDS: dict[tuple[str, str | None], Command] = {
    ("init", None): _init,
    ("account", "add"): _account_add,
    ("account", "disable"): _account_disable,
    ("account", "totp"): _account_totp,
    ("room", "create"): _room_create,
    ("audit", "verify"): _audit_verify,
    ("original", "list"): _original_list,
    ("original", "approve"): _original_decide,
    ("original", "deny"): _original_decide,
}


if __name__ == "__main__":
    sys.exit(main())
