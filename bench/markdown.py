"""The latest results as Markdown tables, for docs/performance.md:

python -m bench.markdown > /tmp/tables.md
"""

from __future__ import annotations

import json
import sys

from bench.report import Cell, results_folder, show


def table(document: dict[str, object]) -> str:
    rows = document["rows"]
    assert isinstance(rows, list)
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    lines = [
        f"### #{document['title']}",
        "",
        f"Target: {document['target']}. Run {document['when']}, load average "
        f"{', '.join(f'{x:.1f}' for x in document['machine']['load_average'])}."  # type: ignore[index]
        "",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in rows:
        cells: list[Cell] = [row.get(key) for key in columns]
        lines.append("| " + " | ".join(show(cell) for cell in cells) + " |")
    notes = document["notes"]
    assert isinstance(notes, list)
    lines += ["", *(f"- {note.splitlines()[0]}" for note in notes)]
    return "\n".join(lines)


def main() -> int:
    from bench.__main__ import SUITE

    for benchmark in SUITE:
        path = results_folder() / f"{benchmark.name}.json"
        if path.exists():
            print(table(json.loads(path.read_text())), end="\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
