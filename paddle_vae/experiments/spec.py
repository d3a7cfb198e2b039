"""An experiment table: what its file says, and where each row's run and result live.

A table file (JSON, in `experiments/`) names a dataset, the flags every row shares
(the budget), how rows are evaluated, and one entry per row with its own flags:

    {"dataset": "ptb", "data_dir": "../shared/data/ptb",
     "train_flags": ["--lr_decay", "plateau", "--max_decays", "3", "--max_epoch", "40"],
     "save_steps": 500,
     "eval": {"split": "test", "iw_samples": 100, "iw_samples_close": 500, "close_nats": 2.0,
              "baseline": "lm"},
     "rows": [{"name": "lm", "flags": ["--model", "lm"]}, ...],
     "goals": [{"name": "beats the LM", "min": {"kl": 8}, "max": {"nll_iw_vs_baseline": -0.5}}],
     "recommend": [{"for": "likelihood", "lowest": "nll_iw"}],
     "examples": {"reference": "ref"}}

`goals` (optional) are judged by goals.py, `recommend` (optional) by recommend.py, and `examples`
(optional) configure examples.py. `companions` (optional) names other table files, relative to this one's
folder, e.g. `["ptb_tied.json"]`: their finished VAE rows join this table's recommendations (so its
headline's picks) and its `published` block, so that one page compares the two tables' rows. A companion's
own companions are not followed.

Relative `data_dir`s are resolved against the folder above `experiments/` (the
project root), so a table runs the same from any working directory.
"""
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ..errors import UsageError

ROW_KEYS = {"name", "flags", "label", "stop_after_epochs", "note", "baseline"}
GOAL_KEYS = {"name", "rows", "min", "max"}
RECOMMEND_KEYS = {"for", "rows", "lowest", "highest", "min", "max", "show"}
# The result metrics a goal or recommendation may name, with the names the generated pages print.
METRIC_NAMES = {"kl": "KL", "au": "AU", "mi": "MI", "mi_batch": "MI (batch)", "nll_iw": "IW-NLL",
                "nll_elbo": "ELBO NLL", "ppl_elbo": "ELBO PPL", "ppl_iw": "IW-PPL", "bleu_greedy": "BLEU",
                "rec": "REC", "nll_iw_vs_baseline": "IW-NLL − LM", "iw_samples": "K"}


def _check_metric_names(path: str, entry: Dict[str, Any], keys: List[str]) -> None:
    """A misspelt metric would make a goal silently unmeetable or a recommendation pick nothing."""
    unknown = sorted(set(keys) - set(METRIC_NAMES))
    if unknown:
        raise UsageError(f"table {path}: {entry.get('name') or entry.get('for')!r} names unknown metrics "
                         f"{unknown} (known: {sorted(METRIC_NAMES)})")


@dataclass
class Row:
    name: str
    flags: List[str]
    label: str = ""
    stop_after_epochs: Optional[int] = None  # a row judged hopeless: its training ends here, labelled so
    note: str = ""
    baseline: Optional[str] = None  # the LM this row is judged against, if not the table's (e.g. same decoder)


@dataclass
class EvalPlan:
    """Every row's best-dev bundle on `split`: IW with `iw_samples`, and again with `iw_samples_close` for
    VAE rows whose first estimate is within `close_nats` of the `baseline` row's NLL."""
    split: str = "test"
    bundle: str = "best"
    iw_samples: int = 100
    iw_samples_close: Optional[int] = None
    close_nats: float = 2.0
    baseline: Optional[str] = None
    extra_flags: List[str] = field(default_factory=list)


@dataclass
class Table:
    """A table file as `load_table` reads and checks it (the format is above): what the runner trains and
    evaluates and the reports lay out, checked once so a bad file stops before any row runs."""
    name: str
    path: str
    dataset: str
    data_dir: Optional[str]
    train_flags: List[str]
    save_steps: int
    eval: EvalPlan
    rows: List[Row]
    description: str = ""
    goals: List[Dict[str, Any]] = field(default_factory=list)  # judged by goals.py from the result JSONs
    examples: Dict[str, Any] = field(default_factory=dict)  # what examples.py shows (ExamplePlan's fields)
    recommend: List[Dict[str, Any]] = field(default_factory=list)  # picked by recommend.py
    companions: List["Table"] = field(default_factory=list)  # tables whose rows join picks and published

    def sources(self, results_dir: str) -> List[Tuple["Table", str]]:
        """(table, its results folder) for this table, then for each companion (in its default folder)."""
        return [(self, results_dir)] + [(c, default_results_dir(c)) for c in self.companions]

    def baseline_of(self, row: Row) -> Optional[str]:
        return row.baseline or self.eval.baseline

    def row(self, name: str) -> Row:
        for row in self.rows:
            if row.name == name:
                return row
        raise UsageError(f"table {self.name} has no row {name!r} (rows: {', '.join(r.name for r in self.rows)})")


def load_table(path: str, with_companions: bool = True) -> Table:
    """Read and check a table file (and its companions'); every problem is one UsageError line."""
    if not os.path.isfile(path):
        raise UsageError(f"no table file {path}")
    try:
        with open(path, encoding="utf-8") as f:
            spec: Dict[str, Any] = json.load(f)
    except ValueError as exc:
        raise UsageError(f"table {path} is not valid JSON ({exc})") from None
    for key in ("dataset", "rows"):
        if key not in spec:
            raise UsageError(f"table {path} lacks {key!r}")
    rows = []
    for i, entry in enumerate(spec["rows"]):
        unknown = set(entry) - ROW_KEYS
        if "name" not in entry or unknown:
            raise UsageError(f"table {path}: row {i} needs a name and only {sorted(ROW_KEYS)} "
                             f"(unknown: {sorted(unknown)})")
        rows.append(Row(**{"flags": [], **entry}))
    names = [r.name for r in rows]
    if len(set(names)) != len(names):
        raise UsageError(f"table {path}: row names repeat")
    plan = EvalPlan(**spec.get("eval", {}))
    for i, row in enumerate(rows):
        baseline = row.baseline or plan.baseline
        if baseline is not None and baseline != row.name and baseline not in names[:i]:
            # rows run in table order, and a row's evaluation plan waits for its baseline's result
            raise UsageError(f"table {path}: row {row.name}'s baseline {baseline!r} must be a row above it")
    goals = spec.get("goals", [])
    for goal in goals:
        unknown = set(goal) - GOAL_KEYS
        bounds = {**goal.get("min", {}), **goal.get("max", {})}
        if "name" not in goal or unknown or not bounds:
            raise UsageError(f"table {path}: a goal needs a name and min/max bounds, and only {sorted(GOAL_KEYS)} "
                             f"(unknown: {sorted(unknown)})")
    recommend = spec.get("recommend", [])
    for aim in recommend:
        unknown = set(aim) - RECOMMEND_KEYS
        if "for" not in aim or unknown or ("lowest" in aim) == ("highest" in aim):
            raise UsageError(f"table {path}: a recommendation needs 'for' and one of 'lowest' or 'highest', and "
                             f"only {sorted(RECOMMEND_KEYS)} (unknown: {sorted(unknown)})")
    for entry in goals + recommend:
        if not isinstance(entry.get("show", []), list):
            raise UsageError(f"table {path}: {entry.get('for')!r}: 'show' must be a list of metric names")
        metrics = [*entry.get("min", {}), *entry.get("max", {}), *entry.get("show", [])]
        _check_metric_names(path, entry, metrics + [entry[k] for k in ("lowest", "highest") if k in entry])
        for name in entry.get("rows", []):
            if name not in names:
                raise UsageError(f"table {path}: {entry.get('name') or entry.get('for')!r} names no row {name!r}")
    root = os.path.dirname(os.path.dirname(os.path.abspath(path)))
    data_dir = spec.get("data_dir")
    if data_dir is not None and not os.path.isabs(data_dir):
        data_dir = os.path.normpath(os.path.join(root, data_dir))
    name = spec.get("name") or os.path.splitext(os.path.basename(path))[0]
    companions = spec.get("companions", [])
    if not isinstance(companions, list):
        raise UsageError(f"table {path}: 'companions' must be a list of table files")
    companions = [load_table(os.path.join(os.path.dirname(path), c), with_companions=False)
                  for c in companions] if with_companions else []
    if any(c.name == name for c in companions):
        raise UsageError(f"table {path}: a companion has this table's name {name!r}")
    return Table(name=name, path=os.path.abspath(path), dataset=spec["dataset"], data_dir=data_dir,
                 train_flags=list(spec.get("train_flags", [])), save_steps=int(spec.get("save_steps", 500)),
                 eval=plan, rows=rows, description=spec.get("description", ""), goals=goals,
                 examples=spec.get("examples", {}), recommend=recommend, companions=companions)


def default_runs_dir(table: Table) -> str:
    return os.path.join(os.path.expanduser("~/paddle_vae_runs"), table.name)


def default_results_dir(table: Table) -> str:
    """docs/results/TABLE beside the table's experiments/ folder."""
    root = os.path.dirname(os.path.dirname(table.path))
    return os.path.join(root, "docs", "results", table.name)


def flag_value(flags: List[str], name: str) -> Optional[str]:
    """The value of `--name V` in an argv list (the last one wins, as with argparse)."""
    value = None
    for i, token in enumerate(flags):
        if token == f"--{name}" and i + 1 < len(flags):
            value = flags[i + 1]
        elif token.startswith(f"--{name}="):
            value = token.split("=", 1)[1]
    return value


def is_lm(row: Row) -> bool:
    """A language-model row (`--model lm`): no latent, so it has no KL, MI, AU or reconstructions."""
    return flag_value(row.flags, "model") == "lm"


def option_groups(flags: List[str]) -> List[Tuple[str, ...]]:
    """An argv list as options with their values: ["--a", "1", "--b"] -> [("--a", "1"), ("--b",)]."""
    groups: List[Tuple[str, ...]] = []
    for token in flags:
        if token.startswith("--") or not groups:
            groups.append((token,))
        else:
            groups[-1] = groups[-1] + (token,)
    return groups


def shown_label(table: Table, source: Table, label: str) -> str:
    """A row's label as `table`'s pages show it: a companion's row is named with its table."""
    return label if source is table else f"{label} ({source.name})"


def shown_flags(table: Table, source: Table, name: str) -> List[str]:
    """The flags that make `source`'s row `name` as `table`'s pages show it: the row's own, after the
    options of a companion's shared flags that `table`'s lack or set otherwise (e.g. `--tie_embeddings`)."""
    row_flags = source.row(name).flags
    if source is table:
        return list(row_flags)
    have = set(option_groups(table.train_flags))
    return [t for group in option_groups(source.train_flags) if group not in have for t in group] + list(row_flags)
