"""`chattree create-user`: an account made by an operator, with no rate limit."""

from __future__ import annotations

import asyncio
import getpass
import sys

from chattree.db.engine import create_database
from chattree.db.migrate import upgrade
from chattree.errors import ChatTreeError
from chattree.services.accounts import create_user as add_account
from chattree.settings import Settings


class Mismatch(Exception):
    pass


def create_user(settings: Settings, username: str) -> int:
    try:
        password = read_password()
    except Mismatch:
        print("chattree create-user: the passwords differ; nothing was changed", file=sys.stderr)
        return 1
    except (EOFError, KeyboardInterrupt):
        print("\nchattree create-user: no password given; nothing was changed", file=sys.stderr)
        return 1
    try:
        user_id = asyncio.run(store(settings, username, password))
    except ChatTreeError as exc:
        print(f"chattree create-user: {exc.message}", file=sys.stderr)
        return 1
    print(f"created user {username!r} (id {user_id})")
    return 0


def read_password() -> str:
    """Asked twice on a terminal, without echo; else the first line of standard input."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line.removesuffix("\n").removesuffix("\r")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password (again): ") != password:
        raise Mismatch
    return password


async def store(settings: Settings, username: str, password: str) -> int:
    db = create_database(settings)
    try:
        await upgrade(db)
        user = await add_account(
            db=db, username=username, password=password, use_hash=settings.use_hash
        )
        return user.id
    finally:
        await db.dispose()
