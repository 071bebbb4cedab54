"""Verify's look at a rebuilt PDF's images and font programs (the second look of
CDR.md "PDF"; it shares no code with ``pdf_images`` and ``pdf_fonts``).

What the rebuild writes, and so all this accepts:

* image streams (``/Subtype /Image``, or sized like one) with no filter, ``/FlateDecode``
  or ``/DCTDecode`` and no ``/DecodeParms``; raw samples exactly ``Height`` rows long;
  a JPEG of tables, one frame, a JFIF header without thumbnail (or Adobe's colour
  marker), its scans and an end marker that ends the stream; no image key outside
  those that describe the pixels;
* no stream anywhere filtered with ``JBIG2Decode``, ``JPXDecode`` or ``CCITTFaxDecode``;
* inline images (in content verify can read without inflating it) ASCII-hex encoded,
  of raw samples of the right length or such a JPEG;
* every ``/FontFile2`` and ``/FontFile3`` program parsed again with fontTools: no
  ``fpgm``, ``prep``, ``cvt `` or ``cvar`` table, no glyph with instructions (read from
  the glyphs' own bytes), no CFF hint operator in a charstring or subroutine; no
  ``/FontFile`` (Type 1) at all.
"""

from __future__ import annotations

import io
import re
import struct
from typing import TYPE_CHECKING

import pikepdf
from pikepdf import Array, Name, Stream

from sanitize.formats import pdf_fonts
from sanitize.report import VerifyFailed

if TYPE_CHECKING:
    from fontTools.cffLib import CFFFontSet
    from fontTools.ttLib import TTFont

_OK_IMAGE_KEYS = frozenset({"/Type", "/Subtype", "/Width", "/Height", "/ColorSpace",
                            "/BitsPerComponent", "/Intent", "/ImageMask", "/Mask", "/Decode",
                            "/Interpolate", "/SMask", "/Matte", "/StructParent", "/OC", "/Name",
                            "/Length", "/Filter"})
# Any of these in the output's bytes sends verify through every stream.  qpdf writes
# names in canonical form and every dictionary as text (no object streams, or the
# names are found in their stream's name "/ObjStm"): none can hide from this search.
_MEDIA_NAMES = re.compile(rb"/(?:Image|Width|FontFile[23]?|JBIG2Decode|JPXDecode|CCITTFaxDecode"
                          rb"|DCTDecode|ObjStm)(?![A-Za-z0-9])")
_NEVER = frozenset({b"/JBIG2Decode", b"/JPXDecode", b"/CCITTFaxDecode"})
_FONT_REF = re.compile(rb"/FontFile([23]?)(?![A-Za-z0-9])\s*(?:(\d+)\s+(\d+)\s+R)?")
# The same, or "/ObjStm" (group 4): one pass over the output finds both, where a
# "/ObjStm" test of its own cost a second pass (~0.6 ms per MB: ~55 ms of a 90 MB scan).
_FONT_REF_OR_OBJSTM = re.compile(rb"/FontFile([23]?)(?![A-Za-z0-9])\s*(?:(\d+)\s+(\d+)\s+R)?"
                                 rb"|/(ObjStm)")
_HINT_TABLES = ("fpgm", "prep", "cvt ", "cvar")
_HINT_OPS = frozenset({"hstem", "vstem", "hstemhm", "vstemhm", "hintmask", "cntrmask"})
_SPACE_OR_DELIMITER = b"\x00\t\n\x0c\r ()<>[]{}/%"
# "BI" with a space or delimiter (or the end) on each side; found by its first byte.
_INLINE = re.compile(rb"BI(?:[\x00\t\n\x0c\r ()<>\[\]{}/%]|\Z)")
_N = {b"/DeviceGray": 1, b"/CalGray": 1, b"/DeviceRGB": 3, b"/CalRGB": 3, b"/Lab": 3,
      b"/DeviceCMYK": 4, b"/G": 1, b"/RGB": 3, b"/CMYK": 4}


def check_media(pdf: pikepdf.Pdf, data: bytes) -> None:
    """Raise VerifyFailed for an image, inline image or font program the rebuild
    would not have written."""
    if not _MEDIA_NAMES.search(data) and not _inline_operator(data):
        return  # no image, font program, image filter or inline image anywhere
    fonts: set[tuple[int, int]] = set()
    # qpdf writes every dictionary as text, outside object streams (the rebuild writes
    # none): a font reference cannot hide from this scan, except in one.  Any
    # "/ObjStm" in the bytes (as a test of its own would find it) sends the scan to
    # every object's dictionary, unparsed, instead.
    refs = list(_FONT_REF_OR_OBJSTM.finditer(data))
    if any(m.group(4) for m in refs):
        text = b"\n".join(
            (o.stream_dict if isinstance(o, Stream) else o).unparse(resolved=True)
            for o in pdf.objects if isinstance(o, (pikepdf.Dictionary, Stream, Array)))
        refs = list(_FONT_REF.finditer(text))
    for m in refs:
        if not m.group(1):
            raise VerifyFailed("a Type 1 font program (/FontFile) remains")
        if m.group(2) is None:
            raise VerifyFailed("a font program that is not a reference")
        og = (int(m.group(2)), int(m.group(3)))
        if og not in fonts:
            fonts.add(og)
            _font(pdf.get_object(og), m.group(1))
    for obj in pdf.objects:
        if not isinstance(obj, Stream) or obj.objgen in fonts:
            continue
        keys = obj.keys()  # a missing key is tested with "in": get() of one is slow
        chain = _chain(obj["/Filter"]) if "/Filter" in keys else []
        if not _NEVER.isdisjoint(chain):
            raise VerifyFailed(f"{sorted(_NEVER & set(chain))[0]!r} stream remains ({obj.objgen})")
        sub = obj["/Subtype"] if "/Subtype" in keys else None
        if (isinstance(sub, Name) and sub == Name.Image) or ("/Width" in keys and "/Height" in keys):
            _image(obj, keys, chain)
        elif b"/DCTDecode" in chain:
            raise VerifyFailed(f"a JPEG that is not an image ({obj.objgen})")
        elif chain == [] and _inline_operator(obj.read_raw_bytes()):
            # Compressed content is not inflated here (that would double the cost of a
            # text PDF): inline images are checked where they sit uncompressed.
            _inline_images(obj)


def _inline_operator(body: bytes) -> bool:
    for m in _INLINE.finditer(body):
        if m.start() == 0 or body[m.start() - 1] in _SPACE_OR_DELIMITER:
            return True
    return False


def _chain(f: object) -> list[bytes]:
    if isinstance(f, Array):
        return [x.unparse() if isinstance(x, Name) else b"?" for x in f]
    return [f.unparse()] if isinstance(f, Name) else ([] if f is None else [b"?"])


def _components(cs: object) -> int:
    if isinstance(cs, Name):
        n = _N.get(cs.unparse())
        if n is None:
            raise VerifyFailed(f"image colour space {cs.unparse()!r}")
        return n
    if isinstance(cs, Array) and len(cs) >= 2 and isinstance(cs[0], Name):
        family = cs[0].unparse()
        if family in (b"/Indexed", b"/I", b"/Separation"):
            return 1
        if family == b"/DeviceN" and isinstance(cs[1], Array):
            return len(cs[1])
        if family == b"/ICCBased" and isinstance(cs[1], Stream) and cs[1].get("/N") in (1, 3, 4):
            return int(cs[1].N)
        if family in (b"/CalGray", b"/CalRGB", b"/Lab"):
            return _N.get(b"/DeviceGray" if family == b"/CalGray" else b"/DeviceRGB", 3)
    raise VerifyFailed("image colour space that does not resolve")


def _sample_bytes(width: object, height: object, bpc: object, comps: int) -> int:
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (width, height, bpc)):
        raise VerifyFailed("image without a valid size")
    return height * ((width * comps * bpc + 7) // 8)  # type: ignore[operator]


def _image(s: Stream, keys: set[str], chain: list[bytes]) -> None:
    extra = keys - _OK_IMAGE_KEYS
    if extra:
        raise VerifyFailed(f"image key {sorted(extra)[0]} remains ({s.objgen})")
    if chain not in ([], [b"/FlateDecode"], [b"/DCTDecode"]):
        raise VerifyFailed(f"image filter {chain!r} ({s.objgen})")
    if chain == [b"/DCTDecode"]:
        _jpeg(s.read_raw_bytes(), str(s.objgen))
        return
    mask = s.get("/ImageMask") is True
    size = _sample_bytes(s.get("/Width"), s.get("/Height"),
                         1 if mask else s.get("/BitsPerComponent"),
                         1 if mask else _components(s.get("/ColorSpace")))
    got = len(s.read_bytes())
    if got != size:
        raise VerifyFailed(f"image data of {got} bytes, {size} expected ({s.objgen})")


# Markers a rebuilt JPEG holds before its first scan: tables, frame headers, restart
# interval, JFIF and Adobe's colour marker.
_JPEG_HEAD = frozenset({0xC0, 0xC1, 0xC2, 0xC4, 0xDB, 0xDD, 0xE0, 0xEE})
# In entropy-coded data 0xFF is followed by 0x00 (stuffing) or RSTn; anything else
# is the next marker (of fill bytes before it, the last; "\xff+" would cost 20x).
_MARKER = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")
# Between scans: tables, restart interval, another scan (progressive); then the end.
_JPEG_BETWEEN = frozenset({0xC4, 0xDB, 0xDD, 0xDA})


def _jpeg(data: bytes, where: str) -> None:
    if not data.startswith(b"\xff\xd8"):
        raise VerifyFailed(f"image JPEG without SOI ({where})")
    pos = 2
    scanning = False
    while True:
        if pos + 2 > len(data) or data[pos] != 0xFF:
            raise VerifyFailed(f"image JPEG damaged at {pos} ({where})")
        marker = data[pos + 1]
        if marker == 0xD9:
            if pos + 2 != len(data):
                raise VerifyFailed(f"{len(data) - pos - 2} byte(s) after an image JPEG ({where})")
            return
        if pos + 4 > len(data):
            raise VerifyFailed(f"image JPEG truncated ({where})")
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        body = data[pos + 4:pos + 2 + length]
        allowed = _JPEG_BETWEEN if scanning else _JPEG_HEAD | {0xDA}
        if marker not in allowed:
            raise VerifyFailed(f"image JPEG segment 0x{marker:02X} ({where})")
        if marker == 0xE0 and not (body.startswith(b"JFIF\x00") and length == 16):
            raise VerifyFailed(f"image JPEG APP0 that is not a bare JFIF header ({where})")
        if marker == 0xEE and not (body.startswith(b"Adobe") and length == 14):
            raise VerifyFailed(f"image JPEG APP14 that is not Adobe's colour marker ({where})")
        pos += 2 + length
        if marker == 0xDA:  # entropy-coded data: to the next marker other than RSTn
            scanning = True
            found = _MARKER.search(data, pos)
            if found is None:
                raise VerifyFailed(f"image JPEG without an end marker ({where})")
            pos = found.start()


def _inline_images(s: Stream) -> None:
    try:
        instructions = pikepdf.parse_content_stream(s)
    except pikepdf.PdfError as exc:
        raise VerifyFailed(f"content with an inline image does not parse ({s.objgen})") from exc
    for instr in instructions:
        if not isinstance(instr, pikepdf.ContentStreamInlineImage):
            continue
        tokens = list(instr.iimage._image_object)
        d = {k.unparse(): v for k, v in zip(tokens[::2], tokens[1::2], strict=False) if isinstance(k, Name)}
        raw = instr.iimage._data._inline_image_raw_bytes().strip()
        chain = _chain(d.get(b"/Filter", d.get(b"/F")))
        if not raw.endswith(b">") or chain not in ([b"/ASCIIHexDecode"], [b"/ASCIIHexDecode", b"/DCTDecode"]):
            raise VerifyFailed(f"inline image not written by the rebuild ({s.objgen})")
        try:
            body = bytes.fromhex(raw[:-1].decode("ascii"))
        except ValueError as exc:
            raise VerifyFailed(f"inline image data is not plain hex ({s.objgen})") from exc
        if chain[-1] == b"/DCTDecode":
            _jpeg(body, f"inline image in {s.objgen}")
            continue
        mask = d.get(b"/ImageMask", d.get(b"/IM")) is True
        size = _sample_bytes(d.get(b"/Width", d.get(b"/W")), d.get(b"/Height", d.get(b"/H")),
                             1 if mask else d.get(b"/BitsPerComponent", d.get(b"/BPC")),
                             1 if mask else _components(d.get(b"/ColorSpace", d.get(b"/CS"))))
        if len(body) != size:
            raise VerifyFailed(f"inline image of {len(body)} bytes, {size} expected ({s.objgen})")


def _font(program: object, kind: bytes) -> None:
    if not isinstance(program, Stream):
        raise VerifyFailed("a font program that is not a stream")
    data = program.read_bytes()
    sub = program.get("/Subtype")
    sub_name = sub.unparse() if isinstance(sub, Name) else b""
    try:
        if kind == b"3" and sub_name in (b"/Type1C", b"/CIDFontType0C"):
            cff_font_set, tt_font = pdf_fonts.load()  # fontTools may be imported late
            cff = cff_font_set()
            cff.decompile(io.BytesIO(data), tt_font())
            _cff_unhinted(cff)
        elif kind == b"2" or sub_name == b"/OpenType":
            _sfnt_unhinted(data, allow_cff=kind == b"3")
        else:
            raise VerifyFailed(f"font program of subtype {sub_name!r}")
    except VerifyFailed:
        raise
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:  # noqa: BLE001 - what fontTools cannot read was not ours
        raise VerifyFailed(f"font program does not parse ({type(exc).__name__})") from exc


def _sfnt_unhinted(data: bytes, allow_cff: bool) -> None:
    font = pdf_fonts.load()[1](io.BytesIO(data), lazy=True)
    try:
        tags = set(font.reader.keys())
        left = [t for t in _HINT_TABLES if t in tags]
        if left:
            raise VerifyFailed(f"font hinting table {left[0]!r} remains")
        if "glyf" in tags:
            _glyphs_unhinted(font)
        elif allow_cff and "CFF " in tags:
            _cff_unhinted(font["CFF "].cff)
        else:
            raise VerifyFailed("font without outlines verify knows")
    finally:
        font.close()


def _glyphs_unhinted(font: TTFont) -> None:
    """Each glyph's instruction length, read from its own bytes (not fontTools' parse)."""
    raw = font.reader["glyf"]
    long_offsets = struct.unpack(">h", font.reader["head"][50:52])[0] == 1
    loca = font.reader["loca"]
    fmt, width = (">I", 4) if long_offsets else (">H", 2)
    offsets = [struct.unpack_from(fmt, loca, i)[0] * (1 if long_offsets else 2)
               for i in range(0, len(loca) - width + 1, width)]
    for start, end in zip(offsets, offsets[1:]):
        if end <= start:
            continue
        glyph = raw[start:end]
        contours = struct.unpack(">h", glyph[:2])[0]
        if contours >= 0:
            at = 10 + 2 * contours
            if struct.unpack(">H", glyph[at:at + 2])[0]:
                raise VerifyFailed("a font glyph with instructions remains")
        else:
            pos, flags = 10, 0x20
            while flags & 0x20:  # MORE_COMPONENTS
                flags = struct.unpack(">H", glyph[pos:pos + 2])[0]
                pos += 4 + (4 if flags & 0x01 else 2)
                pos += 8 if flags & 0x80 else 4 if flags & 0x40 else 2 if flags & 0x08 else 0
            if flags & 0x100:  # WE_HAVE_INSTRUCTIONS
                raise VerifyFailed("a composite font glyph with instructions remains")


def _cff_unhinted(cff: CFFFontSet) -> None:
    for name in cff.fontNames:
        top = cff[name]
        programs = [top.CharStrings[g] for g in top.CharStrings.keys()]
        privates = [fd.Private for fd in top.FDArray] if hasattr(top, "FDArray") else [top.Private]
        for private in privates:
            programs += list(getattr(private, "Subrs", []) or [])
        programs += list(cff.GlobalSubrs)
        for cs in programs:
            cs.decompile()
            if any(isinstance(op, str) and op in _HINT_OPS for op in cs.program):
                raise VerifyFailed("a CFF hint operator remains in a font")
