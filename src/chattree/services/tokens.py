"""JWTs: signed with the server secret, carrying the user id and the token version."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from chattree.errors import Unauthenticated

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: int
    version: int


@dataclass(frozen=True, slots=True)
class TokenSigner:
    secret: str
    ttl_seconds: int

    def issue(self, *, user_id: int, version: int) -> str:
        now = int(time.time())
        claims = {"sub": str(user_id), "ver": version, "iat": now, "exp": now + self.ttl_seconds}
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Claims:
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "exp", "iat", "ver"]},
            )
            return Claims(user_id=int(claims["sub"]), version=int(claims["ver"]))
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired; log in again") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise Unauthenticated("the token is not valid") from None


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value, None when there is none."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return token.strip()
