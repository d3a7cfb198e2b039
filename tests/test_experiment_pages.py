"""What a table generates from its result JSONs: the goals' verdicts, the rows its examples show, the
examples made by the inference CLI, and every generated block of the README and docs pages."""
import json
import os
import re

import pytest

from conftest import ROOT
from helpers import write_table
from paddle_vae.experiments.__main__ import main as experiments_main
from paddle_vae.experiments.examples import chosen_rows, examples_markdown
from paddle_vae.experiments.goals import goals_markdown, judge
from paddle_vae.experiments.pages import GENERATORS, generated
from paddle_vae.experiments.recommend import pick, recommend_markdown
from paddle_vae.experiments.spec import default_results_dir, load_table

ROWS = [{"name": "lm", "flags": ["--model", "lm"]}, {"name": "ref", "label": "reference", "flags": []},
        {"name": "a", "label": "A", "flags": ["--bn_vae", "0.7"]},
        {"name": "b", "label": "B", "flags": ["--bn_vae", "1.5"]}]
BEATS = {"name": "beats", "rows": ["ref", "a", "b"], "min": {"kl": 8, "au": 16}, "max": {"nll_iw_vs_baseline": -0.5}}


def write_spec(tmp_path, rows=ROWS, goals=(BEATS,), examples=None):
    return str(write_table(tmp_path / "experiments" / "tiny.json", rows, ["--max_epoch", "2", "--log_freq", "20"],
                           {"iw_samples": 3, "baseline": "lm"}, goals=list(goals),
                           examples=examples or {"reference": "ref"}))


def tiny_table(tmp_path, **kwargs):
    return load_table(write_spec(tmp_path, **kwargs))


def write_results(table, **rows):
    results = default_results_dir(table)
    os.makedirs(results, exist_ok=True)
    for name, metrics in rows.items():
        with open(os.path.join(results, f"{name}.json"), "w") as f:
            json.dump(dict(label=table.row(name).label or name, **metrics), f)
    return results


def test_a_goal_is_open_until_its_rows_finish_then_met_or_missed_by_the_closest_rows_shortfall(tmp_path):
    table = tiny_table(tmp_path)
    results = write_results(table, lm={"nll_iw": 100.0}, a={"nll_iw": 100.2, "kl": 9.0, "au": 20})
    verdict = judge(table, results, BEATS)
    assert verdict["verdict"] == "open" and (verdict["finished"], verdict["rows"]) == (1, 3)
    assert verdict["row"] == "a" and verdict["lacking"] == {"nll_iw_vs_baseline": pytest.approx(0.7)}

    write_results(table, ref={"nll_iw": 99.0, "kl": 1.0, "au": 2}, b={"nll_iw": 101.0, "kl": 30.0, "au": 32})
    verdict = judge(table, results, BEATS)
    assert verdict["verdict"] == "not met" and verdict["row"] == "a"  # meets two of three bounds, b and ref one
    assert "| beats | KL ≥ 8, AU ≥ 16, IW-NLL − LM ≤ -0.5 | not met | A | KL 9.00, AU 20, IW-NLL − LM +0.20 " \
           "| IW-NLL − LM by 0.70 |" in goals_markdown(table, results, [BEATS])

    write_results(table, b={"nll_iw": 99.4, "kl": 30.0, "au": 32})
    verdict = judge(table, results, BEATS)
    assert verdict["verdict"] == "met" and verdict["row"] == "b" and verdict["lacking"] == {}


def test_a_goal_naming_an_unknown_row_or_without_bounds_is_a_one_line_error(tmp_path, capsys):
    for goal in ({"name": "g", "rows": ["nope"], "min": {"kl": 1}}, {"name": "g"}):
        assert experiments_main(["goals", write_spec(tmp_path, goals=[goal])]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: table") and len(err.strip().splitlines()) == 1


RECONSTRUCT = {"for": "reconstruction", "highest": "bleu_greedy", "max": {"nll_iw_vs_baseline": 3.0},
               "show": ["bleu_greedy", "nll_iw_vs_baseline"]}


def test_a_recommendation_picks_the_best_row_within_its_bounds_and_is_provisional_until_all_finish(tmp_path):
    table = tiny_table(tmp_path)
    results = write_results(table, lm={"nll_iw": 100.0}, a={"nll_iw": 100.5, "bleu_greedy": 4.0},
                            b={"nll_iw": 104.0, "bleu_greedy": 30.0})  # b reconstructs best but costs 4 nats
    best, finished, total = pick(table, results, RECONSTRUCT)
    assert best["row"] == "a" and (finished, total) == (2, 3)
    assert "| reconstruction | highest BLEU with IW-NLL − LM ≤ +3 | A | `--bn_vae 0.7` | BLEU 4.00, IW-NLL − LM " \
           "+0.50 | 2 of 3 rows (provisional) |" in recommend_markdown(table, results, [RECONSTRUCT])
    write_results(table, ref={"nll_iw": 102.9, "bleu_greedy": 6.0})
    best, finished, total = pick(table, results, RECONSTRUCT)
    assert best["row"] == "ref" and finished == total
    assert "3 of 3 rows |" in recommend_markdown(table, results, [RECONSTRUCT])
    assert "| none yet |" in recommend_markdown(table, results, [dict(RECONSTRUCT, min={"bleu_greedy": 50})])


def test_a_row_whose_baseline_has_not_finished_counts_as_unfinished_for_picks_and_goals(tmp_path):
    table = tiny_table(tmp_path)
    results = write_results(table, a={"nll_iw": 100.5, "bleu_greedy": 4.0, "kl": 9.0, "au": 20})
    assert pick(table, results, RECONSTRUCT) == (None, 0, 3)
    assert judge(table, results, BEATS)["finished"] == 0
    write_results(table, lm={"nll_iw": 100.0})
    best, finished, _ = pick(table, results, RECONSTRUCT)
    assert best["row"] == "a" and finished == 1


def test_a_malformed_recommendation_or_goal_is_a_one_line_error(tmp_path, capsys):
    """No ranking metric, two of them, an unknown row, or a misspelt metric (which would never be met)."""
    path = write_spec(tmp_path)
    spec = json.loads(open(path).read())
    for aim in ({"for": "x"}, {"for": "x", "lowest": "nll_iw", "highest": "kl"},
                {"for": "x", "lowest": "nll_iw", "rows": ["nope"]}, {"for": "x", "highest": "bleu"},
                {"for": "x", "lowest": "nll_iw", "show": ["kl", "AU"]}):
        open(path, "w").write(json.dumps(dict(spec, recommend=[aim])))
        assert experiments_main(["recommend", path]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: table") and len(err.strip().splitlines()) == 1
    open(path, "w").write(json.dumps(dict(spec, goals=[{"name": "g", "min": {"kll": 8}}])))
    assert experiments_main(["goals", path]) == 2
    assert "unknown metrics ['kll']" in capsys.readouterr().err


def test_examples_show_the_reference_the_row_closest_to_the_lm_and_the_highest_rate_row(tmp_path):
    table = tiny_table(tmp_path)
    results = write_results(table, lm={"nll_iw": 100.0}, ref={"nll_iw": 100.5, "kl": 1.0})
    assert chosen_rows(table, results) == {"ref": "the reference recipe"}
    assert examples_markdown(table, results).startswith("No examples yet")
    write_results(table, a={"nll_iw": 100.6, "kl": 9.0}, b={"nll_iw": 103.0, "kl": 30.0})
    assert chosen_rows(table, results) == {"ref": "the reference recipe", "a": "closest to the LM: lowest IW-NLL",
                                           "b": "highest KL"}
    write_results(table, a={"nll_iw": 100.6, "kl": 31.0})
    assert chosen_rows(table, results) == {"ref": "the reference recipe", "a": "closest to the LM and highest KL"}


@pytest.mark.slow
def test_examples_come_from_the_inference_cli_on_the_rows_best_bundle_and_line_up_with_their_inputs(tmp_path):
    table = tiny_table(tmp_path, rows=ROWS[:2], goals=[])
    args = ["--runs_dir", str(tmp_path / "runs"), "--threads", "1"]
    path = str(tmp_path / "experiments" / "tiny.json")
    assert experiments_main(["examples", path, *args]) == 0  # nothing finished: nothing to show yet
    # Each VAE row makes its examples once evaluated, even when the run names only some rows.
    assert experiments_main(["run", path, "--rows", "lm", "ref", *args]) == 0
    made = tmp_path / "docs" / "results" / "tiny" / "examples" / "ref.json"
    assert made.is_file() and not (made.parent / "lm.json").exists()
    results = default_results_dir(table)
    record = json.loads(made.read_text())
    demo_test = (ROOT / "paddle_vae" / "data" / "demo_corpus" / "test.txt").read_text().splitlines()
    assert record["reconstruct"]["inputs"] == demo_test[:5] and len(record["reconstruct"]["outputs"]) == 5
    assert record["interpolate"]["inputs"] == demo_test[:2] and len(record["interpolate"]["outputs"]) == 5
    assert len(record["sample"]["outputs"]) == 3 and all(record["sample"]["outputs"])
    assert "--init_from_ckpt RUNS/ref/best --mode reconstruct --decode_strategy greedy" in \
        record["reconstruct"]["command"] and str(tmp_path) not in json.dumps(record)
    markdown = examples_markdown(table, results)
    assert markdown.count("\n") == 1 + 5 + 5 + 3 and f"`{demo_test[0]}`" in markdown
    assert markdown.startswith("| | input | reference |")  # the reference row needs no reason in brackets
    before = (tmp_path / "runs" / "ref" / "segments.jsonl").read_text()
    assert experiments_main(["examples", path, *args]) == 0  # made once per checkpoint
    assert (tmp_path / "runs" / "ref" / "segments.jsonl").read_text() == before


BLOCK = re.compile(r"<!-- (\w+) (\S+) -->\n(.*?)\n<!-- /\1 -->", re.S)


def test_every_generated_block_in_the_readme_and_docs_is_what_its_table_generates():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    blocks = [(page, m) for page in pages for m in BLOCK.finditer(page.read_text(encoding="utf-8"))
              if m.group(1) in GENERATORS]
    assert {(page.name, m.group(1)) for page, m in blocks} >= {
        ("README.md", "headline"), ("posterior-collapse.md", "table"), ("posterior-collapse.md", "goals")}
    for page, match in blocks:
        kind, table = match.group(1), load_table(str(ROOT / match.group(2)))
        assert match.group(3) == generated(kind, table, default_results_dir(table), str(page.parent)), \
            f"{page.name}: the {table.name} {kind} block differs from what it generates (regenerate: " \
            f"python -m paddle_vae.experiments table {match.group(2)} --update {page.relative_to(ROOT)})"


def test_the_headline_shows_the_reproduction_the_published_rows_the_lm_and_each_pick_linked_to_its_json(
        tmp_path, capsys):
    table = tiny_table(tmp_path)
    table.recommend = [{"for": "likelihood", "lowest": "nll_iw"}, RECONSTRUCT]
    results = write_results(table, lm={"nll_iw": 100.0, "nll_elbo": 100.0, "kl": 0.0, "au": 0},
                            ref={"nll_iw": 100.5, "nll_elbo": 101.0, "kl": 1.0, "au": 2, "bleu_greedy": 6.0,
                                 "iw_samples": 500},
                            a={"nll_iw": 99.8, "nll_elbo": 103.0, "kl": 9.0, "au": 20, "bleu_greedy": 4.0,
                               "iw_samples": 500})
    published = {"rows": [{"label": "Peer", "nll_elbo": 101.5, "ppl_elbo": 104.0, "url": "https://x/README.md",
                           "headline": True},
                          {"label": "Not shown", "nll_elbo": 1.0, "ppl_elbo": 2.0, "url": "https://y"}]}
    (tmp_path / "docs" / "results" / "published.json").write_text(json.dumps(published))
    lines = generated("headline", table, results, str(tmp_path)).splitlines()
    assert [line.split(" | ")[0] for line in lines[2:6]] == [
        "| reference (reproduction, pick for reconstruction)", "| [Peer](https://x/README.md) (published)",
        "| lm (the baseline)", "| A (pick for likelihood)"]  # ref has the best BLEU within 3 nats of the LM
    assert "[101.00](docs/results/tiny/ref.json) |" in lines[2] and "[99.80](docs/results/tiny/a.json) (500)" in lines[5]
    assert "(exact)" in lines[4] and "Not shown" not in "\n".join(lines) and lines[-1].startswith("Machines:")
    from_docs = generated("headline", table, results, str(tmp_path / "docs"))
    assert "(results/tiny/ref.json)" in from_docs  # links are relative to the page

    (tmp_path / "docs" / "results" / "published.json").write_text(json.dumps({"rows": [{"label": "no url"}]}))
    assert experiments_main(["headline", str(tmp_path / "experiments" / "tiny.json")]) == 2
    err = capsys.readouterr().err
    assert "published.json" in err and len(err.strip().splitlines()) == 1


def test_examples_of_a_row_whose_run_folder_was_lost_say_so_without_running_anything(tmp_path):
    from paddle_vae.experiments.examples import make_examples
    from paddle_vae.experiments.runner import Runner

    table = tiny_table(tmp_path)
    results = write_results(table, lm={"nll_iw": 100.0}, ref={"nll_iw": 100.5, "kl": 1.0})
    runner = Runner(table, str(tmp_path / "runs"), results, jobs=1, threads=1)
    outcome = make_examples(runner, "ref", "the reference recipe")
    assert outcome.startswith("no bundle: RUNS/ref/best is gone")
    record = json.loads(open(os.path.join(results, "examples", "ref.json")).read())
    assert record["bundle_lost"] and record["checkpoint"] == os.path.join("ref", "best") and "reconstruct" not in record
    assert not (tmp_path / "runs" / "ref" / "segments.jsonl").exists()  # no predict command was run
    runner.machine, before = "Another CPU", open(os.path.join(results, "examples", "ref.json")).read()
    assert make_examples(runner, "ref", "the reference recipe").endswith("(recorded)")  # a rerun elsewhere
    assert open(os.path.join(results, "examples", "ref.json")).read() == before  # leaves the committed record
    assert examples_markdown(table, results).endswith(
        "Not shown, their bundles lost with their run folders: reference (the reference recipe).")


def test_a_pick_whose_bundle_is_lost_passes_to_the_next_row_and_comes_back_when_the_bundle_does(tmp_path, monkeypatch):
    from paddle_vae.experiments import examples
    from paddle_vae.experiments.runner import Runner

    table = tiny_table(tmp_path)
    results = write_results(table, lm={"nll_iw": 100.0}, ref={"nll_iw": 100.5, "kl": 1.0},
                            a={"nll_iw": 100.6, "kl": 9.0}, b={"nll_iw": 103.0, "kl": 30.0})
    runner = Runner(table, str(tmp_path / "runs"), results, jobs=1, threads=1)
    made, real_make = [], examples.make_examples

    def fake_make(runner, name, why):  # a bundle only for the reference and A
        made.append(name)
        if name == "b" and not os.path.isdir(tmp_path / "runs" / "b" / "best"):
            return real_make(runner, name, why)  # the real one: records the loss
        outputs = {"inputs": ["x y", "y z"], "outputs": [f"{name} out"] * 5, "command": "predict"}
        examples.write_json_atomic(os.path.join(results, "examples", f"{name}.json"),
                                   {"row": name, "label": name, "reconstruct": outputs, "interpolate": outputs,
                                    "sample": outputs, "checkpoint": f"{name}/best"})
        return "done"

    monkeypatch.setattr(examples, "make_examples", fake_make)
    outcomes = examples.make_chosen(runner)
    assert outcomes["b"].startswith("no bundle") and outcomes["a"] == "done" and sorted(made) == ["a", "b", "ref"]
    assert examples.chosen_rows(table, results) == {
        "ref": "the reference recipe", "a": "closest to the LM and highest KL of the rows with a bundle"}
    assert examples.lost_rows(table, results) == {"b": "highest KL"}
    markdown = examples_markdown(table, results)
    assert "| ref | a (closest to the LM and highest KL of the rows with a bundle) |" in markdown
    assert markdown.endswith("Not shown, their bundles lost with their run folders: B (highest KL).")

    (tmp_path / "runs" / "b" / "best").mkdir(parents=True)  # the row trained again: B is the pick once more
    made.clear()
    examples.make_chosen(runner)
    assert "b" in made and examples.chosen_rows(table, results)["b"] == "highest KL"
    assert examples.lost_rows(table, results) == {}


def test_the_runner_calls_after_row_for_each_finished_row_and_keeps_what_it_said(tmp_path):
    from paddle_vae.experiments.runner import Runner

    table = tiny_table(tmp_path)
    results = write_results(table, lm={"nll_iw": 100.0}, ref={"nll_iw": 100.5, "kl": 1.0})
    seen = []
    runner = Runner(table, str(tmp_path / "runs"), results, jobs=1, threads=1,
                    after_row=lambda r, row: seen.append(row.name) or f"{row.name} shown")
    assert runner.run(["lm", "ref"]) == {"lm": "done", "ref": "done"}
    assert seen == ["lm", "ref"] and runner.after_outcomes == {"lm": "lm shown", "ref": "ref shown"}
    runner.stopping.set()  # a stopping runner starts nothing more, examples included
    seen.clear()
    runner.run(["lm"])
    assert seen == []


def test_published_rows_sit_beside_ours_by_decoder_with_our_distance_to_the_best_and_unfinished_rows_named(
        tmp_path):
    rows = ROWS + [{"name": "t", "label": "Trans", "flags": ["--decoder", "transformer"]}]
    table = tiny_table(tmp_path, rows=rows)
    results = write_results(table, ref={"nll_elbo": 101.0, "ppl_elbo": 104.0},
                            t={"nll_elbo": 100.5, "ppl_elbo": 102.0})
    published = {"rows": [{"label": "Peer LSTM", "decoder": "lstm", "nll_elbo": 101.5, "ppl_elbo": 105.0,
                           "url": "https://x"},
                          {"label": "Peer LSTM 2", "decoder": "lstm", "nll_elbo": 102.0, "ppl_elbo": 107.0,
                           "url": "https://y"},
                          {"label": "Peer Trans", "decoder": "transformer", "nll_elbo": 101.0, "ppl_elbo": 103.0,
                           "url": "https://z"}]}
    (tmp_path / "docs" / "results" / "published.json").write_text(json.dumps(published))
    lines = generated("published", table, results, str(tmp_path)).splitlines()
    body = [line for line in lines if line.startswith("| lstm") or line.startswith("| transformer")]
    assert [line.split(" | ")[1] for line in body] == [
        "[Peer LSTM](https://x) (published)", "[Peer LSTM 2](https://y) (published)", "reference (tiny)",
        "[Peer Trans](https://z) (published)", "Trans (tiny)"]
    assert body[2].endswith("| -0.50 | -1.00 |") and "(docs/results/tiny/ref.json)" in body[2]  # vs 101.5 / 105
    assert body[4].endswith("| -0.50 | -1.00 |")  # its decoder's best, not the LSTM's
    assert lines[-1] == "Not finished yet: lm (tiny); A (tiny); B (tiny)."


def test_an_empty_generated_block_is_filled_without_touching_the_blocks_after_it(tmp_path):
    from paddle_vae.reports.page_blocks import update_blocks

    page = tmp_path / "page.md"
    page.write_text("<!-- table X -->\n<!-- /table -->\nprose\n<!-- curves X -->\nold\n<!-- /curves -->\n"
                    "<!-- table Y -->\nkept\n<!-- /table -->\n")
    assert update_blocks(str(page), "X", "NEW", "table") == 1
    assert page.read_text() == ("<!-- table X -->\nNEW\n<!-- /table -->\nprose\n<!-- curves X -->\nold\n"
                                "<!-- /curves -->\n<!-- table Y -->\nkept\n<!-- /table -->\n")


def test_a_companion_tables_rows_join_the_picks_the_headline_and_the_published_block_named_with_their_table(
        tmp_path, capsys):
    write_table(tmp_path / "experiments" / "tied.json",
                [{"name": "lm", "flags": ["--model", "lm"]},
                 {"name": "a", "label": "A tied", "flags": ["--bn_vae", "0.7"]}],
                ["--max_epoch", "2", "--log_freq", "20", "--tie_embeddings"], {"baseline": "lm"},
                companions=["tiny.json"])  # a companion's own companions are not followed
    spec = json.loads(open(write_spec(tmp_path)).read())
    (tmp_path / "experiments" / "tiny.json").write_text(json.dumps(dict(spec, companions=["tied.json"])))
    table = load_table(str(tmp_path / "experiments" / "tiny.json"))
    assert [c.name for c in table.companions] == ["tied"] and table.companions[0].companions == []
    tied = table.companions[0]
    results = write_results(table, lm={"nll_iw": 100.0, "nll_elbo": 100.0},
                            a={"nll_iw": 99.8, "nll_elbo": 103.0, "kl": 9.0, "au": 20, "iw_samples": 500})
    likelihood = {"for": "likelihood", "lowest": "nll_iw"}
    best, finished, total = pick(table, results, likelihood)
    assert best["row"] == "a" and best["source"] is table and (finished, total) == (1, 4)  # 3 here, 1 tied

    # The tied "a" is 0.3 nats better against its own LM (98.0), not this table's.
    write_results(tied, lm={"nll_iw": 98.0, "nll_elbo": 98.0},
                  a={"nll_iw": 97.7, "nll_elbo": 99.0, "kl": 12.0, "au": 32, "iw_samples": 500})
    best, finished, total = pick(table, results, likelihood)
    assert best["source"] is tied and best["nll_iw_vs_baseline"] == pytest.approx(-0.3) and finished == 2
    line = recommend_markdown(table, results, [likelihood]).splitlines()[2]
    assert "| A tied (tied) | `--tie_embeddings --bn_vae 0.7` |" in line  # the flags that make it, all of them

    table.recommend = [likelihood]
    headline = generated("headline", table, results, str(tmp_path))
    assert "| A tied (tied, pick for likelihood) | `--tie_embeddings --bn_vae 0.7` | [99.00](docs/results/tied/a.json)" \
        in headline

    published = generated("published", table, results, str(tmp_path / "docs"))
    assert "| lstm | A (tiny) | [103.00](results/tiny/a.json) |" in published
    assert "| lstm | A tied (tied) | [99.00](results/tied/a.json) |" in published
    assert "Machines: lm (tiny) · A (tiny) · lm (tied) · A tied (tied) on unknown.\n" \
           "Not finished yet: reference (tiny); B (tiny)." in published

    (tmp_path / "experiments" / "tiny.json").write_text(json.dumps(dict(spec, companions=["gone.json"])))
    assert experiments_main(["recommend", str(tmp_path / "experiments" / "tiny.json")]) == 2
    err = capsys.readouterr().err
    assert "gone.json" in err and len(err.strip().splitlines()) == 1
