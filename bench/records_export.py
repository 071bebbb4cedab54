"""What a disclosure export costs: the PDF (fpdf2, Japanese font subset embedded) and
the CSV of one room's history of N messages, rendered from the JSON relayd answers.
The CSV is the baseline measured in the same run.

    .venv/bin/python bench/records_export.py [N]
"""

from __future__ import annotations

import sys
import time

from relay import records_render


def history(n: int) -> dict:
    msgs = []
    for i in range(n):
        msgs.append({
            "id": str(i + 1), "at": f"2027-04-{1 + i % 28:02d}T0{i % 9}:00:00.000Z",
            "login": f"user{i % 40}", "display_name": f"職員 {i % 40}", "department": "総務部/総務課",
            "zone": "lgwan", "kind": "file" if i % 20 == 0 else "text",
            "body": f"第{i}号 来週の会議資料を共有します。ご確認ください。" * (1 + i % 3),
            "edited_at": None, "deleted_at": None, "purged_at": None, "reply_to": None,
            "versions": [], "read_by": [f"user{j}" for j in range(i % 12)],
            "files": [{"id": str(i), "name": "資料.pdf", "size": 123456, "kind": "pdf",
                       "status": "ready", "origin_zone": "lgwan", "sha256": "ab" * 32,
                       "sanitized_sha256": None, "sanitized_size": None, "purged": False}]
            if i % 20 == 0 else []})
    return {"room": {"id": "1", "name": "総務課連絡", "kind": "department",
                     "department": "総務部/総務課", "created_at": "2027-04-01T00:00:00.000Z"},
            "from": "2027-03-31T15:00:00.000Z", "to": "2027-04-30T15:00:00.000Z",
            "messages": msgs}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    h = history(n)
    font = records_render.find_font(None)
    t = time.perf_counter()
    data = records_render.room_csv(h)
    csv_s = time.perf_counter() - t
    print(f"csv (baseline): {n} messages {csv_s:.2f} s, {len(data):,} bytes")
    if font is None:
        print("pdf: no Japanese font (apt-get install fonts-noto-cjk)")
        return
    t = time.perf_counter()
    pdf = records_render.room_pdf(h, font, "bench", time.time())
    pdf_s = time.perf_counter() - t
    print(f"pdf: {n} messages {pdf_s:.2f} s ({pdf_s / csv_s:.0f}x the CSV), {len(pdf):,} bytes")


if __name__ == "__main__":
    main()
