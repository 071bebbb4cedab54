"""Images family (CDR.md "Images"): hostile fixtures generated here, outputs re-opened."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import replace

import pytest
from PIL import ExifTags, Image, ImageSequence, PngImagePlugin

from sanitize.config import SanitizeConfig
from sanitize.formats import Context, images
from sanitize.report import Blocked, Rebuilt, VerifyFailed

CTX = Context(SanitizeConfig())
RED, BLUE = (255, 0, 0), (0, 0, 255)


def ctx_with(**limits: int) -> Context:
    return Context(replace(SanitizeConfig(), **limits))


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def disarm(data: bytes, kind: str, ctx: Context = CTX) -> Rebuilt:
    out = images.rebuild(data, kind, ctx)
    images.verify(out.data, out.kind, ctx)
    return out


def codes(out: Rebuilt) -> set[str]:
    return {r.code for r in out.removed}


def reopen(out: Rebuilt) -> Image.Image:
    im = Image.open(io.BytesIO(out.data))
    im.load()
    return im


def close(a: tuple[int, ...], b: tuple[int, ...], tol: int = 40) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def png_chunk_types(data: bytes) -> list[bytes]:
    pos, types = 8, []
    while pos < len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        types.append(ctype)
        pos += 12 + length
    return types


def two_colour(size: tuple[int, int] = (40, 20)) -> Image.Image:
    """Left half red, right half blue: shows which way an image was turned."""
    im = Image.new("RGB", size, BLUE)
    im.paste(RED, (0, 0, size[0] // 2, size[1]))
    return im


# --- JPEG --------------------------------------------------------------------------------

def gps_jpeg() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SECRETCAM"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (35.0, 41.0, 22.0),
        ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (139.0, 41.0, 30.0),
        ExifTags.GPS.GPSMapDatum: "KAKEHASHI-GPS-DATUM",
    }
    return encode(two_colour((64, 48)), "JPEG", exif=exif, comment=b"SECRET-COMMENT",
                  xmp=b"<x:xmpmeta>SECRET-XMP</x:xmpmeta>")


def test_jpeg_gps_exif_xmp_comment_are_gone() -> None:
    data = gps_jpeg()
    assert ExifTags.IFD.GPSInfo in Image.open(io.BytesIO(data)).getexif()  # fixture is real
    out = disarm(data, "jpeg")
    assert out.kind == "jpeg"
    assert {"image.exif", "image.gps", "image.xmp", "image.comment"} <= codes(out)
    im = reopen(out)
    assert len(im.getexif()) == 0 and im.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
    assert not {"exif", "xmp", "comment", "icc_profile"} & set(im.info)
    for secret in (b"Exif\x00\x00", b"KAKEHASHI-GPS-DATUM", b"SECRETCAM", b"SECRET-XMP",
                   b"SECRET-COMMENT", b"http://ns.adobe.com/xap"):
        assert secret in data and secret not in out.data
    assert im.size == (64, 48)


def test_exif_orientation_is_applied_then_dropped() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # "rotate 90 degrees clockwise to display"
    out = disarm(encode(two_colour(), "JPEG", exif=exif, quality=95), "jpeg")
    im = reopen(out).convert("RGB")
    assert im.size == (20, 40)
    # Turned clockwise, the red left half is now on top.
    assert close(im.getpixel((10, 5)), RED) and close(im.getpixel((10, 35)), BLUE)
    assert ExifTags.Base.Orientation not in im.getexif()


def test_clean_jpeg_keeps_its_quantisation_tables() -> None:
    data = encode(two_colour((64, 64)), "JPEG", quality=60)
    out = disarm(data, "jpeg")
    assert out.removed == ()
    assert reopen(out).quantization == Image.open(io.BytesIO(data)).quantization


def test_jpeg_trailing_data_and_appended_file_are_dropped() -> None:
    data = encode(two_colour(), "JPEG") + b"PK\x03\x04 appended zip, polyglot"
    out = disarm(data, "jpeg")
    assert "image.trailing_data" in codes(out)
    assert b"PK\x03\x04" not in out.data and out.data.endswith(b"\xff\xd9")


def srgb_like_icc(swap_red_green: bool) -> bytes:
    """A minimal ICC v2 RGB display profile (matrix/TRC, linear curves).

    With red and green primaries swapped, a pixel stored as pure red means green:
    a converter that honours the profile must turn it green.
    """
    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    red, green, blue = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)
    if swap_red_green:
        red, green = green, red
    text = b"Swapped test RGB\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 12 + b"\0" * 67
    tags = [(b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249)), (b"rXYZ", xyz(*red)),
            (b"gXYZ", xyz(*green)), (b"bXYZ", xyz(*blue)),
            (b"rTRC", b"curv\0\0\0\0\0\0\0\0"), (b"gTRC", b"curv\0\0\0\0\0\0\0\0"),
            (b"bTRC", b"curv\0\0\0\0\0\0\0\0"), (b"cprt", b"text\0\0\0\0none\0")]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"\0" * 4 + b"\x02\x10\0\0" + b"mntrRGB XYZ "
              + b"\0" * 12 + b"acsp" + b"\0" * 24 + b"\0" * 4 + xyz(0.9642, 1.0, 0.8249)[8:]
              + b"\0" * 4 + b"\0" * 16 + b"\0" * 28)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def test_icc_profile_is_converted_to_srgb_and_dropped() -> None:
    data = encode(Image.new("RGB", (32, 32), RED), "JPEG", quality=95,
                  icc_profile=srgb_like_icc(swap_red_green=True))
    out = disarm(data, "jpeg")
    assert "image.icc_converted" in codes(out)
    im = reopen(out)
    assert "icc_profile" not in im.info and b"ICC_PROFILE" not in out.data
    r, g, b = im.getpixel((16, 16))
    assert g > 200 and r < 80 and b < 80  # the colour the profile meant, in sRGB


def test_pictures_that_share_a_profile_are_each_converted_by_their_own() -> None:
    # A camera or an Office template writes one profile into every picture, and the
    # engine keeps a profile's transforms for the next picture (images._PROFILES):
    # each picture must still come out as its own profile and colour mode mean.
    swapped, straight = srgb_like_icc(swap_red_green=True), srgb_like_icc(swap_red_green=False)
    for fmt, mode, kind in (("JPEG", "RGB", "jpeg"), ("PNG", "RGBA", "png"),
                            ("PNG", "RGB", "png"), ("JPEG", "RGB", "jpeg")):
        for icc, meant in ((swapped, (0, 255, 0)), (straight, RED), (swapped, (0, 255, 0))):
            fill = RED + (255,) if mode == "RGBA" else RED
            out = disarm(encode(Image.new(mode, (32, 32), fill), fmt, icc_profile=icc), kind)
            assert "image.icc_converted" in codes(out)
            pixel = reopen(out).convert("RGB").getpixel((16, 16))
            assert close(pixel, meant), (fmt, mode, icc is swapped, pixel)


def test_cmyk_jpeg_comes_out_rgb() -> None:
    data = encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG", quality=95)
    out = disarm(data, "jpeg")
    im = reopen(out)
    assert im.mode == "RGB" and close(im.getpixel((16, 16)), RED)
    assert b"Adobe" not in out.data


def test_mpo_keeps_the_main_image_only() -> None:
    main, second = two_colour((64, 32)), Image.new("RGB", (16, 8), "green")
    data = encode(main, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(data)).n_frames == 2
    out = disarm(data, "jpeg")
    assert "image.extra_frames" in codes(out)
    im = reopen(out)
    assert im.format == "JPEG" and getattr(im, "n_frames", 1) == 1 and im.size == (64, 32)


# --- PNG ---------------------------------------------------------------------------------

def test_png_text_chunks_and_trailing_data_are_gone() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "SECRET-TEXT")
    info.add_text("Author", "SECRET-ZTXT " * 20, zip=True)
    info.add_itxt("Title", "SECRET-ITXT 架け橋", lang="ja")
    data = encode(two_colour(), "PNG", pnginfo=info) + b"TRAILING-SECRET"
    assert {b"tEXt", b"zTXt", b"iTXt"} <= set(png_chunk_types(data[:-15]))
    out = disarm(data, "png")
    assert {"image.text_chunk", "image.trailing_data"} <= codes(out)
    assert set(png_chunk_types(out.data)) <= {b"IHDR", b"IDAT", b"IEND", b"pHYs"}
    assert out.data.endswith(png_chunk(b"IEND", b""))
    assert b"SECRET" not in out.data
    im = reopen(out)
    assert im.getpixel((5, 5)) == RED and im.getpixel((35, 5)) == BLUE  # lossless


def test_png_palette_transparency_survives() -> None:
    im = Image.new("P", (8, 8), 1)
    im.putpalette([0, 0, 0, 255, 0, 0])
    data = encode(im, "PNG", transparency=0)
    out = reopen(disarm(data, "png"))
    assert out.mode == "P" and out.info.get("transparency") == 0


def bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height grey pixels; a few hundred bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(b"\0" * 10_000, 9)) + png_chunk(b"IEND", b""))


def test_decompression_bomb_is_blocked_before_decoding() -> None:
    data = bomb_png(100_000, 100_000)
    assert len(data) < 200
    saved = Image.MAX_IMAGE_PIXELS
    with pytest.raises(Blocked) as err:
        images.rebuild(data, "png", CTX)
    assert err.value.reason == "limit_exceeded"
    assert Image.MAX_IMAGE_PIXELS == saved  # the process-wide setting is restored


@pytest.mark.parametrize("limits", [
    {"max_image_pixels": 1000},  # 1-2x the limit: Pillow only warns; we refuse
    {"max_image_pixels": 100},  # over 2x: Pillow's own error
    {"max_total_pixels": 1000},  # our total across frames
])
def test_configured_pixel_limits_block(limits: dict[str, int]) -> None:
    with pytest.raises(Blocked) as err:
        images.rebuild(encode(two_colour((40, 40)), "PNG"), "png", ctx_with(**limits))
    assert err.value.reason == "limit_exceeded"


# --- animation and pages -----------------------------------------------------------------

COLOURS = [RED, (0, 255, 0), BLUE, (255, 255, 0), (255, 0, 255)]


def frames(n: int, mode: str = "RGB") -> list[Image.Image]:
    return [Image.new(mode, (16, 16), COLOURS[i % len(COLOURS)]) for i in range(n)]


def animated(fmt: str, n: int, **params: object) -> bytes:
    first, *rest = frames(n)
    return encode(first, fmt, save_all=True, append_images=rest,
                  duration=[100 * (i + 1) for i in range(n)], loop=0, **params)


def test_gif_with_too_many_frames_is_blocked() -> None:
    with pytest.raises(Blocked) as err:
        images.rebuild(animated("GIF", 5), "gif", ctx_with(max_image_frames=3))
    assert err.value.reason == "limit_exceeded"


def test_gif_total_pixels_across_frames_is_limited() -> None:
    with pytest.raises(Blocked) as err:  # 5 frames of 256 pixels
        images.rebuild(animated("GIF", 5), "gif", ctx_with(max_total_pixels=1000))
    assert err.value.reason == "limit_exceeded"


@pytest.mark.parametrize("fmt,kind", [("GIF", "gif"), ("WEBP", "webp"), ("PNG", "png")])
def test_animation_keeps_frames_and_timing(fmt: str, kind: str) -> None:
    params = {"comment": b"SECRET-COMMENT"} if fmt == "GIF" else {}
    out = disarm(animated(fmt, 3, **params), kind)
    im = Image.open(io.BytesIO(out.data))
    assert im.n_frames == 3
    seen = [(f.convert("RGB").getpixel((8, 8)), f.info.get("duration"))
            for f in ImageSequence.Iterator(im)]
    assert [close(c, COLOURS[i]) for i, (c, _) in enumerate(seen)] == [True] * 3
    assert [d for _, d in seen] == [100, 200, 300]
    assert b"SECRET" not in out.data


def test_tiff_pages_kept_and_tags_dropped() -> None:
    first, second = two_colour(), Image.new("L", (30, 30), 128)
    tiffinfo = {270: "SECRET-DESCRIPTION", 315: "SECRET-ARTIST"}
    data = encode(first, "TIFF", save_all=True, append_images=[second], tiffinfo=tiffinfo)
    out = disarm(data, "tiff")
    assert out.kind == "tiff" and "image.metadata" in codes(out)
    im = Image.open(io.BytesIO(out.data))
    assert im.n_frames == 2 and b"SECRET" not in out.data
    im.seek(1)
    assert im.size == (30, 30) and im.getpixel((3, 3)) == 128


def test_bmp_becomes_png() -> None:
    out = disarm(encode(two_colour(), "BMP"), "bmp")
    assert out.kind == "png" and out.data.startswith(b"\x89PNG")
    assert reopen(out).getpixel((5, 5)) == RED


# --- refusals ----------------------------------------------------------------------------

EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
       b"(/etc/passwd) (r) file\nshowpage\n%%EOF\n")


@pytest.mark.parametrize("data,kind", [
    (EPS, "jpeg"),  # only the detected kind's decoder runs: never EPS
    (EPS, "png"),
    (b"SIMPLE  =                    T" + b" " * 50, "tiff"),  # FITS header
    (encode(two_colour(), "PNG"), "jpeg"),  # a PNG is not a JPEG
    (encode(two_colour(), "JPEG")[:300], "jpeg"),  # truncated
])
def test_other_or_broken_input_is_blocked_as_corrupt(data: bytes, kind: str) -> None:
    with pytest.raises(Blocked) as err:
        images.rebuild(data, kind, CTX)
    assert err.value.reason == "corrupt"


def test_unknown_kind_is_unsupported() -> None:
    with pytest.raises(Blocked) as err:
        images.rebuild(b"whatever", "pdf", CTX)
    assert err.value.reason == "unsupported_kind"


# --- verify refuses what rebuild removes (it is not a rubber stamp) -----------------------

def gif_with_comment() -> bytes:
    return encode(Image.new("P", (4, 4)), "GIF", comment=b"hi")


def webp_with_exif() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "X"
    return encode(Image.new("RGB", (4, 4)), "WEBP", exif=exif)


@pytest.mark.parametrize("data,kind", [
    (gps_jpeg(), "jpeg"),
    (encode(two_colour(), "JPEG", icc_profile=srgb_like_icc(False)), "jpeg"),
    (encode(two_colour(), "JPEG") + b"junk", "jpeg"),
    (encode(two_colour(), "JPEG") + encode(two_colour(), "JPEG"), "jpeg"),
    (encode(two_colour(), "PNG") + b"junk", "png"),
    (encode(two_colour(), "PNG")[:-12] + png_chunk(b"tEXt", b"k\0v") + png_chunk(b"IEND", b""),
     "png"),
    (gif_with_comment(), "gif"),
    (encode(Image.new("P", (4, 4)), "GIF") + b"junk", "gif"),
    (webp_with_exif(), "webp"),
    (encode(Image.new("RGB", (4, 4)), "TIFF", tiffinfo={315: "me"}), "tiff"),
    (bomb_png(100_000, 100_000), "png"),
])
def test_verify_rejects_metadata_trailing_data_and_bombs(data: bytes, kind: str) -> None:
    with pytest.raises(VerifyFailed):
        images.verify(data, kind, CTX)
