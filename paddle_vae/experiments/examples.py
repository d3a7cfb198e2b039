"""`examples`: what a user sees from a row's best bundle, made by the inference CLI with its commands kept.

Rows shown: the table's reference row and two picked from the finished results among the VAE rows judged
against the same LM: the one closest to the LM (lowest IW-NLL) and the one with the highest KL. A row whose
result was committed but whose run folder was since lost (a new machine) cannot be shown: `make_examples`
records that in its examples file (`bundle_lost`), and the pick passes to the next row, saying why. For each:

  reconstruct  greedy decodings of the posterior means of the split's first `sentences` sentences
  interpolate  `steps` greedy decodings on the line between the first two sentences' posterior means
  sample       greedy decodings of `samples` draws from the prior (numpy seed `seed`)

Each is one `python -m paddle_vae.predict` run on the row's best bundle, through the runner (so its
machine, commit and time land in the row's segments.jsonl). Its inputs, output lines and command (paths
relative to the runs folder and the project) go to RESULTS/examples/ROW.json, and `examples_markdown`
renders the rows side by side. A row's examples are made once per checkpoint: a rerun skips them. `run`
makes every VAE row's examples as soon as the row is evaluated (`row_examples`), so that they are committed
with its result and a row can still be shown after its run folder is lost with its machine.
"""
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ..files import write_json_atomic, write_text_atomic
from ..data.corpus import SAMPLE_DIR, SPLIT_FILES
from ..errors import DataError, UsageError
from ..data.reading import read_text, text_lines
from .report import result_of
from .runfolder import read_json
from .runner import Runner
from .spec import Row, Table, is_lm


@dataclass
class ExamplePlan:
    """A table's `examples` entry with its defaults: the reference row, and how many sentences, interpolation steps
    and prior samples (with their seed) each shown row gets, so that every row is shown on the same inputs."""
    reference: str = "ref"
    split: str = "test"
    sentences: int = 5
    steps: int = 5
    samples: int = 3
    seed: int = 1
    max_out_len: int = 60  # words per decoding: PTB's first five test sentences have 6 to 37


def plan_of(table: Table) -> ExamplePlan:
    try:
        return ExamplePlan(**table.examples)
    except TypeError as exc:
        raise UsageError(f"table {table.name}: bad 'examples' entry ({exc})") from None


def bundle_lost(results_dir: str, name: str) -> bool:
    """Whether `make_examples` found the row finished but its best bundle gone (recorded, so committed)."""
    record = read_json(os.path.join(results_dir, "examples", f"{name}.json"))
    return bool(record and record.get("bundle_lost"))


def lost_rows(table: Table, results_dir: str) -> Dict[str, str]:
    """{row: why it would be shown} for the rows `chosen_rows` passed over because their bundle is lost."""
    return _choose(table, results_dir)[1]


def chosen_rows(table: Table, results_dir: str) -> Dict[str, str]:
    """{row: why it is shown}: the reference, the finished VAE row closest to the LM, the highest-KL one;
    a pick whose bundle is lost passes to the best row that has one.

    Rows are ranked by their own IW-NLL and KL, so unlike a goal's verdict this needs no baseline result."""
    return _choose(table, results_dir)[0]


def _choose(table, results_dir: str) -> Tuple[Dict[str, str], Dict[str, str]]:
    plan = plan_of(table)
    reference = table.row(plan.reference)
    baseline = table.baseline_of(reference)
    candidates = [r.name for r in table.rows if r.name != reference.name and not is_lm(r)
                  and table.baseline_of(r) == baseline]
    results = {name: result for name in candidates if (result := result_of(results_dir, name))}
    shown = [name for name in results if not bundle_lost(results_dir, name)]
    aims = (("closest to the LM", ": lowest IW-NLL", lambda n: results[n]["nll_iw"]),
            ("highest KL", "", lambda n: -results[n]["kl"]))
    why: Dict[str, List[str]] = {}
    lost: Dict[str, str] = {}
    for aim, detail, rank in aims:
        best, pick = min(results, key=rank, default=None), min(shown, key=rank, default=None)
        if best != pick:
            lost[best] = aim
        if pick is not None:
            why.setdefault(pick, []).append(aim + (" of the rows with a bundle" if best != pick else detail))
    chosen = {reference.name: "the reference recipe"}
    chosen.update({name: " and ".join(r.split(":")[0] for r in reasons) if len(reasons) > 1 else reasons[0]
                   for name, reasons in why.items()})
    return chosen, lost


def split_lines(table: Table, split: str, count: int) -> List[str]:
    """The split's first `count` sentences, as the file holds them (the demo corpus's when no data_dir)."""
    if table.data_dir is None and table.dataset != "sample":
        raise UsageError(f"table {table.name}: examples need the table's data_dir")
    path = os.path.join(table.data_dir or str(SAMPLE_DIR), SPLIT_FILES[table.dataset][split])
    lines = [line.strip() for line in text_lines(read_text(path)) if line.strip()][:count]
    if len(lines) < max(count, 2):
        raise DataError(f"{path}: fewer than {max(count, 2)} sentences for the examples")
    return lines


def make_examples(runner: Runner, name: str, why: str) -> str:
    """Run the three predict commands on the row's best bundle; write RESULTS/examples/ROW.json."""
    table, plan = runner.table, plan_of(runner.table)
    row, run = table.row(name), runner.folder(table.row(name))
    out_path = os.path.join(runner.results_dir, "examples", f"{name}.json")
    checkpoint = os.path.relpath(run.file(table.eval.bundle), runner.runs_dir)
    done = read_json(out_path)
    bundle = os.path.isdir(run.file(table.eval.bundle))
    if done and done.get("checkpoint") == checkpoint and not done.get("bundle_lost"):
        return "done"
    if result_of(runner.results_dir, name) is None:
        return "not finished"
    if not bundle:  # the result was committed, its run folder since lost: record it, so the pick passes on
        if done and done.get("checkpoint") == checkpoint:  # recorded already (the first machine to see it)
            return f"no bundle: RUNS/{checkpoint} is gone (recorded)"
        write_json_atomic(out_path, {"row": name, "label": row.label or name, "checkpoint": checkpoint,
                                     "bundle_lost": True, "machine": runner.machine, "commit": runner.commit})
        return (f"no bundle: RUNS/{checkpoint} is gone; its examples need the row trained again "
                f"(move {os.path.join(runner.results_dir, name + '.json')} aside and rerun)")
    work = os.path.join(runner.runs_dir, "examples", name)
    os.makedirs(work, exist_ok=True)
    inputs = split_lines(table, plan.split, plan.sentences)
    modes = {"reconstruct": (inputs, []), "interpolate": (inputs[:2], ["--interpolation_steps", str(plan.steps)]),
             "sample": (None, ["--num_samples", str(plan.samples), "--seed", str(plan.seed)])}
    record: Dict[str, Any] = {"row": name, "label": row.label or name, "why": why, "checkpoint": checkpoint,
                              "split": plan.split}
    for mode, (lines, flags) in modes.items():
        cmd = [runner.python, "-m", "paddle_vae.predict", "--init_from_ckpt", run.file(table.eval.bundle),
               "--mode", mode, "--decode_strategy", "greedy", "--max_out_len", str(plan.max_out_len),
               "--num_threads", str(runner.threads), "--quiet", *flags]
        if lines is not None:
            input_file = os.path.join(work, f"{mode}_input.txt")
            write_text_atomic(input_file, "".join(line + "\n" for line in lines))
            cmd += ["--input_file", input_file]
        output_file = os.path.join(work, f"{mode}.txt")
        cmd += ["--infer_output_file", output_file]
        if os.path.isfile(output_file):
            os.remove(output_file)
        code = runner.execute(row, f"examples {mode}", cmd)
        if code != 0 or not os.path.isfile(output_file):
            return f"{mode} failed (exit {code}, see {run.file('train.out')})"
        record[mode] = {"inputs": lines, "outputs": text_lines(read_text(output_file)),
                        "command": " ".join(runner.portable(cmd))}
    record.update(machine=runner.machine, commit=runner.commit)
    write_json_atomic(out_path, record)
    return "done"


def row_examples(runner: Runner, row: Row) -> str:
    """The runner's `after_row`: a finished VAE row's examples (LM rows have no z to show)."""
    if not runner.table.examples or is_lm(row):
        return "none for this row"
    return make_examples(runner, row.name, "a finished row")


def make_chosen(runner: Runner) -> Dict[str, str]:
    """Examples for every row `chosen_rows` picks: {row: outcome}. A pick found without its bundle is
    recorded as lost, so the choice is made again until it holds (each round can only lose rows)."""
    table, results_dir = runner.table, runner.results_dir
    for name in lost_rows(table, results_dir):  # a lost bundle that is back (the row was trained again)
        if os.path.isdir(runner.folder(table.row(name)).file(table.eval.bundle)):
            os.remove(os.path.join(results_dir, "examples", f"{name}.json"))
    outcomes: Dict[str, str] = {}
    while True:
        chosen = chosen_rows(table, results_dir)
        todo = {name: why for name, why in chosen.items() if name not in outcomes}
        if not todo:
            return outcomes
        outcomes.update({name: make_examples(runner, name, why) for name, why in todo.items()})


def examples_markdown(table: Table, results_dir: str) -> str:
    """The chosen rows' examples side by side: one column per row, one line per sentence."""
    folder = os.path.join(results_dir, "examples")
    reasons, passed_over = _choose(table, results_dir)  # today's reasons: a stored `why` can be out of date
    made = {name: read_json(os.path.join(folder, f"{name}.json")) for name in reasons}
    chosen = [dict(c, why=reasons[name]) for name, c in made.items() if c and not c.get("bundle_lost")]
    missing = [f"{table.row(name).label or name} ({reasons[name]})" for name, c in made.items() if not c]
    lost = {**{name: reasons[name] for name, c in made.items() if c and c.get("bundle_lost")},  # the reference
            **passed_over}
    lost_labels = [f"{table.row(name).label or name} ({why.split(':')[0]})" for name, why in lost.items()]
    lost_line = "Not shown, their bundles lost with their run folders: " + ", ".join(lost_labels) + "."
    if not chosen:
        return "No examples yet: they are made from finished rows (`python -m paddle_vae.experiments examples " \
               "TABLE`)." + (" " + lost_line if lost_labels else "")
    reference = plan_of(table).reference
    header = "| | input | " + " | ".join(c["label"] if c["row"] == reference else f"{c['label']} ({c['why']})"
                                        for c in chosen) + " |"
    lines = [header, "|" + "---|" * (len(chosen) + 2)]

    def add(kind: str, index: int, given: Optional[str]) -> None:
        cells = [_cell(c[kind]["outputs"][index]) if index < len(c[kind]["outputs"]) else "–" for c in chosen]
        lines.append(f"| {kind} {index + 1} | {_cell(given) if given else ''} | " + " | ".join(cells) + " |")

    first = chosen[0]
    for i, sentence in enumerate(first["reconstruct"]["inputs"]):
        add("reconstruct", i, sentence)
    ends = first["interpolate"]["inputs"]
    for i in range(len(first["interpolate"]["outputs"])):
        add("interpolate", i, "A: " + ends[0] if i == 0 else "B: " + ends[1] if
            i == len(first["interpolate"]["outputs"]) - 1 else None)
    for i in range(len(first["sample"]["outputs"])):
        add("sample", i, None)
    if missing:  # chosen, but made from no bundle yet
        lines += ["", "No examples yet for " + ", ".join(missing) + "."]
    if lost_labels:
        lines += ["", lost_line]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`" if text else "(empty)"
