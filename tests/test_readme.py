"""Every ```python block of README.md runs as written, top to bottom, in one namespace (as a newcomer pastes them
into one notebook), in a temporary working directory.

A block that cannot run in a test (it opens a widget, needs a server) is marked by the line right before its
fence: ``<!-- readme-test: skip (why) -->`` (an HTML comment, invisible on the rendered page). Keep such blocks
few; the last test below caps them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import pytest

README = Path(__file__).parent.parent / "README.md"
FENCE = re.compile(r"^```python[ \t]*\n(?P<code>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->")


@dataclass(frozen=True)
class Block:
    line: int  # of the first code line in the README
    code: str
    skip: str | None  # the reason given by a skip marker, or None


def python_blocks(text: str) -> list[Block]:
    """The ```python blocks of a markdown text in order, with the skip marker right above each fence, if any."""
    blocks = []
    for match in FENCE.finditer(text):
        above = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        skip = SKIP.fullmatch(above)
        line = text.count("\n", 0, match.start("code")) + 1
        blocks.append(Block(line, match.group("code"), skip.group("reason") if skip else None))
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


class Runner:
    """Runs the README's blocks in order in one namespace; a block runs once, after all the blocks above it."""

    def __init__(self) -> None:
        self.namespace: dict = {"__name__": "__readme__"}
        self.done = 0

    def run_through(self, block: Block) -> None:
        target = BLOCKS.index(block)
        while self.done <= target:
            current = BLOCKS[self.done]
            self.done += 1
            if current.skip:
                continue
            # padded with newlines so that a traceback names the README's own line numbers
            code = compile("\n" * (current.line - 1) + current.code, str(README), "exec")
            try:
                exec(code, self.namespace)
            except Exception as error:
                if current is block:
                    raise
                pytest.fail(f"the README block at line {current.line}, above this one, raised {error!r}")


@pytest.fixture(scope="module")
def runner(tmp_path_factory, one_torch_thread):
    previous_backend, previous_cwd = matplotlib.get_backend(), os.getcwd()
    matplotlib.use("Agg")
    os.chdir(tmp_path_factory.mktemp("readme"))  # blocks may write files (index.npz, ...)
    try:
        yield Runner()
    finally:
        os.chdir(previous_cwd)
        matplotlib.use(previous_backend)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"line{b.line}" for b in BLOCKS])
def test_readme_block_runs_as_written(block, runner):
    if block.skip:
        pytest.skip(f"marked in the README: {block.skip}")
    runner.run_through(block)


def test_blocks_are_found_with_their_skip_markers():
    text = ("intro\n```bash\nls\n```\n<!-- readme-test: skip (opens a widget) -->\n```python\nwidget()\n```\n"
            "text\n\n```python\na = 1\nb = a + 1\n```\n")
    assert python_blocks(text) == [Block(7, "widget()\n", "opens a widget"), Block(12, "a = 1\nb = a + 1\n", None)]


def test_the_readme_has_code_and_few_skipped_blocks():
    assert len(BLOCKS) >= 4
    skipped = [b.line for b in BLOCKS if b.skip]
    assert len(skipped) <= max(2, len(BLOCKS) // 5), f"too many README blocks skipped (lines {skipped})"
