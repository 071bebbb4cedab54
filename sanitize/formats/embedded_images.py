"""Pictures inside documents, rebuilt the way standalone images are (CDR.md "OOXML", "RTF").

A document's pictures (an Office package's media parts, an RTF's ``\\pict`` data)
are handed to the image engine (``images.rebuild``, the function that rebuilds an
uploaded photo) and replaced by what it writes: pixels only, so the EXIF/GPS, XMP,
comments, text chunks, ICC profiles and trailing bytes a pasted phone photo carries
do not reach LGWAN, and no decoder on the receiving side ever parses the sender's
bytes.  This module is what the OOXML and RTF modules share for that:

* ``sniff`` names a picture by its bytes (never by its name or declared type);
* ``PixelBudget`` counts the pixels all the pictures of one document may decode,
  ``cfg.max_total_pixels`` in all: the header sizes of every picture are summed
  before the first is decoded (a package of 200 large pictures is refused at once),
  and each rebuild runs with the rest of the budget as its own total-pixel limit;
* ``rebuild_picture`` returns the new bytes, their kind and what was removed, or a
  blank placeholder when the picture cannot be rebuilt: vector metafiles (EMF, WMF;
  Pillow cannot draw them here and their parsers have a long exploit history),
  formats the document may not hold, and pictures that do not decode.

A picture over a limit blocks the whole document (``limit_exceeded``); a picture that
is merely broken is replaced, the document delivered, and the report says so.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image

from sanitize.formats import Context, images
from sanitize.report import Blocked, Removed

RASTER = frozenset({"jpeg", "png", "gif", "webp", "tiff", "bmp"})
VECTOR = frozenset({"emf", "wmf"})
# Output kind -> content type and part-name extension (OOXML).
CONTENT_TYPE = {"jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
                "webp": "image/webp", "tiff": "image/tiff", "svg": "image/svg+xml"}
EXTENSIONS = {"jpeg": (".jpeg", ".jpg", ".jpe", ".jfif"), "png": (".png",),
              "gif": (".gif",), "webp": (".webp",), "tiff": (".tiff", ".tif"),
              "svg": (".svg",)}
# What a placeholder stands for, in the report.
VECTOR_NAMES = {"emf": "EMF", "wmf": "WMF"}
_PLACEHOLDER_MAX = 1024  # pixels on the long side: the document decides the displayed size
_DETAIL_MAX = 400
# Short names of the image engine's removed codes, for a one-line detail.
_LABELS = {
    "image.exif": "EXIF", "image.gps": "GPS position", "image.xmp": "XMP",
    "image.comment": "comment", "image.metadata": "metadata",
    "image.text_chunk": "text chunks", "image.icc_converted": "ICC profile",
    "image.extra_frames": "extra images", "image.trailing_data": "trailing data",
    "image.thumbnail": "thumbnail",
}
_BMP_HEADERS = frozenset({12, 16, 40, 52, 56, 64, 108, 124})


def sniff(data: bytes) -> str | None:
    """The picture format of ``data`` by its signature, or None."""
    head = data[:48]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\0", b"MM\0*"):
        return "tiff"
    if head[:2] == b"BM" and len(head) >= 18 and \
            int.from_bytes(head[14:18], "little") in _BMP_HEADERS:
        return "bmp"
    if head[:4] == b"\x01\0\0\0" and head[40:44] == b" EMF":
        return "emf"
    if head[:4] == b"\xd7\xcd\xc6\x9a" or head[:6] in (b"\x01\0\x09\0\0\x03",
                                                     b"\x02\0\x09\0\0\x03",
                                                     b"\x01\0\x09\0\0\x01",
                                                     b"\x02\0\x09\0\0\x01"):
        return "wmf"
    return None


def vector_size(data: bytes, kind: str) -> tuple[int, int] | None:
    """A metafile's nominal size in pixels at 96 dpi, from its header (no records read)."""
    try:
        if kind == "emf":  # rclFrame, in 0.01 mm
            left, top, right, bottom = struct.unpack_from("<4i", data, 24)
            w, h = (right - left) / 2540 * 96, (bottom - top) / 2540 * 96
        elif kind == "wmf" and data[:4] == b"\xd7\xcd\xc6\x9a":  # the placeable header
            left, top, right, bottom, inch = struct.unpack_from("<4hH", data, 6)
            if not inch:
                return None
            w, h = (right - left) / inch * 96, (bottom - top) / inch * 96
        else:
            return None
    except struct.error:
        return None
    return (round(w), round(h)) if w >= 1 and h >= 1 else None


@functools.lru_cache(maxsize=64)
def placeholder(width: int = 1, height: int = 1) -> bytes:
    """A fully transparent PNG of (about) ``width`` x ``height`` pixels, at most 1024 on
    its long side.  Written with the image engine's PNG settings, so rebuilding it
    again gives the same bytes."""
    width, height = max(int(width), 1), max(int(height), 1)
    scale = min(1.0, _PLACEHOLDER_MAX / max(width, height))
    size = (max(round(width * scale), 1), max(round(height * scale), 1))
    out = io.BytesIO()
    Image.new("LA", size, (0, 0)).save(out, "PNG", compress_level=images.PNG_COMPRESS_LEVEL)
    return out.getvalue()


class PixelBudget:
    """The pixels one document's pictures may decode, in all: ``cfg.max_total_pixels``
    (the limit a single image's frames have), spent as pictures are rebuilt."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.left = ctx.cfg.max_total_pixels

    def precheck(self, pictures: Iterable[tuple[bytes, str]]) -> None:
        """Sum the header sizes of ``pictures`` (bytes, sniffed kind) before any is
        decoded; Blocked ``limit_exceeded`` past the budget.  Each distinct picture is
        counted once: identical parts are rebuilt once."""
        total, seen = 0, set()
        for data, kind in pictures:
            if kind not in RASTER or data in seen:
                continue
            seen.add(data)
            total += _header_pixels(data, kind, self.ctx)
            if total > self.left:
                raise Blocked("limit_exceeded",
                              f"pictures of more than {self.ctx.cfg.max_total_pixels} pixels in all")

    def context(self) -> Context:
        """The context a picture is rebuilt in: the rest of the budget as its limit."""
        if self.left < 1:
            raise Blocked("limit_exceeded",
                          f"pictures of more than {self.ctx.cfg.max_total_pixels} pixels in all")
        cfg = dataclasses.replace(self.ctx.cfg, max_total_pixels=self.left)
        return dataclasses.replace(self.ctx, cfg=cfg)

    def spend(self, data: bytes, kind: str) -> None:
        """Count a rebuilt picture (our own output: its header is trusted)."""
        with Image.open(io.BytesIO(data), formats=[images._FORMAT[kind]]) as im:
            self.left -= im.width * im.height * getattr(im, "n_frames", 1)


def _header_pixels(data: bytes, kind: str, ctx: Context) -> int:
    """Width x height from the header (Pillow reads no pixel for it); 0 when the
    header does not parse (the rebuild then replaces the picture)."""
    try:
        with images._pillow_guard(ctx.cfg.max_image_pixels):
            with Image.open(io.BytesIO(data), formats=[images._FORMAT[kind]]) as im:
                return im.width * im.height
    except Blocked as exc:
        if exc.reason == "limit_exceeded":
            raise
        return 0


@dataclass(frozen=True, slots=True)
class Picture:
    data: bytes
    kind: str  # of ``data``: jpeg png gif webp tiff svg
    removed: tuple[Removed, ...] = ()  # what the image engine took out
    replaced: str = ""  # why a blank placeholder stands in for the picture


def rebuild_picture(data: bytes, kind: str | None, budget: PixelBudget,
                    allowed: frozenset[str] = RASTER, size: tuple[int, int] | None = None,
                    ) -> Picture:
    """Rebuild one picture of sniffed ``kind`` (``"svg"`` when the document declares
    it; None when unrecognised) with the image engine, under ``budget``.

    A kind outside ``allowed``, a vector metafile, or a picture that does not decode
    gives a transparent placeholder PNG of ``size`` (else the metafile's own size) and
    says why in ``replaced``.  Over a limit: Blocked ``limit_exceeded``.
    """
    if kind == "svg":
        from sanitize.formats import text

        try:
            out = text.rebuild(data, "svg", budget.ctx)
            return Picture(out.data, "svg", out.removed)
        except Blocked as exc:
            if exc.reason == "limit_exceeded":
                raise
            return _replaced(size, f"SVG that does not parse ({exc.detail[:80]})")
    if kind in VECTOR:
        return _replaced(size or vector_size(data, kind),
                         f"{VECTOR_NAMES[kind]} vector picture")
    if kind is None or kind not in allowed:
        what = "unrecognised picture data" if kind is None else f"{kind} picture"
        return _replaced(size, f"{what}, not a format this document may hold")
    try:
        out = images.rebuild(data, kind, budget.context())
    except Blocked as exc:
        if exc.reason == "limit_exceeded":
            raise
        return _replaced(size, f"{kind} picture that does not decode ({exc.detail[:80]})")
    if out.kind not in allowed:
        return _replaced(size, f"{kind} picture, not a format this document may hold")
    budget.spend(out.data, out.kind)
    return Picture(out.data, out.kind, out.removed)


def _replaced(size: tuple[int, int] | None, why: str) -> Picture:
    return Picture(placeholder(*(size or (1, 1))), "png", replaced=why)


def summary(removed: Iterable[Removed]) -> str:
    """What the image engine removed, in one short line: ``EXIF (5 tag(s)), GPS
    position, comment, trailing data (15 byte(s) after IEND)``."""
    parts = []
    for r in removed:
        label = _LABELS.get(r.code, r.code)
        detail = r.detail if r.detail and r.detail != label else ""
        parts.append(f"{label} ({detail})" if detail else label)
    text = ", ".join(dict.fromkeys(parts))
    return text if len(text) <= _DETAIL_MAX else text[:_DETAIL_MAX - 1] + "…"
