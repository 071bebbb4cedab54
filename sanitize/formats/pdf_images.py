"""Images inside a PDF, rebuilt from their pixels as standalone images are (CDR.md "PDF").

Every image XObject (and page thumbnail, soft mask, stencil mask) and every inline
image is decoded and written anew, keeping its size, colour space, bit depth,
``/Decode``, masks and placement; nothing of the original encoding passes:

* ``DCTDecode`` (JPEG): decoded with Pillow and re-encoded with the image's own
  quantisation tables and subsampling; EXIF, GPS, XMP, comments, ICC and vendor
  segments and bytes after the end marker are gone and reported (``image.*`` codes,
  the object named in the detail).
* Flate, LZW, run-length, ASCII85/hex (the samples themselves): decoded by qpdf and
  the stream written from exactly ``Height`` rows of samples, so bytes after the image
  data and predictor parameters are gone (qpdf compresses it again on save).  The
  samples are not interpreted, so every colour space (Indexed, Separation, DeviceN,
  ICCBased with any N) keeps its pixels exactly.
* ``JPXDecode`` (JPEG 2000): decoded with Pillow (OpenJPEG) and written as raw 8- or
  16-bit samples; the alpha channel a ``/SMaskInData`` image carries becomes a soft
  mask of its own.
* ``CCITTFaxDecode`` (fax): decoded through pikepdf and libtiff, written as raw 1-bit
  samples with its ``/Decode`` applied.
* ``JBIG2Decode``: no decoder runs in the sandbox (pikepdf would start jbig2dec, and
  the worker may not start programs), so the image is removed: replaced by a 1x1
  stencil that paints nothing, the page and its other content kept
  (``pdf.jbig2_removed``).
* Anything that cannot be rebuilt faithfully (an unknown filter, a colour space that
  does not resolve, a JPEG with a colour transform Pillow does not apply, damaged
  data) is removed the same way (``pdf.image_removed``).

Inline images (``BI … ID … EI`` in page, form, pattern, glyph and appearance
content) are found by a byte search of each decoded content stream, rebuilt the same
way and written back ASCII-hex encoded, which no reader can misjudge the end of.
"""

from __future__ import annotations

import io
import zlib
from typing import TYPE_CHECKING

import pikepdf
from PIL import Image
from pikepdf import Array, Dictionary, Name, Stream

from sanitize.formats import images
from sanitize.report import Blocked, Removed

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sanitize.formats import Context

_GENERAL = frozenset({b"/FlateDecode", b"/LZWDecode", b"/RunLengthDecode", b"/ASCII85Decode",
                      b"/ASCIIHexDecode"})
# Keys an image dictionary keeps (the stream's own /Length, /Filter and /DecodeParms are
# written by the rebuild); anything else (/Metadata, /OPI, /Alternates, …) goes.
_KEEP_KEYS = frozenset({"/Type", "/Subtype", "/Width", "/Height", "/ColorSpace",
                        "/BitsPerComponent", "/Intent", "/ImageMask", "/Mask", "/Decode",
                        "/Interpolate", "/SMask", "/Matte", "/StructParent", "/OC", "/Name",
                        "/Length", "/Filter", "/DecodeParms", "/SMaskInData"})
_COMPONENTS = {b"/DeviceGray": 1, b"/CalGray": 1, b"/DeviceRGB": 3, b"/CalRGB": 3,
               b"/Lab": 3, b"/DeviceCMYK": 4}
_DEPTHS = frozenset({1, 2, 4, 8, 16})
# The decoded samples of one image qpdf may hand over (its own decode cap, pdf_verify).
MAX_SAMPLE_BYTES = 64 * 1024 * 1024
_DETAIL_MAX = 200


class _Unfit(Exception):
    """The image cannot be rebuilt faithfully: it is removed, the reason reported."""


def _nm(obj: object) -> bytes:
    return obj.unparse(resolved=True) if isinstance(obj, Name) else b""


def filters(d: Dictionary | Stream) -> list[bytes]:
    """The names of ``d``'s /Filter (a name or an array), in order."""
    f = d.get("/Filter")
    if isinstance(f, Array):
        return [_nm(x) for x in f]
    return [_nm(f)] if f is not None else []


def components(cs: object, depth: int = 0) -> int | None:
    """Colour components of a colour space (name or array), None if it does not resolve."""
    if depth > 4:
        return None
    if isinstance(cs, Name):
        return _COMPONENTS.get(_nm(cs))
    if not isinstance(cs, Array) or len(cs) < 1:
        return None
    family = _nm(cs[0])
    if family in (b"/CalGray", b"/CalRGB", b"/Lab") and len(cs) == 2:
        return _COMPONENTS[family]
    if family == b"/ICCBased" and len(cs) == 2 and isinstance(cs[1], Stream):
        n = cs[1].get("/N")
        return n if isinstance(n, int) and not isinstance(n, bool) and n in (1, 3, 4) else None
    if family == b"/Indexed" and len(cs) == 4:
        base, hival = components(cs[1], depth + 1), cs[2]
        ok = base is not None and isinstance(hival, int) and 0 <= hival <= 255
        return 1 if ok else None
    if family == b"/Separation" and len(cs) == 4 and isinstance(cs[1], Name):
        return 1 if components(cs[2], depth + 1) is not None else None
    if family == b"/DeviceN" and len(cs) in (4, 5) and isinstance(cs[1], Array):
        n = len(cs[1])
        return n if 1 <= n <= 32 and components(cs[2], depth + 1) is not None else None
    return None


def row_bytes(width: int, comps: int, bpc: int) -> int:
    return (width * comps * bpc + 7) // 8


def _int(d: Dictionary | Stream, key: str) -> int | None:
    v = d.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _where(s: Stream) -> str:
    return f"{s.objgen[0]} {s.objgen[1]} R" if s.is_indirect else "inline"


def blank(s: Stream) -> None:
    """Make ``s`` a 1x1 stencil mask whose one sample paints nothing."""
    for key in list(s.keys()):
        if key not in ("/Length", "/Type", "/Subtype", "/StructParent", "/OC"):
            del s[key]
    s.Width, s.Height, s.ImageMask, s.BitsPerComponent = 1, 1, True, 1
    s.write(b"\x80")  # sample 1: "leave the page as it was" under the default /Decode


class ImageRebuilder:
    """Rebuilds the image streams of one PDF; ``removed`` collects the report."""

    def __init__(self, pdf: pikepdf.Pdf, ctx: Context, removed: list[Removed]) -> None:
        self.pdf = pdf
        self.cfg = ctx.cfg
        self.removed = removed

    def report(self, code: str, what: str, where: str) -> None:
        self.removed.append(Removed(code, f"{what} ({where})"[:_DETAIL_MAX]))

    # -- one image ---------------------------------------------------------------

    def image(self, s: Stream, where: str = "") -> bool:
        """Rebuild image ``s`` in place; False if it was removed (blanked, reported)."""
        where = where or _where(s)
        chain = filters(s)
        if b"/JBIG2Decode" in chain:
            self.report("pdf.jbig2_removed", "JBIG2 image (no decoder in the sandbox)", where)
            blank(s)
            return False
        try:
            self._image(s, chain, where, inline=not s.is_indirect)
        except _Unfit as exc:
            self.report("pdf.image_removed", str(exc), where)
            blank(s)
            return False
        return True

    def _image(self, s: Stream, chain: list[bytes], where: str, inline: bool) -> None:
        width, height = _int(s, "/Width"), _int(s, "/Height")
        if width is None or height is None or width < 1 or height < 1:
            raise _Unfit("image without a valid size")
        if width * height > self.cfg.max_image_pixels:
            raise Blocked("limit_exceeded", f"image of {width}x{height} pixels in the PDF ({where})")
        extra = sorted(k for k in s.keys() if k not in _KEEP_KEYS)
        for key in extra:
            del s[key]
        if "/Metadata" in extra:
            self.report("image.xmp", "image XMP metadata", where)
        rest = [k[1:] for k in extra if k != "/Metadata"]
        if rest:
            self.report("image.metadata", "image keys " + ", ".join(rest), where)
        last = chain[-1] if chain else b""
        if any(f not in _GENERAL for f in chain[:-1]):
            raise _Unfit("filter chain " + " ".join(f.decode("latin-1") for f in chain))
        if not chain or last in _GENERAL:
            self._samples(s, width, height, where)
        elif last == b"/DCTDecode":
            self._jpeg(s, width, height, len(chain) > 1, where)
        elif last == b"/JPXDecode" and not inline:
            self._jpx(s, where)
        elif last == b"/CCITTFaxDecode":
            self._ccitt(s, width, height, where)
        else:
            raise _Unfit(f"image filter {last.decode('latin-1') or '?'}")
        if "/SMaskInData" in s.keys():
            del s["/SMaskInData"]

    def _decoded(self, s: Stream) -> bytes:
        try:
            return s.read_bytes()
        except pikepdf.PdfError as exc:
            raise _Unfit(f"image data that does not decode ({str(exc)[:60]})") from exc

    def _samples(self, s: Stream, width: int, height: int, where: str) -> None:
        mask = s.get("/ImageMask") is True
        comps = 1 if mask else components(s.get("/ColorSpace"))
        bpc = 1 if mask else _int(s, "/BitsPerComponent")
        if comps is None:
            raise _Unfit("image colour space that does not resolve")
        if bpc not in _DEPTHS:
            raise _Unfit(f"image of {bpc} bits per component")
        size = row_bytes(width, comps, bpc) * height
        if size > MAX_SAMPLE_BYTES:
            raise Blocked("limit_exceeded", f"image of {size} bytes of samples ({where})")
        data = self._decoded(s)
        if len(data) > size:
            self.report("image.trailing_data", f"{len(data) - size} byte(s) after the image data", where)
        elif len(data) < size:  # short data: readers paint the missing rows as zeros
            data += bytes(size - len(data))
        s.write(data[:size])

    def _pillow(self, raw: bytes, fmt: str) -> Image.Image:
        try:
            with images._pillow_guard(self.cfg.max_image_pixels):
                im = Image.open(io.BytesIO(raw), formats=[fmt])
                im.load()
                return im
        except Blocked as exc:
            if exc.reason == "limit_exceeded":
                raise
            raise _Unfit(f"{fmt} data that does not decode ({exc.detail[:60]})") from exc

    def _jpeg(self, s: Stream, width: int, height: int, wrapped: bool, where: str) -> None:
        parms = s.get("/DecodeParms")
        if isinstance(parms, Array):
            parms = parms[-1] if len(parms) else None
        if isinstance(parms, Dictionary) and "/ColorTransform" in parms.keys():
            raise _Unfit("JPEG with an explicit colour transform")
        if wrapped:  # [/ASCIIHexDecode /DCTDecode]: qpdf decodes a chain whole or not at all
            outer = Stream(self.pdf, s.read_raw_bytes())
            outer.Filter = Array(list(s.Filter)[:-1])
            all_parms = s.get("/DecodeParms")
            if isinstance(all_parms, Array) and len(all_parms) == len(s.Filter):
                outer.DecodeParms = Array(list(all_parms)[:-1])
            raw = self._decoded(outer)
        else:
            raw = s.read_raw_bytes()
        im = self._pillow(raw, "JPEG")
        if im.mode not in ("L", "RGB", "CMYK"):
            raise _Unfit(f"JPEG in mode {im.mode}")
        for found in images._found_metadata(im, raw, "jpeg"):
            self.report(found.code, found.detail or found.code.split(".")[1], where)
        if im.info.get("icc_profile"):
            self.report("image.metadata", "ICC profile in the JPEG (the PDF colour space rules)", where)
        try:
            out = images._encode([images._pixels_only(im)], "JPEG", im, True, [], None, None)
        except (OSError, ValueError) as exc:
            raise _Unfit(f"JPEG that does not re-encode ({exc})") from exc
        if (width, height) != im.size:
            s.Width, s.Height = im.size
        s.write(out, filter=Name.DCTDecode)

    def _jpx(self, s: Stream, where: str) -> None:
        im = self._pillow(s.read_raw_bytes(), "JPEG2000")
        alpha = None
        if im.mode in ("LA", "RGBA"):
            alpha = im.getchannel("A")
            im = im.convert(im.mode[:-1])
        modes = {"L": (1, 8, Name.DeviceGray), "RGB": (3, 8, Name.DeviceRGB),
                 "I;16": (1, 16, Name.DeviceGray)}
        if im.mode not in modes:
            raise _Unfit(f"JPEG 2000 image in mode {im.mode}")
        comps, bpc, device = modes[im.mode]
        cs = s.get("/ColorSpace")
        if cs is None:
            s.ColorSpace = device
        elif components(cs) != comps:
            raise _Unfit("JPEG 2000 image whose components do not match its colour space")
        if s.get("/ImageMask") is True:
            raise _Unfit("JPEG 2000 stencil mask")
        s.Width, s.Height = im.size
        s.BitsPerComponent = bpc
        if "/Decode" in s.keys():  # ignored for JPX (PDF 32000 8.9.5.3), not for raw samples
            del s["/Decode"]
        data = im.tobytes("raw", "I;16B") if im.mode == "I;16" else im.tobytes()
        if alpha is not None and s.get("/SMaskInData") in (1, 2) and "/SMask" not in s.keys():
            s.SMask = self.pdf.make_stream(alpha.tobytes(), Type=Name.XObject, Subtype=Name.Image,
                                           Width=im.width, Height=im.height,
                                           ColorSpace=Name.DeviceGray, BitsPerComponent=8)
        s.write(data)

    def _ccitt(self, s: Stream, width: int, height: int, where: str) -> None:
        if s.get("/ImageMask") is not True and components(s.get("/ColorSpace")) != 1:
            raise _Unfit("fax image whose colour space is not one component")
        try:
            with images._pillow_guard(self.cfg.max_image_pixels):
                im = pikepdf.PdfImage(s).as_pil_image()
                im.load()
        except Blocked as exc:
            if exc.reason == "limit_exceeded":
                raise
            raise _Unfit(f"fax data that does not decode ({exc.detail[:60]})") from exc
        except (MemoryError, RecursionError):
            raise
        except Exception as exc:  # noqa: BLE001 - pikepdf's TIFF wrapping fails in many ways
            raise _Unfit(f"fax data that does not decode ({type(exc).__name__})") from exc
        if im.mode != "1":
            raise _Unfit(f"fax image decoded in mode {im.mode}")
        # The pixels come with /Decode applied: written as plain samples without it.
        if "/Decode" in s.keys():
            del s["/Decode"]
        s.Width, s.Height = im.size
        if s.get("/ImageMask") is not True:
            s.BitsPerComponent = 1
        s.write(im.tobytes())

    # -- inline images ---------------------------------------------------------------

    def content(self, s: Stream, plain_flate: bool = False) -> None:
        """Rebuild the inline images of content stream ``s``, if it has any
        (``plain_flate``: its only filter is Flate, without parameters)."""
        data = _content_bytes(s, plain_flate)
        if data is None:
            return  # qpdf cannot decode it: neither can it be parsed as content
        if not has_operator(data, b"BI"):
            return
        where = _where(s)
        try:
            instructions = pikepdf.parse_content_stream(s)
        except pikepdf.PdfError:
            self.report("pdf.image_removed", "content that does not parse around an inline image", where)
            s.write(b"")
            return
        if not any(isinstance(i, pikepdf.ContentStreamInlineImage) for i in instructions):
            return
        out: list[bytes] = []
        run: list[pikepdf.ContentStreamInstruction] = []
        for instr in instructions:
            if isinstance(instr, pikepdf.ContentStreamInlineImage):
                if run:
                    out.append(pikepdf.unparse_content_stream(run))
                    run = []
                out.append(self._inline(instr.iimage, where))
            else:
                run.append(instr)
        if run:
            out.append(pikepdf.unparse_content_stream(run))
        s.write(b"\n".join(out))

    def _inline(self, ii: pikepdf.PdfInlineImage, where: str) -> bytes:
        """The rebuilt inline image as content bytes (nothing if it is removed)."""
        tokens = list(ii._image_object)
        d = Dictionary()
        for key, value in zip(tokens[::2], tokens[1::2], strict=False):
            if isinstance(key, Name):
                d[_expand_key(key)] = _expand_value(value)
        cs = d.get("/ColorSpace")
        if isinstance(cs, Name) and components(cs) is None:
            self.report("pdf.image_removed", f"inline image in colour space {_nm(cs).decode('latin-1')[1:]}"
                        " (named in the resources)", where)
            return b""
        s = Stream(self.pdf, ii._data._inline_image_raw_bytes().rstrip(b"\x00\t\n\x0c\r "))
        for key, value in d.items():
            s[key] = value
        s.Type, s.Subtype = Name.XObject, Name.Image  # for pikepdf's decoders; not written
        if "/DecodeParms" in d.keys() and "/Filter" not in d.keys():
            del s["/DecodeParms"]
        if not self.image(s, f"inline image in {where}"):
            return b""  # a blank stencil would only paint nothing
        return _unparse_inline(s)


def _content_bytes(s: Stream, plain_flate: bool) -> bytes | None:
    """The decoded data of content stream ``s``, None if it does not decode.

    Every stream of every PDF comes here, so the usual case, plain Flate, is inflated
    with zlib from the raw bytes: a third of qpdf's cost through pikepdf.  Anything
    else (other filters, parameters, damage, more than the decode cap) is qpdf's."""
    if plain_flate:
        inflate = zlib.decompressobj()
        try:
            data = inflate.decompress(s.read_raw_bytes(), MAX_SAMPLE_BYTES)
        except zlib.error:
            data = None
        if data is not None and inflate.eof and not inflate.unconsumed_tail:
            return data
    try:
        return s.read_bytes()
    except pikepdf.PdfError:
        return None


_DELIMITERS = frozenset(b"\x00\t\n\x0c\r ()<>[]{}/%")


def has_operator(data: bytes, op: bytes) -> bool:
    """Whether ``op`` occurs in ``data`` between delimiters (a string that merely
    reads "BI" only costs a parse).  ``find`` rather than a regex with look-arounds:
    this runs over every content stream of every PDF."""
    at = data.find(op)
    while at >= 0:
        end = at + len(op)
        if (at == 0 or data[at - 1] in _DELIMITERS) and (end == len(data) or data[end] in _DELIMITERS):
            return True
        at = data.find(op, at + 1)
    return False

_KEYS = {b"/W": "/Width", b"/H": "/Height", b"/CS": "/ColorSpace", b"/BPC": "/BitsPerComponent",
         b"/IM": "/ImageMask", b"/D": "/Decode", b"/F": "/Filter", b"/DP": "/DecodeParms",
         b"/I": "/Interpolate", b"/L": "/Length"}
_VALUES = {b"/G": Name.DeviceGray, b"/RGB": Name.DeviceRGB, b"/CMYK": Name.DeviceCMYK,
           b"/I": Name.Indexed, b"/AHx": Name.ASCIIHexDecode, b"/A85": Name.ASCII85Decode,
           b"/LZW": Name.LZWDecode, b"/Fl": Name.FlateDecode, b"/RL": Name.RunLengthDecode,
           b"/CCF": Name.CCITTFaxDecode, b"/DCT": Name.DCTDecode}


def _expand_key(key: Name) -> str:
    spelt = _nm(key)
    return _KEYS.get(spelt, spelt.decode("latin-1"))


def _expand_value(value: object) -> object:
    if isinstance(value, Name):
        return _VALUES.get(_nm(value), value)
    if isinstance(value, Array):
        return Array([_expand_value(v) for v in value])
    return value


def _unparse_inline(s: Stream) -> bytes:
    """``BI <dict> ID <hex> EI`` for image ``s`` (its data ASCII-hex encoded)."""
    raw = s.read_raw_bytes()
    jpeg = filters(s) == [b"/DCTDecode"]
    parts = [b"BI"]
    for key in ("/Width", "/Height", "/ColorSpace", "/BitsPerComponent", "/ImageMask", "/Decode",
                "/Interpolate", "/Intent"):
        if key in s.keys():
            # Through an array: numbers and booleans come out of pikepdf as Python values.
            parts.append(key.encode() + b" " + Array([s[key]]).unparse(resolved=True).strip()[1:-1].strip())
    parts.append(b"/Filter [/ASCIIHexDecode /DCTDecode]" if jpeg else b"/Filter /ASCIIHexDecode")
    parts.append(b"ID " + raw.hex().encode() + b">")
    parts.append(b"EI")
    return b"\n".join(parts) + b"\n"


def rebuild_images(pdf: pikepdf.Pdf, ctx: Context, image_streams: Iterable[Stream],
                   other_streams: Iterable[tuple[Stream, bool]], removed: list[Removed]) -> None:
    """Rebuild ``image_streams`` and the inline images of ``other_streams`` (each with
    whether it is plain Flate)."""
    rebuilder = ImageRebuilder(pdf, ctx, removed)
    for s in image_streams:
        rebuilder.image(s)
    for s, plain_flate in other_streams:
        rebuilder.content(s, plain_flate)
