"""#2-#4, reads over HTTP against their floor (bench/floor.py) in the same rounds:
#2 a whole branch at 100 / 1,000 / 5,000 / 10,000 messages, #3 its last 50 messages
at depth 100 and 10,000, #4 a whole tree of 5,000 messages (`messages` and
`descendants`) with a branch every 10 levels. On PostgreSQL the tables are analysed
after the load: #1 measures the never-analysed case."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select

from bench.floor import FIELDS, Floor, descendants_statement, raw_driver, sql_of
from bench.report import Result
from bench.rows import Node, add_chain, add_forked, analyze
from bench.server import post_bytes
from bench.stage import MODEL, Stage, stage
from bench.stats import Summary, paired_ratios
from bench.suite import Benchmark, Unavailable
from chattree.db import tree
from chattree.db.models import Message

BRANCH = f"query($id: ID!) {{ conversation(id: $id) {{ branch {{ {FIELDS} }} }} }}"
PAGE = f"query($id: ID!) {{ conversation(id: $id) {{ branch(last: 50) {{ {FIELDS} }} }} }}"
MESSAGES = f"query($id: ID!) {{ conversation(id: $id) {{ messages {{ {FIELDS} }} }} }}"
DESCENDANTS = (
    f"query($id: ID!) {{ conversation(id: $id) {{ root {{ descendants {{ {FIELDS} }} }} }} }}"
)
BRANCH_ARGUMENTS = '{ __type(name: "Conversation") { fields { name args { name } } } }'


def listed(body: bytes, place: str) -> list[dict[str, Any]]:
    document = json.loads(body)
    if document.get("errors"):
        raise AssertionError(f"the read failed: {document['errors']}")
    conversation = document["data"]["conversation"]
    found: list[dict[str, Any]] = (
        conversation["root"]["descendants"] if place == "descendants" else conversation[place]
    )
    return found


async def timed_read(st: Stage, query: str, conversation_id: int) -> tuple[float, bytes]:
    start = time.perf_counter()
    body = await post_bytes(st.api, query, {"id": str(conversation_id)}, token=st.token)
    return time.perf_counter() - start, body


async def against_floor(
    result: Result,
    st: Stage,
    db: str,
    cases: dict[str, tuple[str, int, Floor, list[int]]],
    rounds: int,
) -> None:
    """Each case: (query, conversation id, its floor, the ids the answer must list)."""
    place = {MESSAGES: "messages", DESCENDANTS: "descendants"}
    samples: dict[str, dict[str, list[float]]] = {case: {} for case in cases}
    for round_ in range(rounds + 1):  # round 0 warms up and checks the answers
        for case, (query, conversation_id, reader, ids) in cases.items():
            parts = await reader.measure()
            seconds, body = await timed_read(st, query, conversation_id)
            if round_ == 0:
                where = place.get(query, "branch")
                got = [int(m["id"]) for m in listed(body, where)]
                if got != ids or len(listed(parts.body, where)) != len(ids):
                    raise AssertionError(f"{case}: the API or the floor answered other messages")
                continue
            for part, value in (
                ("api", seconds),
                ("floor", parts.total),
                ("driver", parts.driver),
                ("execute", parts.execute),
                ("encode", parts.encode),
            ):
                samples[case].setdefault(part, []).append(value)
    for case, by_part in samples.items():
        messages = len(cases[case][3])
        api, floor = by_part["api"], by_part["floor"]
        ratio = paired_ratios(api, floor)
        result.add(
            db=db,
            case=case,
            messages=messages,
            api_ms=Summary.of(api).scaled(1000),
            floor_ms=Summary.of(floor).median * 1000,
            api_us_per_msg=Summary.of(api).median * 1e6 / messages,
            floor_us_per_msg=Summary.of(floor).median * 1e6 / messages,
            driver_ms=Summary.of(by_part["driver"]).median * 1000,
            graphql_core_ms=Summary.of(by_part["execute"]).median * 1000,
            orjson_ms=Summary.of(by_part["encode"]).median * 1000,
            ratio_to_floor=ratio.median,
            ratio_p95=ratio.p95,
        )


def rounds_for(messages: int, smoke: bool) -> int:
    return 2 if smoke else max(5, min(20, 10_000 // messages))


async def branch_read(result: Result, db: str, smoke: bool) -> None:
    sizes = (10, 100) if smoke else (100, 1000, 5000, 10000)
    async with stage(db) as st:
        chains = {size: await add_chain(st.db, st.user_id, MODEL, size) for size in sizes}
        await analyze(st.db)
        dialect = st.db.engine.dialect
        async with raw_driver(st.url) as fetch:
            for size, nodes in chains.items():
                sql = sql_of(tree.path_statement(nodes[-1].id), dialect)
                conversation_id = await conversation_of(st, nodes[0])
                floor = Floor(fetch, sql, BRANCH, "branch")
                cases = {f"branch of {size}": (BRANCH, conversation_id, floor, ids(nodes))}
                await against_floor(result, st, db, cases, rounds_for(size, smoke))


async def conversation_of(st: Stage, root: Node) -> int:
    async with st.db.reader() as session:
        found = await session.scalar(select(Message.conversation_id).where(Message.id == root.id))
    assert found is not None
    return found


def ids(nodes: list[Node]) -> list[int]:
    return [node.id for node in nodes]


def compare_databases(result: Result) -> None:
    """PostgreSQL against SQLite, case by case (medians of separate runs)."""
    by_case: dict[str, dict[str, float]] = {}
    for row in result.rows:
        median = row.get("api_ms median")
        if isinstance(median, float):
            by_case.setdefault(str(row["case"]), {})[str(row["db"])] = median
    for case, by_db in by_case.items():
        if {"sqlite", "postgres"} <= by_db.keys():
            result.add(db="postgres / sqlite", case=case, ratio=by_db["postgres"] / by_db["sqlite"])


async def branch_page(result: Result, db: str, smoke: bool) -> None:
    depths = (100, 200) if smoke else (100, 10000)
    async with stage(db) as st:
        body = await st.api.ok(BRANCH_ARGUMENTS, token=st.token)
        fields = {f["name"]: f for f in body["__type"]["fields"]}
        if "last" not in {arg["name"] for arg in fields["branch"]["args"]}:
            raise Unavailable("this server's Conversation.branch takes no `last` argument")
        chains = {depth: await add_chain(st.db, st.user_id, MODEL, depth + 1) for depth in depths}
        await analyze(st.db)
        conversations = {d: await conversation_of(st, nodes[0]) for d, nodes in chains.items()}
        samples: dict[str, list[float]] = {f"depth {d}": [] for d in depths}
        for round_ in range((2 if smoke else 30) + 1):
            for depth in depths if round_ % 2 else reversed(depths):
                seconds, page = await timed_read(st, PAGE, conversations[depth])
                if round_ == 0:
                    got = [int(m["id"]) for m in listed(page, "branch")]
                    if got != ids(chains[depth][-50:]):
                        raise AssertionError(f"branch(last: 50) at depth {depth}: other messages")
                    continue
                samples[f"depth {depth}"].append(seconds)
        result.timings(f"depth {depths[0]}", samples, db=db, read="branch(last: 50)")


async def whole_tree(result: Result, db: str, smoke: bool) -> None:
    size = 200 if smoke else 5000
    async with stage(db) as st:
        conversation_id, nodes = await add_forked(st.db, st.user_id, MODEL, size)
        await analyze(st.db)
        dialect = st.db.engine.dialect
        everything = select(Message).where(Message.conversation_id == conversation_id)
        below_root = sorted(nodes[1:], key=lambda node: (node.depth, node.id))
        async with raw_driver(st.url) as fetch:
            cases = {
                f"messages of {size}": (
                    MESSAGES,
                    conversation_id,
                    Floor(
                        fetch,
                        sql_of(everything.order_by(Message.id), dialect),
                        MESSAGES,
                        "messages",
                    ),
                    ids(nodes),
                ),
                f"descendants of {size - 1}": (
                    DESCENDANTS,
                    conversation_id,
                    Floor(
                        fetch,
                        sql_of(descendants_statement(nodes[0].id), dialect),
                        DESCENDANTS,
                        "descendants",
                    ),
                    ids(below_root),
                ),
            }
            await against_floor(result, st, db, cases, 2 if smoke else 8)


BRANCH_READ = Benchmark(
    2,
    "branch_read",
    "branch read over HTTP (6 fields) against the floor",
    "<= 1.5x the floor at every size on both databases; PostgreSQL <= 1.3x SQLite; "
    "5,000 messages <= 200 ms",
    branch_read,
    finish=compare_databases,
)
BRANCH_PAGE = Benchmark(
    3, "branch_page", "branch(last: 50) at depth 100 vs 10,000", "<= 1.3x", branch_page
)
WHOLE_TREE = Benchmark(
    4,
    "whole_tree",
    "whole tree: messages and descendants of 5,000 messages, a branch every 10 levels",
    "<= 1.5x the floor",
    whole_tree,
)
