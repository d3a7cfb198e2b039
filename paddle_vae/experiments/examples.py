"""`examples`: what a user sees from a row's best bundle, made by the inference CLI with its commands kept.

Rows shown: the table's reference row and two picked from the finished results among the VAE rows judged
against the same LM: the one closest to the LM (lowest IW-NLL) and the one with the highest KL. For each:

  reconstruct  greedy decodings of the posterior means of the split's first `sentences` sentences
  interpolate  `steps` greedy decodings on the line between the first two sentences' posterior means
  sample       greedy decodings of `samples` draws from the prior (numpy seed `seed`)

Each is one `python -m paddle_vae.predict` run on the row's best bundle, through the runner (so its
machine, commit and time land in the row's segments.jsonl). Its inputs, output lines and command (paths
relative to the runs folder and the project) go to RESULTS/examples/ROW.json, and `examples_markdown`
renders the rows side by side. A row's examples are made once per checkpoint: a rerun skips them.
"""
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from ..atomic import write_json_atomic, write_text_atomic
from ..data import SAMPLE_DIR, SPLIT_FILES
from ..errors import DataError, UsageError
from ..textio import read_text
from .report import result_of
from .runfolder import read_json
from .runner import Runner
from .spec import is_lm


@dataclass
class ExamplePlan:
    reference: str = "ref"
    split: str = "test"
    sentences: int = 5
    steps: int = 5
    samples: int = 3
    seed: int = 1
    max_out_len: int = 60  # words per decoding: PTB's first five test sentences have 6 to 37


def plan_of(table) -> ExamplePlan:
    try:
        return ExamplePlan(**table.examples)
    except TypeError as exc:
        raise UsageError(f"table {table.name}: bad 'examples' entry ({exc})") from None


def chosen_rows(table, results_dir: str) -> Dict[str, str]:
    """{row: why it is shown}: the reference, the finished VAE row closest to the LM, the highest-KL one.

    Rows are ranked by their own IW-NLL and KL, so unlike a goal's verdict this needs no baseline result."""
    plan = plan_of(table)
    reference = table.row(plan.reference)
    baseline = table.baseline_of(reference)
    candidates = [r.name for r in table.rows if r.name != reference.name and not is_lm(r)
                  and table.baseline_of(r) == baseline]
    results = {name: result for name in candidates if (result := result_of(results_dir, name))}
    chosen = {reference.name: "the reference recipe"}
    if results:
        closest = min(results, key=lambda n: results[n]["nll_iw"])
        highest = max(results, key=lambda n: results[n]["kl"])
        chosen[closest] = "closest to the LM: lowest IW-NLL"
        chosen[highest] = "highest KL" if highest != closest else "closest to the LM and highest KL"
    return chosen


def split_lines(table, split: str, count: int) -> List[str]:
    """The split's first `count` sentences, as the file holds them (the demo corpus's when no data_dir)."""
    if table.data_dir is None and table.dataset != "sample":
        raise UsageError(f"table {table.name}: examples need the table's data_dir")
    path = os.path.join(table.data_dir or str(SAMPLE_DIR), SPLIT_FILES[table.dataset][split])
    lines = [line.strip() for line in read_text(path).splitlines() if line.strip()][:count]
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
    if done and done.get("checkpoint") == checkpoint:
        return "done"
    if result_of(runner.results_dir, name) is None:
        return "not finished"
    if not os.path.isdir(run.file(table.eval.bundle)):  # the result was committed, its run folder since lost
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
        record[mode] = {"inputs": lines, "outputs": read_text(output_file).splitlines(),
                        "command": " ".join(runner.portable(cmd))}
    record.update(machine=runner.machine, commit=runner.commit)
    write_json_atomic(out_path, record)
    return "done"


def make_chosen(runner: Runner) -> Dict[str, str]:
    """Examples for every row `chosen_rows` picks now: {row: outcome}."""
    chosen = chosen_rows(runner.table, runner.results_dir)
    return {name: make_examples(runner, name, why) for name, why in chosen.items()}


def examples_markdown(table, results_dir: str) -> str:
    """The chosen rows' examples side by side: one column per row, one line per sentence."""
    folder = os.path.join(results_dir, "examples")
    reasons = chosen_rows(table, results_dir)  # today's reasons: a row's stored `why` can be out of date
    made = {name: read_json(os.path.join(folder, f"{name}.json")) for name in reasons}
    chosen = [dict(c, why=reasons[name]) for name, c in made.items() if c]
    missing = [f"{table.row(name).label or name} ({reasons[name]})" for name, c in made.items() if not c]
    if not chosen:
        return "No examples yet: they are made from finished rows (`python -m paddle_vae.experiments examples TABLE`)."
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
    if missing:  # chosen, but made from no bundle yet (or its run folder was lost)
        lines += ["", "No examples yet for " + ", ".join(missing) + "."]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`" if text else "(empty)"
