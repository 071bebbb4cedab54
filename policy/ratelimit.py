"""Token-bucket arithmetic for login attempts and message sends.  Pure: ``now`` is
passed in (seconds, any monotonic-enough origin), nothing here reads a clock.

A bucket holds up to ``burst`` tokens and gains one every ``refill_s`` seconds; each
attempt takes one.  An empty bucket answers with how long until the next token, which
relay sends as ``Retry-After``.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

# Most keys a Limiter remembers.  Forgetting a key only resets that key's limit, so a
# flood of distinct keys costs bounded memory and at worst lets one key start afresh.
DEFAULT_MAX_KEYS = 100_000
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Rate:
    burst: int  # bucket size: attempts allowed back to back
    refill_s: float  # seconds per regained token

    def __post_init__(self) -> None:
        if self.burst < 1 or self.refill_s <= 0:
            raise ValueError("a rate needs burst >= 1 and refill_s > 0")


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    at: float  # when ``tokens`` was last computed


def level(bucket: Bucket | None, rate: Rate, now: float) -> float:
    """Tokens in the bucket at ``now`` (a new bucket starts full)."""
    if bucket is None:
        return float(rate.burst)
    # A clock that stepped backwards gives no tokens rather than a negative refill.
    elapsed = max(0.0, now - bucket.at)
    return min(float(rate.burst), bucket.tokens + elapsed / rate.refill_s)


def take(bucket: Bucket | None, rate: Rate, now: float) -> tuple[Bucket, float]:
    """Try to take one token: (new bucket, wait).  ``wait`` is 0.0 when the token was
    taken, otherwise the seconds until one will be there (nothing is taken)."""
    tokens = level(bucket, rate, now)
    # The epsilon absorbs float rounding, so a client that waited exactly the
    # Retry-After it was told is let in.
    if tokens >= 1.0 - _EPSILON:
        return Bucket(max(0.0, tokens - 1.0), now), 0.0
    # A refusal leaves the bucket as it was (re-basing it would only add rounding).
    return bucket or Bucket(tokens, now), (1.0 - tokens) * rate.refill_s


def give_back(bucket: Bucket | None, rate: Rate, now: float) -> Bucket:
    """Return one token (e.g. a successful login should not count against the user)."""
    return Bucket(min(float(rate.burst), level(bucket, rate, now) + 1.0), now)


def retry_after_header(wait: float) -> str:
    """``Retry-After`` is whole seconds; round up so a client that obeys it succeeds."""
    return str(max(1, math.ceil(wait)))


def ip_key(peer: str) -> str:
    """The rate-limit key for a client address.  IPv6 clients are keyed by their /64:
    one subscriber usually holds a whole /64, so a per-address limit would be no
    limit at all."""
    try:
        addr = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr.ipv4_mapped or addr) if isinstance(addr, ipaddress.IPv6Address) else str(addr)


class Limiter:
    """Buckets per key (an account login, an IP).  State only, no clock, no I/O."""

    def __init__(self, rate: Rate, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self.rate = rate
        self.max_keys = max_keys
        self._buckets: dict[str, Bucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, now: float) -> float:
        """0.0 if allowed (a token was taken), else the seconds to wait."""
        bucket, wait = take(self._buckets.get(key), self.rate, now)
        self._store(key, bucket, now)
        return wait

    def give_back(self, key: str, now: float) -> None:
        self._store(key, give_back(self._buckets.get(key), self.rate, now), now)

    def _store(self, key: str, bucket: Bucket, now: float) -> None:
        self._buckets.pop(key, None)  # re-insert: dict order is then least recently used first
        self._buckets[key] = bucket
        if len(self._buckets) > self.max_keys:
            self._prune(now)

    def _prune(self, now: float) -> None:
        # Full buckets carry no information: forgetting them changes nothing.
        full = [k for k, b in self._buckets.items() if level(b, self.rate, now) >= self.rate.burst]
        for k in full:
            del self._buckets[k]
        # Still many (a flood of distinct keys): forget the least recently used, down
        # to three quarters so the next prune is far away (amortised O(1) per call).
        excess = len(self._buckets) - self.max_keys * 3 // 4
        for k in list(self._buckets)[:max(0, excess)]:
            del self._buckets[k]
