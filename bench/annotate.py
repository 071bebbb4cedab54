"""写真に書き込む (web/annotate.js) with a phone camera's photo: how long the editor
takes to decode a 4032×3024 JPEG (EXIF-rotated), to draw one frame while a finger
moves (the photo and every shape are drawn again each frame), and to encode what is
sent.  Headless Debian chromium without a GPU, so a phone's figures differ; what
matters is that a frame while drawing stays well under the 16 ms of 60 Hz (the
overlay, at screen resolution) whatever the photo's size; redrawing the photo itself
(元に戻す, or the first frame) is the slow part and happens once per action.

The page's files come from web/ through Playwright's request routing: nothing runs
relayd, nothing leaves the machine.

    .venv/bin/python bench/annotate.py
"""

from __future__ import annotations

import io
import json
import mimetypes
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.web.conftest import CHROMIUM  # noqa: E402

ORIGIN = "http://127.0.0.1:9"  # never reached: every request is answered by the route

PAGE = """<!doctype html><meta charset="utf-8"><body><div id="live"></div>
<link rel="stylesheet" href="/app.css"><script type="module" src="/bench.js"></script>"""

BENCH = """
import { openEditor } from "./annotate.js";
window.run = async (b64, shapes) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const file = new File([bytes], "camera.jpg", { type: "image/jpeg" });
  let sent = null;
  const t0 = performance.now();
  const ed = openEditor(file, (f) => { sent = f; });
  const canvas = ed.canvas;
  while (canvas.dataset.ready !== "true") await new Promise((r) => setTimeout(r, 5));
  const decode = performance.now() - t0;
  const lw = ed.lineWidth();
  for (let i = 0; i < shapes; i++) {
    const x = 200 + (i * 97) % 3000, y = 200 + (i * 61) % 3600;
    const points = Array.from({ length: 60 }, (_, k) => [x + k * 10, y + Math.sin(k / 5) * 80]);
    ed.shapes.push(i % 3 === 0 ? { tool: "pen", color: "#e60012", lw, points }
      : { tool: i % 3 === 1 ? "arrow" : "ellipse", color: "#e60012", lw, a: [x, y], b: [x + 600, y + 400] });
  }
  const t2 = performance.now();
  ed.redraw();  // what 元に戻す costs: the photo and every shape again
  canvas.getContext("2d").getImageData(0, 0, 1, 1);  // wait for the drawing to finish
  const redraw = performance.now() - t2;
  ed.draft = { tool: "pen", color: "#ffd400", lw, points: [[100, 100]] };
  const frames = [];
  for (let i = 0; i < 30; i++) {
    ed.draft.points.push([100 + i * 30, 100 + i * 20]);
    const t = performance.now();
    ed.preview();
    ed.overlay.getContext("2d").getImageData(0, 0, 1, 1);
    frames.push(performance.now() - t);
  }
  ed.draft = null;
  const t1 = performance.now();
  await ed.submit();
  const encode = performance.now() - t1;
  frames.sort((a, b) => a - b);
  return { size: [canvas.width, canvas.height], decode, redraw, median: frames[15], worst: frames[29],
           encode, bytes: sent ? sent.size : 0, name: sent ? sent.name : null };
};
"""


def camera_jpeg() -> bytes:
    """4032×3024 with some texture (a flat colour would encode in no time), rotated by
    EXIF as a phone held upright stores it."""
    img = Image.effect_noise((4032, 3024), 40).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def main() -> None:
    import base64

    from playwright.sync_api import sync_playwright
    if CHROMIUM is None:
        sys.exit("no chromium executable")
    photo = base64.b64encode(camera_jpeg()).decode()

    def serve(route) -> None:
        path = route.request.url[len(ORIGIN):].split("?")[0]
        if path == "/":
            route.fulfill(body=PAGE, content_type="text/html")
        elif path == "/bench.js":
            route.fulfill(body=BENCH, content_type="text/javascript")
        elif (ROOT / "web" / path.lstrip("/")).is_file():
            f = ROOT / "web" / path.lstrip("/")
            route.fulfill(body=f.read_bytes(), content_type=mimetypes.guess_type(f.name)[0] or "text/plain")
        else:
            route.fulfill(status=404)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--disable-gpu", "--disable-dev-shm-usage"])
        for viewport in ({"width": 390, "height": 844}, {"width": 1366, "height": 768}):
            page = browser.new_page(viewport=viewport)
            page.route("**/*", serve)
            page.goto(ORIGIN + "/")
            page.wait_for_function("typeof window.run === 'function'")
            for shapes in (0, 30):
                r = page.evaluate("([b, n]) => run(b, n)", [photo, shapes])
                print(f"{viewport['width']:5d} px wide, {shapes:2d} shapes: photo {r['size'][0]}×{r['size'][1]}, "
                      f"decode {r['decode']:.0f} ms, redraw {r['redraw']:.0f} ms, frame median {r['median']:.1f} ms / worst "
                      f"{r['worst']:.1f} ms, encode {r['encode']:.0f} ms -> {r['bytes'] // 1024} KB "
                      f"{json.dumps(r['name'], ensure_ascii=False)}")
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
