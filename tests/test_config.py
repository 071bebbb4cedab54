"""The config loader: every refusal names its key, the shipped file is complete."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from relay import config

SHIPPED = Path(__file__).resolve().parent.parent / "conf" / "relayd.toml"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "relayd.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_embedded_default_matches_api_md() -> None:
    cfg = config.load(None)
    assert (cfg.listeners.lgwan.host, cfg.listeners.lgwan.port) == ("127.0.0.1", 8080)
    assert (cfg.listeners.internet.port, cfg.listeners.internet.tls) == (8443, True)
    assert cfg.store.state_dir == "var"
    assert cfg.tls.min_version == "1.3"


def test_shipped_file_equals_the_defaults() -> None:
    # The commented default documents the defaults: loading it changes nothing.
    assert config.load(SHIPPED) == config.Config()


def test_shipped_file_documents_every_key() -> None:
    data = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))

    def leaves(d: dict, prefix: str = "") -> set[str]:
        out: set[str] = set()
        for k, v in d.items():
            p = f"{prefix}.{k}" if prefix else k
            out |= leaves(v, p) if isinstance(v, dict) else {p}
        return out

    assert leaves(data) == set(config.field_paths())
    # ... and each key has a comment above it or within its table's block.
    text = SHIPPED.read_text(encoding="utf-8")
    assert text.count("#") > len(config.field_paths())


def test_partial_table_keeps_zone_defaults(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, '[listeners.internet]\nhost = "192.0.2.10"\n'))
    assert cfg.listeners.internet == config.ListenerConfig("192.0.2.10", 8443, True)
    assert cfg.listeners.lgwan.port == 8080


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[listeners.internet]\nprot = 1\n", "listeners.internet.prot: unknown key"),
        ("[listeners.internet]\nport = \"8443\"\n", "listeners.internet.port: expected an integer"),
        ("[listeners.internet]\nport = 70000\n", "listeners.internet.port: must be at most 65535"),
        ("[listeners.internet]\ntls = false\n",
         "listeners.internet.tls: the internet listener always uses TLS"),
        ("[store]\ngroup_commit_ms = -1\n", "store.group_commit_ms: must be at least 0.0"),
        ("[sanitize]\nmemory_mib = true\n", "sanitize.memory_mib: expected an integer"),
        ("[policy]\nmy_number_outbound = \"maybe\"\n",
         "policy.my_number_outbound: expected one of 'allow', 'warn', 'block'"),
        ("[policy]\noutbound_kinds = [\"pdf\", 3]\n",
         "policy.outbound_kinds[1]: expected a string"),
        ("[tls]\nmin_version = 1.2\n", "tls.min_version: expected one of '1.2', '1.3'"),
        ("bogus = 1\n", "bogus: unknown key"),
        ("[http]\nmax_header_bytes = 1.5\n", "http.max_header_bytes: expected an integer"),
        ("[auth]\nsession_ttl_hours = \"12\"\n", "auth.session_ttl_hours: expected a number"),
        ("listeners = 3\n", "listeners: expected a table"),
    ],
)
def test_refusals_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(config.ConfigError, match=re.escape(message)):
        config.load(write(tmp_path, text))


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(write(tmp_path, "[listeners\n"))
    with pytest.raises(config.ConfigError, match="config file not found"):
        config.load(tmp_path / "absent.toml")


def test_numbers_accept_integers_for_floats(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, "[http]\nheader_timeout_s = 5\n"))
    assert cfg.http.header_timeout_s == 5.0 and isinstance(cfg.http.header_timeout_s, float)


def test_readme_explains_every_key() -> None:
    # README's Configuration table is what an operator reads; a key added to the
    # schema without a line there fails here.
    readme = (SHIPPED.parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    missing = [p for p in config.field_paths()
               if f"`{p}`" not in table
               and f"`{re.sub(r'^listeners[.][a-z]+[.]', 'listeners.*.', p)}`" not in table]
    assert not missing, f"README.md Configuration does not explain: {missing}"


def test_every_refused_key_is_named_not_only_the_first(tmp_path: Path) -> None:
    text = ('[http]\nmax_upload_bytes = 1\nprot = 3\n[listeners.internet]\nport = "x"\n'
            '[log]\nformat = "xml"\n[nosuch]\nx = 1\n')
    with pytest.raises(config.ConfigError) as caught:
        config.load(write(tmp_path, text))
    assert sorted(str(p) for p in caught.value.problems) == [
        "http.max_upload_bytes: must be at least 1024", "http.prot: unknown key",
        "listeners.internet.port: expected an integer",
        "log.format: expected one of 'text', 'json'", "nosuch: unknown key"]
    # One problem is one error, worded as before.
    with pytest.raises(config.ConfigError, match="^http.prot: unknown key$"):
        config.load(write(tmp_path, "[http]\nprot = 3\n"))
