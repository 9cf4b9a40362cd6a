"""#5: SQL statements per request grow with the depth of the selection, never with the
number of messages. Counted, not timed, so this one runs the app in the suite's own
process (tests/harness.py) where SQLAlchemy's events see every statement. Baseline: the
same selection over a tree a tenth the size."""

from __future__ import annotations

from tests.fake_model import FakeModelServer
from tests.harness import Api, running_server

from bench import SIGNATURE, scratch_database
from bench.report import Result
from bench.rows import add_chain, add_levels, analyze
from bench.stage import MODEL
from bench.suite import Benchmark
from chattree.settings import Settings

NODE = "id role content status depth childCount siblingIndex siblingCount"
CHILDREN = f"""
fragment Node on Message {{ {NODE} }}
query($id: ID!) {{
  conversation(id: $id) {{
    root {{ ...Node children {{ ...Node children {{ ...Node children {{ ...Node
      children {{ ...Node children {{ ...Node }} }} }} }} }} }}
  }}
}}
"""
# conversation, root and five levels of children.
CHILDREN_LEVELS = 7
EVERY_FIELD = """
id conversationId parentId role content reasoning status error model depth createdAt
childCount siblingIndex siblingCount
conversation { id } parent { id } children { id } path { id } descendants { id }
"""
BRANCH = f"query($id: ID!) {{ conversation(id: $id) {{ branch {{ {EVERY_FIELD} }} }} }}"
# conversation, branch, and the fields that reach other messages.
BRANCH_LEVELS = 3


def queries(seen: list[str]) -> int:
    """Statements that read or write rows (not BEGIN, COMMIT or SQLite's pragmas)."""
    reads = ("SELECT", "WITH", "INSERT", "UPDATE", "DELETE")
    return sum(statement.lstrip().upper().startswith(reads) for statement in seen)


async def count(api: Api, token: str, query: str, conversation_id: int) -> int:
    await api.ok(query, {"id": str(conversation_id)}, token=token)  # warm-up
    async with api.counting_statements() as seen:
        await api.ok(query, {"id": str(conversation_id)}, token=token)
    return queries(seen)


async def run(result: Result, db: str, smoke: bool) -> None:
    trees = (20, 100) if smoke else (100, 1000)
    branches = (10, 30) if smoke else (10, 100)
    async with scratch_database(db) as url, FakeModelServer(models=[MODEL]) as fake:
        settings = Settings(
            db_url=url,
            signature=SIGNATURE,
            model_base_url=fake.base_url,
            # No background statements while requests are counted.
            heartbeat_interval=3600,
            stale_after=7200,
            shutdown_grace=0,
        )
        async with running_server(settings) as api:
            token = await api.register("counter")
            user_id = int((await api.ok("{ me { id } }", token=token))["me"]["id"])
            database = api.services.db
            for case, sizes, levels, query in (
                ("children, 5 levels", trees, CHILDREN_LEVELS, CHILDREN),
                ("branch, every field", branches, BRANCH_LEVELS, BRANCH),
            ):
                counts: dict[int, int] = {}
                for size in sizes:
                    if query is CHILDREN:
                        conversation_id = await add_levels(database, user_id, MODEL, size, 5)
                    else:
                        nodes = await add_chain(database, user_id, MODEL, size)
                        conversation_id = await conversation_id_of(api, token, nodes[-1].id)
                    await analyze(database)
                    counts[size] = await count(api, token, query, conversation_id)
                for size, statements in counts.items():
                    result.add(
                        db=db,
                        case=case,
                        messages=size,
                        selection_levels=levels,
                        statements=statements,
                        per_level=statements / levels,
                        ratio=statements / counts[sizes[0]],
                    )


async def conversation_id_of(api: Api, token: str, message_id: int) -> int:
    query = "query($id: ID!) { message(id: $id) { conversationId } }"
    data = await api.ok(query, {"id": str(message_id)}, token=token)
    return int(data["message"]["conversationId"])


STATEMENTS = Benchmark(
    5,
    "statements",
    "SQL statements: children 5 levels deep over 1,000 messages, branch with every field",
    "grows with selection depth only: <= 2 per level",
    run,
)
