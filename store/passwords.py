"""Password hashing with scrypt (``cryptography``): pure CPU, no SQL, no trio.

Each account has its own 16-byte salt and the parameters used are stored with the
hash, so the cost can be raised later without invalidating old hashes.  The facade
runs these in a worker thread, never on the event loop or the writer thread.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

SALT_BYTES = 16
KEY_LEN = 32
# n=2**15, r=8: 32 MiB and about 0.1 s per hash (OWASP's scrypt minimum is 2**17 at
# r=8/p=1 for interactive use on servers with more memory; configurable in [store]).
DEFAULT_N = 2 ** 15
R = 8
P = 1


@dataclass(frozen=True, slots=True)
class PasswordHash:
    hash: bytes
    salt: bytes
    params: str  # JSON {"alg": "scrypt", "n", "r", "p"}


def hash_password(password: str, n: int = DEFAULT_N) -> PasswordHash:
    salt = secrets.token_bytes(SALT_BYTES)
    derived = Scrypt(salt=salt, length=KEY_LEN, n=n, r=R, p=P).derive(password.encode("utf-8"))
    return PasswordHash(derived, salt,
                        json.dumps({"alg": "scrypt", "n": n, "r": R, "p": P}, sort_keys=True))


def verify_password(password: str, stored: PasswordHash | None, n: int = DEFAULT_N) -> bool:
    """True if ``password`` matches.  With ``stored=None`` (unknown login, or an account
    without a password) one scrypt is still computed, so the answer takes as long."""
    if stored is None:
        Scrypt(salt=b"\0" * SALT_BYTES, length=KEY_LEN, n=n, r=R, p=P).derive(
            password.encode("utf-8"))
        return False
    params = json.loads(stored.params)
    kdf = Scrypt(salt=stored.salt, length=len(stored.hash), n=int(params["n"]),
                 r=int(params["r"]), p=int(params["p"]))
    try:
        kdf.verify(password.encode("utf-8"), stored.hash)
    except InvalidKey:
        return False
    return True
