"""The Markdown a table generates for the README and docs pages: its results table, goals, recommendations,
examples, dev curves, the README's headline and
the comparison with peers' published rows.

A page holds each as a block between `<!-- KIND TABLE -->` and `<!-- /KIND -->`, KIND being one of
GENERATORS' keys and TABLE the table file as given on the command line; `table --update PAGE` rewrites them
all, and the suite checks that the committed pages equal what these functions generate. Each generator gets
the page's folder too, for the blocks whose links are relative to the page (the headline's).
"""
from typing import Callable, Dict

from .examples import examples_markdown
from .goals import goals_markdown
from .headline import headline_markdown
from .published import published_markdown
from .recommend import recommend_markdown
from .report import dev_curves_table, markdown_table
from .spec import Table

GENERATORS: Dict[str, Callable[[Table, str, str], str]] = {
    "table": lambda table, results_dir, page_dir: markdown_table(table, results_dir),
    "goals": lambda table, results_dir, page_dir: goals_markdown(table, results_dir, table.goals),
    "recommend": lambda table, results_dir, page_dir: recommend_markdown(table, results_dir, table.recommend),
    "examples": lambda table, results_dir, page_dir: examples_markdown(table, results_dir),
    "curves": lambda table, results_dir, page_dir: dev_curves_table(table, results_dir),
    "headline": headline_markdown,
    "published": published_markdown,
}


def generated(kind: str, table: Table, results_dir: str, page_dir: str = ".") -> str:
    """The KIND block of `table` for a page in `page_dir`."""
    return GENERATORS[kind](table, results_dir, page_dir)
