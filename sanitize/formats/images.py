"""Images: decode with Pillow under explicit limits and write new pixels (CDR.md "Images").

Nothing of the input file survives but its pixels and what is needed to show them
(size, mode, palette, transparency, frame timing) and its print resolution: the image
is decoded with exactly one Pillow decoder (the detected kind's; never EPS, FITS or any
other plugin), EXIF orientation is applied to the pixels, colour is converted to sRGB,
and a new file is encoded from a fresh image object that holds only the pixels.  EXIF
(maker notes, GPS, thumbnails), XMP, IPTC and Photoshop resources, comments, text
chunks, ICC profiles, vendor APP segments, private PNG chunks, GIF extensions, TIFF
descriptive and private tags, SubIFD previews and bytes after the end marker therefore
cannot reach the output; what the input carried is listed in the report.

Choices, for the people who read a report:

* Orientation is applied, not kept: the pixels are turned and no tag says to turn
  them again, so every viewer shows the same thing.
* ICC profiles are applied, not kept: the pixels are converted to sRGB (what an
  untagged image means to every viewer) and no profile is written.  A profile is
  a binary format parsed by the receiver's colour engine (a long CVE history) and
  carries free text (description, device, copyright); converting here, once, inside
  the sandboxed worker spares every receiver the parse.  Wide-gamut colours (Display
  P3 photos) are clipped to sRGB; grey and palette images keep their pixels as they
  are and lose the profile.
* Print resolution (DPI) is kept for JPEG, PNG and TIFF: two harmless numbers that
  scanned documents need to print at their size.
* JPEG stays JPEG, re-encoded with the input's own quantisation tables and chroma
  subsampling (what Pillow's ``quality="keep"`` does) when the pixels are unchanged;
  after a rotation or colour conversion the tables no longer fit, so quality 90.
  The extra images of an MPO (camera thumbnails, depth and gain maps) are dropped.
* PNG stays PNG (compress level 1: level 6 costs ~4x the time for ~10 % smaller files).
* Animated GIF, WebP and PNG (APNG) keep all their frames, within the frame and
  total-pixel limits; every frame is written whole.  Multi-page TIFF keeps its pages
  (scanned documents and faxes), LZW-compressed (Group 4 for bilevel pages), but not
  the pages marked as reduced-resolution previews of another page.
* BMP becomes PNG (``Rebuilt.kind == "png"``): lossless and universally readable.
* WebP is written lossy at quality 90.

``verify`` is deliberately different code: byte-level walkers over the output's
segments/chunks/blocks that accept only what the encoders here write, plus a Pillow
re-open that checks the metadata dictionaries are empty.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from PIL import (ExifTags, Image, ImageCms, ImageOps, ImageSequence, JpegImagePlugin,
                 TiffTags, UnidentifiedImageError)

from sanitize.formats import Context
from sanitize.report import Blocked, Rebuilt, Removed, VerifyFailed

KINDS = frozenset({"jpeg", "png", "gif", "webp", "tiff", "bmp"})

# The one Pillow decoder each kind may use.
_FORMAT = {"jpeg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WEBP", "tiff": "TIFF",
           "bmp": "BMP"}
# Output kind per input kind (the report's Rebuilt.kind).
_OUT_KIND = {"jpeg": "jpeg", "png": "png", "gif": "gif", "webp": "webp", "tiff": "tiff",
             "bmp": "png"}
# Kinds whose frames are all kept; other multi-frame inputs (MPO) keep the first.
_MULTI_FRAME = frozenset({"gif", "webp", "png", "tiff"})
# Modes each output format is written in; anything else is converted to RGB(A).
_MODES = {
    "JPEG": frozenset({"L", "RGB"}),
    "PNG": frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I"}),
    "GIF": frozenset({"1", "L", "P", "RGB", "RGBA"}),
    "WEBP": frozenset({"RGB", "RGBA"}),
    "TIFF": frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16"}),
}
JPEG_FALLBACK_QUALITY = 90
WEBP_QUALITY = 90
PNG_COMPRESS_LEVEL = 1

# Exceptions by which Pillow (and lcms, libwebp) say "this file is malformed"; the
# TypeError/KeyError/RuntimeError cases were found by fuzzing TIFF and WebP headers
# (missing dimensions, unknown sample formats, frames libwebp will not encode).
_CORRUPT = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError,
            struct.error, IndexError, KeyError, TypeError, RuntimeError,
            ImageCms.PyCMSError)

# TIFF tags that describe the pixels (size, samples, compression, strips, colour map,
# resolution, orientation): not reported.  Everything else is metadata.
_TIFF_PIXEL_TAGS = frozenset({
    254, 255, 256, 257, 258, 259, 262, 266, 273, 274, 277, 278, 279, 280, 281, 282, 283,
    284, 292, 293, 296, 317, 318, 319, 320, 322, 323, 324, 325, 338, 339, 340, 341, 347,
    529, 530, 531, 532,
})
_TIFF_EXIF, _TIFF_GPS, _TIFF_XMP, _TIFF_ICC, _TIFF_SUBIFDS = 34665, 34853, 700, 34675, 330
# NewSubfileType bit 0: "a reduced-resolution version of another image" (a preview).
_TIFF_REDUCED = 1
# Report detail is for people: a list of names, cut short.
_DETAIL_MAX = 200
# A hostile file of millions of tiny chunks or blocks is still disarmed (Pillow decodes
# it); the report's own listing just stops there.
_LIST_MAX_STEPS = 100_000


@contextmanager
def _pillow_guard(max_pixels: int) -> Iterator[None]:
    """Pillow under our pixel limit, with bombs and malformed files turned into Blocked.

    Pillow's own check runs inside ``Image.open`` before any pixel is decoded: set its
    limit to ours and make its warning (1-2x the limit) an error, not a log line.
    """
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Blocked("limit_exceeded", f"pixels: {exc}") from exc
    except _CORRUPT as exc:
        raise Blocked("corrupt", f"{type(exc).__name__}: {exc}") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _open(data: bytes, kind: str) -> Image.Image:
    if kind not in KINDS:
        raise Blocked("unsupported_kind", f"images cannot rebuild {kind!r}")
    return Image.open(io.BytesIO(data), formats=[_FORMAT[kind]])


# --- what the input carried (report only: removal is by re-encoding) ------------------

def _names(prefix: str, names: list[str]) -> str:
    unique = list(dict.fromkeys(names))
    text = prefix + ", ".join(unique)
    return text if len(text) <= _DETAIL_MAX else text[:_DETAIL_MAX - 1] + "…"


def _found_metadata(im: Image.Image, data: bytes, kind: str) -> list[Removed]:
    info = im.info
    found: list[Removed] = []
    if kind != "tiff":  # a TIFF's getexif() is its own IFD0: reported by tag below
        found += _found_exif(im.getexif(), bool(info.get("exif")))
    if info.get("xmp") or info.get("XML:com.adobe.xmp"):
        found.append(Removed("image.xmp"))
    if info.get("comment"):
        found.append(Removed("image.comment"))
    if kind == "jpeg":
        found += _jpeg_segments(im)
        if not data.endswith(b"\xff\xd9"):
            found.append(Removed("image.trailing_data", "bytes after the JPEG end marker"))
    elif kind == "png":
        found += _png_chunks(data)
        end = data.rfind(b"IEND")
        if end >= 4 and len(data) > end + 8:
            found.append(Removed("image.trailing_data",
                                 f"{len(data) - end - 8} byte(s) after IEND"))
    elif kind == "gif":
        found += _gif_extensions(data)
    elif kind == "webp":
        found += _webp_chunks(data)
    return list(dict.fromkeys(found))


def _found_exif(exif: Image.Exif, raw: bool) -> list[Removed]:
    if not len(exif) and not raw:
        return []
    try:
        maker_note = ExifTags.Base.MakerNote in exif.get_ifd(ExifTags.IFD.Exif)
        thumbnail = bool(exif.get_ifd(ExifTags.IFD.IFD1))
    except _CORRUPT:  # the report's reading of a broken EXIF never blocks the pixels
        maker_note = thumbnail = False
    detail = f"{len(exif)} tag(s)" + (", maker note" if maker_note else "")
    found = [Removed("image.exif", detail)]
    if ExifTags.IFD.GPSInfo in exif:
        found.append(Removed("image.gps", "GPS position"))
    if thumbnail:
        found.append(Removed("image.thumbnail", "EXIF thumbnail (IFD1)"))
    return found


# APPn identifiers reported under their own code (exif, xmp, icc, extra frames) or
# carrying nothing but decoder hints (Adobe's colour transform flag).
_JPEG_COVERED = (b"Exif\0", b"http://ns.adobe.com/xap/1.0/\0", b"ICC_PROFILE\0",
                 b"MPF\0", b"Adobe")


def _jpeg_segments(im: Image.Image) -> list[Removed]:
    """APP segments Pillow does not turn into ``info``: thumbnails, IPTC, vendors'."""
    thumbs: list[str] = []
    other: list[str] = []
    for name, body in getattr(im, "applist", ()):
        if name == "COM" or body.startswith(_JPEG_COVERED):
            continue
        if name == "APP0" and body.startswith(b"JFIF\0"):
            if len(body) >= 14 and body[12] * body[13]:
                thumbs.append("JFIF thumbnail")
        elif name == "APP0" and body.startswith(b"JFXX\0"):
            thumbs.append("JFXX thumbnail")
        elif name == "APP13" and body.startswith(b"Photoshop 3.0\0"):
            other.append("APP13 Photoshop/IPTC")
        elif name == "APP1" and body.startswith(b"http://ns.adobe.com/xmp/extension/\0"):
            other.append("APP1 extended XMP")
        else:
            ident = body[:20].split(b"\0", 1)[0]
            label = ident.decode("ascii") if ident.isascii() and ident.isalnum() else ""
            other.append(f"{name} {label}".strip())
    found = [Removed("image.thumbnail", t) for t in dict.fromkeys(thumbs)]
    if other:
        found.append(Removed("image.metadata", _names("JPEG segments: ", other)))
    return found


# Chunks the rebuild writes again (pixels, palette, transparency, DPI, animation) or
# reports under their own code (text, EXIF, ICC).
_PNG_NOT_LISTED = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"pHYs", b"acTL",
                             b"fcTL", b"fdAT", b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"iCCP"})


def _png_chunks(data: bytes) -> list[Removed]:
    """Ancillary chunks Pillow skips or keeps to itself: tIME, colour hints, private."""
    names: list[str] = []
    pos = 8
    for _ in range(_LIST_MAX_STEPS):
        if pos + 8 > len(data):
            break
        length, ctype = struct.unpack_from(">I4s", data, pos)
        if ctype == b"IEND":
            break
        if ctype not in _PNG_NOT_LISTED:
            names.append(ctype.decode("latin-1"))
        pos += 12 + length
    return [Removed("image.metadata", _names("PNG chunks: ", names))] if names else []


def _gif_extensions(data: bytes) -> list[Removed]:
    """Extension blocks other than frame control and looping: comments, XMP, ICC,
    IPTC, plain text.  A listing that stops at the first oddity; Pillow decides."""
    found: dict[Removed, None] = {}  # each kind once, however many blocks
    other: dict[str, None] = {}
    pos = 13 + ((3 << ((data[10] & 7) + 1)) if len(data) > 10 and data[10] & 0x80 else 0)
    steps = 0
    try:
        while steps < _LIST_MAX_STEPS:
            steps += 1
            block = data[pos]
            if block == 0x2C:  # image: descriptor, local table, LZW size, sub-blocks
                flags = data[pos + 9]
                pos += 11 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
            elif block == 0x21:
                label, app = data[pos + 1], data[pos + 3:pos + 14]
                if label == 0xFE:
                    found[Removed("image.comment")] = None
                elif label == 0xFF and app == b"XMP DataXMP":
                    found[Removed("image.xmp")] = None
                elif label == 0xFF and app != b"NETSCAPE2.0":
                    other["application " + app[:8].decode("latin-1")] = None
                elif label == 0x01:
                    other["plain text"] = None
                elif label not in (0xF9, 0xFF):
                    other[f"0x{label:02X}"] = None
                pos += 2
            else:
                break
            while data[pos] and steps < _LIST_MAX_STEPS:  # sub-blocks, to the terminator
                pos += 1 + data[pos]
                steps += 1
            pos += 1
    except IndexError:
        pass
    if other:
        found[Removed("image.metadata", _names("GIF extensions: ", list(other)))] = None
    return list(found)


# Chunks of what the rebuild writes, or reported under their own code.
_WEBP_NOT_LISTED = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ANIM", b"ANMF", b"ALPH", b"EXIF",
                              b"XMP ", b"ICCP"})


def _webp_chunks(data: bytes) -> list[Removed]:
    names: list[str] = []
    pos = 12
    for _ in range(_LIST_MAX_STEPS):
        if pos + 8 > len(data):
            break
        ctype, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        if ctype not in _WEBP_NOT_LISTED:
            names.append(ctype.decode("latin-1").strip())
        pos += 8 + size + (size & 1)
    return [Removed("image.metadata", _names("WebP chunks: ", names))] if names else []


def _tiff_tag_name(tag: int) -> str:
    name = TiffTags.lookup(tag).name
    return f"tag {tag}" if name == "unknown" else name


def _tiff_tags(tags: set[int], previews: int) -> list[Removed]:
    """What the pages' IFDs carried beyond their pixels, by tag name."""
    found: list[Removed] = []
    if _TIFF_EXIF in tags:
        found.append(Removed("image.exif", "EXIF IFD"))
    if _TIFF_GPS in tags:
        found.append(Removed("image.gps", "GPS IFD"))
    if _TIFF_SUBIFDS in tags or previews:
        found.append(Removed("image.thumbnail",
                             f"{previews} preview page(s)" if previews else "SubIFDs"))
    other = sorted(tags - _TIFF_PIXEL_TAGS
                   - {_TIFF_EXIF, _TIFF_GPS, _TIFF_XMP, _TIFF_ICC, _TIFF_SUBIFDS})
    if other:
        names = [_tiff_tag_name(t) for t in other]
        found.append(Removed("image.metadata", _names("TIFF tags: ", names)))
    return found


def _text_chunks(im: Image.Image) -> list[Removed]:
    """PNG text chunks, known only once the image is loaded (they may follow IDAT)."""
    text = getattr(im, "text", None) or {}
    keys = sorted(k for k in text if k != "XML:com.adobe.xmp")
    return [Removed("image.text_chunk", ", ".join(keys)[:200])] if keys else []


# --- pixels ----------------------------------------------------------------------------

class _Colour:
    """Converts frames to sRGB from the input's ICC profile, one transform per mode."""

    def __init__(self, icc: bytes | None) -> None:
        self.note = ""
        self._src: ImageCms.ImageCmsProfile | None = None
        self._transforms: dict[str, ImageCms.ImageCmsTransform] = {}
        if not icc:
            return
        known = _PROFILES.get(icc)
        if known is not None:
            _PROFILES.move_to_end(icc)
            self._src, self.note, self._transforms = known
            return
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            desc = ImageCms.getProfileDescription(src).strip().lower()
        except (ImageCms.PyCMSError, OSError, ValueError):
            self.note = "unreadable profile dropped"
            return
        if desc.startswith("srgb"):
            self.note = "sRGB profile dropped"  # already sRGB: a transform would be a no-op
            return
        self._src = src
        self.note = f"converted to sRGB from {desc[:60]!r}"
        if len(icc) <= _PROFILE_CACHE_BYTES:
            _PROFILES[icc] = (self._src, self.note, self._transforms)
            if len(_PROFILES) > _PROFILE_CACHE:
                _PROFILES.popitem(last=False)

    def apply(self, frame: Image.Image) -> tuple[Image.Image, bool]:
        """The frame in sRGB, and whether its pixels changed."""
        if self._src is None or frame.mode not in ("RGB", "RGBA", "CMYK"):
            return frame, False  # grey and palette profiles are dropped, not applied
        out_mode = "RGBA" if frame.mode == "RGBA" else "RGB"
        transform = self._transforms.get(frame.mode)
        if transform is None:
            try:
                transform = ImageCms.buildTransform(self._src, _srgb(), frame.mode, out_mode)
            except ImageCms.PyCMSError:
                # A profile for another colour space than the pixels: drop it.
                self._src = None
                self.note = "mismatched profile dropped"
                return frame, False
            self._transforms[frame.mode] = transform
        if frame.mode == out_mode:  # in place: no second 48 MB buffer for a 12 MP photo
            ImageCms.applyTransform(frame, transform, inPlace=True)
            return frame, True
        converted = ImageCms.applyTransform(frame, transform)
        assert converted is not None  # not in place: a new image
        return converted, True


# The profiles met lately, by their bytes, with their transforms: a camera, a phone or
# an Office template writes the same profile into every picture, and building its
# transform (~3 ms) cost more than decoding a thumbnail.  Keyed by the whole profile,
# so a file only ever meets its own profile's transform.  A profile that turns out
# not to fit its pixels is dropped per image as before (its entry keeps no transform).
_PROFILES: OrderedDict[bytes, tuple[ImageCms.ImageCmsProfile | None, str,
                                    dict[str, ImageCms.ImageCmsTransform]]] = OrderedDict()
_PROFILE_CACHE = 8
_PROFILE_CACHE_BYTES = 64 * 1024  # typical profiles are 0.5-4 KB; bigger ones are not kept


_SRGB: list[ImageCms.ImageCmsProfile] = []


def _srgb() -> ImageCms.ImageCmsProfile:
    if not _SRGB:
        _SRGB.append(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")))
    return _SRGB[0]


def _normalise_mode(frame: Image.Image, fmt: str) -> Image.Image:
    if frame.mode in _MODES[fmt]:
        return frame
    alpha = "A" in frame.mode or "transparency" in frame.info
    if fmt == "JPEG" or not alpha:
        return frame.convert("RGB")
    return frame.convert("RGBA")


def _pixels_only(frame: Image.Image) -> Image.Image:
    """A new image object with the frame's decoded pixels and palette, and of its
    ``info`` only the transparency: all that the encoders are given.

    Pillow's writers read more than their arguments: the TIFF writer copies the source
    file's tags (descriptions, document and page names, private tags, IPTC, XMP) and ICC
    profile from the image object, the JPEG and GIF writers its comment.  An object that
    never was the decoder's has nothing of the file to hand them.  It shares the decoded
    pixels (no copy: this is the 12 MP photo path).
    """
    frame.load()
    clean = frame._new(frame.im)
    keep = frame.info.get("transparency") if frame.mode in ("1", "L", "P", "RGB") else None
    clean.info = {} if keep is None else {"transparency": keep}
    return clean


def _check_frame(im: Image.Image, count: int, total: int, ctx: Context) -> int:
    cfg = ctx.cfg
    pixels = im.width * im.height
    if count > cfg.max_image_frames:
        raise Blocked("limit_exceeded", f"more than {cfg.max_image_frames} frames")
    if pixels > cfg.max_image_pixels:
        raise Blocked("limit_exceeded", f"frame of {im.width}x{im.height} pixels")
    if total + pixels > cfg.max_total_pixels:
        raise Blocked("limit_exceeded", f"more than {cfg.max_total_pixels} pixels in all")
    return total + pixels


@dataclass(slots=True)
class _Decoded:
    frames: list[Image.Image]  # upright
    transformed: bool  # the first frame's pixels were turned
    tiff_tags: set[int]  # every tag of every TIFF page read
    previews: int  # TIFF pages dropped as reduced-resolution previews


def _frames(im: Image.Image, kind: str, ctx: Context) -> _Decoded:
    """Decoded, upright frames, and what their TIFF pages carried.

    A single frame is transposed in place (no copy: this is the 12 MP photo path);
    frames of an animation are copied because seeking reuses the decoder's buffer.
    """
    tiff = kind == "tiff"
    # is_animated looks for a second frame only: n_frames would walk a hostile file's
    # million frames before the limit could stop it.
    if kind not in _MULTI_FRAME or not getattr(im, "is_animated", False):
        _check_frame(im, 1, 0, ctx)
        tags: set[int] = set(im.tag_v2) if tiff else set()  # type: ignore[attr-defined]
        orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
        ImageOps.exif_transpose(im, in_place=True)
        return _Decoded([im], orientation in range(2, 9), tags, 0)
    decoded = _Decoded([], True, set(), 0)
    total = 0
    for index, frame in enumerate(ImageSequence.Iterator(im)):  # checked before decoding
        total = _check_frame(frame, index + 1, total, ctx)
        if tiff:
            page = frame.tag_v2  # type: ignore[attr-defined]
            decoded.tiff_tags.update(page)
            subfile = page.get(254, 0)
            # A preview of another page (scanners, cameras): the first page always stays.
            if index and isinstance(subfile, int) and subfile & _TIFF_REDUCED:
                decoded.previews += 1
                continue
        decoded.frames.append(ImageOps.exif_transpose(frame))  # a copy, upright
    return decoded


def _dpi(info: dict[str | tuple[int, int], Any]) -> tuple[float, float] | None:
    try:
        x, y = (float(v) for v in info["dpi"])
    except (KeyError, TypeError, ValueError):
        return None
    return (x, y) if 0 < x <= 100_000 and 0 < y <= 100_000 else None


def _encode(frames: list[Image.Image], fmt: str, source: Image.Image, keep_tables: bool,
            durations: list[float], loop: int | None, dpi: tuple[float, float] | None,
            png_level: int = PNG_COMPRESS_LEVEL, jpeg_optimize: bool = False) -> bytes:
    out = io.BytesIO()
    first, rest = frames[0], frames[1:]
    params: dict[str, Any] = {}
    if dpi and fmt in ("JPEG", "PNG", "TIFF"):
        params["dpi"] = dpi
    if rest:
        params.update(save_all=True, append_images=rest)
        if fmt != "TIFF":
            params["duration"] = durations
            if loop is not None:
                params["loop"] = loop
        if fmt == "GIF":
            params["disposal"] = 2  # every frame is whole: clear before drawing the next
    if fmt == "JPEG":
        qtables = getattr(source, "quantization", None)
        if keep_tables and qtables and isinstance(source, JpegImagePlugin.JpegImageFile):
            # What quality="keep" does; spelt out because "keep" refuses MPO input,
            # whose first image is a plain JPEG with the same tables.
            params["qtables"] = qtables
            sampling = JpegImagePlugin.get_sampling(source)
            if sampling != -1:
                params["subsampling"] = sampling
        else:
            params["quality"] = JPEG_FALLBACK_QUALITY
        if jpeg_optimize:
            params["optimize"] = True
    elif fmt == "PNG":
        params["compress_level"] = png_level
    elif fmt == "WEBP":
        params["quality"] = WEBP_QUALITY
    elif fmt == "TIFF":
        params["compression"] = "group4" if first.mode == "1" and not rest else "tiff_lzw"
    first.save(out, fmt, **params)
    return out.getvalue()


def rebuild(data: bytes, kind: str, ctx: Context, *,
            png_level: int = PNG_COMPRESS_LEVEL, jpeg_optimize: bool = False) -> Rebuilt:
    """The image rebuilt from its pixels.  ``png_level``: zlib's level for a PNG
    output; ``jpeg_optimize``: Huffman tables made for this JPEG (an extra pass, no
    loss).  A picture rebuilt in place in a legacy Office file must fit where the
    original was, which level 1 rarely does, nor the standard tables when the
    original's were optimised."""
    out_kind = _OUT_KIND.get(kind, kind)
    with _pillow_guard(ctx.cfg.max_image_pixels):
        im = _open(data, kind)
        removed = _found_metadata(im, data, kind)
        colour = _Colour(im.info.get("icc_profile"))
        dpi = _dpi(im.info)
        loop = im.info.get("loop")
        decoded = _frames(im, kind, ctx)
        frames, transformed = decoded.frames, decoded.transformed
        removed += _tiff_tags(decoded.tiff_tags, decoded.previews)
        n_frames: int = getattr(im, "n_frames", 1)
        if kind not in _MULTI_FRAME and n_frames > 1:
            removed.append(Removed("image.extra_frames",
                                   f"{n_frames - 1} secondary image(s) (MPO)"))
        removed += _text_chunks(im)
        if im.info.get("icc_profile"):
            removed.append(Removed("image.icc_converted", colour.note))
        fmt = _FORMAT[out_kind]
        durations: list[float] = []
        for i, frame in enumerate(frames):
            durations.append(float(frame.info.get("duration") or 0))
            frame, converted = colour.apply(frame)
            normalised = _normalise_mode(frame, fmt)
            transformed = transformed or converted or normalised is not frame
            frames[i] = _pixels_only(normalised)
        keep_tables = kind == "jpeg" and not transformed
        output = _encode(frames, fmt, im, keep_tables, durations,
                         loop if isinstance(loop, int) else None, dpi, png_level,
                         jpeg_optimize)
    return Rebuilt(output, out_kind, tuple(dict.fromkeys(removed)))


# --- verify: byte walkers that accept only what the encoders above write ---------------

def _fail(fmt: str, why: str) -> VerifyFailed:
    return VerifyFailed(f"{fmt}: {why}")


_JPEG_OK = frozenset({0xC0, 0xC1, 0xC2, 0xC4, 0xDB, 0xDD, 0xE0})
# In entropy-coded data 0xFF is followed by 0x00 (stuffing) or a restart marker; any
# other marker after the (single, baseline) scan must be the final EOI.
_JPEG_MARKER = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")


def _walk_jpeg(data: bytes) -> None:
    if not data.startswith(b"\xff\xd8"):
        raise _fail("JPEG", "no SOI")
    pos = 2
    while True:
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise _fail("JPEG", f"bad segment at {pos}")
        marker = data[pos + 1]
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xDA:
            break
        if marker not in _JPEG_OK:
            raise _fail("JPEG", f"segment 0x{marker:02X} (metadata) present")
        if marker == 0xE0 and data[pos + 4:pos + 9] != b"JFIF\x00":
            raise _fail("JPEG", "APP0 that is not JFIF")
        if marker == 0xE0 and length != 16:  # 16: a JFIF header without a thumbnail
            raise _fail("JPEG", "JFIF header with a thumbnail")
        pos += 2 + length
    end = _JPEG_MARKER.search(data, pos + 2 + length)
    if end is None or end.start() != len(data) - 2 or not data.endswith(b"\xff\xd9"):
        raise _fail("JPEG", "data after the scan other than a final EOI")


_PNG_OK = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"pHYs", b"acTL",
                     b"fcTL", b"fdAT"})


def _walk_png(data: bytes) -> None:
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise _fail("PNG", "no signature")
    pos = 8
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        if ctype not in _PNG_OK:
            raise _fail("PNG", f"chunk {ctype!r} present")
        pos += 12 + length
        if ctype == b"IEND":
            if pos != len(data):
                raise _fail("PNG", f"{len(data) - pos} byte(s) after IEND")
            return
    raise _fail("PNG", "no IEND")


def _gif_sub_blocks(data: bytes, pos: int) -> int:
    while True:
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos


def _walk_gif(data: bytes) -> None:
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        raise _fail("GIF", "no header")
    pos = 13
    if data[10] & 0x80:
        pos += 3 << ((data[10] & 7) + 1)
    try:
        while True:
            block = data[pos]
            if block == 0x3B:
                if pos + 1 != len(data):
                    raise _fail("GIF", "data after the trailer")
                return
            if block == 0x2C:
                flags = data[pos + 9]
                pos += 10 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
                pos = _gif_sub_blocks(data, pos + 1)  # after the LZW code size byte
            elif block == 0x21 and data[pos + 1] == 0xF9:
                pos = _gif_sub_blocks(data, pos + 2)
            elif block == 0x21 and data[pos + 1] == 0xFF and \
                    data[pos + 2:pos + 14] == b"\x0bNETSCAPE2.0":
                pos = _gif_sub_blocks(data, pos + 14)
            else:
                raise _fail("GIF", f"block 0x{block:02X} at {pos} (comment, text, app data)")
    except IndexError as exc:
        raise _fail("GIF", "truncated") from exc


_WEBP_OK = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ANIM", b"ANMF", b"ALPH"})
_VP8X_METADATA = 0x20 | 0x08 | 0x04  # the ICC, EXIF and XMP flags


def _walk_webp(data: bytes) -> None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise _fail("WEBP", "no RIFF/WEBP header")
    if int.from_bytes(data[4:8], "little") + 8 != len(data):
        raise _fail("WEBP", "RIFF size does not match the file (trailing data)")
    pos = 12
    while pos < len(data):
        ctype, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        if ctype not in _WEBP_OK:
            raise _fail("WEBP", f"chunk {ctype!r} present")
        if ctype == b"VP8X" and data[pos + 8] & _VP8X_METADATA:
            raise _fail("WEBP", "VP8X announces an ICC, EXIF or XMP chunk")
        pos += 8 + size + (size & 1)
    if pos != len(data):
        raise _fail("WEBP", "chunk overruns the file")


# The tags Pillow's TIFF writer emits for the pages written here (plus predictor and
# sample format, which its libtiff path may add).  Not orientation: it was applied.
_TIFF_WRITTEN = frozenset({256, 257, 258, 259, 262, 273, 277, 278, 279, 282, 283, 284, 296,
                           317, 320, 338, 339})


def _walk_tiff(im: Image.Image) -> None:
    for frame in ImageSequence.Iterator(im):
        extra = set(frame.tag_v2) - _TIFF_WRITTEN  # type: ignore[attr-defined]
        if extra:
            raise _fail("TIFF", f"tags {sorted(extra)} present")


_WALKERS: dict[str, Callable[[bytes], None]] = {
    "jpeg": _walk_jpeg, "png": _walk_png, "gif": _walk_gif, "webp": _walk_webp,
}
_METADATA_KEYS = ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment", "photoshop")


def verify(data: bytes, kind: str, ctx: Context) -> None:
    """Re-open the output: only pixel chunks, no metadata, no trailing data, in limits."""
    out_kind = _OUT_KIND.get(kind)
    if out_kind is None:
        raise VerifyFailed(f"images cannot verify {kind!r}")
    walker = _WALKERS.get(out_kind)
    if walker is not None:
        walker(data)
    try:
        with _pillow_guard(ctx.cfg.max_image_pixels):
            im = Image.open(io.BytesIO(data), formats=[_FORMAT[out_kind]])
            if im.format != _FORMAT[out_kind]:
                raise _fail(_FORMAT[out_kind], f"re-opened as {im.format}")
            # Not getexif(): for PNG it decodes the whole image; the walkers have
            # already refused eXIf chunks and APP1 segments, TIFF's tags come below.
            present = [k for k in _METADATA_KEYS if im.info.get(k)]
            if present:
                raise _fail(im.format, f"metadata present: {present}")
            if out_kind == "tiff":
                _walk_tiff(im)
            frames = getattr(im, "n_frames", 1)
            if frames > ctx.cfg.max_image_frames or \
                    frames * im.width * im.height > ctx.cfg.max_total_pixels:
                raise _fail(im.format, "over the frame or pixel limits")
    except VerifyFailed:
        raise
    except Blocked as exc:
        raise VerifyFailed(f"output does not re-open: {exc}") from exc
