"""What rebuilding the pictures inside documents costs, against another tree's engine.

    git worktree add /tmp/officeimg-old <commit before the change>
    .venv/bin/python -m bench.embedded_images --baseline /tmp/officeimg-old
    .venv/bin/python -m bench.embedded_images --baseline DIR --rounds 7 --passes 5

Writes one corpus (docx/xlsx/pptx of bench.sanitize's sizes, those docx/pptx without
the thumbnail python-docx/-pptx put in them ("_text": no picture at all), the same
kinds with two 2 MP phone photos each, an RTF with one), then runs the in-process
disarm (``sanitize.engine.disarm_bytes``, no pool; every format module imported
first, as a worker does) over it in a child process per tree, the trees taking turns round after round (this tree first in odd rounds, the
baseline first in even ones), so a shared, noisy machine slows both alike.  Prints
per row the median milliseconds per file for each tree, their ratio, the spread
(fastest-slowest round) and the verdicts.  Text-only rows should not move; picture
rows pay for decoding and encoding the photos.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, sys, time
from pathlib import Path
from sanitize.config import SanitizeConfig
from sanitize.engine import disarm_bytes
import sanitize
from sanitize.formats import module_for
module_for("\0")  # every format module imported first, as a worker does
corpus, passes = Path(sys.argv[1]), int(sys.argv[2])
cfg = SanitizeConfig()
out = {"tree": str(Path(sanitize.__file__).parents[1])}
for row in sorted(p for p in corpus.iterdir() if p.is_dir()):
    files = [(f.name, f.read_bytes()) for f in sorted(row.iterdir())]
    for name, data in files:  # warm: imports, caches
        disarm_bytes(data, name, cfg)
    start = time.perf_counter()
    verdicts = {}
    for _ in range(passes):
        for name, data in files:
            r = disarm_bytes(data, name, cfg)
            key = r.verdict.value + (":" + r.reason if r.reason else "")
            verdicts[key] = verdicts.get(key, 0) + 1
    ms = (time.perf_counter() - start) * 1000 / (passes * len(files))
    out[row.name] = {"ms": ms, "verdicts": verdicts}
print(json.dumps(out))
"""


def build(tmp: Path, office: int, photos_per_kind: int) -> None:
    from PIL import Image

    from bench.sanitize import make_office, make_office_photos, make_photo

    small = Image.effect_noise((1632, 1224), 30)
    photos = [make_photo(small, i) for i in range(2 * photos_per_kind)]
    rows: dict[str, list[tuple[str, bytes]]] = {}
    for kind in ("docx", "xlsx", "pptx"):
        rows[kind] = [(f"{i}.{kind}", make_office(kind, i, 10)) for i in range(office)]
        if kind != "xlsx":  # python-docx/-pptx templates hold a thumbnail: a picture
            rows[f"{kind}_text"] = [(name, _without_thumbnail(data)) for name, data in rows[kind]]
        rows[f"{kind}_img"] = [(f"{i}.{kind}", make_office_photos(kind, i, photos[2 * i:2 * i + 2]))
                               for i in range(photos_per_kind)]
    rows["rtf_img"] = [(f"{i}.rtf", _rtf(photos[i])) for i in range(photos_per_kind)]
    for row, files in rows.items():
        d = tmp / row
        d.mkdir()
        for name, data in files:
            (d / name).write_bytes(data)


def _without_thumbnail(data: bytes) -> bytes:
    """The package without docProps/thumbnail.jpeg and its relationship: text only."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "docProps/thumbnail.jpeg":
                continue
            if info.filename == "_rels/.rels":
                body = re.sub(rb"<Relationship [^>]*thumbnail[^>]*/>", b"", body)
            dst.writestr(info.filename, body)
    return buf.getvalue()


def _rtf(photo: bytes) -> bytes:
    text = b"".join(rb"\par Section %d of the report, with the photo below." % i
                    for i in range(200))
    return (rb"{\rtf1\ansi " + text + rb"{\*\shppict{\pict\picw1632\pich1224\picwgoal9000"
            rb"\pichgoal6750\jpegblip " + photo.hex().encode() + rb"}}\par}")


def run_tree(tree: Path, corpus: Path, passes: int) -> dict[str, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(tree)
    done = subprocess.run([sys.executable, "-c", _CHILD, str(corpus), str(passes)],
                          cwd=tree, env=env, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout)
    if Path(result.pop("tree")).resolve() != tree.resolve():
        raise SystemExit(f"the child imported sanitize from elsewhere than {tree}")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.embedded_images",
                                description=__doc__.split("\n")[0])
    p.add_argument("--baseline", type=Path, required=True, help="the other tree (a worktree)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--passes", type=int, default=3, help="passes over each row per round")
    p.add_argument("--office", type=int, default=8, help="text-only files per kind")
    p.add_argument("--photos", type=int, default=4, help="files with photos per kind")
    p.add_argument("--only", metavar="ROW,...", type=lambda v: set(v.split(",")),
                   help="measure only these rows (docx_text, xlsx, rtf_img, ...)")
    args = p.parse_args(argv)
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f} "
          f"this={ROOT} baseline={args.baseline}")
    times: dict[str, dict[str, list[float]]] = {"new": {}, "old": {}}
    verdicts: dict[str, dict[str, dict]] = {"new": {}, "old": {}}
    with tempfile.TemporaryDirectory(prefix="kakehashi-embedded-") as tmp:
        corpus = Path(tmp)
        t = time.perf_counter()
        build(corpus, args.office, args.photos)
        for row in list(corpus.iterdir()):
            if args.only and row.name not in args.only:
                shutil.rmtree(row)
        print(f"corpus in {time.perf_counter() - t:.1f} s")
        for r in range(args.rounds):
            order = [("new", ROOT), ("old", args.baseline)]
            for label, tree in (order if r % 2 == 0 else order[::-1]):
                for row, fig in run_tree(tree, corpus, args.passes).items():
                    times[label].setdefault(row, []).append(fig["ms"])
                    verdicts[label][row] = fig["verdicts"]
    print(f"\n{'row':<10}{'new ms':>9}{'old ms':>9}{'new/old':>9}  "
          f"{'new spread':>14}{'old spread':>14}  verdicts new | old")
    for row in sorted(times["new"]):
        new, old = times["new"][row], times["old"][row]
        mn, mo = statistics.median(new), statistics.median(old)
        print(f"{row:<10}{mn:>9.2f}{mo:>9.2f}{mn / mo:>9.2f}  "
              f"{min(new):>6.2f}-{max(new):<7.2f}{min(old):>6.2f}-{max(old):<7.2f}  "
              f"{_v(verdicts['new'][row])} | {_v(verdicts['old'][row])}")
    print("\nms = in-process disarm per file (median of the rounds); spread = fastest-slowest"
          " round; the trees alternate who runs first.")
    return 0


def _v(tally: dict[str, int]) -> str:
    return ",".join(f"{k}" for k in sorted(tally))


if __name__ == "__main__":
    sys.exit(main())
