"""Accounts: registration, login, profile, password changes and deletion."""

from __future__ import annotations

import re

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from chattree.db.engine import Database
from chattree.db.models import User
from chattree.errors import Conflict, InvalidInput, Unauthenticated
from chattree.services.passwords import hash_password, verify_password
from chattree.services.ratelimit import Limiter
from chattree.services.text import check_text, storable
from chattree.services.tokens import Claims, TokenSigner

USERNAME = re.compile(r"[a-z0-9_]{3,32}")
MIN_PASSWORD, MAX_PASSWORD = 8, 1024
MAX_PERSONALITY = 4000
WRONG_LOGIN = "wrong username or password"


class Accounts:
    def __init__(
        self,
        *,
        db: Database,
        signer: TokenSigner,
        use_hash: bool,
        login_limiter: Limiter,
        register_limiter: Limiter,
    ) -> None:
        self.db = db
        self.signer = signer
        self.use_hash = use_hash
        self.login_limiter = login_limiter
        # Each registration costs an argon2 hash: unbounded, it is a cheap way to load
        # the server.
        self.register_limiter = register_limiter

    def token_for(self, user: User) -> str:
        return self.signer.issue(user_id=user.id, version=user.token_version)

    async def register(self, *, username: str, password: str, client: str) -> User:
        check_username(username)
        check_password(password, argument="password")
        await self.register_limiter.hit(f"register:addr:{client}")
        return await create_user(
            db=self.db, username=username, password=password, use_hash=self.use_hash
        )

    async def login(self, *, username: str, password: str, client: str) -> User:
        await self.login_limiter.hit(f"login:user:{username[:64]}", f"login:addr:{client}")
        user = None
        # A name that breaks the rules names nobody (and may not even be encodable).
        if USERNAME.fullmatch(username):
            async with self.db.reader() as session:
                user = await session.scalar(select(User).where(User.username == username))
        ok = await password_matches(password, user.password if user else None)
        if user is None or not ok:
            raise Unauthenticated(WRONG_LOGIN)
        return user

    async def authenticate(self, token: str) -> User:
        """The user a token stands for, if it is valid, unexpired and not revoked."""
        claims: Claims = self.signer.verify(token)
        async with self.db.reader() as session:
            user = await session.get(User, claims.user_id)
        if user is None:
            raise Unauthenticated("the account of this token no longer exists")
        if user.token_version != claims.version:
            raise Unauthenticated("the token was revoked; log in again")
        return user

    async def update(self, *, user_id: int, username: str | None, personality: str | None) -> User:
        if username is not None:
            check_username(username)
        if personality is not None:
            check_text(personality, argument="personality", max_length=MAX_PERSONALITY)
        try:
            async with self.db.transaction() as session:
                user = await session.get(User, user_id)
                if user is None:
                    raise Unauthenticated("the account of this token no longer exists")
                if username is not None:
                    user.username = username
                if personality is not None:
                    # An empty string clears it.
                    user.personality = personality or None
        except IntegrityError:
            raise Conflict(f"the username {username!r} is taken") from None
        return user

    async def change_password(self, *, user_id: int, current: str, new: str) -> User:
        check_password(new, argument="newPassword")
        # Hashing happens outside the write transaction (it takes ~100 ms, and on SQLite
        # the write lock is global); the update then applies only to what was checked.
        user = await self._current(user_id)
        if not await password_matches(current, user.password):
            raise InvalidInput("currentPassword is wrong", argument="currentPassword")
        hashed = await hash_password(new, use_hash=self.use_hash)
        async with self.db.transaction() as session:
            changed = await session.execute(
                update(User)
                .where(User.id == user_id, User.password == user.password)
                .values(password=hashed, token_version=User.token_version + 1)
            )
            if changed.rowcount == 0:  # type: ignore[attr-defined]
                raise Conflict("the password changed meanwhile; try again")
        return await self._current(user_id)

    async def delete(self, *, user_id: int, password: str) -> None:
        user = await self._current(user_id)
        if not await password_matches(password, user.password):
            raise InvalidInput("password is wrong", argument="password")
        async with self.db.transaction() as session:
            # Conversations and messages go with it (ON DELETE CASCADE).
            deleted = await session.execute(
                delete(User).where(User.id == user_id, User.password == user.password)
            )
            if deleted.rowcount == 0:  # type: ignore[attr-defined]
                raise Conflict("the password changed meanwhile; try again")

    async def _current(self, user_id: int) -> User:
        async with self.db.reader() as session:
            user = await session.get(User, user_id)
        if user is None:
            raise Unauthenticated("the account of this token no longer exists")
        return user


def check_username(username: str) -> None:
    if not USERNAME.fullmatch(username):
        raise InvalidInput(
            "username must be 3-32 characters of a-z, 0-9 and _", argument="username"
        )


def check_password(password: str, *, argument: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(
            f"{argument} must be {MIN_PASSWORD} to {MAX_PASSWORD} characters", argument=argument
        )
    check_text(password, argument=argument)


async def password_matches(password: str, stored: str | None) -> bool:
    """Whether `password` is the one `stored`. A password no account can have (too long,
    or not storable) is compared with nothing, at the cost of one hash all the same:
    cutting it down instead would let extra characters after the real password pass."""
    if len(password) > MAX_PASSWORD or not storable(password):
        return await verify_password("", None)
    return await verify_password(password, stored)


async def create_user(*, db: Database, username: str, password: str, use_hash: bool) -> User:
    """A new account. Registration calls it behind its rate limit; operators call it
    through `chattree create-user`."""
    check_username(username)
    check_password(password, argument="password")
    user = User(
        username=username,
        password=await hash_password(password, use_hash=use_hash),
        token_version=0,
    )
    try:
        async with db.transaction() as session:
            session.add(user)
    except IntegrityError:
        raise Conflict(f"the username {username!r} is taken") from None
    return user
