"""Starting disarm workers: the command line and a worker's replacement, this tree
against another (the old one) in the same run.

    git worktree add /tmp/fork-old <commit before the fork server>
    .venv/bin/python -m bench.workers --old /tmp/fork-old            # a few minutes
    .venv/bin/python -m bench.workers --old /tmp/fork-old --quick    # about a minute

Prints, for each tree, runs interleaved (old, new, old, new, ...) so a noisy machine
hurts both alike, the median and the range:

* ``relayctl sanitize`` of one small PDF: the whole process, wall clock (interpreter,
  imports, workers starting, the file, exit), beside ``python -c pass`` measured in
  the same rounds (the floor no Python command line gets under, and a gauge of how
  loaded the machine is);
* ``relayctl sanitize --jobs 1`` and ``--jobs 2`` on 60 generated twenty-page PDFs,
  whole process, and the speed-up from one to two;
* a worker's replacement: SIGKILL an idle worker, then time until a file is disarmed
  again (the pool notices the death on the next file, which is blocked
  ``worker_crashed``, replaces the worker, and the file after it waits for the
  replacement to be ready).

Targets: one small file <= 0.3 s; --jobs 2 >= 1.7x --jobs 1; replacement <= 20 ms.
The machine's load average is printed at the start and the end of each part: on a
shared machine the figures are only as good as the load beside them, and the
median of interleaved runs is the one to compare.
Without ``--old`` only this tree is measured.  Each tree runs its own code (its
directory first on sys.path), with this venv's Python and libraries.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.sanitize import make_pdf  # noqa: E402

# relayctl as its console script runs it, but from the given tree.
_RELAYCTL = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
             "from relay.ctl import main; sys.exit(main())")

# Kill the idle worker, time until a file is disarmed again.  Prints a JSON list.
_REPLACE = r"""
import json, os, signal, sys, time
sys.path.insert(0, sys.argv[1])
from sanitize.config import SanitizeConfig
from sanitize.pool import WorkerPool
ELF = b"\x7fELF\x02\x01\x01" + bytes(57)
times = []
with WorkerPool(SanitizeConfig(), workers=1) as p:
    assert p.run(ELF, "a").reason == "executable"
    for _ in range(int(sys.argv[2])):
        pid = p.worker_pids()[0]
        t0 = time.perf_counter()
        os.kill(pid, signal.SIGKILL)
        while p.run(ELF, "a").reason != "executable":
            pass
        times.append(time.perf_counter() - t0)
        time.sleep(0.05)
print(json.dumps(times))
"""


def bare_python() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t0


def load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def children_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def relayctl(tree: Path, args: list[str], cwd: Path, cpu: list[float] | None = None) -> float:
    """Wall clock of the whole process; its CPU time, and its descendants' (the fork
    server and the workers are reaped by their parents, so they count), into ``cpu``."""
    c0, t0 = children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-c", _RELAYCTL, str(tree), *args], cwd=cwd,
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    if cpu is not None:
        cpu.append(children_cpu() - c0)
    return wall


def replacements(tree: Path, n: int) -> list[float]:
    out = subprocess.run([sys.executable, "-c", _REPLACE, str(tree), str(n)], cwd="/",
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt(values: list[float], unit: str = "s", scale: float = 1.0) -> str:
    v = [x * scale for x in values]
    places = 1 if unit == "ms" else 3
    return (f"{statistics.median(v):.{places}f} {unit} "
            f"({min(v):.{places}f}–{max(v):.{places}f}, n={len(v)})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", type=Path, help="the tree to compare with (a git worktree)")
    ap.add_argument("--quick", action="store_true", help="fewer rounds")
    ap.add_argument("--only", choices=("small", "jobs", "replace"),
                    help="one part only: the small file, --jobs 1/2, or the replacement")
    args = ap.parse_args(argv)
    trees = {"new": ROOT}
    if args.old:
        trees = {"old": args.old.resolve(), "new": ROOT}
    rounds_small, rounds_folder, n_replace = (3, 1, 5) if args.quick else (9, 3, 15)
    parts = {args.only} if args.only else {"small", "jobs", "replace"}

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        small = tmp / "small.pdf"
        small.write_bytes(make_pdf(1, False, 1))
        folder = tmp / "pdfs"
        folder.mkdir()
        for i in range(60 if args.only in (None, "jobs") else 0):
            (folder / f"{i:02d}.pdf").write_bytes(make_pdf(20, i % 3 == 0, i))
        pdfs = sorted(str(p) for p in folder.iterdir())
        print(f"corpus: {small.stat().st_size} B PDF; {len(pdfs)} PDFs of 20 pages, "
              f"{sum(os.path.getsize(p) for p in pdfs) / max(len(pdfs), 1) / 1024:.0f} KiB each; "
              f"{os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}", flush=True)

        one: dict[str, list[float]] = {k: [] for k in ("python -c pass", *trees)}
        cpu: dict[str, list[float]] = {k: [] for k in trees}
        before = load()
        for r in range(rounds_small if "small" in parts else 0):
            one["python -c pass"].append(bare_python())
            for name, tree in trees.items():
                out = tmp / f"out-{name}-{r}"
                one[name].append(relayctl(tree, ["sanitize", str(small), "--out", str(out)],
                                          tmp, cpu[name]))
        if "small" in parts:
            print("\nrelayctl sanitize, one small PDF (whole process, wall clock; target <= 0.3 s)"
              f"; {before} -> {load()}")
            for name, values in one.items():
                verdict = "" if name not in trees else (
                    "  (target met)" if statistics.median(values) <= 0.3 else "  (over target)")
                print(f"  {name}: {fmt(values)}{verdict}")
            print("  CPU time of the whole process tree (relayctl, fork server, worker): "
                  + "; ".join(f"{name} {fmt(cpu[name])}" for name in trees))

        jobs: dict[tuple[str, int], list[float]] = {(k, j): [] for k in trees for j in (1, 2)}
        before = load()
        for r in range(rounds_folder if "jobs" in parts else 0):
            for j in (1, 2):
                for name, tree in trees.items():
                    out = tmp / f"folder-{name}-{j}-{r}"
                    jobs[name, j].append(relayctl(
                        tree, ["sanitize", *pdfs, "--out", str(out), "--jobs", str(j)], tmp))
        for name in trees if "jobs" in parts else ():
            if name == next(iter(trees)):
                print("\nrelayctl sanitize of 60 twenty-page PDFs, whole process "
                      f"(target: --jobs 2 >= 1.7x --jobs 1); {before} -> {load()}")
            t1, t2 = jobs[name, 1], jobs[name, 2]
            ups = [a / b for a, b in zip(t1, t2)]
            print(f"  {name}: --jobs 1 {fmt(t1)}, --jobs 2 {fmt(t2)}, speed-up "
                  f"{statistics.median(ups):.2f}x ({min(ups):.2f}–{max(ups):.2f})")
        if "replace" not in parts:
            return 0

        before = load()
        rep: dict[str, list[float]] = {k: [] for k in trees}
        for _ in range(2 if args.old else 1):  # interleaved halves
            for name, tree in trees.items():
                rep[name] += replacements(tree, max(1, n_replace // 2 if args.old else
                                                     n_replace))
        print("\nworker replacement: SIGKILL to the next file disarmed (target <= 20 ms)"
              f"; {before} -> {load()}")
        for name in trees:
            print(f"  {name}: {fmt(rep[name], 'ms', 1000)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
