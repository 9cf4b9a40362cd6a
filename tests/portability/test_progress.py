"""The import command's progress bar: drawn on a terminal, silent anywhere else."""

from __future__ import annotations

import io

from chattree.transfer import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_redraws_one_line_on_a_terminal() -> None:
    screen = Terminal()
    bar = ProgressBar(1000, screen)
    bar.update(250)
    bar.update(1000)
    bar.done()
    frames = screen.getvalue().split("\r")[1:]
    assert frames[0].startswith("[" + "#" * 7 + "." * 23 + "]  25%")
    assert "1 entries" in frames[0]
    assert frames[1].startswith("[" + "#" * 30 + "] 100%")
    assert frames[1].endswith("2 entries\n")


def test_the_bar_is_silent_in_a_file() -> None:
    output = io.StringIO()
    bar = ProgressBar(1000, output)
    bar.update(500)
    bar.done()
    assert output.getvalue() == ""
