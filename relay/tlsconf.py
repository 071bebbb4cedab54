"""TLS for the listeners: server contexts, and the self-signed pair for trying it out.

Policy (docs/SECURITY.md "Network edges"):

* ``min_version = "1.3"`` (default): TLS 1.3 only, Mozilla "modern", with exactly its
  key-exchange groups (X25519, prime256v1, secp384r1).
* ``min_version = "1.2"``: TLS 1.2 as well, limited to Mozilla's "intermediate"
  cipher list (forward-secret AEAD suites only), for old smartphones.
* Certificate and key come from ``[tls] cert_file`` / ``key_file``; when both are
  empty, from systemd credentials ``tls.crt`` / ``tls.key`` ($CREDENTIALS_DIRECTORY,
  ``LoadCredential=``); failing that, a self-signed pair made with ``cryptography`` in
  ``<state_dir>/tls/`` on first start and reused afterwards (renewed when expired);
  where that pair lives is the state directory's business (``store.db.StatePaths``).
"""

from __future__ import annotations

import _ssl
import ctypes
import datetime
import ipaddress
import logging
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from relay.config import TLSConfig
from store.db import TLS_CERT_NAME, TLS_KEY_NAME, StatePaths, private_dir

log = logging.getLogger("relay.tls")

# Mozilla Server Side TLS, "intermediate" (v5.7): the TLS 1.2 suites.  TLS 1.3 suites
# are OpenSSL's defaults, which are exactly Mozilla's.
INTERMEDIATE_CIPHERS = ":".join((
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384",
    "DHE-RSA-CHACHA20-POLY1305",
))

SELF_SIGNED_DAYS = 365
# Renew the self-signed pair this long before it expires.
SELF_SIGNED_RENEW_DAYS = 7
CERT_NAME = TLS_CERT_NAME
KEY_NAME = TLS_KEY_NAME
CREDENTIAL_CERT = "tls.crt"
CREDENTIAL_KEY = "tls.key"


class TLSSetupError(Exception):
    """The certificate or key could not be used (message names the file)."""


# Mozilla's "modern" key-exchange groups (X25519, prime256v1, secp384r1): not the
# secp521r1 and X448 that OpenSSL offers besides.
MODERN_GROUPS = "X25519:P-256:P-384"
_SSL_CTRL_SET_GROUPS_LIST = 92  # OpenSSL's ssl.h


def server_context(cfg: TLSConfig, state: StatePaths | Path,
                   hosts: tuple[str, ...] = ()) -> ssl.SSLContext:
    """A server context per ``cfg``; ``hosts`` go into a self-signed certificate.
    ``state`` is the state directory (its StatePaths, or the directory itself)."""
    cert, key = certificate_files(cfg, state, hosts)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if cfg.min_version == "1.3":
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(INTERMEDIATE_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    # Mozilla: with only strong suites offered, let the client pick (it knows whether
    # it has AES hardware).
    ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.set_alpn_protocols(["http/1.1"])
    if not set_groups(ctx, MODERN_GROUPS):
        log.warning("TLS: could not restrict the key-exchange groups to %s; OpenSSL's "
                    "defaults stay offered (鍵交換グループを制限できません)", MODERN_GROUPS)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TLSSetupError(f"TLS certificate/key not usable ({cert}, {key}): {exc}") from None
    return ctx


def set_groups(ctx: ssl.SSLContext, groups: str) -> bool:
    """Offer exactly ``groups`` for the key exchange; False when it cannot be done.

    Python's ssl module has no call for it before 3.13 (``set_ecdh_curve`` sets one
    curve, for TLS 1.2 only), so this calls OpenSSL's ``SSL_CTX_set1_groups_list``
    (a ``SSL_CTX_ctrl`` macro) on the context's ``SSL_CTX``.  The pointer is the first
    field after the object header of CPython's ``PySSLContext``; it is used only after
    OpenSSL confirms it (the options it reports must be the context's own)."""
    try:
        lib = ctypes.CDLL(_ssl.__file__)
        get_options = lib.SSL_CTX_get_options
        get_options.restype, get_options.argtypes = ctypes.c_uint64, [ctypes.c_void_p]
        ctrl = lib.SSL_CTX_ctrl
        ctrl.restype = ctypes.c_long
        ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_char_p]
        ptr = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
        if not ptr or get_options(ptr) != int(ctx.options):
            return False
        return bool(ctrl(ptr, _SSL_CTRL_SET_GROUPS_LIST, 0, groups.encode("ascii")))
    except (OSError, AttributeError, ValueError):
        return False


def check_pair(cert: Path, key: Path) -> None:
    """Load ``cert``/``key`` into a throwaway context: TLSSetupError if they are not a
    usable pair.  A reload checks first, because a failed ``load_cert_chain`` on the
    live context can leave it holding the new certificate without a key."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TLSSetupError(f"TLS certificate/key not usable ({cert}, {key}): {exc}") from None


def certificate_files(cfg: TLSConfig, state: StatePaths | Path,
                      hosts: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """Which certificate and key to load (see the module docstring for the order)."""
    if cfg.cert_file or cfg.key_file:
        if not (cfg.cert_file and cfg.key_file):
            raise TLSSetupError("tls.cert_file and tls.key_file must be given together")
        return Path(cfg.cert_file), Path(cfg.key_file)
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds:
        cert, key = Path(creds) / CREDENTIAL_CERT, Path(creds) / CREDENTIAL_KEY
        if cert.exists() and key.exists():
            return cert, key
    paths = state if isinstance(state, StatePaths) else StatePaths(state)
    return self_signed_pair(paths.tls_cert, paths.tls_key, hosts)


def ensure_self_signed(tls_dir: Path, hosts: tuple[str, ...] = (),
                       now: datetime.datetime | None = None) -> tuple[Path, Path]:
    """A self-signed pair in any directory ``tls_dir`` (tests, tools), named like the
    state directory's."""
    return self_signed_pair(tls_dir / CERT_NAME, tls_dir / KEY_NAME, hosts, now)


def self_signed_pair(cert_path: Path, key_path: Path, hosts: tuple[str, ...] = (),
                     now: datetime.datetime | None = None) -> tuple[Path, Path]:
    """The self-signed pair at these paths: reused when present and not about to
    expire, else made (EC P-256, SANs localhost, 127.0.0.1, ::1 and ``hosts``)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if cert_path.exists() and key_path.exists():
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if cert.not_valid_after_utc - datetime.timedelta(days=SELF_SIGNED_RENEW_DAYS) > now:
                return cert_path, key_path
            log.warning("self-signed certificate expires %s; making a new one "
                        "(自己署名証明書を更新します)", cert.not_valid_after_utc.isoformat())
        except ValueError:
            log.warning("%s unreadable; making a new self-signed pair", cert_path)
    private_dir(cert_path.parent)
    private_dir(key_path.parent)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for h in ("localhost", "127.0.0.1", "::1", *hosts):
        try:
            gn: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(h))
        except ValueError:
            gn = x509.DNSName(h)
        if h and gn not in names:
            names.append(gn)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Kakehashi relayd (self-signed)")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    # Certificate gone first: a crash below leaves no certificate paired with the
    # wrong key, and the next start simply makes the pair again.
    cert_path.unlink(missing_ok=True)
    _write_atomic(key_path, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    log.warning("made a self-signed TLS certificate %s (自己署名証明書を作成しました; "
                "for trying relayd out only)", cert_path)
    return cert_path, key_path


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def client_context(cafile: Path | str) -> ssl.SSLContext:
    """A client context trusting ``cafile`` (tests, the e2e harness, relayctl)."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
