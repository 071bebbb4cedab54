"""Configuration: conf/relayd.toml parsed once into frozen dataclasses.

Each package owns the schema of its own section as a frozen dataclass whose fields
carry their defaults (``store.config.StoreConfig``, ``sanitize.config.SanitizeConfig``,
``policy.config.PolicyConfig``; the relay's own sections live here).  This module only
walks the TOML tree against those dataclasses, so a section's schema is written once,
in the package that uses it.

Rules, enforced for every section alike:

* unknown keys are errors naming their path (``listeners.internet.prot: unknown key``);
* every refused key is reported, not only the first (``ConfigError.problems``), so
  ``relayd --check-config`` lists all that needs fixing at once;
* wrong types are errors (``listeners.internet.port: expected an integer``);
* bounds come from field metadata (``field(default=8080, metadata=bounds(1, 65535))``)
  and further checks from ``__post_init__`` raising ``ValueError``; both are reported
  with the path;
* nothing touches the state directory before the whole file has been accepted.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from policy import hours as business_hours
from policy.config import PolicyConfig
from relay.ldap_config import LdapConfig
from relay.records_config import RecordsConfig
from sanitize.config import SanitizeConfig
from store.config import StoreConfig


class ConfigError(Exception):
    """A configuration value was refused; ``path`` names the key.  When several were,
    ``problems`` holds each (one per key; str() is one per line)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message
        self.problems: list[ConfigError] = [self]

    @classmethod
    def of(cls, problems: list["ConfigError"]) -> "ConfigError":
        """One error standing for every problem found."""
        if len(problems) == 1:
            return problems[0]
        err = cls("", "\n".join(str(p) for p in problems))
        err.problems = problems
        return err


def bounds(lo: float | None = None, hi: float | None = None) -> dict[str, Any]:
    """Field metadata for a numeric range, checked by the loader."""
    return {"min": lo, "max": hi}


# --------------------------------------------------------------------------- relay's own


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    host: str = "127.0.0.1"
    port: int = field(default=8080, metadata=bounds(0, 65535))
    # TLS on this listener.  Always true for the internet zone (refused otherwise).
    tls: bool = False
    # Network interface the listener is bound to (SO_BINDTODEVICE, like systemd's
    # BindToDevice=).  An address alone is no boundary: Linux answers a packet for any
    # local address on any interface, so a router on the internet side could reach
    # the LGWAN address.  Empty: not bound to a device (loopback trials).
    device: str = ""


@dataclass(frozen=True, slots=True)
class ListenersConfig:
    lgwan: ListenerConfig = ListenerConfig(port=8080, tls=False)
    internet: ListenerConfig = ListenerConfig(port=8443, tls=True)
    # Start even when the host routes between the two legs (relay.segments): a loud
    # warning and kakehashi_host_routes_between_legs 1 instead of a refusal.
    allow_routing: bool = False

    def __post_init__(self) -> None:
        if not self.internet.tls:
            raise ValueError("internet.tls: the internet listener always uses TLS")


@dataclass(frozen=True, slots=True)
class TLSConfig:
    # Empty paths: the embedded default makes a self-signed pair in the state directory.
    cert_file: str = ""
    key_file: str = ""
    # "1.3" (Mozilla modern) or "1.2" (Mozilla intermediate cipher list).
    min_version: Literal["1.2", "1.3"] = "1.3"
    # Also serve TLS on the lgwan listener with the same certificate.
    lgwan: bool = False


@dataclass(frozen=True, slots=True)
class HTTPConfig:
    max_header_bytes: int = field(default=16 * 1024, metadata=bounds(1024, 1024 * 1024))
    header_timeout_s: float = field(default=10.0, metadata=bounds(0.1, 600))
    max_json_bytes: int = field(default=1024 * 1024, metadata=bounds(1024, 64 * 1024 * 1024))
    max_upload_bytes: int = field(default=100 * 1024 * 1024, metadata=bounds(1024, 4 * 1024**3))
    min_body_rate_bps: int = field(default=500, metadata=bounds(0, None))
    max_connections_per_ip: int = field(default=64, metadata=bounds(1, 100_000))
    ws_max_message_bytes: int = field(default=1024 * 1024, metadata=bounds(1024, 16 * 1024 * 1024))
    ws_ping_interval_s: float = field(default=30.0, metadata=bounds(1, 3600))
    ws_ping_timeout_s: float = field(default=10.0, metadata=bounds(1, 3600))
    ws_send_queue: int = field(default=256, metadata=bounds(1, 100_000))
    # Open streams allowed at once per login session and per account (a browser tab
    # holds one); more are closed at once with 1008 "too many streams".
    ws_max_streams_per_session: int = field(default=8, metadata=bounds(1, 10_000))
    ws_max_streams_per_account: int = field(default=32, metadata=bounds(1, 100_000))
    # WebSocket messages buffered from one client before its reader waits for the app.
    ws_receive_queue: int = field(default=8, metadata=bounds(1, 10_000))
    # A response write (HTTP) that makes no progress this long: the client stopped
    # reading, the connection is closed.
    send_stall_timeout_s: float = field(default=30.0, metadata=bounds(0.1, 3600))
    # Graceful stop (SIGTERM): how long requests in flight may take to finish.
    drain_timeout_s: float = field(default=10.0, metadata=bounds(0, 3600))
    # Allowed Origin values for browser WebSocket clients; empty means "no browser
    # origin accepted" (native clients send none).
    allowed_origins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthConfig:
    session_ttl_hours: float = field(default=12.0, metadata=bounds(0.1, 24 * 90))
    totp_required_internet_staff: bool = False
    # Login attempts: per account a burst then one per refill interval; per IP a burst.
    login_burst_account: int = field(default=3, metadata=bounds(1, 1000))
    login_refill_s_account: float = field(default=6.0, metadata=bounds(0.01, 3600))
    login_burst_ip: int = field(default=5, metadata=bounds(1, 1000))
    login_refill_s_ip: float = field(default=6.0, metadata=bounds(0.01, 3600))
    message_burst: int = field(default=30, metadata=bounds(1, 100_000))
    message_refill_s: float = field(default=0.1, metadata=bounds(0.0001, 3600))
    # File uploads per account: a burst, then one per refill interval.
    upload_burst: int = field(default=20, metadata=bounds(1, 100_000))
    upload_refill_s: float = field(default=3.0, metadata=bounds(0.0001, 3600))
    # Files waiting for (or in) the disarm engine: per uploader, and in all.  A full
    # queue refuses the upload before its body is read (429 upload_queue_full).
    upload_queue_per_account: int = field(default=8, metadata=bounds(1, 10_000))
    upload_queue_max: int = field(default=1000, metadata=bounds(1, 1_000_000))
    # Set and read the browser's session cookie on the LGWAN listener also when it is
    # plain HTTP (a closed network without TLS).  Off: the web client works there only
    # over TLS (listeners.lgwan.tls); see docs/SECURITY.md before turning it on.
    lgwan_http_cookie: bool = False


@dataclass(frozen=True, slots=True)
class LogConfig:
    # "text": one line per event (with a UTC timestamp unless journald adds its own);
    # "json": one JSON object per line, for a log collector.
    format: Literal["text", "json"] = "text"
    level: Literal["debug", "info", "warning", "error"] = "info"
    # One line per HTTP request (zone, method, path without its query, status, time).
    requests: bool = False


@dataclass(frozen=True, slots=True)
class PushConfig:
    """Web Push (RFC 8030 / 8291 / 8292) to installed phones (``relay.push``)."""

    enabled: bool = True
    # The contact push services see in the VAPID claims (RFC 8292 "sub").
    contact: str = "mailto:admin@localhost"
    # Push endpoints relayd will post to (a browser's subscription names one): host
    # names, "*." for a domain's subdomains.  Anything else is refused when the phone
    # subscribes, so a client cannot make relayd post to an address of its choosing.
    endpoint_hosts: tuple[str, ...] = (
        "fcm.googleapis.com", "updates.push.services.mozilla.com", "web.push.apple.com",
        "*.push.apple.com", "*.notify.windows.com")
    # Plain http:// endpoints on 127.0.0.1 (a push service the tests run); never in use.
    allow_loopback_http: bool = False


@dataclass(frozen=True, slots=True)
class HoursConfig:
    """Business hours (業務時間外の配慮): outside them a message's notification is held
    until they begin (``relay.hours``); the schedule itself is ``policy.hours``."""

    enabled: bool = False
    time_zone: str = "Asia/Tokyo"
    working_days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    start: str = "08:30"  # HH:MM, included
    end: str = "17:15"  # HH:MM, excluded
    # National holidays (祝日, 振替休日, 国民の休日) from the jpholiday library are closed.
    national_holidays: bool = True
    # Extra closed days: "MM-DD" (every year), "YYYY-MM-DD", or spans "A..B" of either.
    closed_days: tuple[str, ...] = ("12-29..01-03",)

    def __post_init__(self) -> None:
        self.schedule()  # refuses what it cannot read, naming the key

    def schedule(self) -> business_hours.Hours:
        return business_hours.schedule(self.time_zone, self.working_days, self.start, self.end,
                              self.national_holidays, self.closed_days)


@dataclass(frozen=True, slots=True)
class Config:
    listeners: ListenersConfig = ListenersConfig()
    tls: TLSConfig = TLSConfig()
    http: HTTPConfig = HTTPConfig()
    auth: AuthConfig = AuthConfig()
    store: StoreConfig = StoreConfig()
    sanitize: SanitizeConfig = SanitizeConfig()
    policy: PolicyConfig = PolicyConfig()
    log: LogConfig = LogConfig()
    hours: HoursConfig = HoursConfig()
    records: RecordsConfig = RecordsConfig()
    push: PushConfig = PushConfig()
    ldap: LdapConfig = LdapConfig()

    def __post_init__(self) -> None:
        # File contents are records too: the retention they fall back to has the floor.
        self.records.check("store.retention_days", self.store.retention_days)


# --------------------------------------------------------------------------- the walker


_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _convert(tp: Any, value: Any, path: str, meta: Mapping[str, Any], default: Any = None) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(path, "expected a table")
        # A partial table overrides the field's own default ([listeners.internet]
        # keeps port 8443 and TLS unless it says otherwise).
        return build(tp, value, path, base=default)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(path, "expected one of " + ", ".join(repr(c) for c in choices))
        return value
    if origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(path, "expected a list")
        return tuple(_convert(item_tp, v, f"{path}[{i}]", {}) for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"{path}: unions are not supported in config schemas")
    # TOML gives bool for true/false; bool is an int subclass, so check it first.
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, "expected true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, "expected an integer")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, "expected a number")
        value = float(value)
    elif tp is str:
        if not isinstance(value, str):
            raise ConfigError(path, "expected a string")
    else:
        raise TypeError(f"{path}: unsupported config type {tp!r}")
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and value < lo:
        raise ConfigError(path, f"must be at least {lo}")
    if hi is not None and value > hi:
        raise ConfigError(path, f"must be at most {hi}")
    return value


def build(cls: type, data: Mapping[str, Any], path: str = "", base: Any = None) -> Any:
    """Build dataclass ``cls`` from a TOML table, refusing anything it does not know.

    ``base`` is an instance whose values stand for the keys the table leaves out.
    """
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    problems = [ConfigError(_join(path, key), "unknown key") for key in data if key not in known]
    kwargs = {}
    for name, f in known.items():
        if name not in data:
            continue
        try:
            kwargs[name] = _convert(
                hints[name], data[name], _join(path, name), f.metadata,
                default=f.default if f.default is not dataclasses.MISSING else None)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError.of(problems)
    try:
        return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)
    except ValueError as exc:
        # __post_init__ checks name their own sub-key ("internet.tls: ...") or none.
        msg = str(exc)
        sub, sep, rest = msg.partition(": ")
        if sep and " " not in sub:
            raise ConfigError(_join(path, sub), rest) from None
        raise ConfigError(path, msg) from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def load(path: str | Path | None) -> Config:
    """Read and validate a config file; ``None`` gives the embedded default."""
    if path is None:
        return Config()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError("", f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{path}: not valid TOML: {exc}") from None
    return build(Config, data)


def field_paths(cls: type = Config, prefix: str = "") -> list[str]:
    """Every leaf key path of the schema (used to check conf/relayd.toml documents all)."""
    out: list[str] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        p = _join(prefix, f.name)
        if dataclasses.is_dataclass(tp):
            out.extend(field_paths(tp, p))
        else:
            out.append(p)
    return out
