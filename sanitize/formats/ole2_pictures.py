"""Pictures inside Word .doc, Excel .xls and PowerPoint .ppt: rebuilt in place (CDR.md
"Legacy Office").

The binary Office formats keep a picture as an OfficeArt BLIP record (MS-ODRAW 2.2.23
ff.): an 8-byte record header (version 0, an instance that says how many 16-byte ids
follow, the record type naming the format, the length), the ids, then for a raster
picture one tag byte and the file itself (JPEG, PNG, DIB, TIFF), for a metafile a
34-byte header and the compressed EMF, WMF or PICT.  Where they live:

* .doc: the ``Data`` stream (an inline picture: PICF, then a shape container whose
  BLIP store entry embeds the BLIP) and the main stream (floating pictures, at the
  offsets the ``1Table`` BLIP store names);
* .ppt: the ``Pictures`` stream (one BLIP after the other, at the offsets the
  PowerPoint Document's drawing group names), or embedded in that drawing group;
* .xls: the drawing group in the ``Workbook`` stream: an MSODRAWINGGROUP record and
  the CONTINUE records after it, whose bodies joined are one OfficeArt stream (a
  BLIP may run across the BIFF record headers).

Offsets into these streams are held all over the document (character properties,
BLIP store entries, BIFF offsets), so a picture is rebuilt **at the same size**:
each JPEG or PNG BLIP is rebuilt by the image engine (``images.rebuild``: pixels
only, no EXIF, GPS, XMP, comments, ICC profile or trailing bytes), re-encoded smaller
when it does not fit (JPEG at a lower quality, PNG at higher zlib levels), and written
over the old file data, the rest of the record zero-filled: every length field stays
as it was, and the zeros after the image's end (after JPEG's EOI, PNG's IEND) carry
nothing and are ignored by readers.  What cannot be rebuilt that way is blocked
``picture_not_rebuilt``, never passed: a picture that does not fit even re-encoded,
one that does not decode, PICT, DIB and TIFF BLIPs, and JPEG or PNG data found
outside any BLIP record this module understands.  EMF and WMF pictures (vector
metafiles: their parsers have a long exploit history, and nothing here draws them)
become a blank metafile, deflated into the same record, whose metafile header keeps
the picture's bounds and size: the document lays out as before, the picture empty,
as the OOXML and RTF paths put a blank placeholder where a metafile was.

``check`` is verify's half: it reads the output's streams again, finds the BLIPs the
same way and requires every one to be a JPEG or PNG with no metadata segment or
chunk and nothing but zeros after its end, or exactly the blank metafile.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image

from sanitize.formats import Context, images
from sanitize.formats import embedded_images as pictures
from sanitize.report import Blocked, Removed, VerifyFailed

# BLIP record type -> (format, the instances that record may have).  An odd instance
# means a second 16-byte id follows the first (MS-ODRAW 2.2.24 ff.).
BLIPS = {
    0xF01A: ("emf", frozenset({0x3D4, 0x3D5})),
    0xF01B: ("wmf", frozenset({0x216, 0x217})),
    0xF01C: ("pict", frozenset({0x542, 0x543})),
    0xF01D: ("jpeg", frozenset({0x46A, 0x46B, 0x6E2, 0x6E3})),
    0xF02A: ("jpeg", frozenset({0x46A, 0x46B, 0x6E2, 0x6E3})),  # CMYK JPEG
    0xF01E: ("png", frozenset({0x6E0, 0x6E1})),
    0xF01F: ("dib", frozenset({0x7A8, 0x7A9})),
    0xF029: ("tiff", frozenset({0x6E4, 0x6E5})),
}
RASTER_REBUILT = frozenset({"jpeg", "png"})
_METAFILES = frozenset({"emf", "wmf", "pict"})
_METAFILE_HEADER = 34  # OfficeArtMetafileHeader
_METAFILE_HEAD = struct.Struct("<I16s8sIBB")  # cbSize, rcBounds, ptSize, cbSave, compression, filter
# The blank metafiles an EMF or WMF picture becomes: a header and the end record,
# nothing drawn (MS-EMF EMR_HEADER + EMR_EOF; MS-WMF META_HEADER + META_EOF, the
# form OfficeArt stores, without the placeable header).
BLANK = {
    "emf": struct.pack("<II4i4iIIIIHHIII2i2i", 1, 88, 0, 0, 0, 0, 0, 0, 100, 100,
                       0x464D4520, 0x10000, 108, 2, 1, 0, 0, 0, 0, 1024, 768, 320, 240)
    + struct.pack("<IIIII", 14, 20, 0, 16, 20),
    "wmf": struct.pack("<HHHIHIH", 1, 9, 0x0300, 12, 0, 3, 0) + struct.pack("<IH", 3, 0),
}
_BLANK_PACKED = {k: zlib.compress(v, 9) for k, v in BLANK.items()}
_NAMES = {"emf": "EMF", "wmf": "WMF", "pict": "PICT", "dib": "DIB (bitmap)", "tiff": "TIFF",
          "jpeg": "JPEG", "png": "PNG"}
_SIGNATURES = {"jpeg": b"\xff\xd8\xff", "png": b"\x89PNG\r\n\x1a\n"}
# A JPEG start (SOI) counts as a picture only when a marker a JPEG starts with follows
# it: APPn, DQT, SOF0/1/2, DHT, COM.  Three bytes alone occur in other binary data.
_JPEG_NEXT = frozenset([*range(0xE0, 0xF0), 0xDB, 0xC0, 0xC1, 0xC2, 0xC4, 0xFE])
# Lower JPEG qualities tried, in order, when a rebuilt picture is larger than its record
# (PNG: zlib's default level, its highest, then Pillow's slow search for the smallest).
_FIT_QUALITIES = (85, 75, 60, 45, 30)
BIFF_MSODRAWINGGROUP, BIFF_CONTINUE = 0x00EB, 0x003C
XLS_MAIN = frozenset({"workbook", "book"})


@dataclass(frozen=True, slots=True)
class Blip:
    start: int  # of the record header, in the (logical) stream
    data_start: int  # of the picture file inside it
    end: int  # of the record
    kind: str  # jpeg png emf wmf pict dib tiff


def _looks_like(buf: bytes | bytearray, kind: str, at: int, end: int) -> bool:
    """Whether the data of a BLIP record of ``kind`` starts as that format does: a
    header look-alike in other data (text in the Symbol font is U+F0xx) is no BLIP.
    A real picture without its signature is nothing a reader decodes; picture data
    anywhere outside a BLIP is ``stray_pictures``'."""
    if kind in _METAFILES:  # OfficeArtMetafileHeader: compression 0 or 0xFE, filter 0xFE
        return at - 2 >= 0 and buf[at - 2] in (0x00, 0xFE) and buf[at - 1] == 0xFE
    head = bytes(buf[at:min(at + 8, end)])
    if kind == "dib":
        return len(head) >= 4 and int.from_bytes(head[:4], "little") in (12, 40, 52, 56, 64,
                                                                          108, 124)
    if kind == "tiff":
        return head[:4] in (b"II*\0", b"MM\0*")
    return head.startswith(_SIGNATURES[kind])


def find_blips(buf: bytes | bytearray) -> list[Blip]:
    """Every BLIP record of ``buf``: a header of the right version, instance and type
    whose length stays inside ``buf`` and whose data starts as its format does;
    records inside an earlier one's data (a header look-alike in a picture) are not
    counted."""
    found: list[Blip] = []
    size = len(buf)
    for rtype, (kind, instances) in BLIPS.items():
        needle = struct.pack("<H", rtype)
        i = buf.find(needle, 2)
        while i >= 0:
            start = i - 2
            ver_inst = buf[start] | buf[start + 1] << 8
            if ver_inst & 0xF == 0 and ver_inst >> 4 in instances and start + 8 <= size:
                length = struct.unpack_from("<I", buf, start + 4)[0]
                ids = 16 * (2 if ver_inst >> 4 & 1 else 1)
                data_start = start + 8 + ids + (_METAFILE_HEADER if kind in _METAFILES else 1)
                end = start + 8 + length
                if data_start <= end <= size and _looks_like(buf, kind, data_start, end):
                    found.append(Blip(start, data_start, end, kind))
            i = buf.find(needle, i + 1)
    found.sort(key=lambda b: b.start)
    out: list[Blip] = []
    for b in found:
        if out and b.start < out[-1].end:
            continue  # inside the previous record
        out.append(b)
    return out


def stray_pictures(buf: bytes | bytearray, blips: list[Blip]) -> list[tuple[int, str]]:
    """(offset, format) of JPEG or PNG data in ``buf`` that lies in no BLIP record."""
    out: list[tuple[int, str]] = []
    for kind, sig in _SIGNATURES.items():
        i = buf.find(sig)
        while i >= 0:
            real = kind != "jpeg" or (i + 3 < len(buf) and buf[i + 3] in _JPEG_NEXT)
            if real and not any(b.start <= i < b.end for b in blips):
                out.append((i, kind))
            i = buf.find(sig, i + 1)
    return out


# -- where the OfficeArt bytes are ---------------------------------------------------

def drawing_group(main: bytes) -> list[tuple[int, int]]:
    """(offset, length) of the bodies of an .xls Workbook stream's drawing group:
    each MSODRAWINGGROUP record and the CONTINUE records right after it, in order.
    Joined, they are one OfficeArt stream."""
    pieces: list[tuple[int, int]] = []
    if struct.pack("<H", BIFF_MSODRAWINGGROUP) not in main:
        return pieces  # no walk over every record of a workbook without drawings
    pos, end, in_group = 0, len(main), False
    while pos + 4 <= end:
        rtype, size = struct.unpack_from("<HH", main, pos)
        if pos + 4 + size > end:
            break  # the judge has refused such a stream already
        if rtype == BIFF_MSODRAWINGGROUP or (in_group and rtype == BIFF_CONTINUE):
            pieces.append((pos + 4, size))
            in_group = True
        else:
            in_group = False
        pos += 4 + size
    return pieces


class _View:
    """A stream as the OfficeArt reader sees it: the whole stream, or for an .xls
    Workbook its drawing group's bodies joined; ``put`` writes logical bytes back at
    their physical places."""

    def __init__(self, data: bytes, xls_main: bool) -> None:
        self.data = data
        self.pieces = drawing_group(data) if xls_main else [(0, len(data))]
        self.logical = b"".join(data[o:o + n] for o, n in self.pieces)

    def physical(self, at: int) -> int:
        for o, n in self.pieces:
            if at < n:
                return o + at
            at -= n
        return len(self.data)

    def put(self, out: bytearray, at: int, new: bytes) -> None:
        done = 0
        for o, n in self.pieces:
            if at >= n:
                at -= n
                continue
            take = min(n - at, len(new) - done)
            out[o + at:o + at + take] = new[done:done + take]
            done += take
            at = 0
            if done == len(new):
                return


def _stray_outside(view: _View, blips: list[Blip]) -> list[tuple[int, str]]:
    """Stray pictures of the whole physical stream: in the logical part, those outside
    BLIPs; elsewhere (an .xls stream outside its drawing group), all."""
    stray = [(view.physical(i), k) for i, k in stray_pictures(view.logical, blips)]
    if len(view.pieces) != 1 or view.pieces[0] != (0, len(view.data)):
        inside = [(o, o + n) for o, n in view.pieces]
        stray += [(i, k) for i, k in stray_pictures(view.data, [])
                  if not any(a <= i < b for a, b in inside)]
    return stray


# -- rebuild -----------------------------------------------------------------------------

def rebuild_streams(streams: Iterable[tuple[tuple[str, ...], bytes]], kind: str,
                    ctx: Context) -> tuple[dict[tuple[str, ...], bytes], list[Removed]]:
    """The streams (path, data) whose pictures were rewritten -> their new bytes, and
    what the rebuild removed.  Blocked ``picture_not_rebuilt`` (or ``limit_exceeded``)
    when a picture cannot be rebuilt in place."""
    found: list[tuple[tuple[str, ...], _View, list[Blip]]] = []
    for path, data in streams:
        view = _View(data, kind == "xls" and len(path) == 1 and path[0].lower() in XLS_MAIN)
        blips = find_blips(view.logical)
        where = "/".join(path)
        for blip in blips:
            if blip.kind not in RASTER_REBUILT and blip.kind not in BLANK:
                raise Blocked("picture_not_rebuilt",
                              f"{_NAMES[blip.kind]} picture in {where} at {view.physical(blip.start)}")
        stray = _stray_outside(view, blips)
        if stray:
            at, what = stray[0]
            raise Blocked("picture_not_rebuilt",
                          f"{_NAMES[what]} data outside any picture record in {where} at {at}")
        if blips:
            found.append((path, view, blips))
    if not found:
        return {}, []
    budget = pictures.PixelBudget(ctx)
    budget.precheck((bytes(v.logical[b.data_start:b.end]), b.kind)
                    for _, v, bs in found for b in bs)
    changed: dict[tuple[str, ...], bytes] = {}
    removed: list[Removed] = []
    done: dict[tuple[bytes, int], tuple[bytes, tuple[Removed, ...]]] = {}
    for path, view, blips in found:
        out = bytearray(view.data)
        where = "/".join(path)
        for blip in blips:
            if blip.kind in BLANK:
                removed.append(_blanked(view, out, blip, where))
                continue
            old = bytes(view.logical[blip.data_start:blip.end])
            key = (old, len(old))
            if key not in done:  # the same picture twice (a .doc repeats them) once
                done[key] = _rebuilt(old, blip.kind, budget, f"{where} at {view.physical(blip.start)}")
            new, what = done[key]
            view.put(out, blip.data_start, new + bytes(len(old) - len(new)))
            detail = f"{where} at {view.physical(blip.start)} ({_NAMES[blip.kind]})"
            removed.append(Removed("ole2.image_rebuilt",
                                   f"{detail}: {pictures.summary(what)}" if what else detail))
        changed[path] = bytes(out)
    return changed, removed


def _blanked(view: _View, out: bytearray, blip: Blip, where: str) -> Removed:
    """An EMF or WMF picture replaced by a blank metafile, deflated, in the same record:
    its metafile header keeps the picture's bounds and size (where the document shows
    it) and names the new lengths; the rest of the record is zero-filled."""
    at = view.physical(blip.start)
    packed = _BLANK_PACKED[blip.kind]
    room = blip.end - blip.data_start
    if len(packed) > room:
        raise Blocked("picture_not_rebuilt",
                      f"{_NAMES[blip.kind]} picture in {where} at {at}: too small to blank")
    head = blip.data_start - _METAFILE_HEADER
    _, bounds, size, _, _, _ = _METAFILE_HEAD.unpack(bytes(view.logical[head:blip.data_start]))
    new = _METAFILE_HEAD.pack(len(BLANK[blip.kind]), bounds, size, len(packed), 0, 0xFE)
    view.put(out, head, new + packed + bytes(room - len(packed)))
    return Removed("ole2.image_removed", f"{where} at {at} ({_NAMES[blip.kind]}): replaced by "
                   "a blank picture of the same size")


def _rebuilt(data: bytes, kind: str, budget: pictures.PixelBudget,
             where: str) -> tuple[bytes, tuple[Removed, ...]]:
    """The picture rebuilt by the image engine, no longer than ``data``."""
    sig = _SIGNATURES[kind]
    if not data.startswith(sig):
        raise Blocked("picture_not_rebuilt", f"{_NAMES[kind]} record in {where} holds no {_NAMES[kind]}")
    try:
        out = images.rebuild(data, kind, budget.context())
    except Blocked as exc:
        if exc.reason == "limit_exceeded":
            raise
        raise Blocked("picture_not_rebuilt",
                      f"{_NAMES[kind]} picture in {where} does not decode ({exc.detail[:80]})") from exc
    if out.kind != kind:
        raise Blocked("picture_not_rebuilt", f"{_NAMES[kind]} picture in {where} came out {out.kind}")
    budget.spend(out.data, out.kind)
    new = out.data if len(out.data) <= len(data) else _smaller(out.data, kind, len(data))
    if new is None:
        raise Blocked("picture_not_rebuilt",
                      f"{_NAMES[kind]} picture in {where}: rebuilt, it does not fit its "
                      f"{len(data)} bytes")
    return new, out.removed


def _smaller(data: bytes, kind: str, room: int) -> bytes | None:
    """Our own rebuilt picture written again to fit ``room`` bytes, or None."""
    with Image.open(io.BytesIO(data), formats=[images._FORMAT[kind]]) as im:
        im.load()
        tries: list[dict[str, object]] = (
            [{"quality": q, "optimize": True} for q in _FIT_QUALITIES] if kind == "jpeg"
            else [{"compress_level": 6}, {"compress_level": 9}, {"optimize": True}])
        for params in tries:
            buf = io.BytesIO()
            im.save(buf, images._FORMAT[kind], **params)
            if buf.tell() <= room:
                return buf.getvalue()
    return None


# -- verify ------------------------------------------------------------------------------

# JPEG markers a rebuilt picture may hold before its scan: JFIF (APP0), Adobe (APP14,
# for CMYK), tables, frame, restart interval.  APP1 (EXIF, XMP), APP2 (ICC), APP13
# (IPTC), COM and the rest are metadata.
_JPEG_KEPT = frozenset([0xE0, 0xEE, 0xDB, 0xC4, 0xDD, *range(0xC0, 0xC4), *range(0xC5, 0xC8),
                        *range(0xC9, 0xCC), *range(0xCD, 0xD0)])
_PNG_KEPT = frozenset({b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"pHYs", b"gAMA",
                       b"sRGB", b"acTL", b"fcTL", b"fdAT"})


def check(streams: Iterable[tuple[tuple[str, ...], bytes]], kind: str) -> None:
    """VerifyFailed unless every picture of the output is a rebuilt JPEG or PNG."""
    for path, data in streams:
        view = _View(data, kind == "xls" and len(path) == 1 and path[0].lower() in XLS_MAIN)
        blips = find_blips(view.logical)
        where = "/".join(path)
        if _stray_outside(view, blips):
            raise VerifyFailed(f"picture data outside a picture record in {where}")
        for blip in blips:
            body = bytes(view.logical[blip.data_start:blip.end])
            why = (_jpeg_problem(body) if blip.kind == "jpeg" else
                   _png_problem(body) if blip.kind == "png" else
                   _metafile_problem(view.logical, blip) if blip.kind in BLANK
                   else f"{_NAMES[blip.kind]} picture")
            if why:
                raise VerifyFailed(f"{where} at {view.physical(blip.start)}: {why}")


def _metafile_problem(buf: bytes, blip: Blip) -> str | None:
    """None when the metafile is exactly the blank one, deflated, then zeros."""
    head = blip.data_start - _METAFILE_HEADER
    cb_size, _, _, cb_save, compression, _ = _METAFILE_HEAD.unpack(buf[head:blip.data_start])
    body = buf[blip.data_start:blip.end]
    blank = BLANK[blip.kind]
    if compression != 0 or cb_size != len(blank) or cb_save > len(body) or body[cb_save:].strip(b"\0"):
        return f"{_NAMES[blip.kind]} picture that is not the blank one"
    try:
        inflated = zlib.decompressobj().decompress(body[:cb_save], len(blank) + 1)
    except zlib.error:
        inflated = b""
    return None if inflated == blank else f"{_NAMES[blip.kind]} picture that is not the blank one"


def _jpeg_problem(body: bytes) -> str | None:
    if not body.startswith(b"\xff\xd8"):
        return "JPEG record without a JPEG"
    pos = 2
    while pos + 4 <= len(body):
        if body[pos] != 0xFF:
            return "JPEG segments do not parse"
        marker = body[pos + 1]
        if marker == 0xDA:  # start of scan: the entropy-coded data runs to EOI
            eoi = body.rfind(b"\xff\xd9")
            if eoi < pos or body[eoi + 2:].strip(b"\0"):
                return "bytes after the JPEG's end"
            return None
        if marker not in _JPEG_KEPT:
            return f"JPEG metadata segment {marker:#04x}"
        pos += 2 + struct.unpack_from(">H", body, pos + 2)[0]
    return "JPEG without a scan"


def _png_problem(body: bytes) -> str | None:
    pos = 8
    while pos + 8 <= len(body):
        size, ctype = struct.unpack_from(">I4s", body, pos)
        if ctype not in _PNG_KEPT:
            return f"PNG chunk {ctype.decode('latin-1')!r}"
        pos += 12 + size
        if ctype == b"IEND":
            return "bytes after the PNG's end" if body[pos:].strip(b"\0") else None
    return "PNG without IEND"
