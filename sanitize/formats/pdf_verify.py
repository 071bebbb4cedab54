"""Reading side of the PDF family: qpdf limits, the in-memory loader, and ``verify``.

``verify`` is the independent second look CDR.md asks for.  It shares nothing with the
rebuild's walk (``sanitize.formats.pdf``): it re-opens the output with pikepdf, checks
encryption, warnings and the page limit, then looks for every construct the rebuild
removes.  It has two paths:

* a byte scan of the output for the names of those constructs, outside stream
  bodies.  The rebuild writes every object uncompressed (no object streams) and qpdf
  writes names in canonical form (``/J#53`` comes out as ``/JS``), so a dictionary
  key or name value cannot hide from this scan.  No hit: nothing to look at, done.
* any hit (a link's ``/URI``, a text string that happens to read ``/JS``, an object
  stream) is settled by a structural scan of every object.

The byte scan hops over the bodies of long streams (image data is most of a file's
bytes), using only what qpdf read when it opened the file, its cross-reference table
(a table qpdf had to rebuild leaves warnings, and those fail verify): object k is
parsed from its offset, so the bytes up to the next object's offset hold object k
and nothing else qpdf parses.  A body starts after ``>>``, the keyword ``stream`` and
an end of line; it is hopped over (to the last ``endstream`` before the next object)
only if the text from the object's offset to there closes every dictionary it opens
and holds no string and no comment, so the ``>>`` is the one that ends the object's
own dictionary, as qpdf reads it.  Else the scan goes on into the body.  qpdf writes
no comments and stream dictionaries seldom hold strings, so nearly every long body of
its output is hopped over.  A file of small objects (under 1 KB each on average) is
scanned whole: its xref table costs more to read than its bytes to scan.

The loader lives here, not in ``pdf``, because both sides need it and opening a file
is not judging it.  It hands qpdf an anonymous in-memory file (memfd) to map: reading
through a Python ``BytesIO`` costs qpdf a callback per read and doubles the parse time.
The memfds are kept and reused (``memfile``): a new one costs the kernel a page
allocation and a page freeing per 4 KB, a large part of a whole rebuild.  The file the
rebuild's output was read from is kept in the job's ``Handover`` until verify opens
that same bytes object (``hold_output``), so the output is not copied into a second
file.  (The figures are in bench/NOTES-sanitize.md.)
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO

import pikepdf
from pikepdf import Array, Dictionary, Name, Stream, String

from sanitize.config import SanitizeConfig
from sanitize.formats.pdf_verify_media import check_media
from sanitize.report import Blocked, VerifyFailed

if TYPE_CHECKING:
    from sanitize.formats import Context
    from sanitize.handover import Handover

# qpdf decodes streams when it parses object streams and when it normalises filters on
# write.  A double-Flate stream of a few KB inflates to gigabytes; cap the memory any
# one decode may use.  Bounded by cfg.max_expanded_bytes (the engine's expansion cap).
DECODE_CAP = 64 * 1024 * 1024
MAX_NESTING = 100  # arrays/dicts inside each other; legitimate files stay far below
MAX_FILTERS = 4  # filters chained on one stream; [A85 Flate] is the usual maximum
# No doc_max_warnings: with any value set, qpdf does more work on every open, a
# large share of the budget for a 50-page file.  Warnings grow with the damage, which
# the input size bounds, and the worker's CPU and memory limits bound the rest.
MAX_CONTAINER = 5_000_000  # items in one array or dictionary


def qpdf_limits(cfg: SanitizeConfig) -> dict[str, int]:
    """The qpdf limits every parse runs under (``pikepdf.settings`` names)."""
    cap = min(DECODE_CAP, cfg.max_expanded_bytes)
    return {"parser_max_nesting": MAX_NESTING, "parser_max_container_size": MAX_CONTAINER,
            "max_stream_filters": MAX_FILTERS, "flate_max_memory": cap,
            "png_max_memory": cap, "tiff_max_memory": cap, "run_length_max_memory": cap,
            "dct_max_memory": cap}


def apply_limits(cfg: SanitizeConfig) -> None:
    """Set qpdf's process-wide limits before anything is parsed.

    qpdf itself holds them; they are read back from it rather than remembered here,
    which costs less than setting them again."""
    wanted = qpdf_limits(cfg)
    now = pikepdf.settings.get_qpdf_limits()
    if any(now.get(name) != value for name, value in wanted.items()):
        pikepdf.settings.set_qpdf_limits(**wanted)


# memfds not in use, kept for the next memfile(): reusing one writes over pages the
# kernel already holds instead of allocating (and later freeing) them again.  Scratch
# space, not state about a file: nothing in it is looked up by what a file holds, and
# a file taken from it is written and cut to length before anything reads it.
_SPARE: list[BinaryIO] = []
MAX_SPARE = 4  # a rebuild holds two at once (input, output), a verify one
# A spare file keeps at most this much memory; a bigger one is emptied when handed back
# (a 100 MB PDF must not stay resident in the worker until the next job).
KEEP_BYTES = 8 * 1024 * 1024


def _forget_spares() -> None:
    # A forked child would share each memfd (and its offset) with the parent.
    _SPARE.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_spares)


def _new_file() -> BinaryIO:
    try:
        fd = os.memfd_create("kakehashi-pdf", os.MFD_CLOEXEC)
    except (AttributeError, OSError):  # not Linux, or the sandbox forbids it
        return io.BytesIO()
    return os.fdopen(fd, "w+b")


def _give_back(f: BinaryIO) -> None:
    if len(_SPARE) < MAX_SPARE:
        if f.seek(0, os.SEEK_END) > KEEP_BYTES:
            f.truncate(0)
        _SPARE.append(f)
    else:
        f.close()


@contextmanager
def memfile(handover: Handover | None = None) -> Iterator[BinaryIO]:
    """A read-write file in memory with a real descriptor (mmap-able), else BytesIO.

    The file starts at offset 0 but may hold an earlier user's bytes past what is
    written: call ``truncate()`` after writing, before reading or mapping it.  The
    file objects are kept with their memfds, as making one has a cost of its own.
    A file ``handover`` holds when the block ends (``hold_output``) stays with it."""
    try:
        f = _SPARE.pop()
    except IndexError:
        f = _new_file()
    with _lend(f, handover):
        yield f


@contextmanager
def _lend(f: BinaryIO, handover: Handover | None = None) -> Iterator[BinaryIO]:
    """Use ``f`` from offset 0, then keep it as a spare unless it is held (or broken)."""
    f.seek(0)
    try:
        yield f
    except BaseException:
        # The file may still be mapped by an object nobody closed: do not hand it
        # out again (truncating a mapped file faults its reader).
        f.close()
        raise
    if (handover is None or not handover.holds(f)) and not isinstance(f, io.BytesIO):
        _give_back(f)


def hold_output(f: BinaryIO, data: bytes, handover: Handover) -> None:
    """Leave ``f``, from which ``data`` was just read whole, in ``handover`` for
    ``load(data, handover)``; call it inside ``memfile(handover)``.

    The rebuild's output is re-opened by verify right after: mapping the file it was
    read from spares copying it into another.  Only the same bytes object is taken
    that way, and nothing writes to the file while it is held."""
    if isinstance(f, io.BytesIO) or len(data) > KEEP_BYTES:
        return
    old = handover.hold_output(data, f)
    if old is not None and old is not f:
        _give_back(old)


@contextmanager
def _holding(data: bytes, handover: Handover | None) -> Iterator[BinaryIO]:
    """A file that holds exactly ``data``, at offset 0."""
    f = handover.take_output(data) if handover is not None else None
    if f is None:
        with memfile() as f:
            f.write(data)
            f.truncate()
            f.seek(0)
            yield f
        return
    with _lend(f):
        yield f


@contextmanager
def load(data: bytes, handover: Handover | None = None) -> Iterator[pikepdf.Pdf]:
    """Open ``data`` with the empty password only; refuse what cannot be opened.
    The file ``handover`` holds for ``data`` is mapped rather than written again."""
    if not data:
        raise Blocked("corrupt", "empty PDF")
    with _holding(data, handover) as f:
        mode = pikepdf.AccessMode.mmap if not isinstance(f, io.BytesIO) else pikepdf.AccessMode.default
        try:
            # inherit_page_attributes=False: pushing inherited attributes down the page
            # tree costs a full parse up front and changes nothing we judge.
            pdf = pikepdf.open(f, password="", inherit_page_attributes=False, access_mode=mode)
        except pikepdf.PasswordError as exc:
            raise Blocked("encrypted", "user password set") from exc
        except pikepdf.PikepdfError as exc:
            raise Blocked("corrupt", f"qpdf cannot open: {exc}") from exc
        with pdf:
            yield pdf


def alternation(words: list[bytes]) -> bytes:
    """A regex group matching exactly ``words``, branching one byte at a time.

    ``re`` tries the branches of a flat alternation one after another at every
    candidate position; names sit close together in PDF dictionaries, and the trie
    form scans them faster (bench/NOTES-sanitize.md)."""
    words = sorted(set(words))
    if words == [b""]:
        return b""
    groups: dict[bytes, list[bytes]] = {}
    for w in words:
        if w:
            groups.setdefault(w[:1], []).append(w[1:])
    parts = [re.escape(head) + alternation(rest) for head, rest in groups.items()]
    if len(parts) == 1 and b"" not in words:
        return parts[0]
    return b"(?:" + b"|".join(parts) + b")" + (b"?" if b"" in words else b"")


# --- verify ---------------------------------------------------------------------

_TOKENS = (
    b"JS|JavaScript|AA|OpenAction|AF|EF|EmbeddedFile|EmbeddedFiles|XFA|NeedsRendering|"
    b"Collection|SpiderInfo|URI|Launch|GoToR|GoToE|SubmitForm|ImportData|ResetForm|"
    b"Rendition|Movie|Sound|Hide|GoTo3DView|RichMedia|RichMediaExecute|Named|"
    b"FileAttachment|Screen|3D|U3D|PRC|PS|Subtype2|Widget|ObjStm|Encrypt"
)
# A name token: the name not followed by a letter or digit (a delimiter, whitespace,
# the end, or a byte some scanners take as the end of a name: "/OpenAction`6").
_SUSPECT = re.compile(rb"/" + alternation(_TOKENS.split(b"|")) + rb"(?![A-Za-z0-9])")
# Objects shorter than this are scanned whole: hopping over a body costs about what
# scanning 4 KB of it costs (bench/NOTES-sanitize.md).
HOP_MIN = 4096
# Files whose objects are shorter than this on average are scanned whole.
BYTES_PER_OBJECT = 1024
# The start of a stream body (see the module docstring).
_BODY = re.compile(rb">>[\x00\t\n\x0c\r ]*stream(?:\r\n|\n)")
# A type given by reference ("/S 7 0 R"): the name sits in another object.
_BY_REFERENCE = re.compile(rb"/(?:S|Type|Subtype|Subtype2|N)\s+\d+\s+\d+\s+R")
# Keys and name values that start as a flagged name and go on with such a byte.
_LOOKALIKE = re.compile(rb"/(?:JS|JavaScript|AA|OpenAction|Launch|EmbeddedFiles?|XFA|RichMedia)[^A-Za-z0-9]")

_BAD_KEYS = frozenset({
    "/JS", "/AA", "/OpenAction", "/AF", "/EF", "/XFA", "/NeedsRendering", "/JavaScript",
    "/EmbeddedFiles", "/Collection", "/SpiderInfo", "/Launch", "/RichMedia", "/EmbeddedFile",
    "/GoToR", "/GoToE", "/SubmitForm", "/ImportData", "/RichMediaExecute",
})
_BAD_S = frozenset({
    b"/JavaScript", b"/Launch", b"/GoToR", b"/GoToE", b"/SubmitForm", b"/ImportData",
    b"/ResetForm", b"/Rendition", b"/Movie", b"/Sound", b"/Hide", b"/GoTo3DView",
    b"/RichMediaExecute",
})
_BAD_SUBTYPES = frozenset({
    b"/FileAttachment", b"/Sound", b"/Movie", b"/Screen", b"/RichMedia", b"/3D", b"/PS", b"/U3D",
    b"/PRC",
})
# Name values byte scanners flag: none may remain anywhere in a dictionary.
_FLAGGED = frozenset({
    b"/JS", b"/JavaScript", b"/AA", b"/OpenAction", b"/Launch", b"/EmbeddedFile", b"/XFA",
    b"/RichMedia", b"/GoToR", b"/GoToE", b"/SubmitForm", b"/ImportData", b"/RichMediaExecute",
})
_OK_NAMED = frozenset({b"/NextPage", b"/PrevPage", b"/FirstPage", b"/LastPage"})
_OK_URI = re.compile(rb"(?i)(?:https?://|mailto:)[^\x00-\x1f\x7f]*\Z")


def verify(data: bytes, kind: str, ctx: Context) -> None:
    """Raise VerifyFailed unless ``data`` is a clean, unencrypted, parseable PDF."""
    cfg = ctx.cfg
    apply_limits(cfg)
    if not data.startswith(b"%PDF-"):
        raise VerifyFailed("output does not start with %PDF-")
    try:
        with load(data, ctx.handover) as pdf:
            if pdf.is_encrypted:
                raise VerifyFailed("output is encrypted")
            # The page tree's /Count, not a walk of the tree: rebuild counted the pages
            # one by one (qpdf rewrites /Count from that walk), and walking them again
            # would parse every page object of a file that is otherwise done with.
            tree = pdf.Root.get("/Pages")
            count = tree.get("/Count") if isinstance(tree, Dictionary) else None
            if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= cfg.max_pdf_pages:
                raise VerifyFailed(f"page tree count {count!r} missing or over the limit")
            if _suspect_outside_streams(pdf, data):  # something to look at: find which objects
                for obj in pdf.objects:
                    if isinstance(obj, Stream):
                        text = obj.stream_dict.unparse(resolved=True)
                    elif isinstance(obj, (Dictionary, Array)):
                        text = obj.unparse(resolved=True)
                    else:
                        continue
                    if _SUSPECT.search(text) or _BY_REFERENCE.search(text):
                        _check(obj, 0)
            check_media(pdf, data)  # images and font programs: pdf_verify_media
            warnings = pdf.get_warnings()  # handed over once, then cleared
            if warnings:
                raise VerifyFailed(f"output needed repair: {warnings[0]}")
    except VerifyFailed:
        raise
    except (Blocked, pikepdf.PikepdfError) as exc:
        raise VerifyFailed(f"output does not re-open: {exc}") from exc


def _suspect_outside_streams(pdf: pikepdf.Pdf, data: bytes) -> bool:
    """Whether a name of _SUSPECT appears in ``data`` outside the bodies of long
    streams, or objects sit in object streams (where no byte scan sees them)."""
    size = pdf.trailer.get("/Size")
    if not isinstance(size, int) or len(data) < BYTES_PER_OBJECT * size:
        # Small objects: reading the xref table, entry by entry, would cost more
        # than scanning every byte.  An object stream's /ObjStm is a suspect name.
        return _SUSPECT.search(data) is not None
    starts = []
    for entry in pdf.get_xref_table().values():
        if entry.type == 2:
            return True
        if entry.type == 1:
            starts.append(entry.offset)
    starts.sort()
    pos = 0
    for first, last in zip(starts, [*starts[1:], len(data)]):
        if last - first < HOP_MIN:
            continue
        m = _BODY.search(data, first, last)
        if m is None:
            continue
        body = m.end()
        if (data.find(b"(", first, body) >= 0 or data.find(b"%", first, body) >= 0
                or data.count(b"<<", first, body) != data.count(b">>", first, body)):
            continue
        if last < len(data):
            end = data.rfind(b"endstream", body, last)
        else:  # the last object: the cross-reference table and trailer follow
            end = data.find(b"endstream", body)
        if end < 0:
            continue
        # A name never holds ">", so none is cut at m.start().
        if _SUSPECT.search(data, pos, m.start()):
            return True
        pos = end
    return _SUSPECT.search(data, pos) is not None


def _check(obj: object, depth: int) -> None:
    """Structural scan of one object and the direct objects inside it."""
    if depth > MAX_NESTING:
        raise VerifyFailed("nesting too deep")
    if isinstance(obj, Array):
        for item in obj:
            if isinstance(item, (Dictionary, Array)) and not item.is_indirect:
                _check(item, depth + 1)
        return
    if not isinstance(obj, (Dictionary, Stream)):
        return
    keys = obj.keys()
    where = f"object {obj.objgen[0]} {obj.objgen[1]}" if obj.is_indirect else "a direct object"
    bad = keys & _BAD_KEYS
    if bad:
        raise VerifyFailed(f"{min(bad)} remains in {where}")
    # Names are compared by their bytes: one may be indirect (unhashable) or not UTF-8.
    names = {k: _spell(obj[k]) for k in ("/S", "/Subtype", "/Subtype2", "/Type", "/N") if k in keys}
    action = names.get("/S")
    if action in _BAD_S:
        raise VerifyFailed(f"{action!r} action remains in {where}")
    if action == b"/Named" and names.get("/N") not in _OK_NAMED:
        raise VerifyFailed(f"named action {names.get('/N')!r} remains in {where}")
    if names.get("/Subtype") in _BAD_SUBTYPES or names.get("/Subtype2") == b"/PS":
        raise VerifyFailed(f"{names.get('/Subtype')!r} object remains in {where}")
    if names.get("/Type") == b"/EmbeddedFile":
        raise VerifyFailed(f"embedded file remains in {where}")
    if names.get("/Subtype") == b"/Widget" and "/A" in keys:
        raise VerifyFailed(f"widget action remains in {where}")
    if "/URI" in keys:
        uri = obj["/URI"]
        if not (isinstance(uri, String) and _OK_URI.match(bytes(uri).strip())):
            raise VerifyFailed(f"unsafe /URI remains in {where}")
    for key in keys:
        value = obj[key]
        if _LOOKALIKE.match(key.encode("utf-8", "surrogateescape")) or _LOOKALIKE.match(_spell(value)):
            raise VerifyFailed(f"a look-alike of a hostile name remains in {where}")
        if _spell(value) in _FLAGGED:
            raise VerifyFailed(f"{_spell(value)!r} remains in {where}")
        if isinstance(value, (Dictionary, Array)) and not value.is_indirect:
            _check(value, depth + 1)


def _spell(obj: object) -> bytes:
    return obj.unparse(resolved=True) if isinstance(obj, Name) else b""
