"""The experiment runner end to end on a tiny table over the demo corpus: interrupted, resumed, evaluated,
tabulated."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

import helpers
from conftest import ROOT
from paddle_vae.experiments.__main__ import main as experiments_main
from paddle_vae.experiments.report import machines_line, markdown_table
from paddle_vae.experiments.spec import load_table


def write_table(path, rows=None):
    """The runner's tiny table: an LM and a BN-VAE row, 5 epochs under the plateau rule."""
    return helpers.write_table(
        path, rows or [{"name": "lm", "label": "LM", "flags": ["--model", "lm"]},
                       {"name": "vae", "label": "VAE", "flags": ["--bn_vae", "0.7"]}],
        ["--max_epoch", "5", "--lr_decay", "plateau", "--max_decays", "2", "--warm_up", "2", "--log_freq", "20"],
        {"iw_samples": 3, "iw_samples_close": 5, "close_nats": 1000.0, "baseline": "lm"})


def cli(*argv):
    return [sys.executable, "-m", "paddle_vae.experiments", *argv]


@pytest.mark.slow
def test_an_interrupted_table_resumes_to_the_same_results_as_an_uninterrupted_one(tmp_path):
    (tmp_path / "experiments").mkdir()
    table = write_table(tmp_path / "experiments" / "tiny.json")
    runs, results = tmp_path / "runs", tmp_path / "results"
    common = ["--runs_dir", str(runs), "--results_dir", str(results), "--threads", "1"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cli("run", str(table), *common), cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not (runs / "vae" / "step_20").is_dir():
        assert proc.poll() is None and time.time() < deadline, "the first step bundle never appeared"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out
    assert "vae: interrupted" in out and "lm: done" in out
    assert not (results / "vae.json").exists() and not (runs / "vae" / "train_summary.json").exists()
    assert (runs / "vae").is_dir() and any(d.startswith("step_") for d in os.listdir(runs / "vae"))

    assert experiments_main(["run", str(table), *common]) == 0
    vae = json.loads((results / "vae.json").read_text())
    train_commands = vae["commands"]["train"]
    assert len(train_commands) == 2 and "--init_from_ckpt" in train_commands[1]
    assert train_commands[1][train_commands[1].index("--init_from_ckpt") + 1].startswith("RUNS/vae/step_")
    assert vae["checkpoint"] == os.path.join("vae", "best")
    assert sorted(vae["iw_estimates"]) == ["3", "5"] and vae["iw_samples"] == 5  # close to the LM: K=5 too
    assert vae["stopped_by"] in ("plateau", "max_epoch") and vae["epochs"] > 0 and vae["best_step"] > 0
    assert vae["machines"] and vae["eval_peak_rss_mb"] > 50 and vae["train_wall_seconds"] > 0
    assert str(tmp_path) not in json.dumps(vae)  # every path is relative to the runs folder or the project
    lm = json.loads((results / "lm.json").read_text())
    assert list(lm["iw_estimates"]) == ["3"]  # the LM is exact: no second estimate

    # Rerunning a finished table starts nothing.
    segments = (runs / "vae" / "segments.jsonl").read_text()
    assert experiments_main(["run", str(table), *common]) == 0
    assert (runs / "vae" / "segments.jsonl").read_text() == segments

    # The same table never interrupted: the same numbers.
    fresh = ["--runs_dir", str(tmp_path / "runs2"), "--results_dir", str(tmp_path / "results2"), "--threads", "1"]
    assert experiments_main(["run", str(table), "--rows", "vae", *fresh]) == 0
    uninterrupted = json.loads((tmp_path / "results2" / "vae.json").read_text())
    assert (vae["best_step"], vae["epochs"]) == (uninterrupted["best_step"], uninterrupted["epochs"])
    resumed_eval = json.loads((runs / "vae" / "eval_3.json").read_text())
    for key in ("nll_elbo", "nll_iw", "kl", "mi", "au"):
        assert resumed_eval[key] == pytest.approx(uninterrupted[key], rel=1e-6), key

    shown = subprocess.run(cli("status", str(table), *common), env=env, capture_output=True, text=True)
    assert shown.returncode == 0 and all(re.search(rf"^{r} .* done$", shown.stdout, re.M) for r in ("vae", "lm"))
    md = markdown_table(load_table(str(table)), str(results))
    assert md.splitlines()[3].startswith("| VAE | `--bn_vae 0.7` | ") and f"{vae['nll_iw']:.2f} (5)" in md
    assert md.splitlines()[-1] == f"Machines: LM · VAE on {vae['machines'][0]}."


def test_status_and_table_of_a_table_not_started_say_so(tmp_path, capsys):
    (tmp_path / "experiments").mkdir()
    table = write_table(tmp_path / "experiments" / "tiny.json")
    common = ["--runs_dir", str(tmp_path / "runs"), "--results_dir", str(tmp_path / "results")]
    assert experiments_main(["status", str(table), *common]) == 0
    assert capsys.readouterr().out.count("not started") == 2
    assert experiments_main(["table", str(table), *common]) == 0
    out = capsys.readouterr().out
    assert "| VAE | `--bn_vae 0.7` | not started |" in out and "Machines: no row has finished." in out


def test_table_groups_finished_rows_by_the_machines_they_ran_on(tmp_path):
    (tmp_path / "experiments").mkdir()
    table = load_table(str(write_table(tmp_path / "experiments" / "tiny.json", rows=[
        {"name": "lm", "label": "A", "flags": []}, {"name": "b", "label": "B", "flags": []},
        {"name": "c", "label": "C", "flags": []}, {"name": "d", "label": "D", "flags": []}])))
    (tmp_path / "results").mkdir()
    for name, label, machines in (("lm", "A", ["cpu 1"]), ("b", "B", ["cpu 1", "cpu 2"]), ("c", "C", ["cpu 1"])):
        (tmp_path / "results" / f"{name}.json").write_text(json.dumps({"label": label, "machines": machines}))
    assert machines_line(table, str(tmp_path / "results")) == "Machines: A · C on cpu 1; B on cpu 1 then cpu 2."


def test_a_child_that_ended_with_its_runner_is_logged_by_the_next_run_up_to_its_last_write(tmp_path):
    from paddle_vae.experiments.runner import Runner

    (tmp_path / "experiments").mkdir()
    table = load_table(str(write_table(tmp_path / "experiments" / "tiny.json")))
    runner = Runner(table, str(tmp_path / "runs"), str(tmp_path / "results"), threads=1)
    row = table.rows[1]
    run = tmp_path / "runs" / row.name
    run.mkdir(parents=True)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs, as after the machine was switched off
    start = time.time() - 1000.0
    lost = {"kind": "train", "command": ["python", "-m", "paddle_vae.train"], "start": start,
            "machine": "cpu 0, 2 cores", "commit": "abc1234", "threads": 1, "jobs": 2}
    (run / "active.json").write_text(json.dumps(dict(lost, pid=gone.pid)))
    (run / "train.out").write_text("step 200/1315\n")
    os.utime(run / "train.out", (start + 600.0, start + 600.0))  # its last output, 600 s after it started

    assert runner.execute(row, "evaluate", [sys.executable, "-c", "pass"]) == 0
    first, second = runner.folder(row).segments()
    assert {k: first[k] for k in lost} == lost and first["seconds"] == pytest.approx(600.0, abs=1.0)
    assert first["returncode"] is None and first["peak_rss_mb"] is None and "lost" in first
    assert second["kind"] == "evaluate" and second["returncode"] == 0 and second["commit"] == runner.commit
    assert not (run / "active.json").exists()
    # The row's result counts the lost segment's time and commit; its unknown peak RSS is left out.
    (run / "train_summary.json").write_text(json.dumps({"epochs": 3.0, "steps": 90, "best_step": 60,
                                                         "train_seconds": 500.0, "stopped_by": "plateau"}))
    (run / "eval_3.json").write_text(json.dumps({"nll_iw": 50.0, "nll_elbo": 51.0}))
    result = runner.result(row, [3])
    assert result["train_wall_seconds"] == pytest.approx(600.0, abs=1.0) and result["train_peak_rss_mb"] is None
    assert result["commits"] == sorted({"abc1234", runner.commit}) and result["eval_peak_rss_mb"] > 0

    # A child still alive is not a lost one, and neither is a record without a segment's fields.
    (run / "active.json").write_text(json.dumps(dict(lost, pid=os.getpid())))
    assert runner.folder(row).lost_segment() is None
    (run / "active.json").write_text(json.dumps({"kind": "train", "pid": gone.pid, "start": start}))
    assert runner.folder(row).lost_segment() is None


def test_status_of_a_finished_row_whose_run_folder_is_gone_gives_its_epochs_from_the_result(tmp_path, capsys):
    (tmp_path / "experiments").mkdir()
    table = write_table(tmp_path / "experiments" / "tiny.json")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "vae.json").write_text(json.dumps({"row": "vae", "epochs": 27.0}))
    common = ["--runs_dir", str(tmp_path / "runs"), "--results_dir", str(tmp_path / "results")]
    assert experiments_main(["status", str(table), *common]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("vae "))
    assert re.fullmatch(r"vae +27 +– +– +done", line), line


def test_status_gives_the_running_evaluations_eta_not_the_trainings_and_none_when_nothing_runs(tmp_path, capsys):
    from paddle_vae.evaluation.progress import PassState, ProgressFile

    (tmp_path / "experiments").mkdir()
    table = write_table(tmp_path / "experiments" / "tiny.json")
    run = tmp_path / "runs" / "vae"
    run.mkdir(parents=True)
    epochs = [{"event": "epoch", "epoch": e, "dev_nll": 20.0 - e, "time": 100.0 * e, "lr": 1e-3} for e in (1, 2)]
    (run / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in epochs))  # training ETA: 5 min
    (run / "active.json").write_text(json.dumps({"kind": "evaluate", "pid": os.getpid(), "start": time.time()}))
    ProgressFile(str(run / "eval_3.progress.npz"), {}).save(  # 120 sentences left at 60 s each
        PassState(num_sentences=10, seconds=600.0, timed_sentences=10, total_sentences=130), force=True)
    common = ["--runs_dir", str(tmp_path / "runs"), "--results_dir", str(tmp_path / "results")]
    assert experiments_main(["status", str(table), *common]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("vae "))
    assert "2.0 h" in line and "evaluate (pid" in line, line

    # Nothing running (the evaluation was cut off): no stage to time, so no ETA, not the epochs' 5 min.
    (run / "active.json").unlink()
    (run / "step_20").mkdir()
    (run / "step_20" / "config.json").write_text("{}")
    assert experiments_main(["status", str(table), *common]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("vae "))
    assert re.fullmatch(r"vae +2 +18\.00 +0\.001 +– +interrupted: resumes from step_20", line), line


def test_a_bad_table_file_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"dataset": "sample", "rows": [{"name": "a", "flagz": []}]}))
    assert experiments_main(["status", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: table") and "flagz" in err and len(err.strip().splitlines()) == 1


def test_the_rate_picture_plots_every_finished_row_and_refuses_an_empty_table(tmp_path, capsys):
    from paddle_vae import plot

    (tmp_path / "experiments").mkdir()
    table = write_table(tmp_path / "experiments" / "tiny.json")
    out = tmp_path / "rate.png"
    assert plot.main(["--rate", str(table), "--output", str(out)]) == 2
    assert "no finished VAE row" in capsys.readouterr().err and not out.exists()
    results = tmp_path / "docs" / "results" / "tiny"
    results.mkdir(parents=True)
    for name, label, kl, nll, bleu in (("lm", "LM", 0.0, 50.0, None), ("vae", "VAE", 4.0, 49.5, 3.0)):
        (results / f"{name}.json").write_text(json.dumps({"label": label, "kl": kl, "nll_iw": nll,
                                                          "bleu_greedy": bleu}))
    assert plot.main(["--rate", str(table), "--output", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table_update_rewrites_only_the_generated_block(tmp_path, capsys):
    (tmp_path / "experiments").mkdir()
    table = write_table(tmp_path / "experiments" / "tiny.json")
    page = tmp_path / "page.md"
    page.write_text(f"before\n<!-- table {table} -->\nstale\n<!-- /table -->\nafter\n")
    common = ["--results_dir", str(tmp_path / "results")]
    assert experiments_main(["table", str(table), *common, "--update", str(page)]) == 0
    expected = markdown_table(load_table(str(table)), str(tmp_path / "results"))
    assert page.read_text() == f"before\n<!-- table {table} -->\n{expected}\n<!-- /table -->\nafter\n"
    (tmp_path / "other.md").write_text("no block\n")
    assert experiments_main(["table", str(table), *common, "--update", str(tmp_path / "other.md")]) == 2


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          capture_output=True, text=True, check=True).stdout.strip()


def _background(repo, table, tmp_path):
    """`repo`'s experiments/background.sh for TABLE, with its runs and clone under tmp_path."""
    env = dict(os.environ, PADDLE_VAE_PYTHON=sys.executable, PADDLE_VAE_RUNS=str(tmp_path / "runs"),
               PADDLE_VAE_TABLE_CODE=str(tmp_path / "code"))
    script = ["bash", str(repo / "experiments" / "background.sh")]

    def run(action, *extra, code=None):
        return subprocess.run(script + [action, str(table), *extra], capture_output=True, text=True, timeout=120,
                              env=dict(env, PADDLE_VAE_TABLE_CODE=str(code)) if code else env)
    return run


@pytest.mark.slow
def test_background_script_runs_a_table_under_nohup_refuses_a_second_start_and_reports_its_state(tmp_path):
    """The run comes from a clone of the checkout's committed HEAD: here the checkout (a clone of this one)
    has a work-tree paddle_vae/train.py that fails, and the table still trains."""
    repo = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    (repo / "paddle_vae" / "train.py").write_text('raise SystemExit("the work tree was used, not the clone")\n')
    table = helpers.write_table(tmp_path / "one.json", [{"name": "lm", "label": "LM", "flags": ["--model", "lm"]}],
                                ["--max_epoch", "1", "--log_freq", "50"], {"iw_samples": 2, "baseline": "lm"},
                                save_steps=50)  # outside the checkout: read where it is
    run = _background(repo, table, tmp_path)
    results = tmp_path / "results"
    try:
        started = run("start", "--results_dir", str(results), "--threads", "1")
        assert started.returncode == 0 and "one: started at" in started.stdout, started.stderr
        again = run("start", "--results_dir", str(results))
        assert again.returncode == 1 and "already running" in again.stderr
        deadline = time.time() + 300
        while run("status").stdout.startswith("one: running"):
            assert time.time() < deadline, (tmp_path / "runs" / "one" / "runner.out").read_text()
            time.sleep(1)
        assert (results / "lm.json").is_file(), (tmp_path / "runs" / "one" / "runner.out").read_text()
        result = json.loads((results / "lm.json").read_text())
        assert result["label"] == "LM" and result["commits"] == [_git(tmp_path / "code", "rev-parse", "HEAD")]
        assert run("stop").stdout.strip() == "one: not running"
    finally:
        run("stop")


def test_background_script_refuses_a_clone_folder_it_did_not_make_and_an_uncommitted_table(tmp_path):
    """`start` deletes and re-clones its code folder, and the clone reads HEAD's table: every refusal comes
    before anything is touched."""
    repo = tmp_path / "repo"
    (repo / "experiments").mkdir(parents=True)
    (repo / "scripts").mkdir()
    for rel in ("experiments/background.sh", "scripts/ensure_env.sh", "scripts/check_env.py"):
        (repo / rel).write_text((ROOT / rel).read_text())
    table = repo / "experiments" / "t.json"
    table.write_text("{}")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "t")
    run = _background(repo, table, tmp_path)

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    other = tmp_path / "other_project"  # a git repository, but not a clone of this checkout
    other.mkdir()
    (other / "work.txt").write_text("keep me too")
    _git(other, "init", "-q")
    for code, message in ((mine, "not a clone made by this script"), (other, "not a clone made by this script"),
                          (tmp_path, "a folder above it"), (tmp_path / "runs", "are inside")):
        refused = run("start", code=code)
        assert refused.returncode == 2 and message in refused.stderr, (code, refused.stderr)
    assert (mine / "notes.txt").read_text() == "keep me" and (other / "work.txt").read_text() == "keep me too"
    table.write_text('{"edited": true}')
    edited = run("start")
    assert edited.returncode == 2 and "differs from HEAD" in edited.stderr
    untracked = repo / "experiments" / "new.json"
    untracked.write_text("{}")
    refused = _background(repo, untracked, tmp_path)("start")
    assert refused.returncode == 2 and "is not committed" in refused.stderr
    assert not (tmp_path / "code").exists() and not (tmp_path / "runs").exists()
