"""A real OpenLDAP server (Debian's slapd) for the directory sign-in tests.

``Slapd(users).start()`` writes a throw-away slapd.conf (mdb database, the standard
schemas plus AD's userAccountControl as an auxiliary class), a CA and a server
certificate for 127.0.0.1 made with ``cryptography`` (so relayd's real path, StartTLS
with a verified certificate, runs), loads the users with slapadd ({SSHA} passwords
made here), and starts slapd in the foreground on a free port of 127.0.0.1.  Simple
binds are refused without TLS (``security simple_bind=128``): a client that skipped
StartTLS could not sign anyone in.  ``stop()`` ends it (and ``start()`` again serves
the same database); the context manager stops it and removes its directory.

As root, slapd drops to the ``openldap`` user the package made (its files are handed to
it; the directory is made under /tmp so that user can reach it).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SLAPD = Path("/usr/sbin/slapd")
SLAPADD = Path("/usr/sbin/slapadd")
SUFFIX = "dc=example,dc=lg,dc=jp"
PEOPLE = f"ou=people,{SUFFIX}"
SERVICE_DN = f"cn=kakehashi,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "service account secret 1"
START_TIMEOUT_S = 30.0

SCHEMA_EXTRA = """\
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
    EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.32473.1.1 NAME 'kkADAccount' AUXILIARY
    MAY ( userAccountControl ) )
"""


def available() -> bool:
    return SLAPD.exists() and SLAPADD.exists()


def ssha(password: str) -> str:
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode("utf-8") + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


@dataclass(frozen=True, slots=True)
class User:
    uid: str
    password: str
    display_name: str = ""
    department: str = ""
    mail: str = ""
    uac: int | None = None  # AD userAccountControl (514: disabled)

    def ldif(self) -> str:
        b64 = lambda s: base64.b64encode(s.encode("utf-8")).decode("ascii")  # noqa: E731
        lines = [f"dn: uid={self.uid},{PEOPLE}", "objectClass: inetOrgPerson",
                 f"uid: {self.uid}", f"cn: {self.uid}", f"sn: {self.uid}",
                 f"userPassword: {ssha(self.password)}"]
        if self.display_name:
            lines.append(f"displayName:: {b64(self.display_name)}")
        if self.department:
            lines.append(f"departmentNumber:: {b64(self.department)}")
        if self.mail:
            lines.append(f"mail: {self.mail}")
        if self.uac is not None:
            lines += ["objectClass: kkADAccount", f"userAccountControl: {self.uac}"]
        return "\n".join(lines) + "\n"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_ca(name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def make_server_cert(ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
                     names: tuple[str, ...] = ("localhost", "127.0.0.1"),
                     ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    alt: list[x509.GeneralName] = []
    for n in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            alt.append(x509.DNSName(n))
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert, key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Slapd:
    users: list[User]
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="kk-slapd-")))
    port: int = field(default_factory=free_port)
    # The names the server's certificate is for (a wrong one: the host name check).
    cert_names: tuple[str, ...] = ("localhost", "127.0.0.1")
    # "ldaps": TLS from the first byte instead of StartTLS on ldap://.
    scheme: str = "ldap"
    proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.dir / "ca.pem"

    def _write(self) -> None:
        d = self.dir
        ca, ca_key = make_ca("Kakehashi test directory CA")
        cert, key = make_server_cert(ca, ca_key, self.cert_names)
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        (d / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (d / "server.key").write_bytes(_pem_key(key))
        (d / "db").mkdir()
        (d / "schema-extra.schema").write_text(SCHEMA_EXTRA, encoding="utf-8")
        (d / "slapd.conf").write_text(f"""\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include {d}/schema-extra.schema
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile {d}/ca.pem
TLSCertificateFile {d}/server.pem
TLSCertificateKeyFile {d}/server.key
security simple_bind=128
database mdb
maxsize 16777216
suffix "{SUFFIX}"
rootdn "cn=manager,{SUFFIX}"
rootpw {ssha(os.urandom(16).hex())}
directory {d}/db
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
""", encoding="utf-8")
        ldif = [f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\n"
                "dc: example\no: example\n",
                f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
                f"dn: ou=services,{SUFFIX}\nobjectClass: organizationalUnit\nou: services\n",
                f"dn: {SERVICE_DN}\nobjectClass: person\ncn: kakehashi\nsn: relay\n"
                f"userPassword: {ssha(SERVICE_PASSWORD)}\n"]
        ldif += [u.ldif() for u in self.users]
        (d / "data.ldif").write_text("\n".join(ldif), encoding="utf-8")
        subprocess.run([str(SLAPADD), "-f", str(d / "slapd.conf"), "-l", str(d / "data.ldif")],
                       check=True, capture_output=True)
        if self._drop_to_openldap():
            ldap = pwd.getpwnam("openldap")
            for p in [d, *d.rglob("*")]:
                os.chown(p, ldap.pw_uid, ldap.pw_gid)

    @staticmethod
    def _drop_to_openldap() -> bool:
        if os.getuid() != 0:
            return False
        try:
            pwd.getpwnam("openldap")
            return True
        except KeyError:  # the package's user is missing: slapd runs as we do
            return False

    def start(self) -> "Slapd":
        if not (self.dir / "slapd.conf").exists():
            self._write()
        cmd = [str(SLAPD), "-f", str(self.dir / "slapd.conf"), "-h", f"{self.uri}/", "-d", "0"]
        if self._drop_to_openldap():
            cmd += ["-u", "openldap", "-g", "openldap"]
        log = open(self.dir / "slapd.log", "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"slapd exited {self.proc.returncode}: {self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"slapd did not listen within {START_TIMEOUT_S} s: {self.log()}")

    def log(self) -> str:
        try:
            return (self.dir / "slapd.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> "Slapd":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
