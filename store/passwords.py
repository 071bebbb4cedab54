"""Password hashing: argon2id (RFC 9106) through argon2-cffi; pure CPU, no SQL, no trio.

Each account has its own 16-byte salt and the parameters used are stored with the
hash, so the cost can be raised later without invalidating old hashes: a hash made
with less (or with the scrypt of earlier versions) is verified with what it was made
with and replaced at the next successful login (``needs_rehash``).  The facade runs
these in a worker thread, never on the event loop or the writer thread.

Why argon2id: OWASP's minimum for scrypt (N=2^17, r=8) costs about 0.4 s per login on
the 2-core appliance this runs on; argon2id at RFC 9106's second recommended setting
(64 MiB, t=3, p=4), well above OWASP's argon2id minimum (19 MiB, t=2), costs about
0.16 s (README "Performance").
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

SALT_BYTES = 16
KEY_LEN = 32
PARALLELISM = 4  # lanes (RFC 9106); memory must be at least 8 KiB per lane


@dataclass(frozen=True, slots=True)
class Cost:
    memory_kib: int = 64 * 1024
    time_cost: int = 3


DEFAULT_COST = Cost()


@dataclass(frozen=True, slots=True)
class PasswordHash:
    hash: bytes
    salt: bytes
    params: str  # JSON {"alg": "argon2id", "m", "t", "p"} (or {"alg": "scrypt", "n", "r", "p"})


def _argon2(password: str, salt: bytes, m: int, t: int, p: int, length: int) -> bytes:
    return hash_secret_raw(password.encode("utf-8"), salt, time_cost=t, memory_cost=m,
                           parallelism=p, hash_len=length, type=Type.ID)


def hash_password(password: str, cost: Cost = DEFAULT_COST) -> PasswordHash:
    salt = secrets.token_bytes(SALT_BYTES)
    derived = _argon2(password, salt, cost.memory_kib, cost.time_cost, PARALLELISM, KEY_LEN)
    params = {"alg": "argon2id", "m": cost.memory_kib, "t": cost.time_cost, "p": PARALLELISM}
    return PasswordHash(derived, salt, json.dumps(params, sort_keys=True))


def verify_password(password: str, stored: PasswordHash | None,
                    cost: Cost = DEFAULT_COST) -> bool:
    """True if ``password`` matches.  With ``stored=None`` (unknown login, or an account
    without a password) one hash at today's cost is still computed, so the answer takes
    as long."""
    if stored is None:
        _argon2(password, b"\0" * SALT_BYTES, cost.memory_kib, cost.time_cost, PARALLELISM,
                KEY_LEN)
        return False
    params = json.loads(stored.params)
    if params.get("alg") == "scrypt":
        kdf = Scrypt(salt=stored.salt, length=len(stored.hash), n=int(params["n"]),
                     r=int(params["r"]), p=int(params["p"]))
        try:
            kdf.verify(password.encode("utf-8"), stored.hash)
        except InvalidKey:
            return False
        return True
    derived = _argon2(password, stored.salt, int(params["m"]), int(params["t"]),
                      int(params["p"]), len(stored.hash))
    return hmac.compare_digest(derived, stored.hash)


def needs_rehash(stored: PasswordHash, cost: Cost = DEFAULT_COST) -> bool:
    """Whether a hash was made with less than today's cost (or another algorithm)."""
    params = json.loads(stored.params)
    return (params.get("alg") != "argon2id" or int(params["m"]) < cost.memory_kib
            or int(params["t"]) < cost.time_cost)
