"""A corpus of benign images carrying the metadata cameras, phones, scanners and
editors write, generated in code (nothing binary is committed).

Each ``Case`` plants unique marker strings (``KAKEHASHI-SECRET-…``) in one family of
metadata: what Pillow can write through ``Image.save`` (``exif=``, ``icc_profile=``,
``pnginfo=``, ``tiffinfo=``, ``comment=``, ``xmp=``), and, where Pillow cannot, raw
segments, chunks, blocks and IFDs spliced in here (IPTC in APP13, extended XMP, vendor
APP segments, JFIF thumbnails, EXIF IFD1 thumbnails, PNG private chunks, GIF
application and plain-text extensions, WebP unknown chunks, TIFF SubIFDs and
reduced-resolution pages).  The families follow what Pillow's format notes and
exiftool's tag tables list for each format.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from PIL import ExifTags, Image, ImageCms, PngImagePlugin, TiffImagePlugin

S = b"KAKEHASHI-SECRET-"
QUADRANTS = ((220, 30, 30), (30, 160, 40), (40, 60, 210), (240, 230, 60))
SIZE = (48, 32)


def picture(mode: str = "RGB", size: tuple[int, int] = SIZE) -> Image.Image:
    """Four flat quadrants: survives JPEG's blocks and shows a turn or a flip."""
    w, h = size
    im = Image.new("RGB", size)
    for i, colour in enumerate(QUADRANTS):
        x, y = (i % 2) * w // 2, (i // 2) * h // 2
        im.paste(colour, (x, y, x + w // 2, y + h // 2))
    if mode == "P":
        return im.quantize(8)
    return im.convert(mode)


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    data: bytes
    markers: tuple[bytes, ...]  # planted; must be in the input, must not be in the output
    codes: frozenset[str] = field(default_factory=frozenset)  # report codes expected
    lossy: bool = False  # compare pixels with a tolerance

    def __post_init__(self) -> None:
        missing = [m for m in self.markers if m not in self.data]
        assert not missing, f"{self.name}: fixture does not carry {missing}"


# --- raw building blocks ------------------------------------------------------------

BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED = 1, 2, 3, 4, 5, 7
Pointer = Callable[[list[int], list[int]], tuple[int, ...]]  # (blob, IFD offsets) -> value
Entry = tuple[int, int, "bytes | tuple[int, ...] | Pointer"]


def tiff_bytes(ifds: Sequence[Sequence[Entry]], blobs: Sequence[bytes],
               chain: Sequence[int]) -> bytes:
    """A little-endian TIFF structure: ``blobs`` first, then ``ifds``.

    An entry's value is bytes (BYTE, ASCII, UNDEFINED), integers (SHORT, LONG, RATIONAL
    as numerator/denominator pairs), or a function of (blob offsets, IFD offsets) for
    pointers.  ``chain`` lists the IFDs linked from the header in order; the others are
    reachable only through pointers (SubIFDs, EXIF IFDs).
    """
    blob_offsets, pos = [], 8
    for blob in blobs:
        blob_offsets.append(pos)
        pos += len(blob) + len(blob) % 2

    def count_and_raw(typ: int, value: object, ifd_offsets: list[int]) -> tuple[int, bytes]:
        if callable(value):
            value = value(blob_offsets, ifd_offsets)
        if isinstance(value, bytes):
            return len(value), value
        fmt = {SHORT: "H", LONG: "I", RATIONAL: "I"}[typ]
        raw = struct.pack(f"<{len(value)}{fmt}", *value)
        return (len(value) // 2 if typ == RATIONAL else len(value)), raw

    sizes = []
    for ifd in ifds:
        extra = 0
        for _, typ, value in ifd:
            _, raw = count_and_raw(typ, value, [0] * len(ifds))
            extra += 0 if len(raw) <= 4 else len(raw) + len(raw) % 2
        sizes.append(2 + 12 * len(ifd) + 4 + extra)
    ifd_offsets = []
    for size in sizes:
        ifd_offsets.append(pos)
        pos += size
    out = bytearray(b"II*\x00" + struct.pack("<I", ifd_offsets[chain[0]]))
    for blob in blobs:
        out += blob + b"\0" * (len(blob) % 2)
    for i, ifd in enumerate(ifds):
        nxt = chain.index(i) + 1 if i in chain else len(chain)
        next_offset = ifd_offsets[chain[nxt]] if nxt < len(chain) else 0
        data_pos = ifd_offsets[i] + 2 + 12 * len(ifd) + 4
        table, data = struct.pack("<H", len(ifd)), b""
        for tag, typ, value in sorted(ifd, key=lambda e: e[0]):
            count, raw = count_and_raw(typ, value, ifd_offsets)
            if len(raw) <= 4:
                field_ = raw.ljust(4, b"\0")
            else:
                field_ = struct.pack("<I", data_pos + len(data))
                data += raw + b"\0" * (len(raw) % 2)
            table += struct.pack("<HHI", tag, typ, count) + field_
        out += table + struct.pack("<I", next_offset) + data
    return bytes(out)


def rgb_page(im: Image.Image, strip: int, *extra: Entry) -> list[Entry]:
    """The entries of an uncompressed RGB page whose pixels are blob ``strip``."""
    return [
        (256, LONG, (im.width,)), (257, LONG, (im.height,)), (258, SHORT, (8, 8, 8)),
        (259, SHORT, (1,)), (262, SHORT, (2,)),
        (273, LONG, lambda blobs, _: (blobs[strip],)),
        (277, SHORT, (3,)), (278, LONG, (im.height,)),
        (279, LONG, (im.width * im.height * 3,)), *extra,
    ]


def exif_with_thumbnail() -> bytes:
    """EXIF whose IFD1 holds a JPEG thumbnail, as every camera and phone writes."""
    thumb = encode(picture(size=(16, 12)), "JPEG", comment=S + b"EXIF-THUMBNAIL")
    tiff = tiff_bytes(
        [[(271, ASCII, S + b"THUMBCAM\0")],
         [(259, SHORT, (6,)), (513, LONG, lambda blobs, _: (blobs[0],)),
          (514, LONG, (len(thumb),))]],
        [thumb], chain=[0, 1])
    return b"Exif\x00\x00" + tiff


def camera_exif() -> Image.Exif:
    """IFD0 identity tags, an Exif IFD with a maker note and serials, and GPS."""
    exif = Image.Exif()
    base = ExifTags.Base
    for tag, text in [(base.Make, b"MAKE"), (base.Model, b"MODEL"),
                      (base.Software, b"SOFTWARE"),
                      (base.Artist, b"ARTIST"), (base.Copyright, b"COPYRIGHT"),
                      (base.HostComputer, b"HOST"), (base.ImageDescription, b"DESCRIPTION")]:
        exif[tag] = (S + text).decode()
    exif[base.DateTime] = "2031:01:02 03:04:05"
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[base.MakerNote] = b"Nikon\x00\x02\x10\x00\x00" + S + b"MAKERNOTE"
    sub[base.BodySerialNumber] = (S + b"SERIAL").decode()
    sub[base.LensModel] = (S + b"LENS").decode()
    sub[base.UserComment] = b"ASCII\x00\x00\x00" + S + b"USERCOMMENT"
    sub[base.DateTimeOriginal] = "2031:01:02 03:04:05"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (35.0, 41.0, 22.125),
        ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (139.0, 41.0, 30.375),
        ExifTags.GPS.GPSMapDatum: (S + b"GPS").decode(),
    }
    return exif


CAMERA_MARKERS = tuple(S + m for m in (b"MAKE", b"MODEL", b"SOFTWARE", b"ARTIST", b"COPYRIGHT",
                                       b"HOST", b"DESCRIPTION", b"MAKERNOTE", b"SERIAL",
                                       b"LENS", b"USERCOMMENT", b"GPS"))

XMP = (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
       b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
       b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
       b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>' + S + b'XMP'
       b'</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


ICC_NAME = "KAKEHASHI-ICC".encode("utf-16-be")


def named_icc() -> bytes:
    """lcms's sRGB profile renamed: profiles carry free text (description, copyright,
    device model), and a profile not named sRGB is converted from, not trusted."""
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    name = "sRGB built-in".encode("utf-16-be")  # an mluc description: UTF-16
    at = profile.find(name)
    assert at > 0 and len(name) == len(ICC_NAME)
    profile[at:at + len(name)] = ICC_NAME
    return bytes(profile)


def iptc_irb() -> bytes:
    """Photoshop image resources: IPTC-NAA (0x0404) with by-line, city, caption."""
    iptc = b"".join(b"\x1c\x02" + bytes([ds]) + struct.pack(">H", len(v)) + v
                    for ds, v in [(0x50, S + b"IPTC-BYLINE"), (0x5A, S + b"IPTC-CITY"),
                                  (0x78, S + b"IPTC-CAPTION")])
    return (b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iptc)) + iptc
            + b"\0" * (len(iptc) % 2))


# --- JPEG ---------------------------------------------------------------------------

def jpeg_segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def jpeg_insert(data: bytes, *segments: bytes, replace_app0: bool = False) -> bytes:
    """``segments`` spliced in after SOI and the encoder's APP0 (or instead of it)."""
    assert data[2:4] == b"\xff\xe0"
    after_app0 = 4 + int.from_bytes(data[4:6], "big")
    return data[:2] + (b"" if replace_app0 else data[2:after_app0]) + b"".join(segments) \
        + data[after_app0:]


def jfif_with_thumbnail() -> bytes:
    """JFIF APP0 with a 2x1 RGB thumbnail, and a JFXX extension APP0 with a JPEG one."""
    thumb_pixels = S[:6]  # two RGB pixels that spell a marker prefix
    jfif = b"JFIF\x00\x01\x02\x01\x00\x48\x00\x48" + b"\x02\x01" + thumb_pixels
    jfxx_thumb = encode(picture(size=(8, 8)), "JPEG", comment=S + b"JFXX-THUMBNAIL")
    jfxx = b"JFXX\x00\x10" + jfxx_thumb
    return jpeg_insert(encode(picture(), "JPEG", quality=95),
                       jpeg_segment(0xE0, jfif), jpeg_segment(0xE0, jfxx), replace_app0=True)


def jpeg_cases() -> list[Case]:
    pic = picture()
    vendor = [
        (0xE1, b"http://ns.adobe.com/xmp/extension/\x00" + b"0" * 32 + b"\0\0\0\x40\0\0\0\0"
         + S + b"EXTENDED-XMP"),
        (0xE2, b"FPXR\x00\x00" + S + b"FLASHPIX"),
        (0xE3, b"Meta\x00\x00" + S + b"KODAK-META"),
        (0xEA, b"AROT\x00\x00" + S + b"APP10"),
        (0xEB, b"JP\x00\x00" + S + b"JPEG-XT"),
        (0xEC, b"Ducky\x00\x01\x00\x04\x00\x00\x00\x50" + S + b"DUCKY"),
        (0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01"),
        (0xEF, S + b"APP15"),
    ]
    return [
        Case("jpeg-camera-exif-gps-makernote", "jpeg",
             encode(pic, "JPEG", quality=95, exif=camera_exif()), CAMERA_MARKERS,
             frozenset({"image.exif", "image.gps"}), lossy=True),
        Case("jpeg-exif-thumbnail", "jpeg",
             encode(pic, "JPEG", quality=95, exif=exif_with_thumbnail()),
             (S + b"THUMBCAM", S + b"EXIF-THUMBNAIL"),
             frozenset({"image.exif", "image.thumbnail"}), lossy=True),
        Case("jpeg-xmp", "jpeg", encode(pic, "JPEG", quality=95, xmp=XMP), (S + b"XMP",),
             frozenset({"image.xmp"}), lossy=True),
        Case("jpeg-comment", "jpeg", encode(pic, "JPEG", quality=95, comment=S + b"COM"),
             (S + b"COM",), frozenset({"image.comment"}), lossy=True),
        Case("jpeg-icc-profile", "jpeg",
             encode(pic, "JPEG", quality=95, icc_profile=named_icc()),
             (b"ICC_PROFILE", ICC_NAME), frozenset({"image.icc_converted"}), lossy=True),
        Case("jpeg-photoshop-iptc-app13", "jpeg",
             jpeg_insert(encode(pic, "JPEG", quality=95),
                         jpeg_segment(0xED, b"Photoshop 3.0\x00" + iptc_irb())),
             (b"Photoshop 3.0", S + b"IPTC-BYLINE", S + b"IPTC-CITY"),
             frozenset({"image.metadata"}), lossy=True),
        Case("jpeg-vendor-app-segments", "jpeg",
             jpeg_insert(encode(pic, "JPEG", quality=95),
                         *(jpeg_segment(m, body) for m, body in vendor)),
             (S + b"EXTENDED-XMP", S + b"FLASHPIX", S + b"KODAK-META", S + b"APP10",
              S + b"JPEG-XT", S + b"DUCKY", S + b"APP15"),
             frozenset({"image.metadata"}), lossy=True),
        Case("jpeg-jfif-and-jfxx-thumbnails", "jpeg", jfif_with_thumbnail(),
             (S[:6], S + b"JFXX-THUMBNAIL"), frozenset({"image.thumbnail"}), lossy=True),
        Case("jpeg-everything-at-once", "jpeg",
             jpeg_insert(encode(pic, "JPEG", quality=95, exif=camera_exif(), xmp=XMP,
                                comment=S + b"COM", icc_profile=named_icc()),
                         jpeg_segment(0xED, b"Photoshop 3.0\x00" + iptc_irb())),
             CAMERA_MARKERS + (S + b"XMP", S + b"COM", S + b"IPTC-BYLINE", ICC_NAME),
             frozenset({"image.exif", "image.gps", "image.xmp", "image.comment",
                        "image.metadata", "image.icc_converted"}), lossy=True),
    ]


# --- PNG ----------------------------------------------------------------------------

def png_chunk(ctype: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(ctype + body)
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", crc)


def png_insert(data: bytes, *chunks: bytes, before: bytes = b"IDAT") -> bytes:
    at = data.find(before) - 4
    return data[:at] + b"".join(chunks) + data[at:]


def png_cases() -> list[Case]:
    pic = picture()
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", (S + b"TEXT").decode())
    text.add_text("Description", (S + b"ZTXT ").decode() * 10, zip=True)
    text.add_itxt("Title", S.decode() + "ITXT 架け橋", lang="ja", tkey="題名")
    text.add_itxt("Comment", (S + b"ITXT-Z ").decode() * 10, zip=True)
    xmp = PngImagePlugin.PngInfo()
    xmp.add_itxt("XML:com.adobe.xmp", XMP.decode())
    # ImageMagick's way of carrying EXIF and IPTC in PNG: hex in a text chunk.
    magick = PngImagePlugin.PngInfo()
    magick.add_text("Raw profile type iptc", "\niptc\n      8\n" + (S + b"MAGICK-IPTC").hex())
    private = [png_chunk(b"prVt", S + b"PRIVATE-CHUNK"),
               png_chunk(b"tIME", b"\x07\xef\x01\x02\x03\x04\x05"),
               png_chunk(b"gAMA", struct.pack(">I", 45455)), png_chunk(b"sRGB", b"\x00"),
               png_chunk(b"bKGD", b"\x00\x10\x00\x20\x00\x30"),
               png_chunk(b"vpAg", b"\0\0\0\x30\0\0\0\x20\0"),
               png_chunk(b"iDOT", S + b"APPLE-IDOT"), png_chunk(b"caBX", S + b"C2PA")]
    return [
        Case("png-text-ztxt-itxt", "png", encode(pic, "PNG", pnginfo=text),
             (b"Author", S + b"TEXT", b"Title"), frozenset({"image.text_chunk"})),
        Case("png-xmp-itxt", "png", encode(pic, "PNG", pnginfo=xmp), (S + b"XMP",),
             frozenset({"image.xmp"})),
        Case("png-imagemagick-raw-profile", "png", encode(pic, "PNG", pnginfo=magick),
             (b"Raw profile type iptc",), frozenset({"image.text_chunk"})),
        Case("png-exif-chunk-with-gps", "png", encode(pic, "PNG", exif=camera_exif()),
             (b"eXIf",) + CAMERA_MARKERS, frozenset({"image.exif", "image.gps"})),
        Case("png-icc-profile", "png", encode(pic, "PNG", icc_profile=named_icc()),
             (b"iCCP",), frozenset({"image.icc_converted"}), lossy=True),
        Case("png-private-time-and-colour-chunks", "png",
             png_insert(encode(pic, "PNG"), *private),
             (b"prVt", S + b"PRIVATE-CHUNK", b"tIME", b"gAMA", b"vpAg", S + b"APPLE-IDOT",
              S + b"C2PA"), frozenset({"image.metadata"})),
        Case("png-palette-with-text", "png", encode(picture("P"), "PNG", pnginfo=text),
             (S + b"TEXT",), frozenset({"image.text_chunk"})),
        Case("png-chunks-after-idat", "png",
             png_insert(encode(pic, "PNG"),
                        png_chunk(b"tEXt", b"Comment\0" + S + b"LATE-TEXT"),
                        png_chunk(b"prVt", S + b"LATE-PRIVATE"), before=b"IEND"),
             (S + b"LATE-TEXT", S + b"LATE-PRIVATE"),
             frozenset({"image.text_chunk", "image.metadata"})),
    ]


# --- GIF ----------------------------------------------------------------------------

def gif_sub_blocks(data: bytes) -> bytes:
    return b"".join(bytes([len(data[i:i + 255])]) + data[i:i + 255]
                    for i in range(0, len(data), 255)) + b"\x00"


def gif_insert(data: bytes, *blocks: bytes) -> bytes:
    """``blocks`` spliced in after the header and global colour table."""
    at = 13 + ((3 << ((data[10] & 7) + 1)) if data[10] & 0x80 else 0)
    return data[:at] + b"".join(blocks) + data[at:]


def gif_cases() -> list[Case]:
    pic = picture("P")
    xmp_ext = b"\x21\xff\x0bXMP DataXMP" + gif_sub_blocks(XMP)
    icc_ext = b"\x21\xff\x0bICCRGBG1012" + gif_sub_blocks(named_icc())
    magick_ext = b"\x21\xff\x0bMGK8BIM0000" + gif_sub_blocks(iptc_irb())
    plain_text = (b"\x21\x01\x0c" + struct.pack("<HHHHBBBB", 0, 0, 48, 16, 8, 16, 1, 0)
                  + gif_sub_blocks(S + b"PLAIN-TEXT"))
    return [
        Case("gif-comment", "gif", encode(pic, "GIF", comment=S + b"GIF-COMMENT"),
             (S + b"GIF-COMMENT",), frozenset({"image.comment"})),
        Case("gif-xmp-application-extension", "gif", gif_insert(encode(pic, "GIF"), xmp_ext),
             (b"XMP DataXMP", S + b"XMP"), frozenset({"image.xmp"})),
        Case("gif-icc-and-iptc-application-extensions", "gif",
             gif_insert(encode(pic, "GIF"), icc_ext, magick_ext),
             (b"ICCRGBG1012", b"MGK8BIM0000", S + b"IPTC-BYLINE"),
             frozenset({"image.metadata"})),
        Case("gif-plain-text-extension", "gif", gif_insert(encode(pic, "GIF"), plain_text),
             (S + b"PLAIN-TEXT",), frozenset({"image.metadata"})),
    ]


# --- WebP ---------------------------------------------------------------------------

def webp_insert(data: bytes, chunk: bytes) -> bytes:
    """A RIFF chunk appended, the RIFF size fixed."""
    body = data[12:] + chunk
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def webp_cases() -> list[Case]:
    pic = picture()
    body = S + b"WEBP-CHUNK"
    unknown = b"KKHS" + struct.pack("<I", len(body)) + body + b"\0" * (len(body) % 2)
    return [
        Case("webp-exif-with-gps", "webp", encode(pic, "WEBP", quality=95, exif=camera_exif()),
             (b"EXIF",) + CAMERA_MARKERS, frozenset({"image.exif", "image.gps"}), lossy=True),
        Case("webp-xmp", "webp", encode(pic, "WEBP", quality=95, xmp=XMP), (S + b"XMP",),
             frozenset({"image.xmp"}), lossy=True),
        Case("webp-icc-profile", "webp",
             encode(pic, "WEBP", quality=95, icc_profile=named_icc()),
             (b"ICCP", ICC_NAME), frozenset({"image.icc_converted"}), lossy=True),
        Case("webp-unknown-chunk", "webp",
             webp_insert(encode(pic, "WEBP", quality=95, xmp=XMP), unknown),
             (b"KKHS", S + b"WEBP-CHUNK", S + b"XMP"), frozenset({"image.metadata"}),
             lossy=True),
    ]


# --- TIFF ---------------------------------------------------------------------------

def photoshop_tiffinfo() -> TiffImagePlugin.ImageFileDirectory_v2:
    """What Photoshop, scanners and document systems put in IFD0."""
    ifd = TiffImagePlugin.ImageFileDirectory_v2()
    for tag, text in [(270, b"DESCRIPTION"), (269, b"DOCUMENT-NAME"), (285, b"PAGE-NAME"),
                      (305, b"Adobe Photoshop"), (315, b"ARTIST"), (316, b"HOST"),
                      (271, b"MAKE"), (272, b"MODEL"), (33432, b"COPYRIGHT")]:
        ifd[tag] = (S + text).decode()
    ifd[306] = "2031:01:02 03:04:05"
    ifd[297] = (0, 1)  # PageNumber: page 0 of 1
    return ifd


def private_tiffinfo() -> TiffImagePlugin.ImageFileDirectory_v2:
    """Tags 0x8000 and up that editors and scanners write: Photoshop resources, IPTC,
    layer data, PrintIM, and one nobody registered."""
    ifd = TiffImagePlugin.ImageFileDirectory_v2()
    for tag, typ, value in [(34377, UNDEFINED, b"8BIM\x04\x0c\0\0\0\0\0\x10" + S + b"IRB"),
                            (33723, UNDEFINED, iptc_irb()[12:]),
                            (37724, UNDEFINED,
                             b"Adobe Photoshop Document Data Block\0" + S + b"LAYERS"),
                            (50341, UNDEFINED, b"PrintIM\x000300" + S + b"PRINTIM"),
                            (65000, UNDEFINED, S + b"PRIVATE-65000"),
                            (700, BYTE, XMP)]:
        ifd[tag] = value
        ifd.tagtype[tag] = typ
    return ifd


def tiff_with_subifd_thumbnail() -> bytes:
    """A page whose SubIFDs (tag 330) hold a reduced-resolution preview."""
    pic, thumb = picture(), picture(size=(12, 8))
    return tiff_bytes(
        [rgb_page(pic, 0, (330, LONG, lambda _, ifds: (ifds[1],))),
         rgb_page(thumb, 1, (254, LONG, (1,)), (270, ASCII, S + b"SUBIFD-THUMB\0"))],
        [pic.tobytes(), thumb.tobytes()], chain=[0])


def tiff_with_thumbnail_page() -> bytes:
    """Two pages in the main chain, the second marked reduced-resolution (a preview)."""
    pic, thumb = picture(), picture(size=(12, 8))
    return tiff_bytes(
        [rgb_page(pic, 0), rgb_page(thumb, 1, (254, LONG, (1,)),
                                    (270, ASCII, S + b"THUMB-PAGE\0"))],
        [pic.tobytes(), thumb.tobytes()], chain=[0, 1])


def tiff_cases() -> list[Case]:
    pic = picture()
    exif = camera_exif()
    return [
        Case("tiff-photoshop-description-document-name-page-number", "tiff",
             encode(pic, "TIFF", tiffinfo=photoshop_tiffinfo()),
             (S + b"DESCRIPTION", S + b"DOCUMENT-NAME", S + b"PAGE-NAME", S + b"ARTIST"),
             frozenset({"image.metadata"})),
        Case("tiff-photoshop-lzw", "tiff",
             encode(pic, "TIFF", tiffinfo=photoshop_tiffinfo(), compression="tiff_lzw"),
             (S + b"DESCRIPTION", S + b"DOCUMENT-NAME"), frozenset({"image.metadata"})),
        Case("tiff-private-tags-iptc-xmp", "tiff",
             encode(pic, "TIFF", tiffinfo=private_tiffinfo(),
                    compression="tiff_adobe_deflate"),
             (S + b"IRB", S + b"IPTC-BYLINE", S + b"LAYERS", S + b"PRINTIM",
              S + b"PRIVATE-65000", S + b"XMP"), frozenset({"image.metadata", "image.xmp"})),
        Case("tiff-exif-and-gps-ifds", "tiff", encode(pic, "TIFF", exif=exif.tobytes()),
             CAMERA_MARKERS, frozenset({"image.exif", "image.gps", "image.metadata"})),
        Case("tiff-icc-profile", "tiff", encode(pic, "TIFF", icc_profile=named_icc()),
             (ICC_NAME,), frozenset({"image.icc_converted"}), lossy=True),
        Case("tiff-subifd-thumbnail", "tiff", tiff_with_subifd_thumbnail(),
             (S + b"SUBIFD-THUMB",), frozenset({"image.thumbnail"})),
        Case("tiff-reduced-resolution-page", "tiff", tiff_with_thumbnail_page(),
             (S + b"THUMB-PAGE",), frozenset({"image.thumbnail"})),
        Case("tiff-multipage-with-tags", "tiff",
             encode(pic, "TIFF", save_all=True, append_images=[picture("L")],
                    tiffinfo=photoshop_tiffinfo()),
             (S + b"DESCRIPTION", S + b"DOCUMENT-NAME"), frozenset({"image.metadata"})),
        Case("tiff-greyscale-scan", "tiff",
             encode(picture("L"), "TIFF", tiffinfo=photoshop_tiffinfo(), dpi=(300, 300)),
             (S + b"DESCRIPTION",), frozenset({"image.metadata"})),
        Case("tiff-bilevel-fax", "tiff",
             encode(picture("1"), "TIFF", tiffinfo=photoshop_tiffinfo(), compression="group4"),
             (S + b"DOCUMENT-NAME",), frozenset({"image.metadata"})),
    ]


# --- BMP ----------------------------------------------------------------------------

def bmp_cases() -> list[Case]:
    return [
        Case("bmp-with-appended-data", "bmp", encode(picture(), "BMP") + S + b"BMP-TAIL",
             (S + b"BMP-TAIL",)),
    ]


def corpus() -> list[Case]:
    return jpeg_cases() + png_cases() + gif_cases() + webp_cases() + tiff_cases() + bmp_cases()
