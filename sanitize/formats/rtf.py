"""RTF: tokenize, drop active groups, and write the document anew from the tokens.

The tokenizer knows control words with optional numeric parameters, control symbols,
``\\'hh`` escapes, ``\\binN`` raw data (skipped by length, so braces inside it are
data), groups and ``{\\*…}`` ignorable destinations.  Like Word, it accepts any file
that starts with ``{\\rt`` (``{\\rtf1`` is written back).

A destination control word (``\\object``, ``\\objdata``, ``\\datastore``, …) turns the
rest of its group into that destination, wherever in the group it stands, so the
group is cut from that word to its end (the whole group when the word opens it).
Of an ``\\object`` only its ``\\result`` (the picture Word shows) is kept.  Fields that
act (``ooxml_rules.ACTING_FIELDS``: DDE, INCLUDETEXT, MACROBUTTON, a HYPERLINK to a
file, …), and fields whose instruction holds a nested field, are replaced by their
``\\fldrslt``.  ``\\bin`` data is rewritten as
hex inside pictures and dropped elsewhere, so the output never contains raw binary.
Bytes after the closing brace of the document are dropped; a document whose braces
do not close is refused.

Pictures (``\\pict``, from the word to the end of its group) are rebuilt by the image
engine (``embedded_images``) and written back as hex with their other properties
(``\\picw``, ``\\pich``, ``\\picwgoal``, ``\\pichgoal``, scaling, ``\\picprop``): JPEG
and PNG data (hex or ``\\bin``, whatever its blip word claims) becomes new JPEG or
PNG; metafiles (``\\emfblip``, ``\\wmetafile``, ``\\pmmetafile``, ``\\macpict``),
device bitmaps (``\\dibitmap``, ``\\wbitmap``) and data that is no picture become a
transparent PNG placeholder at the same displayed size.  ``\\bliptag`` and
``\\blipuid`` (checksums of the old data) go.  All pictures are sized up before the
first is decoded, against one pixel budget for the document.
"""

from __future__ import annotations

import binascii
import re
from typing import NamedTuple, Union

from sanitize.formats import Context, images
from sanitize.formats import embedded_images as pictures
from sanitize.formats import ooxml_rules as rules
from sanitize.report import Blocked, Rebuilt, Removed, VerifyFailed

KINDS = frozenset({"rtf"})

# Limits (module defaults; candidates for sanitize.config).
MAX_DEPTH = 256  # group nesting; Word itself gives up far earlier on hostile files
MAX_TOKENS = 5_000_000

# Destination words whose whole destination is removed -> removed code.
DROP_DESTINATIONS = {
    b"object": "rtf.object", b"objdata": "rtf.object", b"objclass": "rtf.object",
    b"objname": "rtf.object", b"oleclsid": "rtf.object",
    b"datastore": "rtf.datastore", b"template": "rtf.template",
    b"mailmerge": "rtf.mailmerge",
}


class Word(NamedTuple):
    name: bytes
    param: int | None
    space: bool  # the delimiting space was consumed


class Symbol(NamedTuple):
    char: bytes


class Hex(NamedTuple):
    digits: bytes


class Bin(NamedTuple):
    data: bytes


class Text(NamedTuple):
    data: bytes


class Group:
    __slots__ = ("items",)

    def __init__(self, items: list[Item] | None = None) -> None:
        self.items: list[Item] = items if items is not None else []


Item = Union[Word, Symbol, Hex, Bin, Text, Group]

_TOKEN = re.compile(
    rb"\\([a-zA-Z]+)(-?[0-9]{1,10})?( ?)"  # 1 name, 2 parameter (Word: 32-bit), 3 space
    rb"|\\'([0-9a-fA-F]{2})"  # 4 hex escape
    rb"|\\(.)"  # 5 control symbol (any byte, newline included)
    rb"|([{}])"  # 6 brace
    rb"|([^\\{}]+)"  # 7 text
    rb"|(\\)",  # 8 lone backslash at the very end
    re.DOTALL)


def parse(data: bytes, max_depth: int = MAX_DEPTH,
          max_tokens: int = MAX_TOKENS) -> tuple[Group, bytes]:
    """The document group and the bytes after its closing brace.

    Raises Blocked: "corrupt" for a file that is not RTF or whose braces do not
    close, "limit_exceeded" past the nesting or token limits.
    """
    if not data.startswith(b"{\\rt"):
        raise Blocked("corrupt", "RTF does not start with {\\rt")
    stack: list[Group] = []
    current = Group()
    pos, end, tokens = 0, len(data), 0
    match = _TOKEN.match
    while pos < end:
        m = match(data, pos)
        assert m is not None  # the alternatives cover every byte
        pos = m.end()
        tokens += 1
        if tokens > max_tokens:
            raise Blocked("limit_exceeded", f"more than {max_tokens} RTF tokens")
        kind = m.lastindex
        if kind == 7:
            current.items.append(Text(m.group(7)))
        elif kind == 3:  # the space group always takes part in a control word
            name, param, space = m.groups()[:3]
            value = int(param) if param is not None else None
            if name == b"bin":
                size = max(value or 0, 0)
                if pos + size > end:
                    raise Blocked("corrupt", "\\bin runs past the end of the file")
                current.items.append(Bin(data[pos:pos + size]))
                pos += size
            else:
                current.items.append(Word(name, value, bool(space)))
        elif kind == 6:
            if m.group(6) == b"{":
                if len(stack) >= max_depth:
                    raise Blocked("limit_exceeded", f"RTF groups nested deeper than {max_depth}")
                stack.append(current)
                current = Group()
                continue
            done = current
            current = stack.pop()
            current.items.append(done)
            if not stack:
                return done, data[pos:]
        elif kind == 4:
            current.items.append(Hex(m.group(4)))
        elif kind == 5:
            current.items.append(Symbol(m.group(5)))
        # group 8 (a final lone backslash) is dropped
    raise Blocked("corrupt", "unbalanced braces: the document group never closes")


# -- cleaning ------------------------------------------------------------------------

def _first_word(group: Group) -> bytes | None:
    """The destination word opening ``group`` (after an optional ``\\*``)."""
    for item in group.items[:3]:
        if isinstance(item, Word):
            return item.name
        if isinstance(item, Symbol) and item.char == b"*":
            continue
        if isinstance(item, Text) and not item.data.strip():
            continue
        return None
    return None


# Picture type words -> the format they claim (for the report and the placeholder
# size: metafiles give \picw/\pich in 0.01 mm, bitmaps in pixels).
BLIP_WORDS = {b"jpegblip": "jpeg", b"pngblip": "png", b"emfblip": "emf",
              b"wmetafile": "wmf", b"pmmetafile": "metafile", b"macpict": "metafile",
              b"dibitmap": "bitmap", b"wbitmap": "bitmap"}
_METAFILES = frozenset({"emf", "wmf", "metafile"})
# The picture properties kept (size, goal size, scaling, cropping): other words in a
# picture go, among them \bliptag and the \wbm… bitmap words, which describe the old
# data, not the rebuilt one.
_PICTURE_WORDS = frozenset({b"picw", b"pich", b"picwgoal", b"pichgoal", b"picscalex",
                            b"picscaley", b"picscaled", b"piccropt", b"piccropb",
                            b"piccropl", b"piccropr", b"defshp"})
_RTF_PICTURES = frozenset({"jpeg", "png"})  # what \jpegblip and \pngblip can hold
_HEX_SPACE = b" \t\r\n"


class _Picture:
    """One ``\\pict`` destination between the walk and the rebuild: its properties
    (everything but the data, cleaned) and its data, or None if it is not hex."""

    __slots__ = ("group", "words", "data", "claimed")

    def __init__(self, group: Group, items: list[Item], cleaner: _Cleaner) -> None:
        self.group = group  # the group the picture ends; its data is added later
        self.words: list[Item] = []
        self.claimed = ""
        hex_text: list[bytes] = []
        raw: list[bytes] = []
        for item in items:
            if isinstance(item, Word):
                if item.name in BLIP_WORDS:
                    self.claimed = self.claimed or item.name.decode() + (
                        "" if item.param is None else str(item.param))
                elif item.name in _PICTURE_WORDS:
                    self.words.append(item)
                elif item.name in DROP_DESTINATIONS:  # the rest of the group is that
                    cleaner.removed.append(Removed(DROP_DESTINATIONS[item.name],
                                                   item.name.decode()))
                    break
            elif isinstance(item, Group):
                if _first_word(item) != b"blipuid":
                    self.words.extend(cleaner.group(item, in_pict=True))
            elif isinstance(item, Text):
                hex_text.append(item.data)
            elif isinstance(item, Bin):
                raw.append(item.data)
        digits = b"".join(hex_text).translate(None, _HEX_SPACE)
        try:
            self.data: bytes | None = binascii.unhexlify(digits[:len(digits) & ~1]) \
                + b"".join(raw)
        except binascii.Error:  # text that is not hex: no picture
            self.data = None

    def size(self) -> tuple[int, int] | None:
        """Displayed size in pixels: the goal size (twips), else \\picw/\\pich."""
        p = {w.name: w.param for w in self.words if isinstance(w, Word) and w.param}
        if p.get(b"picwgoal", 0) > 0 and p.get(b"pichgoal", 0) > 0:
            return round(p[b"picwgoal"] / 15), round(p[b"pichgoal"] / 15)
        if p.get(b"picw", 0) > 0 and p.get(b"pich", 0) > 0:
            per_pixel = 2540 / 96 if BLIP_WORDS.get(self.claimed.rstrip("0123456789").encode()) \
                in _METAFILES else 1
            return round(p[b"picw"] / per_pixel), round(p[b"pich"] / per_pixel)
        return None

    def write(self, pic: pictures.Picture) -> None:
        """The picture's items: its properties, the new blip word, the data as hex."""
        words = self.words
        if pic.replaced:
            # \picw/\pich become the placeholder's pixels; the goals keep the size shown.
            size = self.size()
            w, h = _png_size(pic.data)
            words = [x for x in words if not (isinstance(x, Word) and x.name in (
                b"picw", b"pich", b"picwgoal", b"pichgoal"))]
            goal = (size[0] * 15, size[1] * 15) if size else (w * 15, h * 15)
            words = [Word(b"picw", w, False), Word(b"pich", h, False),
                     Word(b"picwgoal", goal[0], False), Word(b"pichgoal", goal[1], False)] + words
        blip = Word(b"jpegblip" if pic.kind == "jpeg" else b"pngblip", None, False)
        self.group.items.extend([Word(b"pict", None, False), *words, blip,
                                 Text(b"\r\n" + _hex_lines(pic.data) + b"\r\n")])


def _png_size(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


class _Cleaner:
    def __init__(self) -> None:
        self.removed: list[Removed] = []
        self.pictures: list[_Picture] = []

    def group(self, g: Group, in_pict: bool = False, root: bool = False) -> list[Item]:
        """What replaces ``g`` in its parent: usually one cleaned group."""
        first = _first_word(g)
        in_pict = in_pict or first == b"pict"
        field = self._link_field(g)
        if field is not None:
            code, instr, result = field
            self.removed.append(Removed(code, instr[:80]))
            if not root:
                return self.group(result, in_pict)[0:1] if result else []
            # \field loose in the document itself: the document stays, the instruction goes.
            g = Group([x for x in g.items if not (isinstance(x, Word) and x.name == b"field"
                                                  or isinstance(x, Group) and _first_word(x) == b"fldinst")])
        out: list[Item] = []
        items = g.items
        for i, item in enumerate(items):
            if isinstance(item, Group):
                out.extend(self.group(item, in_pict))
            elif isinstance(item, Word) and item.name == b"pict":
                # The rest of the group is the picture; its data is rebuilt after the walk.
                group = Group(out)
                self.pictures.append(_Picture(group, items[i + 1:], self))
                return [group]
            elif isinstance(item, Word) and (item.name in DROP_DESTINATIONS or item.name == b"fldinst"):
                if item.name == b"fldinst":
                    # An instruction outside a \field group: judged alone, dropped if it reaches out.
                    link = _link_code(items[i + 1:])
                    if link is None:
                        out.append(item)
                        continue
                    self.removed.append(Removed(link, "fldinst"))
                    kept: list[Item] = []
                else:
                    self.removed.append(Removed(DROP_DESTINATIONS[item.name], item.name.decode()))
                    kept = self._salvage_results(items[i + 1:], in_pict) if item.name == b"object" else []
                while out and (out[-1] == Symbol(b"*") or (isinstance(out[-1], Text) and not out[-1].data.strip())):
                    out.pop()
                if not out:  # the word opened the group: the whole group goes
                    return kept
                return [Group(out + kept)]
            elif isinstance(item, Bin):
                if in_pict:
                    out.append(Text(_hex_lines(item.data)))
                elif item.data:
                    self.removed.append(Removed("rtf.bin_data", f"{len(item.data)} bytes"))
            else:
                out.append(item)
        return [Group(out)]

    def _salvage_results(self, rest: list[Item], in_pict: bool) -> list[Item]:
        kept: list[Item] = []
        for item in rest:
            if isinstance(item, Group) and _first_word(item) == b"result":
                inner = Group([x for x in item.items if not (isinstance(x, Word) and x.name == b"result")])
                kept.extend(self.group(inner, in_pict))
        return kept

    def _link_field(self, g: Group) -> tuple[str, str, Group | None] | None:
        """(code, instruction, \\fldrslt group) when ``g`` is a field that reaches out."""
        if not any(isinstance(x, Word) and x.name == b"field" for x in g.items):
            return None
        instr_items: list[Item] | None = None
        result: Group | None = None
        for i, item in enumerate(g.items):
            if isinstance(item, Group):
                word = _first_word(item)
                if word == b"fldinst":
                    instr_items = item.items
                elif word == b"fldrslt":
                    result = Group([x for x in item.items if not (isinstance(x, Word) and x.name == b"fldrslt")])
            elif isinstance(item, Word) and item.name == b"fldinst" and instr_items is None and i > 0:
                instr_items = g.items[i + 1:]
        if instr_items is None:
            return None
        code = _link_code(instr_items)
        if code is None:
            return None
        return code, instruction_text(instr_items)[0].strip(), result


def _link_code(instr_items: list[Item]) -> str | None:
    """The removed code when a field instruction reaches out, else None."""
    text, nested = instruction_text(instr_items)
    if nested:
        return "rtf.field_nested"
    kind = rules.acting_field(text)
    return None if kind is None else f"rtf.field_{kind}"


def instruction_text(items: list[Item]) -> tuple[str, bool]:
    """Plain text of a field instruction (hex and \\u decoded, \\uc honoured), and
    whether it contains a nested field (an instruction computed at run time)."""
    parts: list[str] = []
    nested = False
    skip_stack = [1]  # \ucN: fallback characters after each \uN, per group
    todo: list[tuple[list[Item], int]] = [(items, 0)]
    pending = 0
    while todo:
        seq, i = todo.pop()
        if i >= len(seq):
            if len(skip_stack) > 1:
                skip_stack.pop()
            continue
        todo.append((seq, i + 1))
        item = seq[i]
        if isinstance(item, Group):
            skip_stack.append(skip_stack[-1])
            todo.append((item.items, 0))
        elif isinstance(item, Word):
            if item.name == b"field" or (item.name == b"fldinst" and seq is not items):
                nested = True  # the instruction is computed from another field
            elif item.name == b"uc" and item.param is not None:
                skip_stack[-1] = max(item.param, 0)
            elif item.name == b"u" and item.param is not None:
                parts.append(chr(item.param % 0x10000))
                pending = skip_stack[-1]
        elif isinstance(item, Hex):
            if pending:
                pending -= 1
            else:
                parts.append(chr(int(item.digits, 16)))
        elif isinstance(item, Text):
            text = item.data.replace(b"\r", b"").replace(b"\n", b"")
            drop = min(pending, len(text))
            pending -= drop
            parts.append(text[drop:].decode("latin-1"))
        elif isinstance(item, Symbol):
            if pending:
                pending -= 1
            elif item.char in b"\\{}":
                parts.append(item.char.decode("latin-1"))
    return "".join(parts), nested


def _hex_lines(data: bytes) -> bytes:
    text = binascii.hexlify(data)
    return b"\r\n".join(text[i:i + 128] for i in range(0, len(text), 128))


_NEEDS_DELIMITER = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789- ")


def serialize(root: Group) -> bytes:
    """RTF bytes of ``root``.  A control word whose delimiter was not a space gets one
    when removals made it touch text that would otherwise extend its name or number."""
    out: list[bytes] = []
    todo: list[Item | bytes] = [root]
    open_word = False  # the last chunk is a control word without its space
    while todo:
        item = todo.pop()
        if isinstance(item, Text):
            if open_word and item.data[:1] and item.data[0] in _NEEDS_DELIMITER:
                out.append(b" ")
            out.append(item.data)
            open_word = False
            continue
        open_word = False
        if isinstance(item, bytes):
            out.append(item)
        elif isinstance(item, Group):
            out.append(b"{")
            todo.append(b"}")
            todo.extend(reversed(item.items))
        elif isinstance(item, Word):
            param = b"" if item.param is None else str(item.param).encode()
            out.append(b"\\" + item.name + param + (b" " if item.space else b""))
            open_word = not item.space
        elif isinstance(item, Hex):
            out.append(b"\\'" + item.digits)
        elif isinstance(item, Symbol):
            out.append(b"\\" + item.char)
        else:  # Bin never reaches here: the cleaner rewrites or drops it
            raise AssertionError("raw \\bin data in the output")
    return b"".join(out)


def rebuild(data: bytes, kind: str, ctx: Context) -> Rebuilt:
    if len(data) > ctx.cfg.max_input_bytes:
        raise Blocked("too_large", f"{len(data)} bytes")
    doc, trailing = parse(data)
    cleaner = _Cleaner()
    # Normalise the loose header Word accepts ({\rtxyz ...) to {\rtf1.
    head = doc.items[0] if doc.items else None
    if isinstance(head, Word) and head.name.startswith(b"rt") and head[:2] != (b"rtf", 1):
        doc.items[0] = Word(b"rtf", 1, True)
    cleaned = cleaner.group(doc, root=True)
    if len(cleaned) != 1:
        raise Blocked("active_content", "the whole document is an object destination")
    removed = cleaner.removed
    removed += _rebuild_pictures(cleaner.pictures, ctx)
    if trailing.strip(b" \t\r\n\0"):
        removed.append(Removed("rtf.trailing_data", f"{len(trailing)} bytes after the last brace"))
    assert isinstance(cleaned[0], Group)
    return Rebuilt(serialize(cleaned[0]), "rtf", tuple(removed))


def _rebuild_pictures(found: list[_Picture], ctx: Context) -> list[Removed]:
    budget = pictures.PixelBudget(ctx)
    kinds = [pictures.sniff(p.data) if p.data is not None else None for p in found]
    budget.precheck((p.data, k) for p, k in zip(found, kinds) if p.data is not None and k)
    removed: list[Removed] = []
    done: dict[bytes, pictures.Picture] = {}  # the same picture twice is rebuilt once
    for n, (p, kind) in enumerate(zip(found, kinds), 1):
        if p.data is None or not p.data:
            pic = pictures.rebuild_picture(b"", None, budget, _RTF_PICTURES, p.size())
        else:
            pic = done.get(p.data)
            if pic is None or pic.replaced:
                pic = done[p.data] = pictures.rebuild_picture(p.data, kind, budget,
                                                              _RTF_PICTURES, p.size())
        where = f"picture {n}" + (f" (\\{p.claimed})" if p.claimed else "")
        if pic.replaced:
            removed.append(Removed("rtf.image_removed",
                                   f"{where}: {pic.replaced}, replaced by a blank placeholder"))
        elif pic.removed:
            removed.append(Removed("rtf.image_rebuilt", f"{where}: {pictures.summary(pic.removed)}"))
        p.write(pic)
    return removed


# -- verify: a separate byte scan of the output ----------------------------------------

_FORBIDDEN_WORDS = re.compile(
    rb"\\(object|objdata|objclass|objname|oleclsid|datastore|template|mailmerge|bin"
    rb"|emfblip|wmetafile|pmmetafile|macpict|dibitmap|wbitmap)(?![a-zA-Z])")
_PICT = re.compile(rb"\\pict(?![a-zA-Z])")
_BRACE = re.compile(rb"[{}]")
_VERIFY_WORD = re.compile(rb"\\([a-zA-Z]+)-?[0-9]* ?")
_VERIFY_BLIPS = {b"jpegblip": (b"\xff\xd8\xff", "jpeg"), b"pngblip": (b"\x89PNG\r\n\x1a\n", "png")}


def verify(data: bytes, kind: str, ctx: Context) -> None:
    if not data.startswith(b"{\\rtf1"):
        raise VerifyFailed("output does not start with {\\rtf1")
    # Escaped backslashes and braces become same-length placeholders: they are text,
    # and a field instruction still reads them (\\l, "\\\\host").
    plain = data.replace(b"\\\\", b"\x01\x01").replace(b"\\{", b"\x01(").replace(b"\\}", b"\x01)")
    depth = 0
    for m in re.finditer(rb"[{}]", plain):
        depth += 1 if m.group() == b"{" else -1
        if depth == 0 and m.end() != len(plain):
            raise VerifyFailed("bytes after the final brace")
    if depth:
        raise VerifyFailed("unbalanced braces")
    found = _FORBIDDEN_WORDS.search(plain)
    if found:
        raise VerifyFailed(f"\\{found.group(1).decode()} in output")
    for m in _PICT.finditer(plain):
        _verify_picture(plain, m.end(), ctx)
    for m in re.finditer(rb"\\fldinst", plain):
        instr = _verify_group_text(plain, m.end())
        if rules.acting_field(instr):
            raise VerifyFailed(f"acting field instruction {instr[:40]!r}")


def _verify_picture(plain: bytes, start: int, ctx: Context) -> None:
    """The picture from ``start`` to the end of its group: one JPEG or PNG blip word,
    and data the image engine's verify accepts (no metadata, no trailing bytes)."""
    depth, at, pieces = 1, start, []
    for brace in _BRACE.finditer(plain, start):  # the picture's own bytes, not nested groups
        if depth == 1:
            pieces.append(plain[at:brace.start()])
        depth += 1 if brace.group() == b"{" else -1
        at = brace.end()
        if depth == 0:
            break
    own = b"".join(pieces)
    # The rebuild writes the properties first and the data after the last of them.
    last = _VERIFY_WORD.match(own, max(own.rfind(b"\\"), 0))
    head, tail = (own[:last.end()], own[last.end():]) if last else (b"", own)
    words = _VERIFY_WORD.findall(head)
    blips = [w for w in words if w in _VERIFY_BLIPS]
    if len(blips) != 1 or _VERIFY_WORD.sub(b"", head).strip():
        raise VerifyFailed(f"picture with blip words {blips!r} or text among its words")
    try:
        data = binascii.unhexlify(tail.translate(None, b" \t\r\n"))
    except (binascii.Error, ValueError) as exc:
        raise VerifyFailed(f"picture data is not hex: {exc}") from exc
    signature, kind = _VERIFY_BLIPS[blips[0]]
    if not data.startswith(signature):
        raise VerifyFailed(f"\\{blips[0].decode()} picture holds other data")
    try:
        images.verify(data, kind, ctx)
    except Blocked as exc:
        raise VerifyFailed(f"picture: {exc.detail}") from exc


def _verify_group_text(plain: bytes, start: int) -> str:
    """Text of the rest of the group beginning at ``start``: hex decoded, words dropped."""
    depth, i = 1, start
    while i < len(plain) and depth:
        depth += {0x7B: 1, 0x7D: -1}.get(plain[i], 0)
        i += 1
    # Control words and symbols go first, then hex escapes are decoded (a decoded
    # backslash is text, not the start of a control symbol).
    chunk = re.sub(rb"\\[a-zA-Z]+-?[0-9]* ?|\\[^a-zA-Z']|[{}\r\n]", b"", plain[start:i])
    chunk = re.sub(rb"\\'([0-9a-fA-F]{2})", lambda h: bytes([int(h.group(1), 16)]), chunk)
    chunk = chunk.replace(b"\x01\x01", b"\\").replace(b"\x01(", b"{").replace(b"\x01)", b"}")
    return chunk.decode("latin-1")
