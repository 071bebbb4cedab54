"""relayctl: administer relayd's state directory from the command line.

    relayctl [--config PATH] init
    relayctl [--config PATH] account add LOGIN --kind staff|external|admin
                                         [--display-name N] [--password-stdin]
    relayctl [--config PATH] account list [--kind K] [--department PATH] [--state S] [--json]
    relayctl [--config PATH] account show LOGIN [--json]
    relayctl [--config PATH] account disable|enable|delete LOGIN
    relayctl [--config PATH] account reset LOGIN [--password-stdin]
    relayctl [--config PATH] account rename LOGIN NAME
    relayctl [--config PATH] account department LOGIN PATH|--none
    relayctl [--config PATH] account totp LOGIN
    relayctl [--config PATH] account import FILE.csv [--apply] [--json]
    relayctl [--config PATH] department add NAME [--parent PATH] | list [--json]
                                         | rename PATH NAME
    relayctl [--config PATH] room create NAME [--member LOGIN ...] [--department PATH]
    relayctl [--config PATH] room list [--department PATH] [--archived|--open] [--json]
    relayctl [--config PATH] room show ID [--json]
    relayctl [--config PATH] room add-member|remove-member ID LOGIN
    relayctl [--config PATH] room archive|unarchive ID
    relayctl [--config PATH] audit verify
    relayctl [--config PATH] original list [--status pending|approved|denied|all] [--json]
    relayctl [--config PATH] original approve|deny ID [--note N] [--admin LOGIN]
    relayctl [--config PATH] approval list|approve|refuse|require|approver|settings
                                         (relay.approvals_cli)
    relayctl [--config PATH] sanitize FILE... --out DIR [--json]
    relayctl [--config PATH] backup DEST
    relayctl [--config PATH] restore BACKUP [--replace]

Every command on the store is one of ``relay.control.OPERATIONS``: with relayd
running, relayctl sends it over relayd's control socket, so its effects are immediate
(``account disable`` ends the account's open streams at once); otherwise it runs the
same operation on the store itself.  Only ``init`` may create a state directory.
``backup`` reads files and works beside a running relayd; ``restore`` replaces the
database and refuses while relayd runs.  What each answer looks like is
``relay.ctl_output``.

Exit status: 0 done, 1 refused or failed (the reason on stderr), 2 usage or
configuration error; 141 when whoever read the output went away (``… | head``), which
ends relayctl quietly like any Unix tool.

Imports: each command imports what it needs, in its own function, and this module
imports nothing of relay, the store or trio at the top.  ``relayctl sanitize`` of one
small file must be done in 0.3 s, and importing the store, trio and the command
modules took ~0.35 s of it; it also launches the disarm engine's fork server before
anything else, so the server's imports overlap with the rest (``sanitize.cli``).  A
new command follows the same rule: ``ctl_args`` (its parser and operation) is
imported for every command but ``sanitize``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import argparse

    from relay import config

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_PIPE = 141  # 128 + SIGPIPE, as a shell reports a tool killed by it


def main(argv: Sequence[str] | None = None) -> int:
    try:
        status = _main(list(sys.argv[1:] if argv is None else argv))
        sys.stdout.flush()
    except BrokenPipeError:
        # Whoever read the output went away (``relayctl account list --json | head``):
        # stop quietly.  Python would complain again when it flushes stdout at exit,
        # so stdout becomes /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE
    return status


def _main(argv: list[str]) -> int:
    sanitize_call = _sanitize_args(argv)
    if sanitize_call is not None:
        return _sanitize(*sanitize_call)
    from policy.errors import PolicyError
    from store.errors import StoreError

    from relay import ctl_args, errors

    args = ctl_args.parser().parse_args(argv)
    cfg = _load(args.config)
    if cfg is None:
        return EXIT_USAGE
    if args.command in ("backup", "restore"):
        # Files only: restore must not open (and so create) the database it replaces.
        return _backup(args, cfg) if args.command == "backup" else _restore(args, cfg)
    try:
        op, op_args, printer = ctl_args.operation(args)
    except OSError as exc:
        print(f"relayctl: ファイルを読めません / cannot read {exc.filename}: {exc.strerror}",
              file=sys.stderr)
        return EXIT_FAILED
    except PolicyError as exc:  # an import file that is not text
        return _refused({"code": exc.code, "message": exc.message, "details": exc.details})
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
        return _refused(reply["error"])
    return printer(reply["ok"])


def _refused(err: dict[str, Any]) -> int:
    """``relayctl: <message> (<detail>: <value>) [<code>]``; a file's problems one per
    line below it (``line N: reason``)."""
    details = dict(err.get("details") or {})
    problems = details.pop("problems", None)
    detail = "".join(f" ({k}: {v})" for k, v in details.items())
    print(f"relayctl: {err['message']}{detail} [{err['code']}]", file=sys.stderr)
    for p in problems or ():
        print(f"  {p['line']} 行目 / line {p['line']}: {p['reason']}", file=sys.stderr)
    return EXIT_FAILED


def _run(cfg: config.Config, op: str, op_args: dict[str, Any]) -> dict[str, Any]:
    """Through relayd's control socket when it runs, else on the store itself."""
    import trio
    from store.db import StatePaths

    from relay import control

    path = StatePaths(Path(cfg.store.state_dir)).control_socket
    try:
        return control.call(path, op, op_args)
    except control.NotRunning:
        pass
    return trio.run(_run_locally, cfg, op, op_args)


async def _run_locally(cfg: config.Config, op: str, op_args: dict[str, Any]) -> dict[str, Any]:
    from store.facade import Store

    from relay import control
    from relay.commands import Context
    from relay.hub import Hub

    store = await Store.open(cfg.store, create=op == "init")
    try:
        ctx = Context(cfg, store, Hub(cfg.http.ws_send_queue), time.time)
        return await control.execute(ctx, {"op": op, "args": op_args})
    finally:
        await store.aclose()


def _load(path: str | None) -> config.Config | None:
    from relay import config

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


def _sanitize(config_path: str | None, argv: list[str]) -> int:
    # The fork server first: its imports (~0.25 s) are the longest part of a small
    # file's run, and loading the configuration and the command line's own modules
    # happen meanwhile on the other CPU.  The server needs nothing of the
    # configuration (each worker gets it when it is forked).
    from sanitize.forkserver import ForkServer, launch

    server: ForkServer | None = None
    try:
        server = launch(wait=False, defer_fonts=True)
    except OSError:
        pass  # the pool tries again, and reports why it cannot
    cfg = _load(config_path)
    if cfg is None:
        if server is not None:
            server.close()
        return EXIT_USAGE
    from sanitize import cli

    return int(cli.main(argv, cfg.sanitize, server) or 0)


def _external_keys(cfg: config.Config) -> list[str]:
    """Key files that live outside the state directory, so no backup holds them."""
    out = [f for f in (cfg.store.audit_key_file, cfg.store.quarantine_key_file) if f]
    cred = os.environ.get("CREDENTIALS_DIRECTORY")
    if cred:
        out += [str(p) for p in sorted(Path(cred).glob("*.key"))]
    return out


def _backup(args: argparse.Namespace, cfg: config.Config) -> int:
    import sqlite3

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
    import sqlite3

    from store import backup
    from store.db import StatePaths

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


if __name__ == "__main__":
    sys.exit(main())
