"""The Markdown a table generates for the README and docs pages: its results table, goals, recommendations
and examples.

A page holds each as a block between `<!-- KIND TABLE -->` and `<!-- /KIND -->`, KIND being `table`,
`goals`, `recommend` or `examples` and TABLE the table file as given on the command line; `table --update PAGE`
rewrites them all, and the suite checks that the committed pages equal what these functions generate.
"""
from typing import Callable, Dict

from .examples import examples_markdown
from .goals import goals_markdown
from .recommend import recommend_markdown
from .report import dev_curves_table, markdown_table
from .spec import Table

GENERATORS: Dict[str, Callable[[Table, str], str]] = {
    "table": markdown_table,
    "goals": lambda table, results_dir: goals_markdown(table, results_dir, table.goals),
    "recommend": lambda table, results_dir: recommend_markdown(table, results_dir, table.recommend),
    "examples": examples_markdown,
    "curves": dev_curves_table,
}


def generated(kind: str, table: Table, results_dir: str) -> str:
    return GENERATORS[kind](table, results_dir)
