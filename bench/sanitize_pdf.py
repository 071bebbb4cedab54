"""The PDF corpus and floors of bench.sanitize beyond its first "pdf" row.

* ``make_text_pdf``: the "pdf-text" row, pages of text and nothing else (the case
  whose speed the image and font rebuild must leave alone).
* ``make_scan_pdf``: the "pdf-scan" row, a scanned document: every page one
  2480x3508 (A4 at 300 dpi) JPEG of ~2.3 MB, 40 pages, ~90 MB.
* Two floors: ``text_floor`` (pikepdf open + save: all a PDF without pictures needs)
  and ``image_floor`` (that, plus a Pillow decode and encode of every image, the
  least any rebuild of a PDF's pictures costs).  Rows with images are judged against
  the second; both are printed.
"""

from __future__ import annotations

import io

import pikepdf
from PIL import Image, ImageDraw


def make_text_pdf(pages: int, seed: int) -> bytes:
    pdf = pikepdf.new()
    font = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1,
                                                BaseFont=pikepdf.Name.Helvetica))
    for p in range(pages):
        lines = "".join(f"BT /F1 10 Tf 50 {780 - 14 * i} Td (Page {p} line {i} seed {seed} "
                        f"Minutes of the council meeting, budget item {i * p}) Tj ET\n"
                        for i in range(40))
        pdf.pages.append(pikepdf.Page(pikepdf.Dictionary(
            Type=pikepdf.Name.Page, MediaBox=[0, 0, 595, 842],
            Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
            Contents=pdf.make_stream(lines.encode()))))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def scan_page(seed: int) -> bytes:
    """A 300 dpi A4 page as a scanner writes it: grey paper noise, lines of dark text."""
    paper = Image.blend(Image.new("L", (2480, 3508), 235),
                        Image.effect_noise((2480, 3508), 20 + seed % 10), 0.5)
    draw = ImageDraw.Draw(paper)
    for y in range(300 + seed % 7, 3300, 60):
        draw.rectangle((200, y, 2200 - (y * seed) % 600, y + 22), fill=40)
    out = io.BytesIO()
    paper.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def make_scan_pdf(pages: int = 40, distinct: int = 4) -> bytes:
    """``pages`` pages, each its own image object (``distinct`` pictures cycled, to
    keep the bench's set-up short)."""
    scans = [scan_page(i) for i in range(distinct)]
    pdf = pikepdf.new()
    for p in range(pages):
        img = pikepdf.Stream(pdf, scans[p % distinct], Type=pikepdf.Name.XObject,
                             Subtype=pikepdf.Name.Image, Width=2480, Height=3508,
                             ColorSpace=pikepdf.Name.DeviceRGB, BitsPerComponent=8,
                             Filter=pikepdf.Name.DCTDecode)
        pdf.pages.append(pikepdf.Page(pikepdf.Dictionary(
            Type=pikepdf.Name.Page, MediaBox=[0, 0, 595, 842],
            Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=img)),
            Contents=pdf.make_stream(b"q 595 0 0 842 0 0 cm /Im0 Do Q\n"))))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def text_floor(data: bytes) -> None:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        pdf.save(io.BytesIO())


def image_floor(data: bytes) -> None:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for obj in pdf.objects:
            if not isinstance(obj, pikepdf.Stream) or obj.get("/Subtype") != pikepdf.Name.Image:
                continue
            if obj.get("/Filter") == pikepdf.Name.DCTDecode:
                with Image.open(io.BytesIO(obj.read_raw_bytes())) as im:
                    im.load()
                    im.save(io.BytesIO(), "JPEG", quality="keep")
            else:
                pikepdf.PdfImage(obj).as_pil_image().save(io.BytesIO(), "PNG", compress_level=1)
        pdf.save(io.BytesIO())
