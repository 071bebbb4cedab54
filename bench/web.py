"""The web client's first load: bytes of JS and CSS (and index.html) a browser fetches,
compressed as relayd serves them (gzip, level 9, made once at start) against the
same files uncompressed.  The budget (docs: CLIENT.md) is 150 KB compressed; the test
tests/web/test_client.py holds the line, this prints the figures per file.

    .venv/bin/python bench/web.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from relay.webclient import load  # noqa: E402

BUDGET = 150 * 1024


def main() -> None:
    bundle = load()
    rows = [("index.html", len(bundle.index.body), len(bundle.index.gzipped))]
    rows += sorted((n, len(a.body), len(a.gzipped)) for n, a in bundle.assets.items())
    for name, raw, gz in rows:
        print(f"{name:36} {raw:8d} B  gzip {gz:7d} B")
    raw = sum(r for _, r, _ in rows)
    gz = sum(g for _, _, g in rows)
    print(f"{'first load':36} {raw:8d} B  gzip {gz:7d} B  "
          f"({gz / 1024:.1f} KB of the {BUDGET // 1024} KB budget)")


if __name__ == "__main__":
    main()
