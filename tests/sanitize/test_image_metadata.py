"""Images with the metadata real devices and editors write are delivered, and none of it
survives: every case of the corpus (``image_fixtures``) goes through the engine, and the
output is re-parsed with Pillow and searched byte by byte for what was planted."""

from __future__ import annotations

import functools
import io

import pytest
from PIL import ExifTags, Image, ImageChops, ImageSequence, ImageStat

from sanitize.config import SanitizeConfig
from sanitize.engine import disarm_bytes
from sanitize.formats import Context, images
from sanitize.kinds import KINDS
from sanitize.report import Result, Verdict, VerifyFailed
from tests.sanitize import image_fixtures as fx

CFG = SanitizeConfig()
CORPUS = {case.name: case for case in fx.corpus()}
PILLOW_FORMAT = {"jpeg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WEBP", "tiff": "TIFF"}
# What Pillow exposes of metadata after a re-open; none of it may be present.
METADATA_INFO = ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment", "photoshop",
                 "extension", "gamma", "chromaticity", "srgb")
# The tags a TIFF needs to be shown (size, samples, compression, strips, colour map,
# resolution); orientation is not among them: it is applied to the pixels.
TIFF_PIXEL_TAGS = frozenset({254, 256, 257, 258, 259, 262, 273, 277, 278, 279, 282, 283,
                             284, 296, 317, 320, 338, 339})


@functools.cache
def disarmed(name: str) -> Result:
    case = CORPUS[name]
    return disarm_bytes(case.data, "upload" + KINDS[case.kind].extension, CFG)


def reopen(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def family(mode: str) -> str:
    return {"1": "grey", "L": "grey", "LA": "grey", "I;16": "grey", "I": "grey",
            "P": "palette", "PA": "palette"}.get(mode, "colour")


def frames_of(im: Image.Image) -> list[Image.Image]:
    return [frame.copy() for frame in ImageSequence.Iterator(im)]


@pytest.mark.parametrize("name", CORPUS)
def test_image_with_metadata_is_delivered_not_blocked(name: str) -> None:
    result = disarmed(name)
    assert result.verdict is not Verdict.BLOCKED, f"{result.reason}: {result.detail}"
    assert result.output is not None


@pytest.mark.parametrize("name", CORPUS)
def test_delivered_image_has_the_same_size_mode_and_pixels(name: str) -> None:
    case, result = CORPUS[name], disarmed(name)
    assert result.output is not None
    source, out = reopen(case.data), reopen(result.output)
    assert out.format == PILLOW_FORMAT[result.output_kind or ""]
    expected = frames_of(source)
    if name == "tiff-reduced-resolution-page":
        expected = expected[:1]  # the preview page is the thumbnail that goes
    got = frames_of(out)
    assert len(got) == len(expected)
    for want, have in zip(expected, got):
        assert have.size == want.size
        assert family(have.mode) == family(want.mode)
        diff = ImageChops.difference(want.convert("RGB"), have.convert("RGB"))
        if case.lossy:  # a re-encode: colour edges move a little, flat areas do not
            assert max(ImageStat.Stat(diff).mean) < 4
        else:
            assert diff.getbbox() is None


@pytest.mark.parametrize("name", CORPUS)
def test_no_planted_metadata_survives_in_the_output(name: str) -> None:
    case, result = CORPUS[name], disarmed(name)
    assert result.output is not None
    for marker in case.markers:
        assert marker not in result.output, f"{marker!r} survived"
    assert fx.S not in result.output
    for frame in ImageSequence.Iterator(reopen(result.output)):
        assert not [k for k in METADATA_INFO if k in frame.info], frame.info
        assert not getattr(frame, "text", {})
        exif = frame.getexif()
        for ifd in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo):
            assert exif.get_ifd(ifd) == {}
        tags = getattr(frame, "tag_v2", None)
        if tags is not None:  # a TIFF's EXIF is its own IFD (and IFD1 its next page)
            assert set(tags) <= TIFF_PIXEL_TAGS, sorted(set(tags) - TIFF_PIXEL_TAGS)
        else:
            assert len(exif) == 0 and exif.get_ifd(ExifTags.IFD.IFD1) == {}
        for name_, _ in getattr(frame, "applist", []):
            assert name_ == "APP0"  # the encoder's own JFIF header


@pytest.mark.parametrize("name", CORPUS)
def test_report_names_what_was_removed(name: str) -> None:
    case, result = CORPUS[name], disarmed(name)
    codes = {r.code for r in result.removed}
    assert case.codes <= codes, (codes, [r.as_dict() for r in result.removed])
    if case.codes:
        assert result.verdict is Verdict.SANITIZED


def test_photoshop_tiff_with_description_document_name_and_page_number_is_delivered() -> None:
    result = disarmed("tiff-photoshop-description-document-name-page-number")
    assert result.verdict is Verdict.SANITIZED, f"{result.reason}: {result.detail}"
    removed = " ".join(r.detail for r in result.removed if r.code == "image.metadata")
    for tag in ("ImageDescription", "DocumentName", "PageNumber", "Software", "Artist"):
        assert tag in removed


def test_plain_tiff_is_clean_not_reported_as_carrying_exif() -> None:
    result = disarm_bytes(fx.encode(fx.picture(), "TIFF", compression="tiff_lzw"),
                          "scan.tif", CFG)
    assert result.verdict is Verdict.CLEAN, [r.as_dict() for r in result.removed]


@pytest.mark.parametrize("kind,fmt", [("jpeg", "JPEG"), ("png", "PNG"), ("tiff", "TIFF")])
def test_print_resolution_is_kept(kind: str, fmt: str) -> None:
    data = fx.encode(fx.picture(), fmt, dpi=(300, 300), exif=fx.camera_exif().tobytes())
    result = disarm_bytes(data, "scan" + KINDS[kind].extension, CFG)
    assert result.output is not None
    dpi = reopen(result.output).info.get("dpi")
    assert dpi is not None and tuple(round(float(v)) for v in dpi) == (300, 300)


def test_tiff_orientation_is_applied_to_the_pixels_once() -> None:
    info = fx.photoshop_tiffinfo()
    info[274] = 6  # "rotate 90 degrees clockwise to display"
    data = fx.encode(fx.picture(), "TIFF", tiffinfo=info)
    result = disarm_bytes(data, "scan.tif", CFG)
    assert result.output is not None
    out = reopen(result.output)
    assert 274 not in out.tag_v2  # a viewer must not turn it a second time
    assert out.size == (fx.SIZE[1], fx.SIZE[0])
    expected = fx.picture().transpose(Image.Transpose.ROTATE_270)
    assert ImageChops.difference(expected, out.convert("RGB")).getbbox() is None


def test_animated_gif_with_comment_and_xmp_keeps_frames_and_timing() -> None:
    colours = [fx.picture("P"), fx.picture("P").transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    data = fx.encode(colours[0], "GIF", save_all=True, append_images=colours[1:],
                     duration=[120, 340], loop=0, comment=fx.S + b"ANIMATION")
    data = fx.gif_insert(data, b"\x21\xff\x0bXMP DataXMP" + fx.gif_sub_blocks(fx.XMP))
    result = disarm_bytes(data, "anim.gif", CFG)
    assert result.output is not None and fx.S not in result.output
    out = Image.open(io.BytesIO(result.output))
    assert out.n_frames == 2 and out.info.get("loop") == 0
    durations = [frame.info.get("duration") for frame in ImageSequence.Iterator(out)]
    assert durations == [120, 340]


# --- verify refuses what the rebuild must not write -------------------------------------

CTX = Context(CFG)


@pytest.mark.parametrize("name,data,kind", [
    ("JFIF thumbnail", fx.jfif_with_thumbnail(), "jpeg"),
    ("WebP VP8X announcing EXIF", fx.encode(fx.picture(), "WEBP", exif=b"Exif\0\0MM\0*"),
     "webp"),
    ("TIFF orientation", fx.encode(fx.picture(), "TIFF", tiffinfo={274: 6}), "tiff"),
    ("TIFF description", fx.encode(fx.picture(), "TIFF", tiffinfo={270: "x"}), "tiff"),
    ("TIFF private tag", fx.encode(fx.picture(), "TIFF", tiffinfo=fx.private_tiffinfo()),
     "tiff"),
    ("PNG private chunk", fx.png_insert(fx.encode(fx.picture(), "PNG"),
                                        fx.png_chunk(b"prVt", b"x")), "png"),
    ("GIF plain text", fx.gif_insert(fx.encode(fx.picture("P"), "GIF"),
                                     b"\x21\x01\x0c" + b"\0" * 12 + fx.gif_sub_blocks(b"hi")),
     "gif"),
])
def test_verify_refuses_metadata_the_rebuild_must_not_write(name: str, data: bytes,
                                                            kind: str) -> None:
    with pytest.raises(VerifyFailed):
        images.verify(data, kind, CTX)
