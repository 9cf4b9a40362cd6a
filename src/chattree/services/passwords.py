"""Password storage. Every stored value names its scheme ("argon2$..." or "plain$..."),
so turning USE_HASH on or off later never locks anyone out."""

from __future__ import annotations

import asyncio
import functools
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ARGON2 = "argon2"
PLAIN = "plain"

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@functools.cache
def _dummy_hash() -> str:
    """Verified against when there is no argon2 hash to check (unknown username, plain-text
    account), so every failure costs the same time. Computed on first use, not at import:
    hashing takes 64 MiB."""
    return _hasher.hash("not a real password")


async def hash_password(password: str, *, use_hash: bool) -> str:
    if not use_hash:
        return f"{PLAIN}${password}"
    hashed = await asyncio.to_thread(_hasher.hash, password)
    return f"{ARGON2}${hashed}"


async def verify_password(password: str, stored: str | None) -> bool:
    """True when `password` matches; `stored=None` (no such user) costs the same time."""
    if not stored:
        await asyncio.to_thread(_verify_dummy, password)
        return False
    scheme, _, data = stored.partition("$")
    if scheme == PLAIN:
        # Still pay for one hash, so plain-text accounts do not answer faster.
        await asyncio.to_thread(_verify_dummy, password)
        return hmac.compare_digest(password.encode(), data.encode())
    return await asyncio.to_thread(_verify_argon2, password, data)


def _verify_dummy(password: str) -> None:
    _verify_argon2(password, _dummy_hash())


def _verify_argon2(password: str, hashed: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
