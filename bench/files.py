"""Files under load: upload -> ``file.ready`` latency, and chat latency while disarm is busy.

    .venv/bin/python -m bench.files              # defaults: a few minutes on 2 cores
    .venv/bin/python -m bench.files --quick      # smaller corpus, shorter phases

Starts relayd (as bench/chat.py does, same bench config plus a raised upload limit),
builds a mixed corpus with bench/sanitize.py's generators (multi-page PDFs, half with
JavaScript/launch actions/embedded files; 12 MP JPEG photos with EXIF/GPS; PNG
screenshots; docx/xlsx/pptx, and docm/xlsm/pptm with a VBA project; legacy .doc/.xls),
then runs two phases of the same LGWAN chat load (open loop, rooms of LGWAN staff,
plain ws):

1. baseline: chat only;
2. loaded: the same chat while internet-zone staff upload the corpus with
   ``POST /api/v1/rooms/{id}/files?name=...`` (API.md "Files"), each uploader in its
   own room with an LGWAN member (so every file is disarmed), each waiting for its
   file's ``file.ready`` / ``file.blocked`` on its stream before the next upload.  With
   twice as many uploaders as disarm workers the pool always has a job waiting.

Prints upload -> ``file.ready`` latency (p50/p99, per kind), the verdicts, and the chat
end-to-end p99 of both phases.  Target: disarm load must not push chat p99 over 250 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._client import (  # noqa: E402
    Account, ClientSpec, LoadProcesses, PhaseResult, SenderSpec, UploadSpec, bench_config,
    children, children_cpu_s, cpu_s, create_room, loadavg, pct_ms, py_spy, relayd_target,
    settings_lines, setup_accounts, start_phase, verdict,
)
from tests.e2e.harness import Relayd, start_relayd  # noqa: E402

TARGET_CHAT_P99_MS = 250.0
UPLOAD_SETTINGS = {"auth": {"upload_burst": 100000, "upload_refill_s": 0.01}}


def build_corpus(tmp: Path, quick: bool) -> list[tuple[str, str]]:
    """(name, path) of a mixed corpus, shuffled (fixed seed)."""
    from bench import sanitize as sb
    sizes = argparse.Namespace(pdfs=2 if quick else 8, pages=4 if quick else 10,
                               photos=1 if quick else 4, pngs=1 if quick else 4,
                               office=1 if quick else 3, office_size=10, ole=1 if quick else 3)
    out = tmp / "corpus"
    out.mkdir()
    corpus = sb.build_corpus(sizes, out)
    files = [(name, str(out / fmt.replace(" ", "_") / name))
             for fmt, items in corpus.items() for name, _data in items]
    random.Random(4).shuffle(files)
    return files


async def build(r: Relayd, args: argparse.Namespace) -> tuple[list[Account], list[tuple[str, list[Account]]], list[tuple[str, Account]]]:
    zones = ["lgwan"] * args.chat_accounts + ["internet", "lgwan"] * args.uploaders
    accounts = await setup_accounts(r, zones)
    chat = accounts[:args.chat_accounts]
    rooms = []
    for k in range(0, len(chat), args.room):
        members = chat[k:k + args.room]
        rooms.append((await create_room(r, f"係 {k // args.room}", members), members))
    uploads = []
    rest = accounts[args.chat_accounts:]
    for k in range(args.uploaders):
        uploader, reader = rest[2 * k], rest[2 * k + 1]
        uploads.append((await create_room(r, f"受付 {k}", [uploader, reader]), uploader))
    return accounts, rooms, uploads


def chat_senders(args: argparse.Namespace, rooms: list[tuple[str, list[Account]]]) -> tuple[SenderSpec, ...]:
    chosen = [(room_id, a) for room_id, members in rooms for a in members[:args.senders_per_room]]
    each = args.chat_rate / len(chosen)
    return tuple(SenderSpec(a.idx, room_id, each, offset=i / args.chat_rate)
                 for i, (room_id, a) in enumerate(chosen))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--chat-accounts", type=int, default=100, help="LGWAN chat accounts")
    p.add_argument("--room", type=int, default=10, help="members per chat room")
    p.add_argument("--senders-per-room", type=int, default=2)
    p.add_argument("--chat-rate", type=float, default=20.0, help="offered chat messages/s")
    p.add_argument("--uploaders", type=int, default=4,
                   help="internet uploaders (default: twice the disarm workers on 2 cores, "
                   "so the pool always has a job queued)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds per phase")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--grace", type=float, default=3.0)
    p.add_argument("--client-procs", type=int, default=1)
    p.add_argument("--py-spy", metavar="DIR", help="profile relayd in each phase with py-spy")
    p.add_argument("--quick", action="store_true", help="small corpus, shorter phases")
    args = p.parse_args(argv)
    if args.quick:
        args.chat_accounts, args.duration = 40, 10.0
    start_load = loadavg()
    print(f"load average at start: {start_load}")
    with tempfile.TemporaryDirectory(prefix="kakehashi-bench-files-") as tmp_s:
        tmp = Path(tmp_s)
        t0 = time.monotonic()
        corpus = build_corpus(tmp, args.quick)
        total_mb = sum(os.path.getsize(path) for _n, path in corpus) / 1e6
        print(f"  corpus: {len(corpus)} files, {total_mb:.1f} MB ({time.monotonic() - t0:.1f} s)")
        r = start_relayd(tmp, bench_config(UPLOAD_SETTINGS))
        try:
            accounts, rooms, uploads = trio.run(build, r, args)
            targets = {z: relayd_target(r, z) for z in ("lgwan", "internet")}
            lp = LoadProcesses(args.client_procs)
            try:
                lp.connect([ClientSpec(a.idx, targets[a.zone], "/api/v1/stream", a.token)
                            for a in accounts])
                senders = chat_senders(args, rooms)
                # Each uploader gets every n-th file of the corpus, starting at its own.
                upload_specs = tuple(
                    UploadSpec(up.idx, targets["internet"], room_id,
                               tuple(corpus[k::len(uploads)]))
                    for k, (room_id, up) in enumerate(uploads))
                results: dict[str, PhaseResult] = {}
                cpu: dict[str, tuple[float, float]] = {}
                workers = len(children(r.proc.pid))
                for key, ups in (("baseline", ()), ("loaded", upload_specs)):
                    phase = start_phase(key, warmup=args.warmup, duration=args.duration,
                                        grace=args.grace, senders=senders, uploads=ups)
                    spy = py_spy(args.py_spy, r.proc.pid, f"relayd-{key}", phase.start_at,
                                 phase.warmup + phase.duration)
                    c0, w0 = cpu_s(r.proc.pid), children_cpu_s(r.proc.pid)
                    results[key] = lp.run(phase)
                    # The phase may run past its end while the last uploads are disarmed.
                    wall = max(args.warmup + args.duration, time.monotonic() - phase.start_at)
                    cpu[key] = ((cpu_s(r.proc.pid) - c0) / wall,
                                (children_cpu_s(r.proc.pid) - w0) / wall)
                    if spy is not None:
                        spy.wait(30)
                    print(f"  {key} done; load {loadavg()}")
                lp.close_clients()
            finally:
                lp.shutdown()
        finally:
            r.stop()
    report(args, results, cpu, workers, start_load, corpus)
    return 0


def _suffix(name: str) -> str:
    ext = name.rpartition(".")[2].lower()
    return "jpeg (12 MP photo)" if ext == "jpg" else ext


def report(args: argparse.Namespace, results: dict[str, PhaseResult],
           cpu: dict[str, tuple[float, float]], workers: int, start_load: str,
           corpus: list[tuple[str, str]]) -> None:
    base, loaded = results["baseline"], results["loaded"]
    print()
    print(f"Files benchmark — load average at start: {start_load}; end: {loadavg()}")
    print(f"  {os.cpu_count()} CPUs; relayd with {workers} disarm worker process(es) "
          f"(sanitize.workers = 0: one per core); client: {args.client_procs} process(es)")
    print("  relayd bench config (differs from conf/relayd.toml):")
    for line in settings_lines():
        print("  " + line)
    print("    auth.upload_burst = 100000, auth.upload_refill_s = 0.01  "
          "(closed-loop uploaders would hit the per-account upload limit)")
    print(f"  chat: {args.chat_accounts} LGWAN accounts in rooms of {args.room}, "
          f"{args.chat_rate:g} msg/s offered (open loop); uploads: {args.uploaders} internet "
          f"uploaders, closed loop on file.ready; {args.duration:g} s per phase")
    print()
    print(f"  {'chat (LGWAN, end-to-end)':<34} {'baseline':>10} {'disarm busy':>12}   target")
    p99b, p99l = pct_ms(base.e2e_lat, .99), pct_ms(loaded.e2e_lat, .99)
    print(f"  {'p50 ms':<34} {pct_ms(base.e2e_lat, .5):>10.1f} {pct_ms(loaded.e2e_lat, .5):>12.1f}")
    print(f"  {'p99 ms':<34} {p99b:>10.1f} {p99l:>12.1f}   <= {TARGET_CHAT_P99_MS:.0f}  "
          f"{verdict(p99l <= TARGET_CHAT_P99_MS)}")
    print(f"  {'max ms':<34} {pct_ms(base.e2e_lat, 1):>10.1f} {pct_ms(loaded.e2e_lat, 1):>12.1f}")
    print(f"  {'ack p99 ms':<34} {pct_ms(base.ack_lat, .99):>10.1f} {pct_ms(loaded.ack_lat, .99):>12.1f}")
    print(f"  {'latency samples':<34} {len(base.e2e_lat):>10} {len(loaded.e2e_lat):>12}")
    print(f"  {'relayd CPU, % of 1 core':<34} {cpu['baseline'][0]:>10.0%} {cpu['loaded'][0]:>12.0%}")
    print(f"  {'disarm workers CPU, % of 1 core':<34} {cpu['baseline'][1]:>10.0%} {cpu['loaded'][1]:>12.0%}")
    print(f"  {'client CPU, % of 1 core':<34} {base.cpu_s / (args.warmup + args.duration):>10.0%} "
          f"{loaded.cpu_s / (args.warmup + args.duration):>12.0%}")
    errs = base.errors + loaded.errors
    print(f"  {'errors / lost streams':<34} {sum(base.errors.values()):>8}/{base.closed} "
          f"{sum(loaded.errors.values()):>10}/{loaded.closed}" + (f"   {dict(errs)}" if errs else ""))
    print()
    ups = loaded.uploads
    lat: dict[str, list[float]] = defaultdict(list)
    upload_s: list[float] = []
    verdicts: dict[str, int] = defaultdict(int)
    missing = 0
    for u in ups:
        if u.status != 201 or u.attachment_id is None:
            continue
        upload_s.append(u.t_201 - u.t_start)
        if u.initial != "pending":
            lat[_suffix(u.name)].append(u.t_201 - u.t_start)
            verdicts[f"{u.initial} at upload"] += 1
            continue
        ev = loaded.file_events.get(u.attachment_id)
        if ev is None:
            missing += 1
            continue
        lat[_suffix(u.name)].append(ev[0] - u.t_start)
        verdicts[ev[1]] += 1
    every = [x for xs in lat.values() for x in xs]
    mb = sum(u.size for u in ups) / 1e6
    print(f"  uploads: {len(ups)} ({mb:.1f} MB) in the loaded phase; verdicts "
          f"{dict(verdicts)}; no event within the wait: {missing}")
    print(f"  {'upload -> file.ready/blocked, by name':<34} {'n':>5} {'p50 ms':>10} {'p99 ms':>10} {'max ms':>10}")
    print(f"  {'all kinds':<34} {len(every):>5} {pct_ms(every, .5):>10.0f} {pct_ms(every, .99):>10.0f} "
          f"{pct_ms(every, 1):>10.0f}")
    for kind in sorted(lat):
        xs = lat[kind]
        print(f"  {'  ' + kind:<34} {len(xs):>5} {pct_ms(xs, .5):>10.0f} {pct_ms(xs, .99):>10.0f} "
              f"{pct_ms(xs, 1):>10.0f}")
    print(f"  {'upload request alone (to 201)':<34} {len(upload_s):>5} {pct_ms(upload_s, .5):>10.0f} "
          f"{pct_ms(upload_s, .99):>10.0f} {pct_ms(upload_s, 1):>10.0f}")


if __name__ == "__main__":
    sys.exit(main())
