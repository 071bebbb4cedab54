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
one that does not decode, PICT and TIFF BLIPs, and JPEG or PNG data found outside
any BLIP record this module understands.  A DIB (a Windows bitmap without its file
header) goes through the image engine as a BMP file and is written again as a plain
DIB (40-byte header, uncompressed rows), which fits where the original was not
compressed.  EMF and WMF pictures (vector
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
from collections.abc import Iterable, Iterator
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
RASTER_REBUILT = frozenset({"jpeg", "png", "dib"})
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
_NAMES = {"emf": "EMF", "wmf": "WMF", "pict": "PICT", "dib": "DIB", "tiff": "TIFF",
          "jpeg": "JPEG", "png": "PNG"}
_SIGNATURES = {"jpeg": b"\xff\xd8\xff", "png": b"\x89PNG\r\n\x1a\n"}
# A JPEG start (SOI) counts as a picture only when a marker a JPEG starts with follows
# it: APPn, DQT, SOF0/1/2, DHT, COM.  Three bytes alone occur in other binary data.
_JPEG_NEXT = frozenset([*range(0xE0, 0xF0), 0xDB, 0xC0, 0xC1, 0xC2, 0xC4, 0xFE])
# Lower JPEG qualities tried, in order, when a rebuilt picture is larger than its record
# (PNG, first written at zlib's default level: its highest, then Pillow's slow search
# for the smallest).
_FIT_QUALITIES = (85, 75, 60, 45, 30)
_PNG_LEVEL = 6
BIFF_MSODRAWINGGROUP, BIFF_CONTINUE, BIFF_EOF = 0x00EB, 0x003C, 0x000A
_BIFF_HEAD = struct.Struct("<HH")
XLS_MAIN = frozenset({"workbook", "book"})


@dataclass(frozen=True, slots=True)
class Blip:
    start: int  # of the record header, in the (logical) stream
    data_start: int  # of the picture file inside it
    end: int  # of the record
    kind: str  # jpeg png emf wmf pict dib tiff
    understood: bool = True  # its data starts as its format does (_looks_like)


def _looks_like(buf: bytes | bytearray, kind: str, at: int, end: int) -> bool:
    """Whether the data of a BLIP record of ``kind`` starts as that format does.  A
    record that does not is not understood, and blocks the document: a reader may
    decode it all the same (a header look-alike in other data would need the right
    type, instance and a length inside the stream: U+46A0 U+F01D then a NUL, say)."""
    if kind in _METAFILES:  # OfficeArtMetafileHeader: compression 0 or 0xFE, filter 0xFE
        return at - 2 >= 0 and buf[at - 2] in (0x00, 0xFE) and buf[at - 1] == 0xFE
    head = bytes(buf[at:min(at + 8, end)])
    if kind == "dib":
        return len(head) >= 4 and int.from_bytes(head[:4], "little") in (12, 40, 52, 56, 64,
                                                                          108, 124)
    if kind == "tiff":
        return head[:4] in (b"II*\0", b"MM\0*")
    return head.startswith(_SIGNATURES[kind])


# Every BLIP record type is 0xF0xx: the search finds each 0xF0 byte (memchr), and a
# header is looked at in Python only where the byte before it is a BLIP type's low
# byte.  (A find per header, or per type, was several times slower in Word text.)
_BY_LOW = {rtype & 0xFF: (kind, instances) for rtype, (kind, instances) in BLIPS.items()}
assert all(rtype >> 8 == 0xF0 for rtype in BLIPS)


def find_blips(buf: bytes | bytearray) -> list[Blip]:
    """Every BLIP record of ``buf``: a header of the right version, instance and type
    whose length stays inside ``buf`` and whose data starts as its format does;
    records inside an earlier one's data (a header look-alike in a picture) are not
    counted."""
    found: list[Blip] = []
    size, low = len(buf), _BY_LOW
    for i in _occurrences(buf, b"\xf0", 0):
        entry = low.get(buf[i - 1]) if i >= 3 else None
        if entry is not None and i + 5 <= size:
            start = i - 3
            ver_inst = buf[start] | buf[start + 1] << 8
            kind, instances = entry
            if ver_inst & 0xF == 0 and ver_inst >> 4 in instances:
                end = start + 8 + struct.unpack_from("<I", buf, start + 4)[0]
                ids = 16 * (2 if ver_inst >> 4 & 1 else 1)
                data_start = start + 8 + ids + (_METAFILE_HEADER if kind in _METAFILES else 1)
                if data_start <= end <= size:
                    found.append(Blip(start, data_start, end, kind,
                                      _looks_like(buf, kind, data_start, end)))
    out: list[Blip] = []
    for b in found:  # in order of their start already
        if out and b.start < out[-1].end:
            continue  # inside the previous record
        out.append(b)
    return out


def _occurrences(buf: bytes | bytearray, sig: bytes, anchor: int) -> Iterator[int]:
    """Where ``sig`` starts in ``buf``, found by memchr on its byte at ``anchor`` (one
    that is rare in documents): ``bytes.find`` of the whole signature ran at ~200 MB/s
    on a workbook's numbers, a tenth of memchr.  Where that byte is common, the rest
    is left to ``bytes.find``."""
    byte = sig[anchor:anchor + 1]
    i, hits = buf.find(byte, anchor), 0
    while i >= 0:
        start = i - anchor
        if buf[start:start + len(sig)] == sig:
            yield start
        hits += 1
        if hits > 4096:
            j = buf.find(sig, start + 1)
            while j >= 0:
                yield j
                j = buf.find(sig, j + 1)
            return
        i = buf.find(byte, i + 1)


def stray_pictures(buf: bytes | bytearray, blips: list[Blip]) -> list[tuple[int, str]]:
    """(offset, format) of JPEG or PNG data in ``buf`` that lies in no BLIP record."""
    out: list[tuple[int, str]] = []
    for kind, sig in _SIGNATURES.items():
        # Anchors: JPEG's first 0xFF, PNG's 0x1A — neither is in Word's UTF-16 text
        # nor common in a workbook's records (0xD8 and 0x89 are, in kanji).
        for i in _occurrences(buf, sig, 0 if kind == "jpeg" else 6):
            real = kind != "jpeg" or (i + 3 < len(buf) and buf[i + 3] in _JPEG_NEXT)
            if real and not any(b.start <= i < b.end for b in blips):
                out.append((i, kind))
    return out


# -- where the OfficeArt bytes are ---------------------------------------------------

def drawing_group(main: bytes) -> list[tuple[int, int]]:
    """(offset, length) of the bodies of an .xls Workbook stream's drawing group:
    each MSODRAWINGGROUP record and the CONTINUE records right after it, in order.
    Joined, they are one OfficeArt stream.  The drawing group belongs to the
    workbook globals (MS-XLS 2.1.7.20.1), so the walk ends at their EOF: the sheets,
    most of a workbook's records, are not walked (JPEG or PNG data there is
    ``stray_pictures``', found without a walk)."""
    pieces: list[tuple[int, int]] = []
    head, pos, end, in_group = _BIFF_HEAD.unpack_from, 0, len(main), False
    while pos + 4 <= end:
        rtype, size = head(main, pos)
        if rtype == BIFF_EOF or pos + 4 + size > end:
            break  # the judge has refused a record that runs past the stream
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
        self.data, self.xls_main = data, xls_main
        self.pieces = drawing_group(data) if xls_main else [(0, len(data))]
        self.logical = data if not xls_main else b"".join(data[o:o + n] for o, n in self.pieces)

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


# Excel's pictures outside the drawing group: a sheet's background (BkHim, 0x00E9:
# cf 0x09 bitmap or 0x0E native, two reserved zero bytes, then lcb) and the older
# IMDATA (0x007F: cf 0x02 metafile, 0x09 bitmap or 0x0E native, env 1 or 2, lcb).
# Not rebuilt: blocked.  Found without walking every record (a workbook's records
# are most of it): the record type's low byte by memchr, then its header's fields.
_SHEET_HEAD = struct.Struct("<HHHI")  # record size, cf, env (or reserved), lcb
_SHEET_PICTURES = {0xE9: ("sheet background picture (BITMAP record)", (0x09, 0x0E), (0,)),
                   0x7F: ("picture (IMDATA record)", (0x02, 0x09, 0x0E), (1, 2))}


def _sheet_picture(main: bytes) -> str | None:
    last = len(main) - 12
    head = _SHEET_HEAD.unpack_from
    for low, (what, formats, envs) in _SHEET_PICTURES.items():
        byte = bytes([low])
        i = main.find(byte)
        while 0 <= i <= last:  # a loop of its own: a generator's step per hit cost double
            if main[i + 1] == 0:
                size, cf, env, lcb = head(main, i + 2)
                if size >= 8 and cf in formats and env in envs and 0 < lcb <= len(main):
                    return f"Excel {what} at {i}"
            i = main.find(byte, i + 1)
    return None


def _stray_outside(view: _View, blips: list[Blip]) -> list[tuple[int, str]]:
    """Stray pictures (outside BLIPs) of the stream as OfficeArt sees it.  For an .xls
    Workbook that is its drawing group only: Excel decodes no JPEG or PNG elsewhere in
    it (cells, strings and formulas are not pictures), and scanning a workbook's every
    record cost more than the rest of its disarm."""
    return [(view.physical(i), k) for i, k in stray_pictures(view.logical, blips)]


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
            if not blip.understood:
                raise Blocked("picture_not_rebuilt",
                              f"{_NAMES[blip.kind]} picture record in {where} at "
                              f"{view.physical(blip.start)} that holds no {_NAMES[blip.kind]}")
            if blip.kind not in RASTER_REBUILT and blip.kind not in BLANK:  # PICT, TIFF
                raise Blocked("picture_not_rebuilt",
                              f"{_NAMES[blip.kind]} picture in {where} at {view.physical(blip.start)}")
        stray = _stray_outside(view, blips)
        if stray:
            at, what = stray[0]
            raise Blocked("picture_not_rebuilt",
                          f"{_NAMES[what]} data outside any picture record in {where} at {at}")
        sheet_picture = _sheet_picture(data) if view.xls_main else None
        if sheet_picture:
            raise Blocked("picture_not_rebuilt", f"{sheet_picture} in {where}")
        if blips:
            found.append((path, view, blips))
    if not found:
        return {}, []
    budget = pictures.PixelBudget(ctx)
    budget.precheck(_as_image(bytes(v.logical[b.data_start:b.end]), b.kind)
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
            if what:  # rebuilt either way; reported when it carried something (as OOXML)
                removed.append(Removed("ole2.image_rebuilt", f"{where} at "
                                       f"{view.physical(blip.start)} ({_NAMES[blip.kind]}): "
                                       f"{pictures.summary(what)}"))
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


def _as_image(data: bytes, kind: str) -> tuple[bytes, str]:
    """(a file the image engine reads, its kind): a DIB becomes a BMP file."""
    if kind != "dib":
        return data, kind
    try:
        return _dib_to_bmp(data), "bmp"
    except (struct.error, ValueError):
        return data, "dib"  # not counted ahead; its rebuild refuses it


def _dib_to_bmp(dib: bytes) -> bytes:
    """A BMP file of a packed DIB (BITMAPINFOHEADER or a later one, or the OS/2 core
    header; the colour masks and the palette before the pixels): the file header's
    pixel offset is the only thing to compute."""
    size = struct.unpack_from("<I", dib, 0)[0]
    if size == 12:
        bits, colours, entry, masks = struct.unpack_from("<H", dib, 10)[0], 0, 3, 0
    elif size in (40, 52, 56, 64, 108, 124):
        bits, compression = struct.unpack_from("<HI", dib, 14)
        colours, entry = struct.unpack_from("<I", dib, 32)[0], 4
        masks = 12 if size == 40 and compression in (3, 6) else 0
    else:
        raise ValueError(f"DIB header of {size} bytes")
    if bits <= 8:
        colours = colours or 1 << bits
    if colours > 1 << 16:
        raise ValueError("DIB palette too large")
    offset = 14 + size + masks + colours * entry
    return b"BM" + struct.pack("<IHHI", 14 + len(dib), 0, 0, offset) + dib


def _rebuilt(data: bytes, kind: str, budget: pictures.PixelBudget,
             where: str) -> tuple[bytes, tuple[Removed, ...]]:
    """The picture rebuilt by the image engine, no longer than ``data``."""
    if kind == "dib":
        return _rebuilt_dib(data, budget, where)
    sig = _SIGNATURES[kind]
    if not data.startswith(sig):
        raise Blocked("picture_not_rebuilt", f"{_NAMES[kind]} record in {where} holds no {_NAMES[kind]}")
    try:
        # PNG straight at zlib's default level: Office writes its PNGs so, and the
        # image engine's level 1 nearly never fits (then a second encode).  JPEG with
        # its own Huffman tables: the standard ones made an optimised original 60 %
        # larger, and so cost quality to fit.
        out = images.rebuild(data, kind, budget.context(), png_level=_PNG_LEVEL,
                             jpeg_optimize=True)
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


def _rebuilt_dib(data: bytes, budget: pictures.PixelBudget,
                 where: str) -> tuple[bytes, tuple[Removed, ...]]:
    """A DIB rebuilt through the image engine (as a BMP file, which comes out PNG) and
    written again as a plain DIB: a 40-byte header, uncompressed rows (Pillow's BMP
    writer: 1, 8, 24 or 32 bits a pixel).  One that grows (RLE-compressed, 4 or 16
    bits a pixel) does not fit its record."""
    try:
        # The PNG is only a way through: stored, not compressed.
        out = images.rebuild(_dib_to_bmp(data), "bmp", budget.context(), png_level=0)
    except (struct.error, ValueError) as exc:
        raise Blocked("picture_not_rebuilt", f"DIB picture in {where}: {exc}") from exc
    except Blocked as exc:
        if exc.reason == "limit_exceeded":
            raise
        raise Blocked("picture_not_rebuilt",
                      f"DIB picture in {where} does not decode ({exc.detail[:80]})") from exc
    budget.spend(out.data, out.kind)
    with Image.open(io.BytesIO(out.data), formats=[images._FORMAT[out.kind]]) as im:
        im.load()
        if im.mode not in ("1", "L", "P", "RGB", "RGBA"):
            im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
        buf = io.BytesIO()
        im.save(buf, "BMP")
    new = buf.getvalue()[14:]
    if len(new) > len(data):
        raise Blocked("picture_not_rebuilt", f"DIB picture in {where}: rebuilt, it does not "
                      f"fit its {len(data)} bytes")
    return new, (*out.removed, *_dib_trailer(data))


def _dib_trailer(dib: bytes) -> tuple[Removed, ...]:
    """What follows an uncompressed DIB's rows (BMP has no end marker, so the image
    engine cannot tell): reported, as after a JPEG's or PNG's end."""
    try:
        size, width, height, _, bits, compression = struct.unpack_from("<IiiHHI", dib, 0)
        colours = struct.unpack_from("<I", dib, 32)[0] or (1 << bits if bits <= 8 else 0)
    except struct.error:
        return ()
    if size != 40 or compression != 0 or width <= 0 or bits not in (1, 4, 8, 16, 24, 32):
        return ()
    end = 40 + 4 * colours + ((width * bits + 31) // 32) * 4 * abs(height)
    extra = len(dib) - end
    return (Removed("image.trailing_data", f"{extra} byte(s) after the pixels"),) if extra > 0 else ()


def _smaller(data: bytes, kind: str, room: int) -> bytes | None:
    """Our own rebuilt picture written again to fit ``room`` bytes, or None."""
    with Image.open(io.BytesIO(data), formats=[images._FORMAT[kind]]) as im:
        im.load()
        tries: list[dict[str, object]] = (
            [{"quality": q, "optimize": True} for q in _FIT_QUALITIES] if kind == "jpeg"
            else [{"compress_level": 9}, {"optimize": True}])
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
        # The sheets' pictures are not looked for again: the rebuild refused them, and
        # rewrites nothing outside the drawing group (the main stream it wrote is
        # compared with the output's, byte for byte).
        for blip in blips:
            body = bytes(view.logical[blip.data_start:blip.end])
            why = ("a picture record that holds something else" if not blip.understood else
                   _jpeg_problem(body) if blip.kind == "jpeg" else
                   _png_problem(body) if blip.kind == "png" else
                   _dib_problem(body) if blip.kind == "dib" else
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


def _dib_problem(body: bytes) -> str | None:
    """None for a DIB as the rebuild writes it: a 40-byte header, no compression, the
    palette and rows it declares, then zeros."""
    if len(body) < 40:
        return "DIB shorter than its header"
    size, width, height, _, bits, compression = struct.unpack_from("<IiiHHI", body, 0)
    colours = struct.unpack_from("<I", body, 32)[0] or (1 << bits if bits <= 8 else 0)
    if size != 40 or compression != 0 or bits not in (1, 8, 24, 32) or width <= 0:
        return "DIB not as the rebuild writes it"
    end = 40 + 4 * colours + ((width * bits + 31) // 32) * 4 * abs(height)
    return "bytes after the DIB's pixels" if body[end:].strip(b"\0") else None


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
