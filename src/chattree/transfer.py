"""`chattree import` and `chattree export`: the same import and export as the API, for
one user, straight against the database (no upload size limit)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

from chattree.db import portability
from chattree.db.engine import Database, create_database
from chattree.db.migrate import upgrade
from chattree.services.portability import Exporter, ExportFormat, Importer
from chattree.settings import Settings


class UnknownUser(Exception):
    pass


async def user_id(db: Database, username: str) -> int:
    async with db.reader() as session:
        found = await portability.user_id_named(session, username=username)
    if found is None:
        raise UnknownUser(f"no user named {username!r}")
    return found


async def run_import(settings: Settings, *, username: str, path: Path) -> int:
    db = create_database(settings)
    try:
        await upgrade(db)
        owner = await user_id(db, username)
        with path.open("rb") as file:
            bar = ProgressBar(os.fstat(file.fileno()).st_size, sys.stderr)
            summary = await Importer(db=db).import_file(
                user_id=owner, file=file, progress=bar.update
            )
            bar.done()
    finally:
        await db.dispose()
    print(
        f"imported {len(summary.conversations)} conversations, {summary.message_count} "
        f"messages ({summary.dropped} tool, hidden or empty nodes left out)"
    )
    for problem in summary.skipped:
        name = f" ({problem.source})" if problem.source else ""
        print(f"skipped entry {problem.index}{name}: {problem.reason}", file=sys.stderr)
    return 0


async def run_export(
    settings: Settings, *, username: str, format: ExportFormat, output: IO[bytes]
) -> int:
    db = create_database(settings)
    try:
        await upgrade(db)
        owner = await user_id(db, username)
        async for chunk in Exporter(db=db).all(user_id=owner, format=format):
            output.write(chunk)
        output.flush()
    finally:
        await db.dispose()
    return 0


class ProgressBar:
    """A one-line bar on a terminal; silent when the output is a file or a pipe."""

    WIDTH = 30

    def __init__(self, total: int, stream: IO[str]) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.shown = stream.isatty()
        self.count = 0

    def update(self, position: int) -> None:
        self.count += 1
        if not self.shown:
            return
        share = min(position / self.total, 1.0)
        filled = int(share * self.WIDTH)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {share:4.0%}  {self.count} entries"
        )
        self.stream.flush()

    def done(self) -> None:
        if self.shown:
            self.stream.write("\n")
