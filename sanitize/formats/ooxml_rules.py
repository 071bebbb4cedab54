"""What OOXML disarm removes (CDR.md "OOXML"), as data shared by rebuild and verify.

Mostly tables: the rebuild (``ooxml``, ``ooxml_xml``) and the verify step
(``ooxml_verify``) each walk the package with their own code and consult these.
Content types and relationship types are compared in lower case (both are
case-insensitive in OPC).  The Word fields and spreadsheet functions that act live
here with the small functions that judge an instruction or a formula by them, so
that the RTF and legacy (.doc, .xls) paths judge by the same lists.
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

# -- fields and formulas that act --------------------------------------------------
#
# One list of Word field names and one of spreadsheet functions that run something,
# open or include another file or URL, or import data: the OOXML, .doc and RTF
# paths all judge instructions with ``acting_field`` and formulas with
# ``acting_formula`` (and .xls with the function numbers below).  Where a format
# can, the field or formula goes and its displayed result stays.
#
# Word fields, from the Office field-code reference, that are *not* acting:
# GOTOBUTTON (jumps to a bookmark of the same document), QUOTE (literal text; a name
# built from it by a nested field is caught as a computed name), REF / PAGEREF /
# NOTEREF / STYLEREF / = / IF / SEQ and the document-information fields (read the
# document itself), ASK / FILLIN (prompt the user), the mail-merge fields (their
# data source goes with settings' mailMerge), AUTOTEXT / AUTOTEXTLIST / GLOSSARY
# (entries of the user's own templates; the attached template is removed), ADDIN /
# PRIVATE (data kept for add-ins and converters, run nothing), EMBED / CONTROL /
# HTMLCONTROL (mark embedded objects and controls, which the object rules remove).

# Field name -> (kind, why it acts).  The kind names the Removed code per format.
ACTING_FIELDS: dict[str, tuple[str, str]] = {
    "DDE": ("dde", "asks another program for data over DDE; Word starts that program"),
    "DDEAUTO": ("dde", "the same, by itself when the document opens"),
    "INCLUDETEXT": ("include", "inserts text from another file: local, UNC or URL"),
    "INCLUDE": ("include", "the older name of INCLUDETEXT"),
    "INCLUDEPICTURE": ("include", "fetches a picture from a path or URL (with \\d at every open)"),
    "RD": ("include", "names another document read to build an index or table of contents"),
    "LINK": ("link", "an OLE link to another file, opened through that file's program"),
    "IMPORT": ("import", "the older field inserting a graphic from a file"),
    "DATABASE": ("database", "queries an external database (ODBC, a file, a connection string)"),
    "MACROBUTTON": ("macro", "runs a macro or Word command when double-clicked"),
    "PRINT": ("print", "sends printer control codes or PostScript to the printer"),
    "HYPERLINK": ("hyperlink", "opens its target; only http(s)/mailto and in-document jumps stay"),
}
FIELD_NAME = re.compile(r'\s*"?([A-Za-z]+)')
# An instruction whose first word is still open: a nested field here builds the name.
OPEN_FIELD_NAME = re.compile(r'\s*"?[A-Za-z]*')
_FIELD_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"?|(\S+)')
_HYPERLINK_ARG_SWITCHES = frozenset({"\\l", "\\o", "\\t"})  # these take an argument
SAFE_LINK_TARGET = re.compile(r"(?i)\s*(?:https?://|mailto:)")


def safe_link_target(target: str) -> bool:
    """True for the ordinary link targets that may stay: http(s) and mailto."""
    return bool(SAFE_LINK_TARGET.match(target)) and not follina_target(target)


def acting_field(instr: str, computed: bool = False, nested: bool = False) -> str | None:
    """The kind of an acting field instruction (a key of ACTING_FIELDS' kinds), or None.

    ``computed``: a nested field builds the field's name, which Word only learns when
    it runs; ``nested``: some nested field sits in the instruction (a HYPERLINK whose
    target is computed is judged acting).
    """
    if computed:
        return "computed"
    m = FIELD_NAME.match(instr)
    if m is None:
        return None
    name = m.group(1).upper()
    entry = ACTING_FIELDS.get(name)
    if entry is None:
        return None
    if name == "HYPERLINK" and not nested and _ordinary_hyperlink(instr[m.end():]):
        return None
    return entry[0]


def _ordinary_hyperlink(args: str) -> bool:
    """A HYPERLINK whose address is http(s)/mailto, or which only jumps (\\l) inside."""
    tokens = [m.group(1) if m.group(1) is not None else m.group(2)
              for m in _FIELD_TOKEN.finditer(args)]
    address, i = None, 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.lower() in _HYPERLINK_ARG_SWITCHES:
            i += 2
            continue
        if tok.startswith("\\") and len(tok) == 2:
            i += 1
            continue
        address = tok
        break
    # Word doubles backslashes inside quotes; a UNC path is acting either way.
    return address is None or safe_link_target(address)


# Spreadsheet functions that fetch, call or link outside the workbook: name -> (BIFF
# function number or None, why).  None: the function is newer than BIFF8, where it is
# stored as a defined name "_xlfn.NAME" (or an add-in name), judged by its text.
# DDE (app|topic!item) and references to other workbooks are their own rules below.
# FILTERXML, ENCODEURL, INFO, CELL read or format values only: not acting
# (FILTERXML(WEBSERVICE(…)) acts through WEBSERVICE).
ACTING_FUNCTIONS: dict[str, tuple[int | None, str]] = {
    "WEBSERVICE": (None, "fetches a URL"),
    "IMAGE": (None, "fetches a picture from a URL"),
    "STOCKHISTORY": (None, "queries an online data service"),
    "RTD": (379, "starts a real-time-data COM server, here or on another machine"),
    "CALL": (150, "calls a function in a DLL"),
    "REGISTER": (149, "loads a DLL function"),
    "REGISTER.ID": (267, "loads a DLL function"),
    "EXEC": (110, "runs a program"),
    "FOPEN": (132, "opens a file"),
    "FWRITE": (138, "writes a file"),
    "FWRITELN": (137, "writes a file"),
    "INITIATE": (175, "opens a DDE channel to another program"),
    "REQUEST": (176, "asks a DDE channel for data"),
    "POKE": (177, "sends data over DDE"),
    "EXECUTE": (178, "runs a command over DDE"),
    "SQL.REQUEST": (None, "queries an external database (XLODBC add-in)"),
    "CUBEVALUE": (None, "queries an OLAP data connection"),
    "CUBEMEMBER": (None, "queries an OLAP data connection"),
    "CUBESET": (None, "queries an OLAP data connection"),
    "CUBESETCOUNT": (None, "queries an OLAP data connection"),
    "CUBERANKEDMEMBER": (None, "queries an OLAP data connection"),
    "CUBEMEMBERPROPERTY": (None, "queries an OLAP data connection"),
    "CUBEKPIMEMBER": (None, "queries an OLAP data connection"),
    "HYPERLINK": (359, "opens its target; only http(s)/mailto and in-workbook (#) targets stay"),
}
ACTING_FUNCTION_NUMBERS: dict[int, str] = {
    num: name for name, (num, _) in ACTING_FUNCTIONS.items() if num is not None}
# Excel formula text: string literals are blanked (kept at their length) before the
# rules below look at it.
STRING_LITERAL = re.compile(r'"(?:[^"]|"")*"')
DDE_IN_FORMULA = re.compile(r"\|")  # app|topic!item
EXTERNAL_BOOK = re.compile(r"\[[1-9][0-9]*\]")  # [1]Sheet1!A1 ([0] is this workbook)
# What stands before "!": a quoted sheet name or a bare one.  Sheet names cannot hold
# [ ] \ / (Excel forbids them), so a qualifier with one names another workbook or a
# path: [1]Sheet1, '[Book.xlsx]S', 'C:\dir\[x.xlsx]S', '\\host\share\[x.xlsx]S'.
QUALIFIER = re.compile(r"'((?:[^']|'')*)'!|([^\s!'\"(),;=+\-*/&^<>%{}]+)!")
_PATH_MARK = re.compile(r"[\[\]\\/]")
_THIS_BOOK = re.compile(r"\[0\][^\[\]\\/]*")
FUNCTION_CALL = re.compile(
    r"(?i)(?<![\w.])(?:_xl[a-z]*\.)*("
    + "|".join(re.escape(n) for n in sorted(ACTING_FUNCTIONS, key=len, reverse=True))
    + r")\(")
_LEADING_LITERAL = re.compile(r'\s*"((?:[^"]|"")*)"\s*([,)&]?)')
# Bytes of a part that may hold a call of an acting function: a "(" right after one
# of the names, in any case (Excel reads function names case-insensitively).  Starts
# with a literal "(" so that a part without one is passed over at memchr speed.
FUNCTION_CALL_BYTES = re.compile(
    rb"\((?:" + rb"|".join(rb"(?<=(?i:" + re.escape(n.encode()) + rb")\()"
                           for n in ACTING_FUNCTIONS) + rb")")
# A character reference spelling a printable ASCII character ("|", "[", "(", a
# letter of a function name, …): XML decodes it, so byte-level searches cannot see
# through it and the part is parsed.  (openpyxl & co. write references only for
# other characters.)
ASCII_CHAR_REF = re.compile(
    rb"&#(?:[xX]0*[2-7][0-9a-fA-F]|0*(?:3[2-9]|[4-9][0-9]|1[01][0-9]|12[0-7]));")


def blank_strings(formula: str) -> str:
    """``formula`` with the inside of each string literal blanked, same length."""
    return STRING_LITERAL.sub(lambda m: '"' + " " * (len(m.group()) - 2) + '"', formula)


def acting_formula(formula: str) -> tuple[str, str] | None:
    """(kind, what) when a formula reaches outside the workbook, else None.

    Kinds: "dde" (app|topic!item), "external" (another workbook or a path),
    "function" (a function of ACTING_FUNCTIONS; HYPERLINK only when its target is
    not a literal http(s)/mailto URL or a literal in-workbook "#" jump).
    """
    bare = blank_strings(formula)
    if DDE_IN_FORMULA.search(bare):
        return "dde", "|"
    if (book := EXTERNAL_BOOK.search(bare)) is not None:
        return "external", book.group()
    for m in QUALIFIER.finditer(bare):
        q = m.group(1) if m.group(1) is not None else m.group(2)
        if _PATH_MARK.search(q) and not _THIS_BOOK.fullmatch(q):
            return "external", q[:60]
    for m in FUNCTION_CALL.finditer(bare):
        name = m.group(1).upper()
        if name != "HYPERLINK" or not _ordinary_hyperlink_formula(formula[m.end():]):
            return "function", name
    return None


def _ordinary_hyperlink_formula(args: str) -> bool:
    """HYPERLINK's first argument starts with a literal http(s)/mailto URL, or is
    exactly a literal "#place" in this workbook."""
    m = _LEADING_LITERAL.match(args)
    if m is None:
        return False
    target = m.group(1).replace('""', '"')
    if target.startswith("#"):
        return m.group(2) in (",", ")") and not _PATH_MARK.search(target)
    return safe_link_target(target)


# Excel defined names that run on open/close (Excel matches the prefix: Auto_Open2 runs).
AUTO_NAME = re.compile(r"(?i)^(?:_xlnm\.)?auto_(?:open|close|activate|deactivate)")

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
