"""Generated blocks of the Markdown pages: `<!-- KIND ARG -->`, the generated text, `<!-- /KIND -->`.

The README and docs pages hold their result tables as such blocks, so that none is typed by hand: a
generator (`experiments table`, `bench.summary`, `eval_table`) rewrites them from committed JSON, and the
suite checks that each block equals what its generator writes. ARG names the source (a table file, a glob
of bench or evaluation JSONs), as given on the command line.
"""
import os
import re
from typing import Callable, Dict, List

from ..files import write_text_atomic
from ..errors import UsageError


def block_pattern(kind: str, arg: str) -> "re.Pattern[str]":
    """The blocks of KIND for ARG; groups: the opening line, the text, the closing line. The text may be
    empty, and never runs into another block's opening line, so an empty block cannot swallow the page up
    to a later block's closing line."""
    return re.compile(rf"(<!-- {kind} {re.escape(arg)} -->)((?:\n(?:(?!<!-- \w+ \S+ -->).)*?)?)(\n<!-- /{kind} -->)",
                      re.S)


def has_block(page: str, arg: str, kind: str) -> bool:
    with open(page, encoding="utf-8") as f:
        return block_pattern(kind, arg).search(f.read()) is not None


def update_blocks(page: str, arg: str, markdown: str, kind: str = "table") -> int:
    """Replace the page's KIND blocks of ARG with `markdown`; how many there are. The page is rewritten
    whole or not at all, and not at all when nothing changes."""
    with open(page, encoding="utf-8") as f:
        text = f.read()
    new, count = block_pattern(kind, arg).subn(lambda m: m.group(1) + "\n" + markdown + m.group(3), text)
    if count and new != text:
        write_text_atomic(page, new)
    return count


def update_pages(pages: List[str], arg: str, generators: Dict[str, Callable[[str], str]]) -> None:
    """Rewrite every block of ARG on each page whose KIND `generators` knows, from `generators[KIND](page
    folder)` (links in the text are relative to the page). A page with none of them is refused before any
    page is written."""
    found = {page: [kind for kind in generators if has_block(page, arg, kind)] for page in pages}
    for page, kinds in found.items():
        if not kinds:
            names = " or ".join(f"<!-- {kind} {arg} -->" for kind in generators)
            raise UsageError(f"{page} has no {names} block")
    for page, kinds in found.items():
        for kind in kinds:
            update_blocks(page, arg, generators[kind](os.path.dirname(page) or "."), kind)
        print(f"updated {page}")
