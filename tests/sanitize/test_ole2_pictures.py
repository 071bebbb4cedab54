"""Pictures inside .doc, .xls and .ppt are rebuilt in place (CDR.md "Legacy Office").

The fixtures are written here, record by record, the way Office stores a pasted
picture (MS-ODRAW BLIPs inside BLIP store entries; MS-DOC PICF in the Data stream;
MS-XLS MSODRAWINGGROUP + CONTINUE; MS-PPT Pictures stream), around a phone photo:
EXIF with a GPS position, a JPEG comment and 15 bytes after its end.  After the
disarm, every length field and offset is as it was, the picture decodes at the same
size with none of the planted markers left, and only zeros follow its end."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import olefile
import pytest
from oletools import msodde
from oletools.olevba import VBA_Parser
from PIL import Image, ImageChops, ImageStat

from sanitize.cfb import clsid_bytes, storage, stream, write_cfb
from sanitize.config import SanitizeConfig
from sanitize.engine import disarm_bytes
from sanitize.formats import Context, ole2
from sanitize.report import REASONS, Result, Verdict, VerifyFailed
from tests.sanitize import ole_fixtures as F

CFG = SanitizeConfig()
TRAILER = b"KK-TRAILING-15!"
MARKERS = (b"KK-EXIF-MAKE", b"KK-GPS-DATUM", b"KK-COMMENT", b"KK-PNG-TEXT", TRAILER)


# -- pictures ------------------------------------------------------------------------

def scene(size: tuple[int, int]) -> Image.Image:
    w, h = size
    g = Image.linear_gradient("L").resize(size)
    im = Image.merge("RGB", [g, g.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                             g.transpose(Image.Transpose.ROTATE_180)])
    im.paste((30, 120, 200), (w // 4, h // 4, w // 2, h // 2))
    return im


def phone_photo(size: tuple[int, int] = (640, 480)) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "KK-EXIF-MAKE"
    exif[0x8825] = {1: "N", 2: (35.0, 41.0, 22.5), 3: "E", 4: (139.0, 41.0, 30.0),
                    0x12: "KK-GPS-DATUM"}
    out = io.BytesIO()
    scene(size).save(out, "JPEG", quality=92, exif=exif, comment=b"KK-COMMENT")
    return out.getvalue() + TRAILER


def png_with_text() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "KK-PNG-TEXT")
    out = io.BytesIO()
    scene((120, 80)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


EMF_TEXT = "KK-EMF-PAYLOAD".encode("utf-16-le")


def emf() -> bytes:
    """An EMF with a description string and a comment record (EMR_HEADER,
    EMR_COMMENT carrying a marker, EMR_EOF)."""
    comment = struct.pack("<III", 70, 12 + 4 + 28, 28) + b"KK-EMF-COMMENT-PAYLOAD-HERE"[:28].ljust(28, b"!")
    size = 108 + len(EMF_TEXT) + len(comment) + 20
    header = struct.pack("<II4i4iIIIIHHIII2i2i", 1, 108 + len(EMF_TEXT), 0, 0, 100, 100,
                         0, 0, 2540, 2540, 0x464D4520, 0x10000, size, 3, 1, 0,
                         len(EMF_TEXT) // 2, 108, 0, 1024, 768, 320, 240)
    header += bytes(108 - len(header))
    return header + EMF_TEXT + comment + struct.pack("<IIIII", 14, 20, 0, 16, 20)


def wmf() -> bytes:
    """A WMF that draws text (META_TEXTOUT) then ends."""
    text = b"KK-WMF-TEXT!"
    record = struct.pack("<IHH", (8 + len(text) + 4) // 2, 0x0521, len(text)) + text + \
        struct.pack("<hh", 10, 10)
    body = record + struct.pack("<IH", 3, 0)
    return struct.pack("<HHHIHIH", 1, 9, 0x0300, (18 + len(body)) // 2, 0, len(record) // 2,
                       0) + body


# -- the three formats ---------------------------------------------------------------

def doc_with(*pictures: tuple[bytes, str]) -> bytes:
    text = b"\x01 photo of the site\r"  # 0x01: where Word shows the inline picture
    return F.doc(stream("Data", F.picf(*pictures)), text=text)


def xls_with(photo: bytes) -> bytes:
    group = F.dgg_container(F.fbse("jpeg", len(F.blip(photo)), F.blip(photo)))
    first, rest = group[:8224], group[8224:]
    records = [F.biff(0x00EB, first)]
    records += [F.biff(0x003C, rest[i:i + 8224]) for i in range(0, len(rest), 8224)]
    return F.xls(records=tuple(records))


def ppt_with(*pictures: tuple[bytes, str]) -> bytes:
    blips, entries = b"", []
    for data, kind in pictures:
        b = F.blip(data, kind)
        entries.append(F.fbse(kind, len(b), offset=len(blips)))
        blips += b
    drawing_group = F.ppt_record(0x040B, F.dgg_container(*entries), container=True)
    raw = F.ppt(drawing_group)
    with olefile.OleFileIO(io.BytesIO(raw)) as ole:
        kids = [stream(p[0], ole.openstream(p).read()) for p in ole.listdir()]
    return write_cfb(storage("Root Entry", [*kids, stream("Pictures", blips)],
                             clsid=clsid_bytes("64818D10-4F9B-11CF-86EA-00AA00B929E8")))


# -- helpers -------------------------------------------------------------------------

def disarm(data: bytes, name: str) -> Result:
    return disarm_bytes(data, name, CFG)


def streams(data: bytes) -> dict[str, bytes]:
    with olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT) as ole:
        return {"/".join(p): ole.openstream(p).read() for p in ole.listdir()}


def everything(data: bytes) -> bytes:
    return b"".join(streams(data).values())


def details(r: Result, code: str) -> list[str]:
    return [x.detail for x in r.removed if x.code == code]


def jpeg_at(data: bytes, at: int) -> bytes:
    """The JPEG of the BLIP record at ``at`` (header, one id, tag), to its record's end."""
    size = struct.unpack_from("<I", data, at + 4)[0]
    return data[at + 8 + 17:at + 8 + size]


def looks_the_same(before: bytes, after: bytes) -> None:
    with Image.open(io.BytesIO(before)) as a, Image.open(io.BytesIO(after)) as b:
        assert b.size == a.size
        assert not b.getexif() and "comment" not in b.info and "exif" not in b.info
        diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
        assert max(ImageStat.Stat(diff).mean) < 3


def only_zeros_after_eoi(body: bytes) -> None:
    eoi = body.rfind(b"\xff\xd9")
    assert eoi > 0 and body[eoi + 2:] == bytes(len(body) - eoi - 2)


def judges_find_nothing(data: bytes, tmp_path: Path) -> None:
    parser = VBA_Parser("judged.bin", data=data)
    try:
        assert not parser.detect_vba_macros()
    finally:
        parser.close()
    path = tmp_path / "judged.doc"
    path.write_bytes(data)
    assert not msodde.process_file(str(path)).strip()


# -- tests ---------------------------------------------------------------------------

def test_doc_phone_photo_loses_exif_gps_comment_and_trailer_at_the_same_size(tmp_path: Path) -> None:
    photo, png = phone_photo(), png_with_text()
    data = doc_with((photo, "jpeg"), (png, "png"))
    assert all(m in everything(data) for m in MARKERS)
    r = disarm(data, "現場写真.doc")
    assert r.verdict is Verdict.SANITIZED, r.detail
    rebuilt = details(r, "ole2.image_rebuilt")
    assert len(rebuilt) == 2 and rebuilt[0].startswith("Data at ")
    for what in ("JPEG", "EXIF", "GPS position", "comment", "trailing data"):
        assert what in rebuilt[0]
    assert "PNG" in rebuilt[1] and "text chunks" in rebuilt[1]
    assert r.output is not None
    out = streams(r.output)
    assert not [m for m in MARKERS if m in everything(r.output)]
    assert b"Exif\0\0" not in everything(r.output)
    before = streams(data)
    assert out["WordDocument"] == before["WordDocument"]
    new, old = out["Data"], before["Data"]
    assert len(new) == len(old)
    # PICF, the shape container, the BLIP store entry and the BLIP's header and id are
    # unchanged: every length and offset still holds.
    blip_at = old.find(struct.pack("<HH", 0x46A << 4, 0xF01D))
    assert new[:blip_at + 25] == old[:blip_at + 25]
    body = jpeg_at(new, blip_at)
    looks_the_same(photo[:-len(TRAILER)], body)
    only_zeros_after_eoi(body)
    png_at = old.find(struct.pack("<HH", 0x6E0 << 4, 0xF01E))
    assert new[blip_at + 25 + len(body):png_at + 25] == old[blip_at + 25 + len(body):png_at + 25]
    new_png = jpeg_at(new, png_at)
    with Image.open(io.BytesIO(new_png)) as im:
        assert im.size == (120, 80) and "Comment" not in im.info
    assert new_png[new_png.find(b"IEND") + 8:].strip(b"\0") == b""
    ole2.verify(r.output, "doc", Context(CFG))
    judges_find_nothing(r.output, tmp_path)


def test_doc_floating_picture_in_the_main_stream_is_rebuilt_there() -> None:
    """Word keeps a floating picture's BLIP in WordDocument (the BLIP store's delay
    stream): the main stream changes only inside that record."""
    photo = phone_photo((160, 120))
    text = b"\x08 the floating picture's anchor\r"
    main = F.word_document(text=text)
    at = len(main)
    main += F.blip(photo) + bytes(-len(F.blip(photo)) % 512)
    data = write_cfb(storage("Root Entry", [
        stream("WordDocument", main), stream("1Table", F.dgg_container(
            F.fbse("jpeg", len(F.blip(photo)), offset=at)))],
        clsid=clsid_bytes(F.WORD_CLSID)))
    r = disarm(data, "配置図.doc")
    assert r.verdict is Verdict.SANITIZED, r.detail
    [detail] = details(r, "ole2.image_rebuilt")
    assert detail.startswith(f"WordDocument at {at} (JPEG)")
    assert r.output is not None
    new = streams(r.output)["WordDocument"]
    assert len(new) == len(main) and new[:at + 25] == main[:at + 25]
    end = at + len(F.blip(photo))
    assert new[end:] == main[end:]
    body = jpeg_at(new, at)
    looks_the_same(photo[:-len(TRAILER)], body)
    only_zeros_after_eoi(body)


def test_xls_photo_in_a_drawing_group_split_over_continue_records(tmp_path: Path) -> None:
    photo = phone_photo()
    data = xls_with(photo)
    old = streams(data)["Workbook"]
    assert old.count(struct.pack("<H", 0x003C)) >= 2 and TRAILER in old
    r = disarm(data, "集計.xls")
    assert r.verdict is Verdict.SANITIZED, r.detail
    [detail] = details(r, "ole2.image_rebuilt")
    assert detail.startswith("Workbook at ") and "GPS position" in detail
    assert r.output is not None
    new = streams(r.output)["Workbook"]
    assert not [m for m in MARKERS if m in new]
    assert list(ole2.biff_records(new))[0][:2] == list(ole2.biff_records(old))[0][:2]
    shape = [(t, len(b)) for _, t, b in ole2.biff_records(new)]
    assert shape == [(t, len(b)) for _, t, b in ole2.biff_records(old)]
    group = b"".join(b for _, t, b in ole2.biff_records(new) if t in (0x00EB, 0x003C))
    at = group.find(struct.pack("<HH", 0x46A << 4, 0xF01D))
    body = jpeg_at(group, at)
    looks_the_same(photo[:-len(TRAILER)], body)
    only_zeros_after_eoi(body)
    judges_find_nothing(r.output, tmp_path)


@pytest.mark.parametrize("record", [
    F.biff(0x00E9, struct.pack("<HHI", 0x09, 0, 64) + bytes(64)),  # BkHim, a bitmap
    F.biff(0x007F, struct.pack("<HHI", 0x09, 1, 64) + bytes(64)),  # IMDATA
], ids=["BITMAP", "IMDATA"])
def test_an_xls_sheet_picture_outside_the_drawing_group_blocks_the_workbook(record: bytes) -> None:
    book = F.workbook_stream()
    book = book[:-4] + record + book[-4:]  # inside the sheet, before its EOF
    data = write_cfb(storage("Root Entry", [stream("Workbook", book)],
                             clsid=clsid_bytes("00020820-0000-0000-C000-000000000046")))
    r = disarm(data, "背景つき.xls")
    assert r.verdict is Verdict.BLOCKED and r.reason == "picture_not_rebuilt", r.detail
    assert "record) at " in r.detail


def test_ppt_pictures_stream_keeps_every_offset(tmp_path: Path) -> None:
    photo, png = phone_photo((320, 240)), png_with_text()
    data = ppt_with((photo, "jpeg"), (png, "png"))
    r = disarm(data, "説明会.ppt")
    assert r.verdict is Verdict.SANITIZED, r.detail
    assert [d.split(" at ")[0] for d in details(r, "ole2.image_rebuilt")] == ["Pictures"] * 2
    assert r.output is not None
    before, after = streams(data), streams(r.output)
    assert after["PowerPoint Document"] == before["PowerPoint Document"]
    assert len(after["Pictures"]) == len(before["Pictures"])
    body = jpeg_at(after["Pictures"], 0)
    looks_the_same(photo[:-len(TRAILER)], body)
    only_zeros_after_eoi(body)
    png_at = len(F.blip(photo))
    assert after["Pictures"][png_at:png_at + 25] == before["Pictures"][png_at:png_at + 25]
    assert not [m for m in MARKERS if m in everything(r.output)]
    judges_find_nothing(r.output, tmp_path)


def inflated_metafile(stream_data: bytes, at: int) -> tuple[bytes, bytes, bytes]:
    """(the metafile's bounds and size, the inflated metafile, what follows it in its
    record) of the metafile BLIP record at ``at``."""
    import zlib

    size = struct.unpack_from("<I", stream_data, at + 4)[0]
    head = stream_data[at + 24:at + 24 + 34]
    cb_save, compression = struct.unpack_from("<IB", head, 28)
    assert compression == 0
    body = stream_data[at + 24 + 34:at + 8 + size]
    return head[4:28], zlib.decompress(body[:cb_save]), body[cb_save:]


@pytest.mark.parametrize("kind, make, name", [
    ("emf", lambda: doc_with((emf(), "emf"), (png_with_text(), "png")), "図面.doc"),
    ("wmf", lambda: ppt_with((wmf(), "wmf")), "図面.ppt"),
])
def test_a_metafile_picture_becomes_a_blank_one_of_the_same_size(kind: str, make, name: str) -> None:
    data = make()
    r = disarm(data, name)
    assert r.verdict is Verdict.SANITIZED, r.detail
    [detail] = details(r, "ole2.image_removed")
    assert f"({kind.upper()}): replaced by a blank picture" in detail
    assert r.output is not None
    stream_name = "Data" if name.endswith(".doc") else "Pictures"
    before, after = streams(data)[stream_name], streams(r.output)[stream_name]
    assert len(after) == len(before)
    needle = struct.pack("<HH", F.BLIP_TYPES[kind][1] << 4, F.BLIP_TYPES[kind][0])
    at = before.find(needle)
    assert after[at:at + 24] == before[at:at + 24]  # header, length, id unchanged
    bounds, metafile, rest = inflated_metafile(after, at)
    assert bounds == inflated_metafile(before, at)[0]
    assert not rest.strip(b"\0")
    assert b"KK-" not in metafile and EMF_TEXT not in metafile
    if kind == "emf":  # EMR_HEADER then EMR_EOF: two records, nothing drawn
        assert struct.unpack_from("<II", metafile, 0) == (1, 88)
        assert struct.unpack_from("<I", metafile, 88)[0] == 14 and len(metafile) == 108
    else:  # META_HEADER then META_EOF
        assert metafile[18:] == struct.pack("<IH", 3, 0)
    ole2.verify(r.output, "doc" if name.endswith(".doc") else "ppt", Context(CFG))
    with pytest.raises(VerifyFailed, match="not the blank one"):
        ole2.verify(data, "doc" if name.endswith(".doc") else "ppt", Context(CFG))


def dib_of(im: Image.Image) -> bytes:
    out = io.BytesIO()
    im.save(out, "BMP")
    return out.getvalue()[14:]


def four_bit_dib(width: int = 64, height: int = 48) -> bytes:
    """A 16-colour DIB (4 bits a pixel), which Pillow writes back at 8 bits: larger."""
    stride = (width * 4 + 31) // 32 * 4
    head = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 4, 0, stride * height, 2835, 2835,
                       16, 0)
    palette = b"".join(struct.pack("<BBBB", i * 16, 255 - i * 16, 128, 0) for i in range(16))
    return head + palette + bytes(range(256))[:stride] * height


def test_a_dib_picture_is_written_again_as_a_plain_dib_without_what_followed_it() -> None:
    picture = scene((64, 48))
    dib = dib_of(picture) + b"KK-DIB-TRAILER"
    data = doc_with((dib, "dib"))
    r = disarm(data, "地図.doc")
    assert r.verdict is Verdict.SANITIZED, r.detail
    [detail] = details(r, "ole2.image_rebuilt")
    assert detail.startswith("Data at ") and "(DIB): trailing data (14 byte(s) after the pixels)" in detail
    assert r.output is not None
    before, after = streams(data)["Data"], streams(r.output)["Data"]
    assert len(after) == len(before) and b"KK-DIB-TRAILER" not in after
    at = before.find(struct.pack("<HH", 0x7A8 << 4, 0xF01F))
    body = jpeg_at(after, at)  # header, one id, tag: the same layout as a JPEG's
    pixels = len(dib_of(picture))
    assert body[:pixels] == dib_of(picture) and not body[pixels:].strip(b"\0")
    ole2.verify(r.output, "doc", Context(CFG))
    with pytest.raises(VerifyFailed, match="after the DIB's pixels"):
        ole2.verify(data, "doc", Context(CFG))


def test_a_dib_that_grows_when_rebuilt_blocks_the_document() -> None:
    r = disarm(doc_with((four_bit_dib(), "dib")), "地図.doc")
    assert r.verdict is Verdict.BLOCKED and r.reason == "picture_not_rebuilt", r.detail
    assert "does not fit" in r.detail


def test_a_pict_picture_blocks_the_document() -> None:
    r = disarm(ppt_with((wmf(), "pict")), "図面.ppt")
    assert r.verdict is Verdict.BLOCKED and r.reason == "picture_not_rebuilt", r.detail
    assert (r.message_ja, r.message_en) == REASONS["picture_not_rebuilt"]
    assert "PICT picture in Pictures" in r.detail


def test_jpeg_data_outside_any_picture_record_blocks_the_document() -> None:
    data = F.doc(stream("Data", bytes(64) + phone_photo((64, 48)) + bytes(64)),
                 text=b"\x01\r")
    r = disarm(data, "写真.doc")
    assert r.verdict is Verdict.BLOCKED and r.reason == "picture_not_rebuilt", r.detail
    assert "outside any picture record" in r.detail


def test_a_picture_record_that_holds_another_format_blocks_the_document() -> None:
    """A JPEG record holding a PNG, a metafile record whose header is not OfficeArt's:
    a reader may decode them all the same, so they are not passed as "no picture"."""
    r = disarm(doc_with((png_with_text(), "jpeg")), "偽装.doc")
    assert r.verdict is Verdict.BLOCKED and r.reason == "picture_not_rebuilt", r.detail
    assert "JPEG picture record in Data at " in r.detail and "holds no JPEG" in r.detail
    odd = bytearray(F.blip(emf(), "emf"))
    odd[8 + 16 + 33] = 0x00  # the metafile header's filter byte, 0xFE in every real one
    data = F.doc(stream("Data", bytes(68) + bytes(odd)), text=b"\x01\r")
    r = disarm(data, "偽装.doc")
    assert r.verdict is Verdict.BLOCKED and r.reason == "picture_not_rebuilt", r.detail
    assert "EMF picture record in Data at 68 that holds no EMF" in r.detail


def test_a_clean_picture_is_rebuilt_without_a_report_line() -> None:
    """As in OOXML: a picture that carried nothing is rebuilt all the same, and the
    verdict stays clean."""
    out = io.BytesIO()
    scene((64, 48)).save(out, "JPEG", quality=90)
    data = doc_with((out.getvalue(), "jpeg"))
    r = disarm(data, "写真.doc")
    assert r.verdict is Verdict.CLEAN and not r.removed, r.removed
    assert r.output is not None
    after, before = streams(r.output)["Data"], streams(data)["Data"]
    assert after != before and len(after) == len(before)


def test_a_tightly_encoded_jpeg_keeps_its_quality_when_it_fits_again() -> None:
    """A progressive JPEG with optimised Huffman tables and no metadata leaves no room:
    the rebuild makes its own tables too, and keeps the original's quantisation."""
    out = io.BytesIO()
    scene((320, 240)).save(out, "JPEG", quality=95, optimize=True, progressive=True)
    tight = out.getvalue()
    r = disarm(doc_with((tight, "jpeg")), "写真.doc")
    assert r.verdict in (Verdict.SANITIZED, Verdict.CLEAN), r.detail
    assert r.output is not None
    new = streams(r.output)["Data"]
    body = jpeg_at(new, new.find(struct.pack("<HH", 0x46A << 4, 0xF01D)))
    with Image.open(io.BytesIO(tight)) as a, Image.open(io.BytesIO(body)) as b:
        assert b.quantization == a.quantization and b.size == a.size
        assert a.info.get("progressive") and not b.info.get("progressive")  # rebuilt
    only_zeros_after_eoi(body)


def test_a_picture_that_does_not_decode_blocks_the_document() -> None:
    broken = phone_photo((64, 48))[:200]
    r = disarm(doc_with((broken, "jpeg")), "壊れた写真.doc")
    assert r.verdict is Verdict.BLOCKED and r.reason == "picture_not_rebuilt", r.detail


def test_verify_refuses_a_picture_with_exif_or_a_trailer() -> None:
    with pytest.raises(VerifyFailed, match="JPEG metadata segment"):
        ole2.verify(doc_with((phone_photo((64, 48)), "jpeg")), "doc", Context(CFG))
    clean = io.BytesIO()
    scene((64, 48)).save(clean, "JPEG")
    with pytest.raises(VerifyFailed, match="after the JPEG's end"):
        ole2.verify(doc_with((clean.getvalue() + TRAILER, "jpeg")), "doc", Context(CFG))
    ole2.verify(doc_with((clean.getvalue() + bytes(15), "jpeg")), "doc", Context(CFG))

