"""Import memory is bounded by the largest conversation, not the file (DESIGN.md,
"Import and export"), measured.

A split ChatGPT export (.zip with conversations-NNN.json parts) of about 50 MB and one
of about 1 MB, made of the same kind of conversations, are each imported by a fresh
child process into an empty database. Printed: each file's size, what was stored, the
child's peak resident memory, and the ratio 50 MB / 1 MB: near 1 means memory does not
grow with the file. The stored counts are checked against what was generated.

Run from the project root: .venv/bin/python -m bench.import_memory [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench import scratch_database
from chattree.db.engine import create_database
from chattree.db.migrate import upgrade
from chattree.db.models import Message, User
from chattree.services.portability import Importer
from chattree.settings import Settings

PART_BYTES = 10_000_000  # ChatGPT splits its export into parts of about this size
NODES = 40  # per conversation, with branches; about 50 KB of JSON each
T0 = 1_700_000_000.0
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "seven",
    "wizards",
    "quietly",
    "box",
]


def conversation(number: int, rng: random.Random) -> dict[str, Any]:
    mapping: dict[str, dict[str, Any]] = {
        "top": {"id": "top", "message": None, "parent": None, "children": []}
    }
    keys = ["top"]
    for i in range(NODES):
        # Mostly a chain, sometimes a sibling of an earlier node: branches at any depth.
        parent = keys[-1] if rng.random() < 0.8 else rng.choice(keys)
        role = "assistant" if mapping[parent]["message"] and i % 2 else "user"
        key = f"c{number}-n{i}"
        mapping[key] = {
            "id": key,
            "parent": parent,
            "children": [],
            "message": {
                "id": key,
                "author": {"role": role, "name": None, "metadata": {}},
                "create_time": T0 + number * 100 + i,
                "content": {
                    "content_type": "text",
                    "parts": [" ".join(rng.choice(WORDS) for _ in range(170))],
                },
                "metadata": {"model_slug": "gpt-4o"} if role == "assistant" else {},
                "recipient": "all",
            },
        }
        mapping[parent]["children"].append(key)
        keys.append(key)
    return {
        "title": f"Conversation {number}",
        "create_time": T0 + number * 100,
        "update_time": T0 + number * 100 + NODES,
        "mapping": mapping,
        "current_node": keys[-1],
        "id": f"conv-{number}",
        "default_model_slug": "gpt-4o",
    }


def write_export(path: Path, target_bytes: int) -> int:
    """Writes a split export of about `target_bytes`, a conversation at a time; returns
    the number of conversations."""
    rng = random.Random(7)
    written = number = part = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        while written < target_bytes:
            with archive.open(f"conversations-{part:03d}.json", "w") as member:
                member.write(b"[")
                size = 0
                while size < PART_BYTES and written + size < target_bytes:
                    text = json.dumps(conversation(number, rng)).encode()
                    member.write((b"," if size else b"") + text)
                    size += len(text) + 1
                    number += 1
                member.write(b"]")
            written += size
            part += 1
        archive.writestr("export_manifest.json", json.dumps({"parts": part}))
    return number


async def child(path: Path, db_url: str) -> None:
    """Imports `path` for a new user and prints what it stored and its peak memory."""
    db = create_database(Settings(db_url=db_url))
    try:
        await upgrade(db)
        async with db.transaction() as session:
            user = User(username="bench", password="plain$unused")
            session.add(user)
        with path.open("rb") as file:
            summary = await Importer(db=db).import_file(user_id=user.id, file=file)
        async with db.reader() as session:
            stored = await session.scalar(select(func.count()).select_from(Message))
    finally:
        await db.dispose()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "conversations": len(summary.conversations),
                "messages": stored,
                "skipped": len(summary.skipped),
                "peak_kb": peak_kb,
            }
        )
    )


async def measure(kind: str, path: Path) -> dict[str, Any]:
    async with scratch_database(kind) as db_url:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bench.import_memory", "--child", str(path), db_url],
            capture_output=True,
            text=True,
            check=True,
        )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def main(kind: str) -> None:
    print(f"Import memory: a 50 MB split ChatGPT export against a 1 MB one — {kind}")
    with tempfile.TemporaryDirectory(prefix="chattree-bench-") as directory:
        results = {}
        for label, target in (("1 MB", 1_000_000), ("50 MB", 50_000_000)):
            path = Path(directory) / f"export-{label.replace(' ', '')}.zip"
            generated = write_export(path, target)
            result = await measure(kind, path)
            if result["conversations"] != generated or result["skipped"]:
                raise SystemExit(f"{label}: imported {result}, generated {generated}")
            if result["messages"] != generated * (NODES + 1):
                raise SystemExit(f"{label}: {result['messages']} messages stored")
            results[label] = result
            print(
                f"{label:>6}: {target / 1e6:.0f} MB of JSON ({path.stat().st_size / 1e6:.1f} MB "
                f"zipped), {generated} conversations, {result['messages']} messages, "
                f"peak RSS {result['peak_kb'] / 1024:.1f} MiB"
            )
    ratio = results["50 MB"]["peak_kb"] / results["1 MB"]["peak_kb"]
    print(f"peak RSS ratio 50 MB / 1 MB: {ratio:.2f}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        asyncio.run(child(Path(sys.argv[2]), sys.argv[3]))
    else:
        parser = argparse.ArgumentParser(description=__doc__)
        parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
        asyncio.run(main(parser.parse_args().db))
