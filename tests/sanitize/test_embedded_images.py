"""Pictures inside documents are rebuilt like standalone images (CDR.md "OOXML", "RTF").

A phone photo (EXIF with a GPS position, a JPEG comment, an XMP packet, 15 bytes after
its end) is pasted into a docx with python-docx, an xlsx with openpyxl, a pptx with
python-pptx and an RTF ``\\pict``; the disarmed file must re-open in the same library
with the picture at the same size, and none of the planted markers may be left
anywhere in it."""

from __future__ import annotations

import binascii
import io
import re
import struct
import zipfile

import docx
import openpyxl
import pptx
import pytest
from docx.shared import Inches
from lxml import etree
from openpyxl.drawing.image import Image as XlImage
from PIL import Image, ImageChops, ImageStat, PngImagePlugin

from sanitize.config import SanitizeConfig
from sanitize.engine import disarm_bytes
from sanitize.formats import Context, ooxml, rtf
from sanitize.report import Result, Verdict, VerifyFailed
from tests.sanitize import ooxml_fixtures as F

CFG = SanitizeConfig()
CTX = Context(CFG)
TRAILER = b"KK-TRAILING-15!"  # 15 bytes after the JPEG's end marker
MARKERS = (b"KK-EXIF-MAKE", b"KK-GPS-DATUM", b"KK-COMMENT", b"KK-XMP-PACKET", TRAILER)
A = "http://schemas.openxmlformats.org/drawingml/2006/main"


# -- fixtures, generated here ---------------------------------------------------------

def scene(size: tuple[int, int] = (640, 480)) -> Image.Image:
    """Smooth, photo-like pixels (gradients and shapes), which JPEG keeps closely."""
    w, h = size
    g = Image.linear_gradient("L").resize(size)
    im = Image.merge("RGB", [g, g.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                             g.transpose(Image.Transpose.ROTATE_180)])
    im.paste((30, 120, 200), (w // 4, h // 4, w // 2, h // 2))
    return im


def phone_photo(size: tuple[int, int] = (640, 480)) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "KK-EXIF-MAKE"  # Make
    exif[0x8825] = {1: "N", 2: (35.0, 41.0, 22.5), 3: "E", 4: (139.0, 41.0, 30.0),
                    0x12: "KK-GPS-DATUM"}
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf='
           b'"http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description>KK-XMP-PACKET'
           b"</rdf:Description></rdf:RDF></x:xmpmeta>")
    out = io.BytesIO()
    scene(size).save(out, "JPEG", quality=92, exif=exif, comment=b"KK-COMMENT", xmp=xmp)
    data = out.getvalue() + TRAILER
    assert all(m in data for m in MARKERS)
    return data


def png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "KK-PNG-TEXT")
    info.add_text("Comment", "KK-PNG-ZTXT", zip=True)
    out = io.BytesIO()
    scene((200, 150)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def bmp() -> bytes:
    out = io.BytesIO()
    scene((120, 90)).save(out, "BMP")
    return out.getvalue()


def emf(width_01mm: int = 5080, height_01mm: int = 2540) -> bytes:
    """An EMF of a header record (frame 50.8 x 25.4 mm) and an EOF record."""
    header = struct.pack("<II4i4i4sIIIHHIII2i2i", 1, 88, 0, 0, 191, 95,
                         0, 0, width_01mm, height_01mm, b" EMF", 0x10000, 108, 2, 0, 0,
                         0, 0, 0, 1920, 1080, 508, 286)
    return header + struct.pack("<IIIII", 14, 20, 0, 16, 20)


def docx_with(picture: bytes, width_in: float = 3.0) -> bytes:
    d = docx.Document()
    d.add_paragraph("被災状況の報告")
    d.add_picture(io.BytesIO(picture), width=Inches(width_in))
    buf = io.BytesIO()
    d.save(buf)
    return F.repack(buf.getvalue(), {"docProps/thumbnail.jpeg": F.plain_jpeg()})


def xlsx_with(picture: bytes) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "現場写真"
    ws.add_image(XlImage(io.BytesIO(picture)), "B2")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def pptx_with(picture: bytes) -> bytes:
    p = pptx.Presentation()
    s = p.slides.add_slide(p.slide_layouts[6])
    s.shapes.add_picture(io.BytesIO(picture), pptx.util.Inches(1), pptx.util.Inches(1),
                         width=pptx.util.Inches(4))
    buf = io.BytesIO()
    p.save(buf)
    return F.repack(buf.getvalue(), {"docProps/thumbnail.jpeg": F.plain_jpeg()})


# -- helpers --------------------------------------------------------------------------

def disarm(data: bytes, name: str) -> Result:
    return disarm_bytes(data, name, CFG)


def everything(data: bytes) -> bytes:
    """The zip's bytes and every member inflated: where a marker could hide."""
    return data + b"".join(F.parts_of(data).values())


def extents(data: bytes) -> list[tuple[str, str]]:
    """Every DrawingML extent (cx, cy) in the package's XML parts."""
    out = []
    for name, body in sorted(F.parts_of(data).items()):
        if name.endswith(".xml") and b"ext" in body:
            root = etree.fromstring(body)
            out += [(el.get("cx"), el.get("cy")) for el in root.iter()
                    if isinstance(el.tag, str) and etree.QName(el).localname == "ext"
                    and el.get("cx") is not None]
    return out


def media(data: bytes) -> dict[str, bytes]:
    return {n: b for n, b in F.parts_of(data).items() if "/media/" in n}


def difference(a: bytes, b: bytes) -> float:
    """Mean absolute difference of two pictures' pixels, 0-255."""
    with Image.open(io.BytesIO(a)) as x, Image.open(io.BytesIO(b)) as y:
        assert x.size == y.size
        diff = ImageChops.difference(x.convert("RGB"), y.convert("RGB"))
        return sum(ImageStat.Stat(diff).mean) / 3


def details(r: Result, code: str) -> list[str]:
    return [x.detail for x in r.removed if x.code == code]


# -- the phone photo in each Office format --------------------------------------------

def test_docx_phone_photo_loses_gps_comment_xmp_and_trailer_but_keeps_its_place() -> None:
    photo = phone_photo()
    data = docx_with(photo)
    assert all(m in everything(data) for m in MARKERS)
    r = disarm(data, "報告書.docx")
    assert r.verdict is Verdict.SANITIZED, r.detail
    [detail] = details(r, "ooxml.image_rebuilt")
    assert detail.startswith("word/media/image1.jpg: ")
    for what in ("EXIF", "GPS position", "comment", "XMP", "trailing data"):
        assert what in detail
    out = r.output
    assert out is not None
    assert not [m for m in MARKERS if m in everything(out)]
    assert b"Exif\0\0" not in everything(out)
    assert extents(out) == extents(data)
    before, after = docx.Document(io.BytesIO(data)), docx.Document(io.BytesIO(out))
    assert [(s.width, s.height) for s in after.inline_shapes] == \
        [(s.width, s.height) for s in before.inline_shapes]
    new = media(out)["word/media/image1.jpg"]
    assert difference(photo, new) < 3
    with Image.open(io.BytesIO(new)) as im:
        assert im.size == (640, 480) and not im.getexif() and "comment" not in im.info


def test_xlsx_phone_photo_rebuilt_and_reopens_in_openpyxl() -> None:
    photo = phone_photo()
    data = xlsx_with(photo)
    assert all(m in everything(data) for m in MARKERS)  # openpyxl keeps the bytes
    r = disarm(data, "現場.xlsx")
    assert r.verdict is Verdict.SANITIZED, r.detail
    [detail] = details(r, "ooxml.image_rebuilt")
    assert detail.startswith("xl/media/image1.") and "GPS position" in detail
    out = r.output
    assert out is not None and not [m for m in MARKERS if m in everything(out)]
    assert extents(out) == extents(data)
    ws = openpyxl.load_workbook(io.BytesIO(out)).active
    assert ws["A1"].value == "現場写真" and len(ws._images) == 1
    [(name, new)] = media(out).items()
    assert difference(photo, new) < 3


def test_pptx_phone_photo_rebuilt_and_reopens_in_python_pptx() -> None:
    photo = phone_photo()
    data = pptx_with(photo)
    r = disarm(data, "説明.pptx")
    assert r.verdict is Verdict.SANITIZED, r.detail
    [detail] = details(r, "ooxml.image_rebuilt")
    assert detail.startswith("ppt/media/image1.") and "comment" in detail
    out = r.output
    assert out is not None and not [m for m in MARKERS if m in everything(out)]
    before = pptx.Presentation(io.BytesIO(data)).slides[0].shapes[0]
    after = pptx.Presentation(io.BytesIO(out)).slides[0].shapes[0]
    assert (after.left, after.top, after.width, after.height) == \
        (before.left, before.top, before.width, before.height)
    assert difference(photo, after.image.blob) < 3


def test_png_text_chunks_are_removed_and_reported() -> None:
    data = docx_with(png_with_text())
    assert b"KK-PNG-TEXT" in everything(data)
    r = disarm(data, "a.docx")
    assert r.verdict is Verdict.SANITIZED
    [detail] = details(r, "ooxml.image_rebuilt")
    assert "text chunks" in detail and "Author" in detail
    assert r.output is not None and b"KK-PNG" not in everything(r.output)
    assert difference(png_with_text(), media(r.output)["word/media/image1.png"]) == 0


def test_bmp_becomes_png_with_its_content_type_and_relationship() -> None:
    data = docx_with(bmp())
    assert "word/media/image1.bmp" in media(data)
    r = disarm(data, "a.docx")
    out = r.output
    assert out is not None, r.detail
    parts = F.parts_of(out)
    assert "word/media/image1.bmp" not in parts and "word/media/image1.png" in parts
    ct = parts["[Content_Types].xml"]
    assert b'PartName="/word/media/image1.png" ContentType="image/png"' in ct
    assert b'Target="media/image1.png"' in parts["word/_rels/document.xml.rels"]
    assert b"image1.bmp" not in parts["word/_rels/document.xml.rels"]
    assert extents(out) == extents(data)
    shape = docx.Document(io.BytesIO(out)).inline_shapes[0]
    assert shape.width == docx.Document(io.BytesIO(data)).inline_shapes[0].width
    assert difference(bmp(), parts["word/media/image1.png"]) == 0
    # Nothing was removed from the BMP: the conversion alone is no finding.
    assert r.verdict is Verdict.CLEAN and r.removed == ()


def _docx_with_emf() -> bytes:
    """A docx whose picture is an EMF (Office's paste of a chart or diagram)."""
    base = docx_with(F.plain_png((40, 20)), width_in=2.0)
    return F.repack(base, {
        "word/media/image1.png": None,
        "word/media/image1.emf": emf(),
        "word/_rels/document.xml.rels":
            lambda x: x.replace(b"media/image1.png", b"media/image1.emf"),
        "[Content_Types].xml": F.with_default("emf", "image/x-emf"),
    })


def test_emf_is_replaced_by_a_transparent_png_of_the_same_extent() -> None:
    data = _docx_with_emf()
    r = disarm(data, "a.docx")
    assert r.verdict is Verdict.SANITIZED, r.detail
    [detail] = details(r, "ooxml.image_removed")
    assert detail.startswith("word/media/image1.emf -> word/media/image1.png: EMF")
    out = r.output
    assert out is not None
    parts = F.parts_of(out)
    assert "word/media/image1.emf" not in parts and emf() not in everything(out)
    assert b'Target="media/image1.png"' in parts["word/_rels/document.xml.rels"]
    assert extents(out) == extents(data)
    shape = docx.Document(io.BytesIO(out)).inline_shapes[0]
    assert (shape.width, shape.height) == (Inches(2.0), Inches(1.0))
    with Image.open(io.BytesIO(parts["word/media/image1.png"])) as im:
        assert im.size == (192, 96)  # the EMF's 50.8 x 25.4 mm frame at 96 dpi
        assert im.getextrema()[-1] == (0, 0)  # fully transparent


def test_office_icon_svg_is_rebuilt_by_the_svg_rules() -> None:
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 96 96">'
           b'<script>alert("KK-SVG")</script><path d="M0 0h96v96z" fill="#123"/></svg>')
    base = docx_with(F.plain_png((96, 96)), width_in=1.0)
    ext = (b'<a:extLst><a:ext uri="{96DAC541-7B7A-43D3-8B79-37D633B846F1}">'
           b'<asvg:svgBlip xmlns:asvg="http://schemas.microsoft.com/office/drawing/2016/SVG/main"'
           b' r:embed="rIdSvg1"/></a:ext></a:extLst>')
    data = F.repack(base, {
        "word/media/image2.svg": svg,
        "word/_rels/document.xml.rels": F.with_rel("rIdSvg1", f"{F.R}/image", "media/image2.svg"),
        "[Content_Types].xml": F.with_default("svg", "image/svg+xml"),
        "word/document.xml": lambda x: re.sub(rb"(<a:blip [^>]*?)/>", rb"\1>" + ext + b"</a:blip>",
                                              x, count=1),
    })
    r = disarm(data, "icon.docx")
    assert r.verdict is Verdict.SANITIZED, r.detail
    [detail] = details(r, "ooxml.image_rebuilt")
    assert detail.startswith("word/media/image2.svg: ") and "svg.script" in detail
    out = r.output
    assert out is not None and b"KK-SVG" not in everything(out)
    assert b"<path" in F.parts_of(out)["word/media/image2.svg"]
    assert b"svgBlip" in F.parts_of(out)["word/document.xml"]


def test_clean_picture_leaves_the_verdict_clean() -> None:
    r = disarm(docx_with(F.plain_jpeg((320, 240))), "a.docx")
    assert r.verdict is Verdict.CLEAN and r.removed == ()


def test_many_large_pictures_are_refused_before_any_is_decoded() -> None:
    # 200 distinct bilevel 4000 x 4000 PNGs: each under the one-image limit, 3.2
    # gigapixels in all.  The header sizes are summed before a pixel is decoded.
    big = io.BytesIO()
    Image.new("1", (4000, 4000), 1).save(big, "PNG", optimize=True)
    head, tail = big.getvalue()[:33], big.getvalue()[33:]  # after IHDR
    d = docx.Document()
    for i in range(200):
        text = b"Comment\0" + str(i).encode()
        chunk = struct.pack(">I", len(text)) + b"tEXt" + text + \
            struct.pack(">I", binascii.crc32(b"tEXt" + text))
        d.add_picture(io.BytesIO(head + chunk + tail), width=Inches(1))
    buf = io.BytesIO()
    d.save(buf)
    r = disarm(buf.getvalue(), "bomb.docx")
    assert r.verdict is Verdict.BLOCKED and r.reason == "limit_exceeded"
    assert "pixels in all" in r.detail


# -- verify refuses what the rebuild removes ------------------------------------------

@pytest.mark.parametrize("picture", [phone_photo, png_with_text, bmp])
def test_ooxml_verify_refuses_pictures_with_metadata_or_another_format(picture) -> None:
    with pytest.raises(VerifyFailed):
        ooxml.verify(docx_with(picture()), "docx", CTX)


def test_ooxml_verify_refuses_a_metafile_and_trailing_bytes() -> None:
    with pytest.raises(VerifyFailed):
        ooxml.verify(_docx_with_emf(), "docx", CTX)
    png = F.plain_png() + b"tail"
    with pytest.raises(VerifyFailed, match="after IEND"):
        ooxml.verify(docx_with(png), "docx", CTX)


# -- RTF ------------------------------------------------------------------------------

def rtf_with(picture: bytes, blip: bytes = b"jpegblip") -> bytes:
    return (rb"{\rtf1\ansi Site {\*\shppict{\pict{\*\picprop{\sp{\sn wzDescription}{\sv photo}}}"
            rb"\picscalex50\picscaley50\picw640\pich480\picwgoal9600\pichgoal7200" + b"\\" + blip
            + rb"\bliptag-12345{\*\blipuid 0123456789abcdef0123456789abcdef}" + b"\r\n"
            + binascii.hexlify(picture) + rb"}} after\par}")


def _picture_of(data: bytes) -> tuple[bytes, bytes]:
    """(the words before the data, the data) of the output's first picture."""
    m = re.search(rb"(\\pict.*?blip)\s*([0-9a-f\s]+)\}", data, re.S)
    assert m is not None
    return m.group(1), binascii.unhexlify(re.sub(rb"\s", b"", m.group(2)))


def test_rtf_jpeg_picture_loses_gps_and_keeps_its_properties() -> None:
    photo = phone_photo()
    data = rtf_with(photo)
    r = disarm(data, "報告.rtf")
    assert r.verdict is Verdict.SANITIZED, r.detail
    [detail] = details(r, "rtf.image_rebuilt")
    assert detail.startswith("picture 1 (\\jpegblip): ") and "GPS position" in detail
    out = r.output
    assert out is not None
    for m in MARKERS:
        assert m not in out and binascii.hexlify(m) not in out.replace(b"\r\n", b"")
    words, picture = _picture_of(out)
    for w in (rb"\picscalex50", rb"\picw640", rb"\pich480", rb"\picwgoal9600",
              rb"\pichgoal7200", rb"\jpegblip", rb"{\*\picprop{\sp{\sn wzDescription}"):
        assert w in words
    assert b"bliptag" not in out and b"blipuid" not in out
    assert difference(photo, picture) < 3
    rtf.verify(out, "rtf", CTX)


def test_rtf_png_in_bin_form_is_rebuilt() -> None:
    png = png_with_text()
    data = (rb"{\rtf1 {\pict\picw200\pich150\pngblip\bin" + str(len(png)).encode() + b" "
            + png + rb"} end}")
    r = disarm(data, "a.rtf")
    assert r.verdict is Verdict.SANITIZED and details(r, "rtf.image_rebuilt")
    out = r.output
    assert out is not None and b"\\bin" not in out and b"KK-PNG" not in out
    assert difference(png, _picture_of(out)[1]) == 0


@pytest.mark.parametrize("blip", [b"emfblip", b"wmetafile8"])
def test_rtf_metafile_becomes_a_placeholder_of_the_same_displayed_size(blip: bytes) -> None:
    data = rtf_with(emf(), blip)
    r = disarm(data, "a.rtf")
    assert r.verdict is Verdict.SANITIZED, r.detail
    [detail] = details(r, "rtf.image_removed")
    assert detail.startswith(f"picture 1 (\\{blip.decode()}): ")
    out = r.output
    assert out is not None and b"emfblip" not in out and b"wmetafile" not in out
    words, picture = _picture_of(out)
    assert rb"\picwgoal9600\pichgoal7200" in words and rb"\pngblip" in words
    with Image.open(io.BytesIO(picture)) as im:
        assert im.size == (640, 480) and im.getextrema()[-1] == (0, 0)


def test_rtf_verify_refuses_a_picture_with_metadata_or_a_metafile() -> None:
    for data in (rtf_with(phone_photo()), rtf_with(emf(), b"emfblip"),
                 rtf_with(F.plain_png(), b"jpegblip")):
        with pytest.raises(VerifyFailed):
            rtf.verify(data, "rtf", CTX)


def test_zip_member_docx_pictures_are_rebuilt_too() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("報告書.docx", docx_with(phone_photo()))
    r = disarm(buf.getvalue(), "reports.zip")
    assert r.verdict is Verdict.SANITIZED, r.detail
    assert any(x.code == "ooxml.image_rebuilt" for x in r.removed)
    inner = zipfile.ZipFile(io.BytesIO(r.output or b"")).read("報告書.docx")
    assert not [m for m in MARKERS if m in everything(inner)]


def test_a_picture_is_written_as_what_its_bytes_are_not_what_its_type_says() -> None:
    data = F.repack(docx_with(F.plain_png((64, 48))), {"word/media/image1.png": F.plain_jpeg((64, 48))})
    r = disarm(data, "a.docx")
    out = r.output
    assert out is not None, r.detail
    parts = F.parts_of(out)
    assert "word/media/image1.png" not in parts and parts["word/media/image1.jpeg"][:3] == b"\xff\xd8\xff"
    assert b'PartName="/word/media/image1.jpeg" ContentType="image/jpeg"' in parts["[Content_Types].xml"]
    assert b'Target="media/image1.jpeg"' in parts["word/_rels/document.xml.rels"]
    assert docx.Document(io.BytesIO(out)).inline_shapes[0].width == Inches(3)
