"""python -m bench all | NAME... [--smoke] [--db sqlite|postgres]"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import traceback

from bench import DATABASES
from bench.append import APPEND
from bench.login import LOGIN_LOAD
from bench.memory import MEMORY
from bench.reads import BRANCH_PAGE, BRANCH_READ, WHOLE_TREE
from bench.scale import TWO_PROCESSES
from bench.search import SEARCH
from bench.statements import STATEMENTS
from bench.streams import FANOUT, FIRST_TOKEN, STREAMS
from bench.suite import Benchmark, Unavailable

SUITE: tuple[Benchmark, ...] = (
    APPEND,
    BRANCH_READ,
    BRANCH_PAGE,
    WHOLE_TREE,
    STATEMENTS,
    STREAMS,
    FANOUT,
    FIRST_TOKEN,
    LOGIN_LOAD,
    TWO_PROCESSES,
    MEMORY,
    SEARCH,
)
BY_NAME = {benchmark.name: benchmark for benchmark in SUITE}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="+", metavar="NAME", help=f"all, or {', '.join(BY_NAME)}")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks, not figures")
    parser.add_argument("--db", choices=DATABASES, action="append", help="default: both")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name != "all" and name not in BY_NAME]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    return args


async def run(benchmarks: list[Benchmark], databases: tuple[str, ...], smoke: bool) -> int:
    failed = 0
    for benchmark in benchmarks:
        result = benchmark.result()
        began = time.monotonic()
        for db in databases:
            if db not in benchmark.databases:
                continue
            try:
                await benchmark.run(result, db, smoke)
            except Unavailable as exc:
                result.add(db=db, status="not available")
                result.note(f"{db}: not available: {exc}")
            except Exception as exc:
                failed += 1
                result.add(db=db, status="FAILED")
                what = f"{type(exc).__name__}: {exc}".splitlines()[0]
                result.note(f"{db}: failed: {what}\n{traceback.format_exc(limit=3)}")
                traceback.print_exc()
        if benchmark.finish is not None:
            benchmark.finish(result)
        result.note(f"took {time.monotonic() - began:.0f} s")
        print(result.table(), flush=True)
        print(f"written to {result.save(smoke)}\n", flush=True)
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    args = parse(argv)
    benchmarks = list(SUITE) if "all" in args.names else [BY_NAME[n] for n in args.names]
    databases = tuple(args.db) if args.db else DATABASES
    return asyncio.run(run(benchmarks, databases, args.smoke))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
