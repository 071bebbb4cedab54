"""Embedded font programs of a PDF, rebuilt through fontTools or dropped (CDR.md "PDF").

A font program is a binary the reader's font engine parses and, for TrueType and CFF,
partly *runs*: TrueType glyph instructions and the ``fpgm``/``prep`` programs are
bytecode for a virtual machine, CFF charstrings carry hint operators and subroutine
calls, Type 1 fonts are PostScript.  They are among the oldest carriers of reader
exploits, so no embedded program passes as it came:

* TrueType (``/FontFile2``, and ``/FontFile3 /OpenType`` with ``glyf``): parsed with
  fontTools, the hinting programs (``fpgm``, ``prep``, ``cvt ``, ``cvar``) and every
  glyph's instructions removed, only the tables a PDF reader draws with kept (the
  rest reported), and the font written anew.  Text renders unhinted (the usual look
  at screen sizes on today's displays).
* CFF (``/FontFile3 /Type1C`` and ``/CIDFontType0C``, and ``/OpenType`` with
  ``CFF ``): parsed, de-hinted (hint operators and hint values gone, charstrings
  recompiled from their decoded programs) and written anew.
* Type 1 (``/FontFile``): fontTools cannot rebuild one safely, so the program is
  dropped; so is any program that does not parse, does not survive the round trip,
  or is of another kind.  The font dictionary stays, so the text still extracts and
  the reader draws it with a substitute font by name and widths (``pdf.font_removed``).

The rebuilt program replaces the stream's data; the stream keeps only the keys that
describe it (``/Length1`` for TrueType, ``/Subtype`` for ``/FontFile3``).
"""

from __future__ import annotations

import importlib
import io
from typing import TYPE_CHECKING

import pikepdf
from pikepdf import Dictionary, Name, Stream

from sanitize.report import Removed

if TYPE_CHECKING:
    from collections.abc import Iterable

    from fontTools.cffLib import CFFFontSet
    from fontTools.ttLib import TTFont

# fontTools: ~55 ms of imports, a quarter of the fork server's start.  ``load`` imports
# it with the table modules fontTools would otherwise load lazily; the fork server
# calls it before it locks down (``sanitize.worker._preimport``), so relayd's workers
# have it.  ``relayctl sanitize`` defers it (``sanitize.forkserver.launch``): its first
# workers import it at their first embedded font, reading the modules under their
# sandbox as any module imported late (Landlock leaves the library directories
# readable, seccomp refuses only writing).
_fonttools: tuple[type[CFFFontSet], type[TTFont]] | None = None
_TABLE_MODULES = ("D_S_I_G_", "O_S_2f_2", "_c_m_a_p", "_c_v_t", "_f_p_g_m", "_g_a_s_p",
                  "_g_l_y_f", "_h_e_a_d", "_h_h_e_a", "_h_m_t_x", "_l_o_c_a", "_m_a_x_p",
                  "_n_a_m_e", "_p_o_s_t", "_p_r_e_p", "_v_h_e_a", "_v_m_t_x", "C_F_F_")


def load() -> tuple[type[CFFFontSet], type[TTFont]]:
    """(CFFFontSet, TTFont), fontTools and the table modules the rebuild uses imported."""
    global _fonttools
    if _fonttools is None:
        from fontTools.cffLib import CFFFontSet
        from fontTools.ttLib import TTFont
        for table in _TABLE_MODULES:  # fontTools would import each at its first use
            importlib.import_module(f"fontTools.ttLib.tables.{table}")
        _fonttools = (CFFFontSet, TTFont)
    return _fonttools


FONT_KEYS = ("/FontFile", "/FontFile2", "/FontFile3")
# Programs run by the TrueType interpreter, and the table they read (and its variations).
_HINTING = ("fpgm", "prep", "cvt ", "cvar")
# Tables a PDF reader draws a TrueType or OpenType font with; anything else (layout
# tables, signatures, vendor tables) it never reads, and it goes.
_KEEP_TABLES = frozenset({"head", "hhea", "hmtx", "loca", "glyf", "maxp", "cmap", "post",
                          "name", "OS/2", "vhea", "vmtx", "gasp", "CFF "})
_CFF_SUBTYPES = frozenset({b"/Type1C", b"/CIDFontType0C"})
_DETAIL_MAX = 200


def rebuild_fonts(holders: Iterable[pikepdf.Object], removed: list[Removed]) -> set[tuple[int, int]]:
    """Rebuild or drop every font program named by a ``/FontFile*`` key in
    ``holders`` (objects whose direct dictionaries may hold such keys, at any depth).
    Returns the font program streams seen, which are not images or content."""
    done: dict[tuple[int, int], bool] = {}  # program stream -> kept
    for holder in holders:
        for d in _direct_dicts(holder, 0):
            keys = d.keys()
            for key in FONT_KEYS:
                if key in keys:
                    _one(d, key, done, removed)
    return set(done)


def _direct_dicts(obj: pikepdf.Object, depth: int) -> Iterable[Dictionary | Stream]:
    """``obj`` and the dictionaries inside it that are not objects of their own."""
    if depth > 100:
        return
    if isinstance(obj, (Dictionary, Stream)):
        yield obj
        children = obj.values()
    elif isinstance(obj, pikepdf.Array):
        children = list(obj)
    else:
        return
    for child in children:
        if isinstance(child, (Dictionary, pikepdf.Array)) and not child.is_indirect:
            yield from _direct_dicts(child, depth + 1)


def _font_name(d: Dictionary | Stream) -> str:
    name = d.get("/FontName")
    return str(name)[1:][:60] if isinstance(name, Name) else "unnamed"


def _one(d: Dictionary | Stream, key: str, done: dict[tuple[int, int], bool],
         removed: list[Removed]) -> None:
    program = d[key]
    label = f"{_font_name(d)}, {key[1:]}"
    if not isinstance(program, Stream):
        del d[key]
        removed.append(Removed("pdf.font_removed", f"{label}: not a stream"))
        return
    og = program.objgen
    where = f"{og[0]} {og[1]} R" if program.is_indirect else "direct"
    if og not in done or og == (0, 0):
        done[og] = _rebuild_program(key, program, f"{label} ({where})", removed)
    if not done[og]:
        del d[key]


def _rebuild_program(key: str, program: Stream, label: str, removed: list[Removed]) -> bool:
    """Rebuild ``program`` in place; False if it was dropped (and emptied)."""
    subtype = program.get("/Subtype")
    sub = bytes(subtype.unparse()) if isinstance(subtype, Name) else b""
    why = ""
    new: bytes | None = None
    try:
        if key == "/FontFile":
            why = "Type 1 font program (not rebuilt: the reader substitutes a font)"
        elif key == "/FontFile3" and sub not in _CFF_SUBTYPES | {b"/OpenType"}:
            why = f"font program of subtype {sub.decode('latin-1') or 'none'}"
        else:
            data = program.read_bytes()
            if key == "/FontFile3" and sub in _CFF_SUBTYPES:
                new = _cff(data, label, removed)
            else:
                new = _sfnt(data, label, removed, cff_ok=key == "/FontFile3")
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:  # noqa: BLE001 - fontTools fails in many ways on hostile fonts
        why = f"font program that does not survive a rebuild ({type(exc).__name__})"
    if new is None:
        removed.append(Removed("pdf.font_removed", f"{why or 'font program'}: {label}"[:_DETAIL_MAX]))
        program.write(b"")
        for k in list(program.keys()):
            if k != "/Length":
                del program[k]
        return False
    for k in list(program.keys()):
        if k not in ("/Length", "/Subtype", "/Filter", "/DecodeParms"):
            del program[k]
    if key == "/FontFile2":
        program.Length1 = len(new)
    program.write(new)  # uncompressed here; qpdf compresses it on save
    return True


def _sfnt(data: bytes, label: str, removed: list[Removed], cff_ok: bool) -> bytes | None:
    """A TrueType/OpenType font without hinting or unused tables."""
    if data[:4] not in (b"\x00\x01\x00\x00", b"true", b"OTTO"):
        raise ValueError("not a TrueType or OpenType font")
    font = load()[1](io.BytesIO(data), recalcTimestamp=False, lazy=False)
    try:
        tags = set(font.keys()) - {"GlyphOrder"}
        if "glyf" not in tags and not (cff_ok and "CFF " in tags):
            raise ValueError("neither glyf nor CFF outlines")
        hinting = [t.strip() for t in _HINTING if t in tags]
        for tag in _HINTING:
            if tag in tags:
                del font[tag]
        if "glyf" in tags:
            instructed = _unhint_glyphs(font)
            if instructed:
                hinting.append(f"instructions of {instructed} glyph(s)")
        if "CFF " in tags:
            if _cff_has_hints(font["CFF "].cff):
                hinting.append("CFF hints")
            font["CFF "].cff.remove_hints()
        other = sorted(tags - _KEEP_TABLES - set(_HINTING))
        for tag in other:
            del font[tag]
        if hinting:
            removed.append(Removed("pdf.font_hinting", f"{', '.join(hinting)}: {label}"[:_DETAIL_MAX]))
        if other:
            removed.append(Removed("pdf.font_table",
                                   f"{', '.join(t.strip() for t in other)}: {label}"[:_DETAIL_MAX]))
        out = io.BytesIO()
        font.save(out, reorderTables=True)
        return out.getvalue()
    finally:
        font.close()


def _unhint_glyphs(font: TTFont) -> int:
    """Strip every glyph's instructions and zero the interpreter's limits in maxp;
    the number of glyphs that had instructions."""
    glyf = font["glyf"]
    instructed = 0
    for name in font.getGlyphOrder():
        glyph = glyf[name]  # decoded now: the font is written from decoded glyphs
        program = getattr(glyph, "program", None)
        if program is not None and program.getBytecode():
            instructed += 1
        glyph.removeHinting()
    maxp = font["maxp"]
    if getattr(maxp, "tableVersion", 0) >= 0x00010000:
        maxp.maxZones = 1
        for field in ("maxTwilightPoints", "maxStorage", "maxFunctionDefs",
                      "maxInstructionDefs", "maxStackElements", "maxSizeOfInstructions"):
            setattr(maxp, field, 0)
    return instructed


_HINT_OPS = frozenset({"hstem", "vstem", "hstemhm", "vstemhm", "hintmask", "cntrmask"})


def _cff_has_hints(cff: CFFFontSet) -> bool:
    for name in cff.fontNames:
        strings = cff[name].CharStrings
        for glyph in strings.keys():
            cs = strings[glyph]
            cs.decompile()
            if any(op in _HINT_OPS for op in cs.program if isinstance(op, str)):
                return True
    return False


def _cff(data: bytes, label: str, removed: list[Removed]) -> bytes:
    """A bare CFF font (FontFile3 Type1C / CIDFontType0C), de-hinted and recompiled."""
    cff_font_set, tt_font = load()
    holder = tt_font(recalcBBoxes=False, recalcTimestamp=False)  # what cffLib asks of a font
    cff = cff_font_set()
    cff.decompile(io.BytesIO(data), holder)
    if len(cff.fontNames) != 1:
        raise ValueError(f"{len(cff.fontNames)} fonts in one CFF")
    if _cff_has_hints(cff):
        removed.append(Removed("pdf.font_hinting", f"CFF hints: {label}"[:_DETAIL_MAX]))
    cff.remove_hints()
    out = io.BytesIO()
    cff.compile(out, holder)
    return out.getvalue()
