"""The entries of an import file, one at a time, whatever holds them: a ChatGPT .zip
(one conversations.json, or conversations-000.json, -001.json, ... beside
export_manifest.json), a bare JSON array or part of one, or a single conversation.

Nothing here holds more than one entry: zip members are read as streams and JSON
arrays are parsed incrementally, so memory is bounded by the largest conversation."""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import ijson  # type: ignore[import-untyped]  # ijson ships no type hints

from chattree.errors import InvalidInput

ZIP_MAGIC = b"PK\x03\x04"
PART = re.compile(r"(?:^|/)conversations(?:-(\d+))?\.json$")


@dataclass(frozen=True, slots=True)
class Entry:
    index: int  # across the parts of a split export
    value: object


class BrokenFile(Exception):
    """The file stops being valid JSON; the entries before that point were read."""


def entries(file: IO[bytes]) -> Iterator[Entry]:
    """Each entry of `file`, which must be seekable (an upload is spooled to disk)."""
    head = file.read(4)
    file.seek(0)
    if head == ZIP_MAGIC:
        yield from zip_entries(file)
    else:
        yield from json_entries(file, start=0)


def zip_entries(file: IO[bytes]) -> Iterator[Entry]:
    try:
        archive = zipfile.ZipFile(file)
    except zipfile.BadZipFile as exc:
        raise InvalidInput(f"file is not a readable zip: {exc}", argument="file") from None
    with archive:
        parts = sorted(
            (part_number(match), info.filename)
            for info in archive.infolist()
            if (match := PART.search(info.filename)) is not None and not info.is_dir()
        )
        if not parts:
            raise InvalidInput(
                "the zip holds no conversations.json nor conversations-NNN.json",
                argument="file",
            )
        index = 0
        for _, name in parts:
            try:
                with archive.open(name) as member:
                    for entry in json_entries(member, start=index):
                        index = entry.index + 1
                        yield entry
            except InvalidInput as exc:
                raise InvalidInput(f"{name} in the zip: {exc.message}", argument="file") from None
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise BrokenFile(
                    f"{name} in the zip is damaged after entry {index - 1}: {exc}"
                ) from None


def part_number(match: re.Match[str]) -> int:
    number = match.group(1)
    return -1 if number is None else int(number)


def json_entries(stream: IO[bytes], *, start: int) -> Iterator[Entry]:
    first = first_byte(stream)
    if first not in (b"[", b"{"):
        raise InvalidInput(
            "file is neither a zip nor JSON (an array of conversations or one conversation)",
            argument="file",
        )
    prefix = "item" if first == b"[" else ""
    index = start
    items = ijson.items(Prefixed(first, stream), prefix, use_float=True)
    try:
        for value in items:
            yield Entry(index, value)
            index += 1
    except ijson.JSONError as exc:
        raise BrokenFile(f"the JSON breaks after entry {index - 1}: {exc}") from None
    except UnicodeDecodeError:
        raise BrokenFile(f"the file is not UTF-8 after entry {index - 1}") from None


def first_byte(stream: IO[bytes]) -> bytes:
    """The first byte that is not white space (or a UTF-8 byte order mark)."""
    while True:
        byte = stream.read(1)
        if byte not in (b" ", b"\t", b"\r", b"\n", b"\xef", b"\xbb", b"\xbf"):
            return byte


class Prefixed:
    """`stream` with `head` put back in front: zip members cannot seek back."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self.head = head
        self.stream = stream

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""  # ijson asks for nothing to learn whether the stream gives bytes
        head, self.head = self.head, b""
        if size < 0:
            return head + self.stream.read()
        return head + self.stream.read(size - len(head))


def as_object(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None
