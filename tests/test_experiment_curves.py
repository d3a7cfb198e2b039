"""`experiments curves`: each row's dev NLL by epoch, from the run folder while it trains and from its result JSON
once finished, with the best epoch marked (the tie ablation's table)."""
import json
import os
import time

import helpers
from paddle_vae.experiments.__main__ import main as experiments_main
from paddle_vae.experiments.report import dev_curves_table
from paddle_vae.experiments.runfolder import RunFolder
from paddle_vae.experiments.spec import load_table

ROWS = [{"name": "a", "label": "A", "flags": []}, {"name": "b", "label": "B", "flags": []},
        {"name": "c", "label": "C", "flags": []}]


def epoch_log(run_dir, dev_nlls):
    run_dir.mkdir(parents=True)
    records = [{"event": "step", "step": 1, "loss": 9.0}]
    records += [{"event": "epoch", "epoch": e + 1, "dev_nll": v, "time": 10.0 * e} for e, v in enumerate(dev_nlls)]
    (run_dir / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_a_running_rows_curve_comes_from_its_log_and_is_recorded_with_its_progress(tmp_path, capsys):
    table_file = helpers.write_table(tmp_path / "experiments" / "t.json", ROWS, ["--max_epoch", "4"])
    runs, results = tmp_path / "runs", tmp_path / "results"
    epoch_log(runs / "b", [5.0, 4.0, 4.5])
    (runs / "b" / "active.json").write_text(json.dumps({"kind": "train", "pid": os.getpid(), "start": time.time()}))
    assert RunFolder(str(runs / "b")).dev_curve() == [5.0, 4.0, 4.5]
    common = ["--runs_dir", str(runs), "--results_dir", str(results)]
    assert experiments_main(["status", str(table_file), "--record", *common]) == 0
    assert json.loads((results / "b.progress.json").read_text())["dev_nll_by_epoch"] == [5.0, 4.0, 4.5]
    capsys.readouterr()
    assert experiments_main(["curves", str(table_file), *common]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| row | best dev NLL (epoch) | epoch 1 | epoch 2 | epoch 3 |"
    assert "| B (running) | 4.00 (2) | 5.00 | **4.00** | 4.50 |" in lines
    assert "| A (not started) | – |  |  |  |" in lines


def test_a_finished_rows_curve_comes_from_its_result_and_the_best_epoch_is_bold(tmp_path):
    table = load_table(str(helpers.write_table(tmp_path / "experiments" / "t.json", ROWS, [])))
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "c.json").write_text(json.dumps(
        {"label": "C", "machines": ["cpu 1"], "dev_nll_by_epoch": [3.0, 2.0, 2.5, 2.25]}))
    text = dev_curves_table(table, str(tmp_path / "results"))
    assert "| C | 2.00 (2) | 3.00 | **2.00** | 2.50 | 2.25 |" in text.splitlines()
    assert text.endswith("Machines: C on cpu 1.")
