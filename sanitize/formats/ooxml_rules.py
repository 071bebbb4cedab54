"""What OOXML disarm removes (CDR.md "OOXML"), as data shared by rebuild and verify.

Only tables live here: the rebuild (``ooxml``, ``ooxml_xml``) and the verify step
(``ooxml_verify``) each walk the package with their own code and consult these.
Content types and relationship types are compared in lower case (both are
case-insensitive in OPC).
"""

from __future__ import annotations

import re

# Part content type -> Removed code.  The part is deleted with every relationship to it.
FORBIDDEN_CONTENT_TYPES: dict[str, str] = {
    "application/vnd.ms-office.vbaproject": "ooxml.vba",
    "application/vnd.ms-office.vbaprojectsignature": "ooxml.vba",
    "application/vnd.ms-office.vbaprojectsignatureagile": "ooxml.vba",
    "application/vnd.ms-office.vbaprojectsignaturev3": "ooxml.vba",
    "application/vnd.ms-word.vbadata+xml": "ooxml.vba",
    "application/vnd.ms-word.keymapcustomizations+xml": "ooxml.customization",
    "application/vnd.ms-word.attachedtoolbars": "ooxml.customization",
    "application/vnd.ms-office.activex+xml": "ooxml.activex",
    "application/vnd.ms-office.activex": "ooxml.activex",
    "application/vnd.openxmlformats-officedocument.oleobject": "ooxml.ole_object",
    "application/vnd.ms-excel.macrosheet+xml": "ooxml.macro_sheet",
    "application/vnd.ms-excel.intlmacrosheet+xml": "ooxml.macro_sheet",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.externallink+xml":
        "ooxml.external_link",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.connections+xml":
        "ooxml.data_connection",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.querytable+xml":
        "ooxml.data_connection",
    "application/vnd.openxmlformats-package.digital-signature-xmlsignature+xml":
        "ooxml.signature",
    "application/vnd.openxmlformats-package.digital-signature-origin": "ooxml.signature",
    "application/vnd.openxmlformats-package.digital-signature-certificate": "ooxml.signature",
}

# Last segment of a relationship type -> Removed code (the target part goes too).
FORBIDDEN_REL_TYPES: dict[str, str] = {
    "vbaproject": "ooxml.vba",
    "vbaprojectsignature": "ooxml.vba",
    "vbaprojectsignatureagile": "ooxml.vba",
    "vbaprojectsignaturev3": "ooxml.vba",
    "wordvbadata": "ooxml.vba",
    "keymapcustomizations": "ooxml.customization",
    "attachedtoolbars": "ooxml.customization",
    "oleobject": "ooxml.ole_object",
    "package": "ooxml.embedded_package",
    "control": "ooxml.activex",
    "activexcontrol": "ooxml.activex",
    "activexcontrolbinary": "ooxml.activex",
    "extensibility": "ooxml.customui",  # .../ui/extensibility (customUI, onLoad macros)
    "xlmacrosheet": "ooxml.macro_sheet",
    "xlintlmacrosheet": "ooxml.macro_sheet",
    "externallink": "ooxml.external_link",
    "externallinkpath": "ooxml.external_link",
    "xlpathmissing": "ooxml.external_link",
    "xlstartup": "ooxml.external_link",
    "xlalternatestartup": "ooxml.external_link",
    "xllibrary": "ooxml.external_link",
    "connections": "ooxml.data_connection",
    "querytable": "ooxml.data_connection",
    "afchunk": "ooxml.altchunk",
    "subdocument": "ooxml.subdocument",
    "frame": "ooxml.frame",
    "attachedtemplate": "ooxml.attached_template",
    "mailmergesource": "ooxml.mail_merge",
    "mailmergeheadersource": "ooxml.mail_merge",
}
SIGNATURE_REL_MARK = "digital-signature"  # .../digital-signature/{origin,signature,certificate}

# External targets allowed only on hyperlinks, and only these schemes.
SAFE_EXTERNAL_SCHEME = re.compile(r"(?i)\s*(?:https?|mailto):")
# A URI scheme (an "internal" target with one is really external).
HAS_SCHEME = re.compile(r"^\s*(?:[A-Za-z][A-Za-z0-9+.-]*:|[\\/]{2})")


def follina_target(target: str) -> bool:
    """mhtml: targets and targets ending in "!" open remote templates/HTML (CVE-2022-30190)."""
    t = target.strip().lower()
    return "mhtml:" in t or t.endswith("!")


# Macro-enabled main part content types -> the plain ones.
MACRO_MAIN_CONTENT_TYPES: dict[str, str] = {
    "application/vnd.ms-word.document.macroenabled.main+xml":
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    "application/vnd.ms-word.template.macroenabledtemplate.main+xml":
        "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
    "application/vnd.ms-excel.sheet.macroenabled.main+xml":
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    "application/vnd.ms-excel.template.macroenabled.main+xml":
        "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    "application/vnd.ms-powerpoint.presentation.macroenabled.main+xml":
        "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
    "application/vnd.ms-powerpoint.slideshow.macroenabled.main+xml":
        "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml",
    "application/vnd.ms-powerpoint.template.macroenabled.main+xml":
        "application/vnd.openxmlformats-officedocument.presentationml.template.main+xml",
}

# Word field instructions that fetch or run something: only the cached result stays.
DANGEROUS_FIELDS: dict[str, str] = {
    "DDE": "ooxml.field_dde",
    "DDEAUTO": "ooxml.field_dde",
    "INCLUDEPICTURE": "ooxml.field_link",
    "INCLUDETEXT": "ooxml.field_link",
    "INCLUDE": "ooxml.field_link",
    "LINK": "ooxml.field_link",
    "IMPORT": "ooxml.field_link",
    "DATABASE": "ooxml.field_link",
}

# Excel defined names that run on open/close (Excel matches the prefix: Auto_Open2 runs).
AUTO_NAME = re.compile(r"(?i)^(?:_xlnm\.)?auto_(?:open|close|activate|deactivate)")
# Excel formula text: string literals are blanked before looking for these.
STRING_LITERAL = re.compile(r'"(?:[^"]|"")*"')
DDE_IN_FORMULA = re.compile(r"\|")  # app|topic!item
EXTERNAL_BOOK = re.compile(r"\[[1-9][0-9]*\]")  # [1]Sheet1!A1 ([0] is this workbook)

# PowerPoint action verbs that run programs, macros or OLE verbs.
PPACTION = re.compile(r"(?i)^\s*ppaction://(?:program|macro|ole)")

# Namespaces (transitional and strict).
NS_W = frozenset({"http://schemas.openxmlformats.org/wordprocessingml/2006/main",
                  "http://purl.oclc.org/ooxml/wordprocessingml/main"})
NS_X = frozenset({"http://schemas.openxmlformats.org/spreadsheetml/2006/main",
                  "http://purl.oclc.org/ooxml/spreadsheetml/main"})
NS_P = frozenset({"http://schemas.openxmlformats.org/presentationml/2006/main",
                  "http://purl.oclc.org/ooxml/presentationml/main"})
NS_R = frozenset({"http://schemas.openxmlformats.org/officeDocument/2006/relationships",
                  "http://purl.oclc.org/ooxml/officeDocument/relationships"})
NS_O = frozenset({"urn:schemas-microsoft-com:office:office"})
NS_XVML = frozenset({"urn:schemas-microsoft-com:office:excel"})
NS_MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
NS_CT = "http://schemas.openxmlformats.org/package/2006/content-types"

# Elements removed wherever they appear: (namespaces, local name) -> Removed code.
FORBIDDEN_ELEMENTS: dict[tuple[frozenset[str], str], str] = {
    (NS_W, "object"): "ooxml.ole_object",
    (NS_O, "OLEObject"): "ooxml.ole_object",
    (NS_W, "control"): "ooxml.activex",
    (NS_W, "altChunk"): "ooxml.altchunk",
    (NS_W, "subDoc"): "ooxml.subdocument",
    (NS_W, "attachedTemplate"): "ooxml.attached_template",
    (NS_W, "mailMerge"): "ooxml.mail_merge",
    (NS_X, "oleObjects"): "ooxml.ole_object",
    (NS_X, "controls"): "ooxml.activex",
    (NS_X, "externalReferences"): "ooxml.external_link",
    (NS_P, "oleObj"): "ooxml.ole_object",
    (NS_P, "controls"): "ooxml.activex",
    (NS_P, "control"): "ooxml.activex",
    (NS_XVML, "FmlaMacro"): "ooxml.macro_ref",
    (NS_W, "entryMacro"): "ooxml.macro_ref",  # form-field macros (may name Word commands)
    (NS_W, "exitMacro"): "ooxml.macro_ref",
}
# Attributes (no namespace) naming a macro to run on click.
MACRO_ATTRIBUTES = frozenset({"macro", "fmlaMacro"})

# ASCII letters from the one found in the fewest OOXML parts to the most common
# (counted on the parts of Office-like docx/xlsx/pptx files).  A search for a name
# first asks whether its rarest letter occurs at all, which is one memchr: far
# cheaper than the search, and exact (a name cannot occur without each of its bytes).
# Only speed depends on this order.
BYTE_RARITY = b"QKYZJXHVWqjzEAGONBCSwMPRbLIUkFvTDuxfgyhmdcaeilnoprst"
