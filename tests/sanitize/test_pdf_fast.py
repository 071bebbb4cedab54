"""The shortcuts the PDF disarm takes for speed change no verdict and no report.

* The rebuild walks in Python only the objects whose JSON text names something it
  acts on (``pdf._suspects``): on hand-written files full of escaped, non-UTF-8 and
  look-alike names, walking every object must give the same report.
* The loader and the writer reuse their in-memory files: a short file after a long
  one, or after a refused one, must come out whole and alone; verify maps the file
  the rebuild's output was read from only for that very output.
* verify's byte scan hops over stream bodies: a dictionary must not hide in what it
  hops over, whatever the file (these files are fed to verify as they are, not
  rebuilt: qpdf would never write them).
"""

from __future__ import annotations

import io
import os
import re

import pikepdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sanitize.config import SanitizeConfig
from sanitize.formats import Context
from sanitize.formats import pdf as pdfmod
from sanitize.formats import pdf_verify
from sanitize.report import Blocked, VerifyFailed
from tests.sanitize import pdf_fixtures as fx

CTX = Context(cfg=SanitizeConfig())


def raw_pdf(extra: bytes, *more: bytes, fifth: bytes = b"/JavaScript") -> bytes:
    """A one-page PDF written by hand: object 4 is ``extra`` (hung off the catalog as
    /X), object 5 ``fifth`` (by default the bare name /JavaScript, for types given by
    reference), objects 6... are ``more`` (hung off the page as /Y)."""
    ys = b" ".join(b"%d 0 R" % n for n in range(6, 6 + len(more)))
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R /X 4 0 R >>",
        b"<< /Type /Pages /Kids [ 3 0 R ] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [ 0 0 10 10 ] /Resources << >> /Y [ %s ] >>" % ys,
        extra,
        fifth,
        *more,
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


# Names the walk acts on, and some it does not, spelt in many ways below.
BASES = ["JS", "JavaScript", "AA", "OpenAction", "Launch", "S", "Type", "Subtype", "Subtype2",
         "A", "URI", "Next", "Annots", "EF", "AF", "RichMedia", "RichMediaFoo", "EmbeddedFile",
         "EmbeddedFiles", "Action", "Annot", "FileAttachment", "PS", "U3D", "N", "Named",
         "GoTo", "Widget", "XFA", "Rect", "Foo", "Font", "Length", "SubmitForm", "Sound"]
SUFFIXES = [b"", b"", b"", b"`6", b"(x)", b"#80", b"#C3#A9", b"#28", b"x", b"2", b"_", b"#0A",
            b"#22", b"#5C", b"#2F", b"."]


@st.composite
def names(draw: st.DrawFn) -> bytes:
    base = draw(st.sampled_from(BASES)).encode()
    # Hex-escape some of the letters: "/J#53" is "/JS" to every parser.
    mask = draw(st.lists(st.booleans(), min_size=len(base), max_size=len(base)))
    spelt = b"".join(b"#%02X" % c if m else bytes([c]) for c, m in zip(base, mask, strict=True))
    return b"/" + spelt + draw(st.sampled_from(SUFFIXES))


LEAVES = st.one_of(
    names(),
    st.sampled_from([b"(http://example.jp/)", b"(javascript:alert\\(1\\))", b"(/JS)", b"5 0 R",
                     b"4", b"<414243>", b"true", b"null"]),
)


def values(depth: int) -> st.SearchStrategy[bytes]:
    if depth == 0:
        return LEAVES
    inner = values(depth - 1)
    return st.one_of(
        LEAVES,
        st.lists(st.tuples(names(), inner), max_size=4).map(
            lambda kv: b"<< " + b" ".join(k + b" " + v for k, v in kv) + b" >>"),
        st.lists(inner, max_size=4).map(lambda vs: b"[ " + b" ".join(vs) + b" ]"),
    )


def outcome(data: bytes) -> tuple[str, object]:
    try:
        rb = pdfmod.rebuild(data, "pdf", CTX)
    except Blocked as exc:
        return "blocked", exc.code
    return "rebuilt", (sorted(rb.removed, key=repr), fx.page_texts(rb.data))


@settings(max_examples=int(os.environ.get("PDF_FUZZ", "150")), derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(names(), values(2)), min_size=1, max_size=5))
def test_prefilter_skips_only_objects_with_nothing_to_remove(entries: list[tuple[bytes, bytes]]) -> None:
    data = raw_pdf(b"<< " + b" ".join(k + b" " + v for k, v in entries) + b" >>")
    fast = outcome(data)
    saved = pdfmod._TRIGGER
    pdfmod._TRIGGER = re.compile(rb"")  # every object is walked
    try:
        full = outcome(data)
    finally:
        pdfmod._TRIGGER = saved
    assert fast == full


@pytest.mark.parametrize("spelling", [b"/J#53", b"/#4A#53", b"/JS#80", b"/JS#C3#A9", b"/JS#0A"])
def test_escaped_and_non_utf8_names_are_suspects(spelling: bytes) -> None:
    with pikepdf.open(io.BytesIO(raw_pdf(b"<< %s (x) >>" % spelling))) as pdf:
        assert (4, 0) in [o.objgen for o in pdfmod._suspects(pdf)[0]]


def test_type_by_reference_is_a_suspect() -> None:
    with pikepdf.open(io.BytesIO(raw_pdf(b"<< /S 5 0 R /JS (app.alert\\(1\\)) >>"))) as pdf:
        assert (4, 0) in [o.objgen for o in pdfmod._suspects(pdf)[0]]
    rb = pdfmod.rebuild(raw_pdf(b"<< /S 5 0 R /Foo (x) >>"), "pdf", CTX)
    assert [r.code for r in rb.removed] == ["pdf.javascript"]


def test_plain_objects_are_not_suspects() -> None:
    with pikepdf.open(io.BytesIO(fx.to_bytes(fx.text_pdf(pages=3)))) as pdf:
        assert pdfmod._suspects(pdf) == ([], False)


# --- reused in-memory files ---------------------------------------------------------

def test_short_file_after_long_one_comes_out_alone() -> None:
    long_ = fx.to_bytes(fx.text_pdf(pages=40, lines=30))
    short = fx.to_bytes(fx.text_pdf(pages=1, lines=1))
    for data, pages in ((long_, 40), (short, 1), (long_, 40), (short, 1)):
        rb = pdfmod.rebuild(data, "pdf", CTX)
        pdfmod.verify(rb.data, "pdf", CTX)
        assert rb.data.rstrip().endswith(b"%%EOF")
        assert rb.data.count(b"%%EOF") == 1  # nothing of the longer output behind it
        assert len(fx.page_texts(rb.data)) == pages


def test_files_are_fine_after_a_refused_one() -> None:
    good = fx.to_bytes(fx.text_pdf(pages=2))
    with pytest.raises(Blocked):
        pdfmod.rebuild(fx.user_password(), "pdf", CTX)
    with pytest.raises(Blocked):
        pdfmod.rebuild(b"%PDF-1.7\n" + b"garbage " * 5000, "pdf", CTX)
    rb = pdfmod.rebuild(good, "pdf", CTX)
    pdfmod.verify(rb.data, "pdf", CTX)
    assert fx.page_texts(rb.data) == fx.page_texts(good)


def test_verify_maps_the_rebuilds_file_only_for_its_own_output() -> None:
    out = pdfmod.rebuild(fx.to_bytes(fx.text_pdf(pages=2)), "pdf", CTX).data
    hostile = fx.js_openaction()
    with pytest.raises(VerifyFailed):
        pdfmod.verify(hostile, "pdf", CTX)  # another file: it is read, not the held one
    with pytest.raises(VerifyFailed):
        pdfmod.verify(bytes(bytearray(hostile)), "pdf", CTX)
    pdfmod.verify(out, "pdf", CTX)
    pdfmod.verify(out, "pdf", CTX)  # again, now copied like any other file
    pdfmod.verify(bytes(bytearray(out)), "pdf", CTX)
    # A rebuild whose output is never verified: the next ones are not disturbed.
    first = pdfmod.rebuild(fx.js_page_aa(), "pdf", CTX).data
    second = pdfmod.rebuild(fx.to_bytes(fx.text_pdf(pages=3)), "pdf", CTX).data
    pdfmod.verify(second, "pdf", CTX)
    pdfmod.verify(first, "pdf", CTX)
    assert len(fx.page_texts(first)) == 1 and len(fx.page_texts(second)) == 3


# --- verify's hops over stream bodies -------------------------------------------------

def stream(body: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n%s\nendstream" % (len(body), extra, body)


JS = b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>"


def test_names_inside_bodies_are_hopped_over() -> None:
    """Image bytes or page text that read "/JavaScript" are no names: the file passes,
    a long body without even a look at the objects."""
    pixels = b"\xff\xd8 /JS /AA /Launch \x00" * 500
    image = stream(pixels, b"/Subtype /Image /Width %d /Height 1 /ColorSpace /DeviceGray "
                           b"/BitsPerComponent 8 " % len(pixels))
    data = raw_pdf(b"<< >>", image, image, fifth=b"1")
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert not pdf_verify._suspect_outside_streams(pdf, data)
    pdfmod.verify(data, "pdf", CTX)
    pdfmod.verify(raw_pdf(b"<< >>", stream(b"BT (/JavaScript /OpenAction) Tj ET"), image), "pdf", CTX)


LONG = b"q " * pdf_verify.HOP_MIN  # a body long enough to be hopped over


def test_dictionary_after_a_body_holding_endstream_is_seen() -> None:
    data = raw_pdf(b"<< >>", stream(b"q endstream endobj 9 0 obj << >> Q" + LONG), JS, fifth=b"1")
    with pytest.raises(VerifyFailed):
        pdfmod.verify(data, "pdf", CTX)


@pytest.mark.parametrize("head", [
    b"/T (>>\nstream\n) /JS (x) ",  # a string with raw line ends qpdf never writes
    b"/T 1 % >>\nstream\n\n/JS (x) ",  # a comment
    b"/T << /A 1 >>\nstream\n /JS (x) ",  # a bare keyword qpdf reads as null
])
def test_no_hop_from_a_stream_keyword_qpdf_does_not_see(head: bytes) -> None:
    data = raw_pdf(b"<< >>", stream(LONG, head), fifth=b"1")
    with pytest.raises(VerifyFailed):
        pdfmod.verify(data, "pdf", CTX)


def test_objects_in_object_streams_send_verify_to_the_full_look() -> None:
    with pikepdf.open(io.BytesIO(fx.to_bytes(fx.text_pdf()))) as pdf:
        out = fx.to_bytes(pdf, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    with pikepdf.open(io.BytesIO(out)) as pdf:
        assert pdf_verify._suspect_outside_streams(pdf, out)


def test_hop_stops_at_the_next_object() -> None:
    """Between two streams, a dictionary of its own is scanned."""
    data = raw_pdf(b"<< >>", stream(LONG), JS, stream(LONG), fifth=b"1")
    with pytest.raises(VerifyFailed):
        pdfmod.verify(data, "pdf", CTX)
