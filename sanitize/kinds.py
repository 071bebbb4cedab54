"""The canonical kind names the engine speaks, with extension and MIME type.

``detect`` returns one of these; each format module declares the kinds it rebuilds;
``policy`` decides per kind.  A kind that no format module handles is blocked.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    extension: str  # with the dot
    mime: str
    # Macro-enabled OOXML kinds map to their plain kind after disarm (docm -> docx).
    disarmed_as: str | None = None


_W = "application/vnd.openxmlformats-officedocument.wordprocessingml"
_X = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_P = "application/vnd.openxmlformats-officedocument.presentationml"

KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("pdf", ".pdf", "application/pdf"),
    Kind("jpeg", ".jpg", "image/jpeg"),
    Kind("png", ".png", "image/png"),
    Kind("gif", ".gif", "image/gif"),
    Kind("webp", ".webp", "image/webp"),
    Kind("tiff", ".tif", "image/tiff"),
    Kind("bmp", ".bmp", "image/bmp"),
    Kind("docx", ".docx", f"{_W}.document"),
    Kind("dotx", ".dotx", f"{_W}.template"),
    Kind("docm", ".docm", "application/vnd.ms-word.document.macroEnabled.12", "docx"),
    Kind("dotm", ".dotm", "application/vnd.ms-word.template.macroEnabled.12", "dotx"),
    Kind("xlsx", ".xlsx", f"{_X}.sheet"),
    Kind("xltx", ".xltx", f"{_X}.template"),
    Kind("xlsm", ".xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12", "xlsx"),
    Kind("xltm", ".xltm", "application/vnd.ms-excel.template.macroEnabled.12", "xltx"),
    Kind("xlam", ".xlam", "application/vnd.ms-excel.addin.macroEnabled.12"),
    Kind("xlsb", ".xlsb", "application/vnd.ms-excel.sheet.binary.macroEnabled.12"),
    Kind("pptx", ".pptx", f"{_P}.presentation"),
    Kind("ppsx", ".ppsx", f"{_P}.slideshow"),
    Kind("potx", ".potx", f"{_P}.template"),
    Kind("pptm", ".pptm", "application/vnd.ms-powerpoint.presentation.macroEnabled.12", "pptx"),
    Kind("ppsm", ".ppsm", "application/vnd.ms-powerpoint.slideshow.macroEnabled.12", "ppsx"),
    Kind("potm", ".potm", "application/vnd.ms-powerpoint.template.macroEnabled.12", "potx"),
    Kind("ppam", ".ppam", "application/vnd.ms-powerpoint.addin.macroEnabled.12"),
    Kind("ooxml_encrypted", ".bin", "application/octet-stream"),
    Kind("doc", ".doc", "application/msword"),
    Kind("xls", ".xls", "application/vnd.ms-excel"),
    Kind("ppt", ".ppt", "application/vnd.ms-powerpoint"),
    Kind("cfb", ".bin", "application/x-ole-storage"),  # other compound files: MSI, Visio, …
    Kind("rtf", ".rtf", "application/rtf"),
    Kind("zip", ".zip", "application/zip"),
    Kind("text", ".txt", "text/plain; charset=utf-8"),
    Kind("csv", ".csv", "text/csv; charset=utf-8"),
    Kind("html", ".html", "text/html; charset=utf-8"),
    Kind("svg", ".svg", "image/svg+xml"),
    Kind("xml", ".xml", "application/xml"),
    # Always blocked (CDR.md "Always blocked").
    Kind("executable", ".bin", "application/octet-stream"),  # PE, ELF, Mach-O
    Kind("script", ".txt", "text/plain"),  # JS, VBS, PS1, BAT, HTA, shell
    Kind("lnk", ".lnk", "application/octet-stream"),
    Kind("disk_image", ".bin", "application/octet-stream"),  # ISO, VHD, IMG, DMG
    Kind("archive_other", ".bin", "application/octet-stream"),  # rar, 7z, cab, tar, gz
    Kind("unknown", ".bin", "application/octet-stream"),
)}

# Kinds never delivered, whatever the policy says.  (Encrypted OOXML is not here:
# formats/ooxml.py opens it when Office's default password does, else blocks it.)
ALWAYS_BLOCKED = frozenset({
    "executable", "script", "lnk", "disk_image", "archive_other", "unknown", "cfb",
    "xlam", "ppam", "xlsb",
})

OOXML = frozenset({
    "docx", "dotx", "docm", "dotm", "xlsx", "xltx", "xlsm", "xltm",
    "pptx", "ppsx", "potx", "pptm", "ppsm", "potm",
})
IMAGES = frozenset({"jpeg", "png", "gif", "webp", "tiff", "bmp"})
OLE2 = frozenset({"doc", "xls", "ppt"})


def output_kind(kind: str) -> str:
    """The kind a file has after disarm (docm -> docx, others unchanged)."""
    return KINDS[kind].disarmed_as or kind
