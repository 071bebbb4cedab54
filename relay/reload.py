"""SIGHUP: read relayd.toml again and apply what can change without a restart.

Applied at once: the TLS certificate and key (new handshakes; ``tls.cert_file``,
``tls.key_file``), every ``[http]`` limit but the stream send queue (new connections
and requests), ``[auth]`` (session lifetime, TOTP rule, and the rates of the login,
message and upload limits, keeping who is locked out), ``[policy]`` and ``[log]``.
Kept until a restart, and said so in the log: ``[listeners]``, ``[store]``,
``[sanitize]`` (the worker processes), ``tls.min_version``, ``tls.lgwan`` and
``http.ws_send_queue``.  A file that does not load is refused whole: the running
configuration stays, and the log names each bad key.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
from typing import TYPE_CHECKING, Any, Mapping

from policy.ratelimit import Rate
from store.db import StatePaths
from store.records import Zone

from relay import logs, tlsconf
from relay.config import Config, ConfigError, field_paths, load

if TYPE_CHECKING:
    from relay.app import RelayApp
    from relay.server import Server

log = logging.getLogger("relay.reload")

RESTART_ONLY = ("listeners.", "store.", "sanitize.", "tls.min_version", "tls.lgwan",
                "http.ws_send_queue", "records.")


def _value(cfg: Config, path: str) -> Any:
    obj: Any = cfg
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def changed_keys(old: Config, new: Config) -> list[str]:
    return [p for p in field_paths() if _value(old, p) != _value(new, p)]


def merged(old: Config, new: Config) -> Config:
    """``new``, but with the sections that need a restart as they run now."""
    tls = dataclasses.replace(new.tls, min_version=old.tls.min_version, lgwan=old.tls.lgwan)
    http = dataclasses.replace(new.http, ws_send_queue=old.http.ws_send_queue)
    return dataclasses.replace(new, listeners=old.listeners, store=old.store,
                               sanitize=old.sanitize, records=old.records, tls=tls, http=http)


def reload_tls(contexts: Mapping[Zone, ssl.SSLContext | None], cfg: Config,
               paths: StatePaths) -> bool:
    try:
        cert, key = tlsconf.certificate_files(cfg.tls, paths)
        tlsconf.check_pair(cert, key)  # a bad pair must not half-replace the live one
        for ctx in {id(c): c for c in contexts.values() if c is not None}.values():
            ctx.load_cert_chain(cert, key)  # new handshakes use it; live ones are unaffected
        log.warning("TLS certificate reloaded from %s (証明書を再読み込みしました)", cert)
        return True
    except (OSError, ssl.SSLError, tlsconf.TLSSetupError) as exc:
        log.error("TLS reload failed, keeping the old certificate: %s", exc)
        return False


def apply(app: "RelayApp", server: "Server", cfg: Config) -> None:
    """Make ``cfg`` the running configuration of what reads it per request."""
    app.cfg = app.ctx.cfg = cfg
    server.cfg = cfg.http
    server._per_address.limit = cfg.http.max_connections_per_ip
    a, limits = cfg.auth, app.ctx.limits
    limits.login_by_account.rate = Rate(a.login_burst_account, a.login_refill_s_account)
    limits.login_by_ip.rate = Rate(a.login_burst_ip, a.login_refill_s_ip)
    limits.sends.rate = Rate(a.message_burst, a.message_refill_s)
    limits.uploads.rate = Rate(a.upload_burst, a.upload_refill_s)
    logs.setup(cfg.log)


def reload(app: "RelayApp", server: "Server", contexts: Mapping[Zone, ssl.SSLContext | None],
           config_path: str | None, paths: StatePaths) -> Config:
    """Read the file again and apply it; the configuration now running."""
    old = app.cfg
    try:
        new = load(config_path) if config_path is not None else old
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("config reload refused, keeping the running configuration: %s "
                      "(設定を再読み込みできません)", problem)
        reload_tls(contexts, old, paths)
        return old
    running = merged(old, new)
    changed = changed_keys(old, new)
    later = [k for k in changed if k.startswith(RESTART_ONLY)]
    now = [k for k in changed if k not in later]
    apply(app, server, running)
    reload_tls(contexts, running, paths)
    log.warning("config reloaded: %s (設定を再読み込みしました)",
                ", ".join(now) if now else "no changes")
    if later:
        log.warning("needs a restart, running as before: %s (反映には再起動が必要です)",
                    ", ".join(later))
    return running
