"""The `[ldap]` section: staff sign in with their office directory password (LDAP or
Active Directory) instead of a password kept by relayd (``relay.ldapauth``).

Two ways to find the person, as directories differ:

* search then bind (OpenLDAP, AD alike): relayd binds as ``bind_dn`` (its password read
  from ``bind_password_file``; both empty: an anonymous search), looks the login up
  under ``base_dn`` with ``user_filter`` (the login escaped, RFC 4515), then binds as
  the entry found with the password typed;
* direct bind (AD): ``bind_template`` makes the bind name from the login
  (``"{login}@example.lg.jp"``, a UPN); the entry is then read as that user.

The password always travels inside TLS: ldaps://, or ldap:// with StartTLS.  Plain
ldap:// without StartTLS is refused unless ``insecure_plain_for_tests`` says it is a
test directory.  Admin accounts always keep their local password, so an operator is
never locked out while the directory is down.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DIRECTORY_KINDS = ("staff", "external")


@dataclass(frozen=True, slots=True)
class LdapConfig:
    enabled: bool = False
    # Tried in order until one answers: "ldaps://dc1.example.lg.jp" or
    # "ldap://dc1.example.lg.jp" (StartTLS is then always used).
    servers: tuple[str, ...] = ()
    # CA certificate(s) (PEM) the directory's certificate must chain to; empty: the
    # system's trusted CAs.  The certificate must also name the server's host.
    ca_file: str = ""
    # ldap:// without StartTLS: passwords in the clear.  For a test directory only.
    insecure_plain_for_tests: bool = False
    # The service account for the search (empty: anonymous search), and the file
    # holding its password (one line; the file, not this config, is the secret).
    bind_dn: str = ""
    bind_password_file: str = ""
    # Direct bind instead of search-then-bind: "{login}@example.lg.jp" (AD UPN) or
    # "uid={login},ou=people,dc=example,dc=lg,dc=jp".
    bind_template: str = ""
    base_dn: str = ""
    # "{login}" is replaced by the login, escaped (RFC 4515), so "*" or ")" in it are
    # plain characters, never filter syntax.
    user_filter: str = "(&(objectClass=person)(uid={login}))"
    # Attributes read from the entry; empty: not read.
    name_attribute: str = "displayName"
    kana_attribute: str = ""
    department_attribute: str = ""
    mail_attribute: str = "mail"
    # Account kinds that sign in through the directory (admin never does).
    kinds: tuple[str, ...] = ("staff",)
    # true: a directory user with no account yet gets one (staff) at the first sign-in
    # (just in time); false: only accounts that exist, matched by login.
    create_accounts: bool = False
    # The department (path "総務部/総務課") of such a new account when the directory's
    # department_attribute names none that exists here; empty: no department.
    default_department: str = ""
    connect_timeout_s: float = field(default=5.0, metadata={"min": 0.1, "max": 120})
    # Each answer the directory owes; a slower directory is "unavailable" (503).
    timeout_s: float = field(default=10.0, metadata={"min": 0.1, "max": 300})
    # Directory checks running at once (threads); more wait for a free one.
    max_concurrent: int = field(default=4, metadata={"min": 1, "max": 256})

    def __post_init__(self) -> None:
        for kind in self.kinds:
            if kind not in DIRECTORY_KINDS:
                raise ValueError("kinds: only staff and external accounts sign in through "
                                 "the directory; admin accounts keep their local password")
        if not self.enabled:
            return
        if not self.servers:
            raise ValueError("servers: name at least one ldaps:// or ldap:// server")
        for uri in self.servers:
            scheme, sep, rest = uri.partition("://")
            if not sep or scheme.lower() not in ("ldap", "ldaps") or not rest.strip("/"):
                raise ValueError(f"servers: {uri!r} is not an ldap:// or ldaps:// URI")
        if not self.base_dn:
            raise ValueError("base_dn: the subtree the users are searched in is required")
        if "{login}" not in self.user_filter or not (
                self.user_filter.startswith("(") and self.user_filter.endswith(")")):
            raise ValueError("user_filter: a filter in parentheses with {login} in it")
        if self.bind_template and "{login}" not in self.bind_template:
            raise ValueError("bind_template: must contain {login}")
        if bool(self.bind_dn) != bool(self.bind_password_file) and not self.bind_template:
            raise ValueError("bind_password_file: bind_dn and bind_password_file go together")
