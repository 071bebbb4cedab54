"""PDF disarm of images and font programs (CDR.md "PDF": images, fonts, JBIG2).

Every image and font is made in code (tests/sanitize/pdf_fixtures.py); each output is
re-opened with pikepdf, Pillow and fontTools, passed through the module's own
``verify``, and judged by pdfid.
"""

from __future__ import annotations

import io

import pikepdf
import pytest
from fontTools.ttLib import TTFont
from PIL import Image, ImageChops, ImageStat
from pikepdf import Name

from sanitize.config import SanitizeConfig
from sanitize.formats import Context
from sanitize.formats import pdf as pdfmod
from sanitize.report import Rebuilt, VerifyFailed
from tests.sanitize import pdf_fixtures as fx
from tests.sanitize.test_pdf import JUDGED, pdfid_counts

CTX = Context(cfg=SanitizeConfig())


def disarm(data: bytes) -> Rebuilt:
    out = pdfmod.rebuild(data, "pdf", CTX)
    pdfmod.verify(out.data, "pdf", CTX)
    counts = pdfid_counts(out.data)
    assert {k: counts[k] for k in (*JUDGED, "/JBIG2Decode")} == dict.fromkeys((*JUDGED, "/JBIG2Decode"), 0)
    return out


def codes(out: Rebuilt) -> list[str]:
    return [r.code for r in out.removed]


_OPEN: list[pikepdf.Pdf] = []  # the files objects handed out belong to stay open


def images_of(data: bytes) -> list[pikepdf.Stream]:
    pdf = pikepdf.open(io.BytesIO(data))
    _OPEN.append(pdf)
    return [pdf.pages[0].Resources.XObject[k] for k in sorted(pdf.pages[0].Resources.XObject.keys())]


def close(a: Image.Image, b: Image.Image, tolerance: float = 4.0) -> bool:
    diff = ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB")))
    return max(diff.mean) <= tolerance


# --- images ---------------------------------------------------------------------

def test_jpeg_xobject_loses_gps_comment_trailing_bytes_and_xmp() -> None:
    data = fx.jpeg_xobject_pdf()
    assert fx.TRAILER in data and fx.COMMENT in data
    out = disarm(data)
    assert {"image.exif", "image.gps", "image.comment", "image.trailing_data", "image.xmp"} <= set(codes(out))
    assert fx.TRAILER not in out.data and fx.COMMENT not in out.data and b"Canon" not in out.data
    (img,) = images_of(out.data)
    jpeg = img.read_raw_bytes()
    assert img.Filter == Name.DCTDecode and "/Metadata" not in img
    assert jpeg.endswith(b"\xff\xd9")
    im = Image.open(io.BytesIO(jpeg))
    assert im.size == (64, 48) and not im.getexif() and "comment" not in im.info
    assert close(im, Image.open(io.BytesIO(fx.jpeg_with_metadata())))
    assert fx.page_texts(out.data)[0][0] == fx.LINE.format(page=1, line=0)


def test_flate_image_keeps_its_pixels_and_loses_what_follows_them() -> None:
    data, pixels = fx.flate_image_pdf()
    out = disarm(data)
    assert "image.trailing_data" in codes(out)
    assert b"SECRET-AFTER-ROWS" not in out.data
    (img,) = images_of(out.data)
    assert img.read_bytes() == pixels  # exactly the samples, nothing after
    assert "/DecodeParms" not in img and img.ColorSpace == Name.DeviceRGB and img.BitsPerComponent == 8


def test_fax_and_jpeg2000_images_become_plain_samples() -> None:
    out = disarm(fx.ccitt_and_jpx_pdf())
    fax, jpx = images_of(out.data)
    assert "/Filter" not in fax or fax.Filter == Name.FlateDecode
    assert "/Decode" not in fax and fax.BitsPerComponent == 1
    # BlackIs1: the box the fax drew black is black here, the rest white.
    shown = pikepdf.PdfImage(fax).as_pil_image()
    assert shown.getpixel((15, 10)) == 0 and shown.getpixel((0, 0)) == 255
    assert jpx.ColorSpace == Name.DeviceRGB and jpx.Width == 64 and "/SMaskInData" not in jpx
    assert close(pikepdf.PdfImage(jpx).as_pil_image(), fx.photo(), 1.0)
    assert jpx.SMask.Width == 64  # the alpha channel is a soft mask of its own


def test_jbig2_image_is_removed_and_reported_the_page_kept() -> None:
    data = fx.jbig2_pdf()
    assert pdfid_counts(data)["/JBIG2Decode"] == 1
    out = disarm(data)
    assert codes(out) == ["pdf.jbig2_removed"]
    (img,) = images_of(out.data)
    assert img.ImageMask is True and img.Width == 1 and img.read_bytes() == b"\x80"
    assert fx.page_texts(out.data)[0][0] == fx.LINE.format(page=1, line=0)


def test_inline_images_are_rebuilt() -> None:
    out = disarm(fx.inline_images_pdf())
    assert {"image.trailing_data", "image.comment", "image.gps"} <= set(codes(out))
    with pikepdf.open(io.BytesIO(out.data)) as pdf:
        inline = [i.iimage for i in pikepdf.parse_content_stream(pdf.pages[0])
                  if isinstance(i, pikepdf.ContentStreamInlineImage)]
        assert len(inline) == 2
        raw = bytes.fromhex(inline[0]._data._inline_image_raw_bytes().strip()[:-1].decode())
        assert raw == fx.photo((8, 6)).tobytes()
        jpeg = bytes.fromhex(inline[1]._data._inline_image_raw_bytes().strip()[:-1].decode())
        assert jpeg.endswith(b"\xff\xd9") and fx.COMMENT not in jpeg
    assert fx.page_texts(out.data)[0][0] == fx.LINE.format(page=1, line=0)


# --- fonts ----------------------------------------------------------------------

def font_program(data: bytes, key: str) -> pikepdf.Stream | None:
    pdf = pikepdf.open(io.BytesIO(data))
    _OPEN.append(pdf)
    desc = pdf.pages[0].Resources.Font.F1.FontDescriptor
    return desc.get(key)


def test_truetype_font_loses_its_hinting_and_still_draws_text() -> None:
    data = fx.truetype_pdf()
    hinted = TTFont(io.BytesIO(fx.truetype_font()))
    assert {"fpgm", "prep", "cvt "} <= set(hinted.keys()) and hinted["glyf"]["A"].program.getBytecode()
    out = disarm(data)
    assert "pdf.font_hinting" in codes(out)
    program = font_program(out.data, "/FontFile2")
    assert program is not None and program.Length1 == len(program.read_bytes())
    font = TTFont(io.BytesIO(program.read_bytes()))
    assert not {"fpgm", "prep", "cvt "} & set(font.keys())
    glyph = font["glyf"]["A"]
    assert not (hasattr(glyph, "program") and glyph.program.getBytecode())
    assert glyph.numberOfContours == 1  # the outline itself is kept
    assert fx.page_texts(out.data) == [["AAA"]]


def test_cff_font_is_dehinted() -> None:
    out = disarm(fx.cff_pdf())
    assert "pdf.font_hinting" in codes(out)
    program = font_program(out.data, "/FontFile3")
    assert program is not None and program.Subtype == Name.Type1C
    from fontTools.cffLib import CFFFontSet
    cff = CFFFontSet()
    cff.decompile(io.BytesIO(program.read_bytes()), TTFont())
    cs = cff[cff.fontNames[0]].CharStrings["A"]
    cs.decompile()
    assert "hstem" not in cs.program and "vstem" not in cs.program and "rlineto" in cs.program
    assert fx.page_texts(out.data) == [["AAA"]]


def test_type1_font_program_is_dropped_and_the_font_kept() -> None:
    out = disarm(fx.type1_pdf())
    assert codes(out) == ["pdf.font_removed"]
    assert font_program(out.data, "/FontFile") is None
    assert b"eexec" not in out.data
    with pikepdf.open(io.BytesIO(out.data)) as pdf:
        assert pdf.pages[0].Resources.Font.F1.BaseFont == Name("/KkType1")
    assert fx.page_texts(out.data) == [["AAA"]]


def test_a_font_that_does_not_parse_is_dropped() -> None:
    pdf = pikepdf.open(io.BytesIO(fx.truetype_pdf()))
    pdf.pages[0].Resources.Font.F1.FontDescriptor.FontFile2.write(b"\x00\x01\x00\x00garbage" * 10)
    out = disarm(fx.to_bytes(pdf))
    assert codes(out) == ["pdf.font_removed"]
    assert font_program(out.data, "/FontFile2") is None


# --- verify on its own ---------------------------------------------------------------

NOT_REBUILT = {
    "jpeg": fx.jpeg_xobject_pdf, "flate": lambda: fx.flate_image_pdf()[0],
    "ccitt_jpx": fx.ccitt_and_jpx_pdf, "jbig2": fx.jbig2_pdf, "inline": lambda: fx.to_bytes(pikepdf.open(io.BytesIO(fx.inline_images_pdf())),
                                  compress_streams=False, stream_decode_level=pikepdf.StreamDecodeLevel.generalized),
    "truetype": fx.truetype_pdf, "cff": fx.cff_pdf, "type1": fx.type1_pdf,
}


@pytest.mark.parametrize("name", sorted(NOT_REBUILT))
def test_verify_refuses_media_the_rebuild_did_not_write(name: str) -> None:
    with pytest.raises(VerifyFailed):
        pdfmod.verify(NOT_REBUILT[name](), "pdf", CTX)


@pytest.mark.parametrize(("name", "why"), [("truetype", "hinting table 'fpgm'"),
                                         ("cff", "CFF hint operator"), ("type1", "Type 1")])
def test_verify_finds_font_programs_whose_descriptors_sit_in_an_object_stream(name: str,
                                                                              why: str) -> None:
    # Compressed inside an /ObjStm, a font descriptor's /FontFile reference is not in
    # the file's bytes: verify must read every object's dictionary instead.
    data = fx.to_bytes(pikepdf.open(io.BytesIO(NOT_REBUILT[name]())),
                       object_stream_mode=pikepdf.ObjectStreamMode.generate)
    assert b"/ObjStm" in data and b"/FontFile" not in data
    with pytest.raises(VerifyFailed, match=why):
        pdfmod.verify(data, "pdf", CTX)


def test_verify_refuses_a_jpeg_with_bytes_after_its_end() -> None:
    out = pikepdf.open(io.BytesIO(disarm(fx.jpeg_xobject_pdf()).data))
    img = out.pages[0].Resources.XObject.Im0
    img.write(img.read_raw_bytes() + b"tail", filter=Name.DCTDecode)
    with pytest.raises(VerifyFailed):
        pdfmod.verify(fx.to_bytes(out), "pdf", CTX)


def test_text_pdf_has_no_media_to_report() -> None:
    out = disarm(fx.to_bytes(fx.text_pdf(pages=3)))
    assert out.removed == ()


def test_exotic_colour_spaces_keep_their_samples_exactly() -> None:
    """Indexed, DeviceN and ICCBased N=4 samples are copied, not interpreted."""
    pdf = pikepdf.Pdf.new()
    lookup = pikepdf.String(bytes(range(12)))
    icc = pdf.make_stream(b"\x00" * 128, N=4)
    tint = pdf.make_stream(b"{ pop pop 0 }", FunctionType=4, Domain=[0, 1, 0, 1], Range=[0, 1])
    spaces = [pikepdf.Array([Name.Indexed, Name.DeviceRGB, 3, lookup]),
              pikepdf.Array([Name.DeviceN, pikepdf.Array([Name("/Spot1"), Name("/Spot2")]), Name.DeviceGray, tint]),
              pikepdf.Array([Name.ICCBased, icc])]
    samples = [bytes(i % 4 for i in range(8 * 4)), bytes(range(8 * 4 * 2)), bytes(range(8 * 4 * 4))]
    streams = [fx.image_xobject(pdf, zlib_compress(data), "/FlateDecode", 8, 4, cs)
               for data, cs in zip(samples, spaces)]
    fx._image_page(pdf, *streams)
    out = disarm(fx.to_bytes(pdf))
    assert out.removed == ()
    assert [s.read_bytes() for s in images_of(out.data)] == samples


def test_an_image_with_an_unknown_filter_is_removed_and_reported() -> None:
    pdf = pikepdf.Pdf.new()
    fx._image_page(pdf, fx.image_xobject(pdf, b"\x00" * 64, "/FooDecode", 8, 8, Name.DeviceGray))
    out = disarm(fx.to_bytes(pdf))
    assert codes(out) == ["pdf.image_removed"]
    (img,) = images_of(out.data)
    assert img.ImageMask is True and img.read_bytes() == b"\x80"


def zlib_compress(data: bytes) -> bytes:
    import zlib
    return zlib.compress(data)


def test_inline_fax_image_becomes_plain_samples() -> None:
    fax = Image.new("1", (16, 8), 1)
    fax.paste(0, (2, 2, 8, 6))
    buf = io.BytesIO()
    fax.save(buf, "TIFF", compression="group4")
    tif = Image.open(io.BytesIO(buf.getvalue()))
    g4 = buf.getvalue()[tif.tag_v2[273][0]:tif.tag_v2[273][0] + tif.tag_v2[279][0]]
    pdf = fx.text_pdf()
    pdf.pages[0].obj.Contents = pdf.make_stream(
        b"q 80 0 0 40 50 300 cm BI /W 16 /H 8 /IM true /F [/AHx /CCF] "
        b"/DP [null << /K -1 /Columns 16 /Rows 8 >>] ID " + g4.hex().encode() + b"> EI Q\n")
    out = disarm(fx.to_bytes(pdf))
    assert out.removed == ()
    with pikepdf.open(io.BytesIO(out.data)) as res:
        (ii,) = [i.iimage for i in pikepdf.parse_content_stream(res.pages[0])
                 if isinstance(i, pikepdf.ContentStreamInlineImage)]
        assert [str(x) for x in ii._image_object][-1] == "/ASCIIHexDecode"
        assert len(bytes.fromhex(ii._data._inline_image_raw_bytes().strip()[:-1].decode())) == 2 * 8
