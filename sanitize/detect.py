"""Detect what a file is from its content; the name is only a hint.

Strong magic numbers (executables, PDF, compound file, zip, RTF, the image formats)
decide first; libmagic (python-magic) names the broad type of everything else.  Then
structural checks decide what libmagic gets wrong (CDR.md "Process model"): a
macro-enabled OOXML package looks like any other zip (docm as docx), an encrypted
OOXML package and an MSI look like any other compound file, Word/Excel 2003 XML looks
like plain XML.  As the magic numbers are checked by hand first, an executable is
recognised whatever libmagic thinks.

Runs inside the worker processes: it parses hostile bytes (zip directory, CFB
directory, a little XML) and must never be called in the daemon itself.  The
directories it reads are left in the job's ``Handover`` for the rebuild, which reads
them the same way.
"""

from __future__ import annotations

import codecs
import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass

import magic
import olefile
from lxml import etree

from sanitize.handover import Handover
from sanitize.kinds import KINDS

# How much of the head libmagic and the text checks look at.
_HEAD = 64 * 1024
# [Content_Types].xml and _rels/.rels are small; a bigger one is not a real package.
_MAX_OPC_XML = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Detection:
    kind: str  # a key of sanitize.kinds.KINDS
    mime: str  # libmagic's reading, or the kind's type where a magic number decided
    declared_kind: str | None  # the kind the name's extension claims, if it claims one
    name_mismatch: bool  # the name claims a different kind than the content is


def detect(data: bytes, name: str, handover: Handover | None = None) -> Detection:
    """Classify ``data``; ``name`` (the declared file name) only breaks ties.
    ``handover`` receives the directories read on the way, for the rebuild."""
    if handover is None:
        handover = Handover()
    ext = _extension(name)
    kind = _by_magic_number(data[:_HEAD])
    if kind is not None:
        # libmagic would add nothing here, for a cost (bench/NOTES-sanitize.md).
        mime = KINDS[kind].mime
    else:
        try:
            mime = magic.from_buffer(data[:_HEAD], mime=True)
        except magic.MagicException:
            mime = "application/octet-stream"
        kind = _kind(data, ext, mime)
    if kind == "cfb":
        kind = _cfb_kind(data, handover)
    elif kind == "zip":
        kind = _zip_kind(data, ext, handover)
    declared = declared_kind(name)
    return Detection(kind, mime, declared, declared is not None and declared != kind)


def declared_kind(name: str) -> str | None:
    """The kind a file name's extension claims (``.JPEG`` -> jpeg), or None."""
    return _EXT_KIND.get(_extension(name))


# --------------------------------------------------------------------------- names


def _extension(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return split_extension(base)[1].lower()


def split_extension(base: str) -> tuple[str, str]:
    """(stem, suffix) of a file name without directories, as ``pathlib`` splits it
    ("a.tar.gz" -> ("a.tar", ".gz"); ".profile" and "a." have no suffix) at a tenth
    of the cost: it runs for every file, in the daemon too."""
    i = base.rfind(".")
    return (base[:i], base[i:]) if 0 < i < len(base) - 1 else (base, "")


def _ext_table() -> dict[str, str]:
    table = {k.extension: k.name for k in KINDS.values() if k.extension not in (".bin",)}
    table[".txt"] = "text"  # "script" also uses .txt as its (inert) output extension
    aliases = {
        "jpeg": ".jpeg .jpe .jfif", "tiff": ".tiff", "html": ".htm .xhtml",
        "text": ".log .md", "csv": ".tsv",
        "executable": ".exe .dll .scr .com .cpl .sys .ocx .drv .efi .elf .so .dylib "
                      ".jar .apk .appx .msix .class .dex .wasm .chm .pif .gadget",
        "script": " ".join(_SCRIPT_EXTS),
        "lnk": ".lnk", "cfb": ".msi .msp .mst .msg .vsd .pub",
        "disk_image": ".iso .img .vhd .vhdx .vmdk .dmg .udf .qcow2",
        "archive_other": ".rar .7z .cab .tar .gz .tgz .bz2 .xz .zst .lzh .lha .arj .ace .cpio",
    }
    for kind, exts in aliases.items():
        for ext in exts.split():
            table[ext] = kind
    return table


# Text files run by Windows or a shell when opened: blocked whatever they contain.
_SCRIPT_EXTS = frozenset(
    ".js .jse .vbs .vbe .wsf .wsh .wsc .sct .hta .ps1 .psm1 .psd1 .bat .cmd .sh .bash "
    ".zsh .command .py .pyw .pl .rb .php .reg .inf .scf .url .website .iqy .slk "
    ".settingcontent-ms .library-ms .application .appref-ms .msc .desktop .ahk .au3".split()
)
_EXT_KIND = _ext_table()


# --------------------------------------------------------------------------- content


def _by_magic_number(head: bytes) -> str | None:
    """The kind when a strong magic number decides it (a compound file and a zip are
    told apart by their directories afterwards), else None."""
    if _is_executable(head):
        return "executable"
    if head.startswith(_LNK_MAGIC):
        return "lnk"
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(_CFB_MAGIC):
        return "cfb"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "zip"
    if head.startswith(b"{\\rt"):  # Word accepts {\rtf1 and also any {\rt…
        return "rtf"
    return _image_kind(head, "")


def _kind(data: bytes, ext: str, mime: str) -> str:
    """The kind of what no magic number decided, with libmagic's reading."""
    head = data[:_HEAD]
    image = _image_kind(head, mime)
    if image:
        return image
    if _is_disk_image(data, mime):
        return "disk_image"
    if head.startswith(_ARCHIVE_MAGICS) or head[257:262] == b"ustar" or mime in _ARCHIVE_MIMES:
        return "archive_other"
    if b"%PDF" in head[:1024]:  # Reader accepts the header anywhere in the first KiB
        return "pdf"
    if _looks_text(head):
        return _text_kind(head, ext, mime)
    return "unknown"


_LNK_MAGIC = bytes.fromhex("4c0000000114020000000000c000000000000046")
_CFB_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")


def _is_executable(head: bytes) -> bool:
    if head.startswith((b"MZ", b"\x7fELF", b"#!", b"\x00asm", b"dex\n", b"ITSF")):
        return True  # PE, ELF, shebang script, WebAssembly, Dalvik, CHM help
    # Mach-O 32/64 both byte orders, and fat binaries (same magic as Java classes).
    return head[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe",
                        b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe")


def _cfb_kind(data: bytes, handover: Handover) -> str:
    """Compound files by their root streams; anything else (MSI, Visio, …) is cfb."""
    # cfb.scan answers for plain files what olefile would, without olefile's cost;
    # whatever it is unsure of goes to olefile.
    try:
        found = handover.scan(data)
    except Exception:  # it should return None rather than raise; olefile decides
        found = None
    if found is not None:
        # CFB compares names case-insensitively, and so does Office.
        root = {name.lower() for name, _type, _start, _size in found.root}
    else:
        try:
            with olefile.OleFileIO(io.BytesIO(data)) as ole:
                root = {entry[0].lower() for entry in ole.listdir(streams=True, storages=True)}
        except Exception:  # olefile raises assorted errors on damaged files
            return "cfb"
    if {"encryptioninfo", "encryptedpackage"} <= root:
        return "ooxml_encrypted"
    if "worddocument" in root:
        return "doc"
    if "workbook" in root or "book" in root:
        return "xls"
    if "powerpoint document" in root:
        return "ppt"
    return "cfb"


# Main part content type -> kind.  Office picks the application by this, not the name.
_W, _X, _P = (f"application/vnd.openxmlformats-officedocument.{s}ml"
              for s in ("wordprocessing", "spreadsheet", "presentation"))
_OOXML_MAIN = {
    f"{_W}.document.main+xml": "docx",
    f"{_W}.template.main+xml": "dotx",
    "application/vnd.ms-word.document.macroenabled.main+xml": "docm",
    "application/vnd.ms-word.template.macroenabledtemplate.main+xml": "dotm",
    f"{_X}.sheet.main+xml": "xlsx",
    f"{_X}.template.main+xml": "xltx",
    "application/vnd.ms-excel.sheet.macroenabled.main+xml": "xlsm",
    "application/vnd.ms-excel.template.macroenabled.main+xml": "xltm",
    "application/vnd.ms-excel.addin.macroenabled.main+xml": "xlam",
    "application/vnd.ms-excel.sheet.binary.macroenabled.main": "xlsb",
    f"{_P}.presentation.main+xml": "pptx",
    f"{_P}.slideshow.main+xml": "ppsx",
    f"{_P}.template.main+xml": "potx",
    "application/vnd.ms-powerpoint.presentation.macroenabled.main+xml": "pptm",
    "application/vnd.ms-powerpoint.slideshow.macroenabled.main+xml": "ppsm",
    "application/vnd.ms-powerpoint.template.macroenabled.main+xml": "potm",
    "application/vnd.ms-powerpoint.addin.macroenabled.main+xml": "ppam",
}
_OFFICE_DOCUMENT_REL = re.compile(r"/relationships/officeDocument$")
_EXECUTABLE_ZIP_MARKERS = ("androidmanifest.xml", "classes.dex", "appxmanifest.xml",
                           "appxmetadata/appxbundlemanifest.xml")
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                              load_dtd=False)


def _zip_kind(data: bytes, ext: str, handover: Handover) -> str:
    try:
        try:
            # The rebuild reads the same directory the same way: parsed once for both.
            zf = handover.open_zip(data)
        except UnicodeDecodeError:  # not cp932 (the rebuild says so); the markers are ASCII
            zf = zipfile.ZipFile(io.BytesIO(data))
        names = {info.filename.lower(): info for info in zf.infolist()}
        if any(m in names for m in _EXECUTABLE_ZIP_MARKERS) or (
            "meta-inf/manifest.mf" in names and any(n.endswith(".class") for n in names)
        ) or ext in (".jar", ".apk", ".appx", ".msix", ".xpi", ".crx", ".vsix"):
            return "executable"  # Java, Android and Windows app packages
        if "mimetype" in names and _read_small(zf, names["mimetype"]).startswith(
                b"application/vnd.oasis.opendocument"):
            return "unknown"  # ODF: no rebuilder, and it can carry Basic macros
        types = names.get("[content_types].xml")
        if types is None:
            return "zip"
        return _ooxml_kind(zf, names, types)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, etree.XMLSyntaxError, ValueError,
            NotImplementedError, EOFError, OSError, RuntimeError, KeyError, zlib.error,
            struct.error):
        return "unknown"  # starts like a zip but is not a readable one


def _read_small(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    # Read at most the cap: header sizes can lie, inflated bytes cannot.
    with zf.open(info) as fh:
        blob = fh.read(_MAX_OPC_XML + 1)
    if len(blob) > _MAX_OPC_XML:
        raise ValueError("package part too large for detection")
    return blob


def _ooxml_kind(zf: zipfile.ZipFile, names: dict[str, zipfile.ZipInfo],
                types: zipfile.ZipInfo) -> str:
    root = etree.fromstring(_read_small(zf, types), parser=_XML_PARSER)
    defaults: dict[str, str] = {}
    overrides: dict[str, str] = {}
    for el in root:
        tag = etree.QName(el).localname if isinstance(el.tag, str) else ""
        ct = (el.get("ContentType") or "").strip().lower()
        if tag == "Default":
            defaults[(el.get("Extension") or "").lower()] = ct
        elif tag == "Override":
            overrides[(el.get("PartName") or "").lower()] = ct
    main = _main_part(zf, names)
    if main is not None:
        ct = overrides.get(main) or defaults.get(main.rsplit(".", 1)[-1], "")
        if ct in _OOXML_MAIN:
            return _OOXML_MAIN[ct]
    # No usable officeDocument relationship: any main content type decides (the
    # macro-enabled one wins, so a docm cannot hide behind a second docx override).
    found = [_OOXML_MAIN[ct] for ct in (*overrides.values(), *defaults.values())
             if ct in _OOXML_MAIN]
    for kind in found:
        if kind not in ("docx", "dotx", "xlsx", "xltx", "pptx", "ppsx", "potx"):
            return kind
    return found[0] if found else "zip"


def _main_part(zf: zipfile.ZipFile, names: dict[str, zipfile.ZipInfo]) -> str | None:
    rels = names.get("_rels/.rels")
    if rels is None:
        return None
    root = etree.fromstring(_read_small(zf, rels), parser=_XML_PARSER)
    for el in root:
        if _OFFICE_DOCUMENT_REL.search(el.get("Type") or ""):
            target = (el.get("Target") or "").lower()
            return target if target.startswith("/") else "/" + target
    return None


def _image_kind(head: bytes, mime: str) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if head.startswith(b"BM") and mime in ("image/bmp", "image/x-ms-bmp"):
        return "bmp"  # "BM" alone is too weak a magic; libmagic checks the header
    return None


_DISK_MIMES = frozenset({"application/x-iso9660-image", "application/x-apple-diskimage",
                         "application/x-qemu-disk", "application/x-virtualbox-vdi",
                         "application/x-virtualbox-vhd", "application/x-virtualbox-vmdk",
                         "application/x-vhd", "application/x-raw-disk-image"})


def _is_disk_image(data: bytes, mime: str) -> bool:
    if mime in _DISK_MIMES:
        return True
    if data.startswith((b"conectix", b"vhdxfile", b"KDMV", b"QFI\xfb",
                        b"# Disk DescriptorFile", b"<<< Oracle VM VirtualBox Disk Image")):
        return True
    # ISO 9660 / UDF volume descriptors sit past the 32 KiB system area.
    for off in (0x8001, 0x8801, 0x9001):
        if data[off:off + 5] in (b"CD001", b"BEA01", b"NSR02", b"NSR03"):
            return True
    tail = data[-512:]
    if tail.startswith((b"koly", b"conectix")):  # DMG trailer, fixed VHD footer
        return True
    # A raw disk: an MBR boot signature with a FAT/NTFS boot sector.
    return (len(data) >= 512 and data[510:512] == b"\x55\xaa"
            and (data[3:11] == b"NTFS    " or b"FAT" in data[0x36:0x5a]))


_ARCHIVE_MAGICS = (b"Rar!\x1a\x07", b"7z\xbc\xaf\x27\x1c", b"MSCF", b"\x1f\x8b", b"BZh",
                   b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd", b"LZIP", b"\x1f\x9d", b"\x60\xea",
                   b"070701", b"070707", b"!<arch>\n", b"**ACE**")
_ARCHIVE_MIMES = frozenset({"application/x-rar", "application/vnd.rar",
                            "application/x-7z-compressed", "application/vnd.ms-cab-compressed",
                            "application/x-tar", "application/gzip", "application/x-bzip2",
                            "application/x-xz", "application/zstd", "application/x-lzip",
                            "application/x-lzh-compressed", "application/x-arj",
                            "application/x-compress", "application/x-cpio",
                            "application/x-archive", "application/x-lzma"})


# --------------------------------------------------------------------------- text

_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")


def _looks_text(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True  # UTF-16 with a BOM (Notepad's "Unicode"): the text module decodes it
    if b"\x00" in head:
        return False
    if len(_CONTROL.findall(head)) > len(head) // 100:
        return False
    for codec in ("utf-8", "cp932"):
        try:
            # The sample may cut a multi-byte character at its end: an incremental
            # decoder keeps those bytes waiting instead of failing on them.
            codecs.getincrementaldecoder(codec)().decode(head, final=len(head) < _HEAD)
            return True
        except UnicodeDecodeError:
            continue
    return False


# Content that Windows runs when opened, whatever the name says.
_SCRIPT_CONTENT = re.compile(
    rb"<hta:application|<scriptlet|<package>\s*<job|<job[\s>][^<]{0,200}<script|#@~\^"
    rb"|\A(?:\xef\xbb\xbf)?\s*(?:Windows Registry Editor|REGEDIT4|\[InternetShortcut\]"
    rb"|\[Desktop Entry\]|\[Shell\]|ID;P|WEB\r?\n1\r?\n)|<PCSettings", re.I)
_HTML_START = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|script"
    rb"|iframe|meta|title|style|div|a\s|p>|table|form)", re.I | re.S)
_SVG = re.compile(rb"<svg[\s>:]", re.I)
_XML_START = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*<\?xml", re.I)
_MSO_APPLICATION = re.compile(rb"<\?mso-application\s", re.I)


def _text_kind(head: bytes, ext: str, mime: str) -> str:
    if ext in _SCRIPT_EXTS or _SCRIPT_CONTENT.search(head):
        return "script"
    if _MSO_APPLICATION.search(head[:4096]):
        return "xml"  # Word/Excel 2003 XML: Office opens it as a document
    if mime == "image/svg+xml" or (_SVG.search(head[:4096]) and (
            _XML_START.match(head) or head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"))
            and not _HTML_START.match(head)):
        return "svg"
    if mime in ("text/html", "application/xhtml+xml") or _HTML_START.match(head):
        return "html"
    if mime in ("text/xml", "application/xml") or _XML_START.match(head):
        return "xml"
    if ext in (".csv", ".tsv") or (ext == "" and _looks_csv(head)):
        return "csv"
    return "text"


def _looks_csv(head: bytes) -> bool:
    lines = [ln for ln in head.splitlines()[:6] if ln.strip()]
    if len(lines) < 2:
        return False
    return any(len({ln.count(sep) for ln in lines[:-1]}) == 1 and lines[0].count(sep) > 0
               for sep in (b",", b"\t"))
