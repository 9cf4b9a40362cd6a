"""The `chattree` command: serve, demo, migrate, create-user, check, schema, import,
export."""

from __future__ import annotations

import argparse
import asyncio
import sys
import textwrap
from pathlib import Path

from chattree import logs
from chattree.settings import Settings, SettingsError

DESCRIPTION = """\
ChatTree: a GraphQL server for branching LLM conversations.

Every command reads its configuration from environment variables (DB_URL,
MODEL_BASE_URL, MODEL_API_KEY, DEFAULT_MODEL, SIGNATURE, ...; see the README).
"""

EXAMPLES = """\
examples:
  chattree demo                          try it: GraphiQL at http://127.0.0.1:8000/graphql
  MODEL_BASE_URL=http://127.0.0.1:11434/v1 chattree serve
  chattree check                         is everything reachable and migrated?
  chattree create-user --username ada    prompts for the password
"""


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="chattree",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, details: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=f"{summary[0].upper()}{summary[1:]}.\n\n{textwrap.dedent(details)}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    command(
        "serve",
        "run the server on UVICORN_HOST:UVICORN_PORT (127.0.0.1:8000 unless set)",
        """\
        Applies pending migrations, then serves GraphQL over HTTP and websockets at
        /graphql, with GraphiQL for browsers. Replies come from the model server at
        MODEL_BASE_URL; if it does not answer at start-up, one warning says what to set.
        SIGTERM or Ctrl-C lets running replies finish for SHUTDOWN_GRACE seconds.""",
    )
    command(
        "demo",
        "run the server with a built-in demo model, no language model needed",
        """\
        Like `serve`, but replies come from a demo model server that ChatTree starts on
        a loopback port: it streams, reasoning included, at about 30 tokens a second,
        an explanation of where each reply sits in the conversation tree. MODEL_BASE_URL,
        MODEL_API_KEY and DEFAULT_MODEL are ignored. Open /graphql in a browser.""",
    )
    command(
        "migrate",
        "apply pending database migrations and exit",
        """\
        The server applies them at start-up too; run this to migrate ahead of a
        deployment. Safe to run from several machines at once on PostgreSQL.""",
    )
    create_user = command(
        "create-user",
        "add an account, asking for its password",
        """\
        On a terminal, asks for the password twice without echoing it. Otherwise (a
        script, a pipe) reads it from the first line of standard input, e.g.
            printf '%s\\n' "$PASSWORD" | chattree create-user --username ada
        Usernames are 3-32 characters of a-z, 0-9 and _; passwords 8-1024 characters.""",
    )
    create_user.add_argument("--username", required=True, help="the new account's name")
    command(
        "check",
        "check the configuration, the database, its migrations and the model server",
        """\
        Prints one line per check, OK or FAIL, and exits 1 if any failed. Changes
        nothing: it neither migrates nor creates an SQLite file.""",
    )
    command(
        "schema",
        "print the GraphQL schema (SDL) to standard output",
        "schema.graphql in the repository is this command's output.",
    )
    importing = command(
        "import",
        "import a ChatGPT export (.zip or .json) or a ChatTree export",
        """\
        Every conversation of the file, with all of its branches, goes to the user named
        by --user; a progress bar shows on a terminal. Entries that cannot be read are
        listed and skipped, the rest still goes in. No size limit applies here.""",
    )
    importing.add_argument("--user", required=True, help="the username that will own them")
    importing.add_argument("file", type=Path, help="the .zip or .json file")
    exporting = command(
        "export",
        "write a user's conversations as one JSON array to standard output",
        """\
        ChatTree's own format (lossless, docs/export-format.md) by default, or ChatGPT's
        (mapping, current_node), which tools made for ChatGPT exports read.""",
    )
    exporting.add_argument("--user", required=True, help="whose conversations")
    exporting.add_argument("--format", choices=["chattree", "chatgpt"], default="chattree")
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "schema":
        from chattree.api.schema import schema

        print(schema.as_str())
        return 0
    if args.command == "check":
        from chattree.checks import check

        return 0 if asyncio.run(check(None, sys.stdout)) else 1
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"chattree: {exc}", file=sys.stderr)
        return 2
    logs.configure(level=settings.log_level, log_format=settings.log_format)
    if args.command == "migrate":
        from chattree.cli.server import migrate

        asyncio.run(migrate(settings))
        return 0
    if args.command == "create-user":
        from chattree.cli.users import create_user

        return create_user(settings, args.username)
    if args.command in ("import", "export"):
        return transfer(settings, args)
    from chattree.cli.server import demo, serve

    if args.command == "demo":
        demo(settings)
    else:
        serve(settings)
    return 0


def transfer(settings: Settings, args: argparse.Namespace) -> int:
    from chattree import transfer
    from chattree.errors import InvalidInput
    from chattree.services.portability import ExportFormat

    try:
        if args.command == "import":
            return asyncio.run(transfer.run_import(settings, username=args.user, path=args.file))
        return asyncio.run(
            transfer.run_export(
                settings,
                username=args.user,
                format=ExportFormat(args.format.upper()),
                output=sys.stdout.buffer,
            )
        )
    except (transfer.UnknownUser, InvalidInput, OSError) as exc:
        print(f"chattree: {exc}", file=sys.stderr)
        return 1
