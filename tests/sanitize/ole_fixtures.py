"""Hostile legacy Office fixtures, generated in code with our own CFB writer.

They are not complete Word/Excel/PowerPoint documents, but they carry exactly what
Office and the analysis tools (olevba, mraptor, oleobj, msodde) look at: a FIB at the
start of WordDocument, BIFF records in Workbook, PowerPoint records, VBA project
storages with a real (compressed) dir stream and module source, OLE 1.0 packages,
class ids of Equation Editor and friends, property sets.
"""

from __future__ import annotations

import struct
import zlib

from sanitize.cfb import Node, clsid_bytes, storage, stream, write_cfb

EQUATION_CLSID = "0002CE02-0000-0000-C000-000000000046"
OLE2LINK_CLSID = "00000300-0000-0000-C000-000000000046"
PACKAGE_CLSID = "0003000C-0000-0000-C000-000000000046"
WORD_CLSID = "00020906-0000-0000-C000-000000000046"
MSI_CLSID = "000C1084-0000-0000-C000-000000000046"

AUTOOPEN_VBA = (
    'Attribute VB_Name = "Module1"\r\n'
    "Sub AutoOpen()\r\n"
    '    Shell "cmd.exe /c calc.exe", vbHide\r\n'
    "End Sub\r\n"
)


# -- VBA project (MS-OVBA) ---------------------------------------------------------

def ovba_compress(data: bytes) -> bytes:
    """MS-OVBA CompressedContainer using literal tokens only (valid, just not small)."""
    out = bytearray(b"\x01")
    for start in range(0, len(data), 4096):
        chunk = data[start:start + 4096]
        body = bytearray()
        for i in range(0, len(chunk), 8):
            body.append(0)  # flag byte: the next 8 tokens are literals
            body += chunk[i:i + 8]
        if len(body) > 4096:
            raise ValueError("keep fixture sources under 3640 bytes per chunk")
        # CompressedChunkSize counts the 2-byte header too, minus 3.
        out += struct.pack("<H", 0x8000 | 0x3000 | (len(body) + 2 - 3)) + body
    return bytes(out)


def _rec(rid: int, data: bytes) -> bytes:
    return struct.pack("<HI", rid, len(data)) + data


def vba_dir_stream(modules: list[str]) -> bytes:
    """A decompressed dir stream (MS-OVBA 2.3.4.2) listing procedural modules."""
    d = bytearray()
    d += _rec(0x0001, struct.pack("<I", 1))  # PROJECTSYSKIND win32
    d += _rec(0x0002, struct.pack("<I", 0x409))  # PROJECTLCID
    d += _rec(0x0014, struct.pack("<I", 0x409))  # PROJECTLCIDINVOKE
    d += _rec(0x0003, struct.pack("<H", 1252))  # PROJECTCODEPAGE
    d += _rec(0x0004, b"VBAProject")  # PROJECTNAME
    d += _rec(0x0005, b"") + _rec(0x0040, b"")  # PROJECTDOCSTRING
    d += _rec(0x0006, b"") + _rec(0x003D, b"")  # PROJECTHELPFILEPATH
    d += _rec(0x0007, struct.pack("<I", 0))  # PROJECTHELPCONTEXT
    d += _rec(0x0008, struct.pack("<I", 0))  # PROJECTLIBFLAGS
    d += struct.pack("<HIIH", 0x0009, 4, 1, 0)  # PROJECTVERSION (size field says 4)
    d += _rec(0x000C, b"") + _rec(0x003C, b"")  # PROJECTCONSTANTS
    d += struct.pack("<HIH", 0x000F, 2, len(modules))  # PROJECTMODULES
    d += _rec(0x0013, struct.pack("<H", 0xFFFF))  # PROJECTCOOKIE
    for name in modules:
        raw, wide = name.encode("latin-1"), name.encode("utf-16-le")
        d += _rec(0x0019, raw) + _rec(0x0047, wide)  # MODULENAME(+UNICODE)
        d += _rec(0x001A, raw) + _rec(0x0032, wide)  # MODULESTREAMNAME
        d += _rec(0x001C, b"") + _rec(0x0048, b"")  # MODULEDOCSTRING
        d += _rec(0x0031, struct.pack("<I", 0))  # MODULEOFFSET: source at 0
        d += _rec(0x001E, struct.pack("<I", 0))  # MODULEHELPCONTEXT
        d += _rec(0x002C, struct.pack("<H", 0xFFFF))  # MODULECOOKIE
        d += _rec(0x0021, b"")  # MODULETYPE procedural
        d += _rec(0x002B, b"")  # module terminator
    d += _rec(0x0010, b"")  # dir terminator
    return bytes(d)


def vba_storage(name: str = "Macros", source: str = AUTOOPEN_VBA) -> Node:
    """A VBA project storage as Word keeps it (``Macros``) or Excel (``_VBA_PROJECT_CUR``)."""
    project = ('ID="{00000000-0000-0000-0000-000000000000}"\r\n'
               'Module=Module1\r\nName="VBAProject"\r\n').encode()
    vba = storage("VBA", [
        stream("_VBA_PROJECT", b"\xcc\x61\xff\xff\x00\x00\x00"),
        stream("dir", ovba_compress(vba_dir_stream(["Module1"]))),
        stream("Module1", ovba_compress(source.encode("latin-1"))),
    ])
    return storage(name, [vba, stream("PROJECT", project),
                          stream("PROJECTwm", b"Module1\x00M\x00o\x00d\x00u\x00l\x00e\x001\x00\x00\x00\x00\x00")])


# -- OLE objects -------------------------------------------------------------------

def ole10native(filename: bytes = b"invoice.pdf.exe", payload: bytes = b"MZ\x90\x00fake-exe") -> bytes:
    """An OLE 1.0 Package stream (what oleobj extracts)."""
    src = b"C:\\Users\\x\\" + filename
    body = (struct.pack("<H", 2) + filename + b"\0" + src + b"\0"
            + struct.pack("<II", 0x00030000, len(src) + 1) + src + b"\0"
            + struct.pack("<I", len(payload)) + payload)
    return struct.pack("<I", len(body)) + body


def compobj(user_type: bytes, prog_id: bytes) -> bytes:
    def s(b: bytes) -> bytes:
        return struct.pack("<I", len(b) + 1) + b + b"\0"
    return (b"\x01\x00\xfe\xff\x03\x0a\x00\x00\xff\xff\xff\xff" + bytes(16)
            + s(user_type) + s(b"Embedded Object") + s(prog_id) + struct.pack("<I", 0x71B239F4))


def equation_object(name: str = "_1234567890") -> Node:
    """An embedded Equation Editor 3.0 object (the CVE-2017-11882 carrier)."""
    return storage(name, [
        stream("\x01CompObj", compobj(b"Microsoft Equation 3.0", b"Equation.3")),
        stream("\x01Ole", bytes(20)),
        stream("\x03ObjInfo", b"\x00\x00\x03\x00\x04\x00"),
        stream("Equation Native", b"\x1c\x00\x00\x00\x02\x00" + b"A" * 0x30 + b"\x0c\x00"),
    ], clsid=clsid_bytes(EQUATION_CLSID))


def package_object(name: str = "_1111111111") -> Node:
    return storage(name, [stream("\x01Ole10Native", ole10native()),
                          stream("\x01CompObj", compobj(b"OLE Package", b"Package"))],
                   clsid=clsid_bytes(PACKAGE_CLSID))


# -- property sets -----------------------------------------------------------------

def summary_information(props: dict[int, str]) -> bytes:
    """A \\x05SummaryInformation property set with a codepage and string properties."""
    fmtid = clsid_bytes("F29F85E0-4FF9-1068-AB91-08002B27B3D9")
    entries: list[tuple[int, bytes]] = [(1, struct.pack("<IhH", 0x0002, 1252, 0))]
    for pid, text in props.items():
        raw = text.encode("cp1252") + b"\0"
        raw += bytes(-len(raw) % 4)
        entries.append((pid, struct.pack("<II", 0x001E, len(text) + 1) + raw))
    table, body = bytearray(), bytearray()
    base = 8 + 8 * len(entries)
    for pid, value in entries:
        table += struct.pack("<II", pid, base + len(body))
        body += value
    section = struct.pack("<II", 8 + len(table) + len(body), len(entries)) + table + body
    header = struct.pack("<HHI16sI", 0xFFFE, 0, 0x00020006, bytes(16), 1) + fmtid + struct.pack("<I", 48)
    return header + section


HOSTILE_SUMMARY = {2: "Quarterly report", 4: "someone", 6: "see \\\\evil\\share",
                   7: "\\\\attacker.example\\templates\\evil.dotm"}


# -- Word ----------------------------------------------------------------------------

def word_document(flags: int = 0, text: bytes = b"Hello from the village office.\r",
                  nfib: int = 0xC1) -> bytes:
    """WordDocument stream: a FibBase (wIdent 0xA5EC, nFib, flags at 0x0A) then text."""
    fib = struct.pack("<HHHHH", 0xA5EC, nfib, 0, 0x0411, 0) + struct.pack("<H", flags)
    fib += bytes(0x200 - len(fib))
    return fib + text + bytes(-len(text) % 512)


def doc(*extra: Node, flags: int = 0, text: bytes = b"Hello from the village office.\r",
        summary: dict[int, str] | None = None, nfib: int = 0xC1) -> bytes:
    kids = [stream("WordDocument", word_document(flags, text, nfib)),
            stream("1Table", bytes(range(256)) * 20),
            stream("\x01CompObj", compobj(b"Microsoft Word 97-2003 Document", b"Word.Document.8")),
            stream("\x05SummaryInformation", summary_information(summary or {2: "Report"}))]
    return write_cfb(storage("Root Entry", kids + list(extra), clsid=clsid_bytes(WORD_CLSID)))


def doc_with_macros(name: str = "Macros") -> bytes:
    return doc(vba_storage(name))


def doc_with_equation() -> bytes:
    return doc(storage("ObjectPool", [equation_object()]))


def doc_with_ole10native() -> bytes:
    return doc(storage("ObjectPool", [package_object()]))


def doc_with_dde_field() -> bytes:
    text = (b"Invoice \x13 DDEAUTO c:\\\\windows\\\\system32\\\\cmd.exe \"/k calc.exe\" "
            b"\x14result\x15\r")
    return doc(text=text)


def doc_with_stray_clsid() -> bytes:
    """Dangerous classes on storages that are not called ObjectPool/MBD*."""
    return doc(storage("Attachments", [stream("Contents", b"x" * 100)],
                       clsid=clsid_bytes(OLE2LINK_CLSID)),
               storage("Extras", [storage("Deeper", [stream("Equation Native", b"e" * 64)],
                                          clsid=clsid_bytes(EQUATION_CLSID))]))


# -- Excel ---------------------------------------------------------------------------

def biff(rtype: int, payload: bytes = b"") -> bytes:
    return struct.pack("<HH", rtype, len(payload)) + payload


def _bof(dt: int) -> bytes:
    return biff(0x0809, struct.pack("<HHHHII", 0x0600, dt, 0x0DBB, 0x07CC, 0, 0x06))


def boundsheet(name: str, sheet_type: int = 0, pos: int = 0) -> bytes:
    raw = name.encode("latin-1")
    return biff(0x0085, struct.pack("<IBBBB", pos, 0, sheet_type, len(raw), 0) + raw)


def name_record(name: bytes, grbit: int = 0, builtin_code: int | None = None) -> bytes:
    chars = bytes([builtin_code]) if builtin_code is not None else name
    body = struct.pack("<HBBHHH4s", grbit, 0, len(chars), 0, 0, 0, bytes(4)) + b"\x00" + chars
    return biff(0x0018, body)


def workbook_stream(*globals_extra: bytes, sheet_type: int = 0) -> bytes:
    globals_part = _bof(0x0005) + biff(0x0042, struct.pack("<H", 1252)) + b"".join(globals_extra)
    sheet = _bof(0x0010) + biff(0x0200, bytes(14)) + biff(0x000A)
    first = len(globals_part) + len(boundsheet("Sheet1")) + 4
    return globals_part + boundsheet("Sheet1", sheet_type, first) + biff(0x000A) + sheet


OBPROJ = biff(0x00D3)
FILEPASS = biff(0x002F, struct.pack("<H", 1) + bytes(52))


def xls(*extra: Node, records: tuple[bytes, ...] = (), sheet_type: int = 0) -> bytes:
    kids = [stream("Workbook", workbook_stream(*records, sheet_type=sheet_type)),
            stream("\x05SummaryInformation", summary_information({2: "Book"}))]
    return write_cfb(storage("Root Entry", kids + list(extra),
                             clsid=clsid_bytes("00020820-0000-0000-C000-000000000046")))


# -- PowerPoint ----------------------------------------------------------------------

def ppt_record(rtype: int, payload: bytes = b"", instance: int = 0, container: bool = False) -> bytes:
    ver = 0xF if container else 0
    return struct.pack("<HHI", ver | (instance << 4), rtype, len(payload)) + payload


def ppt(*children: bytes, extra: tuple[Node, ...] = ()) -> bytes:
    document = ppt_record(0x03E8, ppt_record(0x03E9, bytes(40)) + b"".join(children), container=True)
    kids = [stream("PowerPoint Document", document + ppt_record(0x0FF5, bytes(28))),
            stream("Current User", struct.pack("<IIHHI", 20, 0xE391C05F, 0, 0, 0) + bytes(8))]
    return write_cfb(storage("Root Entry", kids + list(extra),
                             clsid=clsid_bytes("64818D10-4F9B-11CF-86EA-00AA00B929E8")))


def ppt_with_vba() -> bytes:
    vba_info = ppt_record(0x03FF, ppt_record(0x0400, struct.pack("<III", 1, 0, 2)), container=True)
    ole_stg = ppt_record(0x1011, struct.pack("<I", 100) + b"\x78\x9c" + bytes(30), instance=1)
    return ppt(ppt_record(0x07D0, vba_info, container=True), ole_stg)


def ppt_with_ole_object() -> bytes:
    return ppt(ppt_record(0x1011, b"\x00" * 64))


# -- pictures: OfficeArt records (MS-ODRAW) ----------------------------------------

BLIP_UID = bytes(range(16))

# format -> (BLIP record type, instance, BLIP store type)
BLIP_TYPES = {"jpeg": (0xF01D, 0x46A, 5), "png": (0xF01E, 0x6E0, 6), "emf": (0xF01A, 0x3D4, 2),
              "wmf": (0xF01B, 0x216, 3), "pict": (0xF01C, 0x542, 4), "dib": (0xF01F, 0x7A8, 7)}


def odraw_record(rtype: int, body: bytes, ver: int = 0, inst: int = 0) -> bytes:
    return struct.pack("<HHI", ver | inst << 4, rtype, len(body)) + body


def blip(data: bytes, kind: str = "jpeg") -> bytes:
    """An OfficeArt BLIP record holding ``data`` (a metafile deflated, as Office does)."""
    rtype, inst, _ = BLIP_TYPES[kind]
    if kind in ("emf", "wmf", "pict"):  # OfficeArtMetafileHeader, then the (deflated) metafile
        packed = zlib.compress(data)
        head = struct.pack("<I4i2iIBB", len(data), 0, 0, 100, 100, 914400, 914400,
                           len(packed), 0, 0xFE)
        return odraw_record(rtype, BLIP_UID + head + packed, inst=inst)
    return odraw_record(rtype, BLIP_UID + b"\xff" + data, inst=inst)


def fbse(kind: str, size: int, embedded: bytes = b"", offset: int = 0) -> bytes:
    """A BLIP store entry; ``embedded`` the BLIP itself, or it lies at ``offset`` in
    the delay stream (.ppt Pictures, .doc WordDocument)."""
    bt = BLIP_TYPES[kind][2]
    body = struct.pack("<BB16sHIIIBBBB", bt, bt, BLIP_UID, 0xFF, size, 1, offset, 0, 0, 0, 0)
    return odraw_record(0xF007, body + embedded, ver=2, inst=bt)


def dgg_container(*entries: bytes) -> bytes:
    dgg = odraw_record(0xF006, struct.pack("<IIII", 1026, 2, 1, 1) + struct.pack("<II", 1, 2))
    store = odraw_record(0xF001, b"".join(entries), ver=0xF, inst=len(entries))
    return odraw_record(0xF000, dgg + store, ver=0xF)


def picf(*pictures: tuple[bytes, str]) -> bytes:
    """Word's Data stream: per picture a PICF (MS-DOC 2.9.193: lcb, cbHeader 0x44,
    mfpf.mm MM_SHAPE) and the inline shape container with its BLIP store entry."""
    out = b""
    for data, kind in pictures:
        b = blip(data, kind)
        fsp = odraw_record(0xF00A, struct.pack("<II", 1025, 0xA00), ver=2, inst=75)
        shape = odraw_record(0xF004, fsp, ver=0xF)
        inline = shape + fbse(kind, len(b), b)
        head = struct.pack("<IHhhhH", 0x44 + len(inline), 0x44, 0x64, 0, 0, 0)
        out += head + bytes(0x44 - len(head)) + inline
    return out


# -- other compound files ------------------------------------------------------------

def msi_like() -> bytes:
    """A Windows Installer database: MSI-encoded stream names, no Office main stream."""
    return write_cfb(storage("Root Entry", [
        stream("\u4840\u3f3f\u4577\u446c\u3b6a\u45e4\u4824", b"\x00" * 300),
        stream("\u4840\u3b3f\u4577\u446c\u3b6c\u4837\u45ed\u4836", b"\x01" * 5000),
        stream("\x05SummaryInformation", summary_information({2: "Installation Database"})),
    ], clsid=clsid_bytes(MSI_CLSID)))
