"""The documentation stays in step with the code: every route of the router is in
docs/API.md and nothing else is, every error code the code can give is in its table
and defined once in relay.errors, nothing sends a reader outside the repository, and
relay/ stays in modules of a few hundred lines that say what they hold."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from relay.app import build_app
from relay.config import Config
from relay.errors import CODES
from store.config import StoreConfig
from store.facade import Store

REPO = Path(__file__).resolve().parents[1]
API_MD = REPO / "docs" / "API.md"
ROUTE_HEADING = re.compile(r"^### `([A-Z]+) (/\S*)`$", re.M)
CODE_ROW = re.compile(r"^\| `([a-z_]+)` \| (\d{3}) \|", re.M)
# Where the code names an error code it raises.
RAISED = [re.compile(p) for p in (
    r"""code\s*=\s*["']([a-z_]+)["']""",
    r"""code,\s*status\s*=\s*["']([a-z_]+)["']""",
    r"""errors\.error\(\s*["']([a-z_]+)["']""",
    r"""\berror\(\s*["']([a-z_]+)["']""",
    r"""file_denied\(\s*["']([a-z_]+)["']""",
)]
MAX_RELAY_MODULE_LINES = 400


def documented_routes() -> set[tuple[str, str]]:
    return set(ROUTE_HEADING.findall(API_MD.read_text(encoding="utf-8")))


def documented_codes() -> dict[str, int]:
    return {c: int(s) for c, s in CODE_ROW.findall(API_MD.read_text(encoding="utf-8"))}


def raised_codes() -> set[str]:
    found: set[str] = set()
    for package in ("relay", "policy", "store"):
        for path in (REPO / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for pattern in RAISED:
                found.update(pattern.findall(text))
    # Codes a policy decision carries in data rather than in a raise.
    found.update(re.findall(r'Denied\(\s*"([a-z_]+)"', (REPO / "policy" / "files.py")
                            .read_text(encoding="utf-8")))
    return found


async def test_every_route_is_documented_and_every_documented_route_exists(
        tmp_path: Path) -> None:
    cfg = Config(store=StoreConfig(state_dir=str(tmp_path / "state"), password_memory_kib=64))
    async with await Store.open(cfg.store) as store:
        app = build_app(cfg, store)
        routes = {(r.method, r.path) for r in app.routes}
    documented = documented_routes()
    assert routes - documented == set(), "routes missing from docs/API.md"
    assert documented - routes == set(), "docs/API.md documents routes that do not exist"


def test_every_raised_code_is_defined_once_and_documented_with_its_status() -> None:
    raised = raised_codes()
    assert raised, "the pattern found no codes: the test would pass for nothing"
    assert raised - set(CODES) == set(), "raised but not in relay.errors.CODES"
    documented = documented_codes()
    assert documented == {c: s for c, (s, _) in CODES.items()}, \
        "docs/API.md's table and relay.errors.CODES differ"


def test_codes_are_literals_a_reader_can_find() -> None:
    # A code built at run time (code=f"empty_{what}") is invisible to the check above.
    for package in ("relay", "policy", "store"):
        for path in (REPO / package).rglob("*.py"):
            assert not re.search(r"code\s*=\s*f[\"']", path.read_text(encoding="utf-8")), path


def test_readme_and_docs_stand_alone() -> None:
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        assert "../shared" not in text and "shared/design" not in text, path
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if "://" in target:
                continue
            assert (path.parent / target).exists(), f"{path.name} links to missing {target}"


def test_relay_modules_are_small_and_say_what_they_hold() -> None:
    for path in sorted((REPO / "relay").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        if path.name == "__init__.py":
            continue
        assert len(source.splitlines()) <= MAX_RELAY_MODULE_LINES, path.name
        assert ast.get_docstring(ast.parse(source)), f"{path.name} has no module docstring"


def test_the_patterns_see_a_code_raised_in_each_way() -> None:
    # Guards the guard: each way of raising a code is recognised.
    raised = raised_codes()
    assert {"weak_password", "login_exists", "unknown_command", "file_purged",
            "policy_blocked"} <= raised
