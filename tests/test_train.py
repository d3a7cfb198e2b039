"""End-to-end training: loss falls, bundles and summary are complete, resume is exact, bad input fails cleanly."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import FIXTURES, ROOT, TINY, run_train
from paddle_vae.bundle import CONFIG_FILE, OPT_FILE, PARAMS_FILE, STATE_FILE, VOCAB_FILE
from paddle_vae.errors import CheckpointError, UsageError


def read_log(path):
    return [json.loads(line) for line in (path / "train_log.jsonl").read_text().splitlines()]


def test_tiny_training_lowers_the_loss_and_writes_complete_bundles(trained_bundle):
    steps = [r for r in read_log(trained_bundle) if r["event"] == "step"]
    epochs = [r for r in read_log(trained_bundle) if r["event"] == "epoch"]
    assert len(steps) == 12 * 94 // 47
    assert sum(r["rec"] for r in steps[-4:]) < 0.8 * sum(r["rec"] for r in steps[:4])
    assert epochs[-1]["dev_nll"] < 0.8 * epochs[0]["dev_nll"]
    for name in ("final", "best"):
        files = set(os.listdir(trained_bundle / name))
        assert {PARAMS_FILE, OPT_FILE, CONFIG_FILE, VOCAB_FILE, STATE_FILE} <= files
        assert not [f for f in os.listdir(trained_bundle) if ".tmp" in f or ".old" in f]
    summary = json.loads((trained_bundle / "train_summary.json").read_text())
    for key in ("steps", "epochs", "last_loss", "train_seconds", "train_tokens", "dev", "test", "final", "best"):
        assert key in summary
    assert summary["steps"] == 12 * 94
    assert summary["best"]["valid"]["nll_elbo"] <= summary["final"]["valid"]["nll_elbo"] + 1.0
    config = json.loads((trained_bundle / "final" / CONFIG_FILE).read_text())
    assert config["pad_id"] not in (config["bos_id"], config["eos_id"])


def test_best_bundle_is_the_lowest_dev_nll(trained_bundle):
    epochs = [r for r in read_log(trained_bundle) if r["event"] == "epoch"]
    best = min(epochs, key=lambda r: r["dev_nll"])
    state = json.loads((trained_bundle / "best" / STATE_FILE).read_text())
    assert state["global_step"] == best["step"]


def test_demo_samples_end_with_eos(trained_bundle):
    from paddle_vae.generator import VAEGenerator

    vae = VAEGenerator.from_pretrained(str(trained_bundle / "final"))
    vae.net.max_out_len = 40
    import paddle

    paddle.seed(1)
    ids = vae.model.predict_batch([vae.net.sample_prior(100).numpy()])[0]
    ended = sum(int(vae.config["eos_id"] in list(row)) for row in ids)
    assert ended >= 90  # the reference: 0 of 32 ever ended


def test_resumed_run_matches_an_uninterrupted_one(tmp_path):
    common = TINY + ["--dataset", "sample", "--max_epoch", "3", "--dec_dropout", "0.5", "--seed", "5"]
    assert run_train(common + ["--model_path", str(tmp_path / "a"), "--max_steps", "130"]) == 0
    assert run_train(common + ["--model_path", str(tmp_path / "b"), "--max_steps", "65", "--save_steps", "65"]) == 0
    assert run_train(common + ["--model_path", str(tmp_path / "b"), "--max_steps", "130",
                               "--init_from_ckpt", str(tmp_path / "b" / "step_65")]) == 0
    a = json.loads((tmp_path / "a" / "train_summary.json").read_text())
    b = json.loads((tmp_path / "b" / "train_summary.json").read_text())
    assert b["steps"] == a["steps"] == 130  # crosses an epoch boundary (94 steps/epoch)
    assert b["last_loss"] == pytest.approx(a["last_loss"], rel=1e-5)


def test_save_steps_keeps_only_the_last_k(tmp_path):
    out = tmp_path / "m"
    assert run_train(TINY + ["--dataset", "sample", "--model_path", str(out), "--max_steps", "40",
                             "--save_steps", "10", "--keep_last", "2"]) == 0
    assert sorted(d for d in os.listdir(out) if d.startswith("step_")) == ["step_30", "step_40"]


def test_ptb_smoke_run_writes_a_summary(ptb_dir, tmp_path):
    out = tmp_path / "ptb"
    args = ["--dataset", "ptb", "--data_dir", str(ptb_dir), "--model_path", str(out), "--max_steps", "3",
            "--batch_size", "16", "--embed_dim", "32", "--hidden_size", "32", "--num_threads", "1",
            "--device", "cpu", "--final_eval", "test"]
    assert run_train(args) == 0
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 3 and summary["test"]["num_sentences"] == 3761


@pytest.mark.parametrize("flags, message", [
    (["--batch_size", "0"], "--batch_size must be a positive integer"),
    (["--dec_dropout", "-0.1"], "--dec_dropout must be in [0, 1)"),
    (["--latent_size", "0"], "--latent_size must be a positive integer"),
])
def test_nonsense_flags_are_rejected(flags, message, tmp_path):
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace(")", r"\)")):
        _raw_train(flags + ["--model_path", str(tmp_path)])


def _raw_train(argv):
    from paddle_vae import train

    return train.main.__wrapped__(argv)


def test_cli_error_is_one_line_with_exit_code_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "paddle_vae.train", "--dataset", "text", "--data_dir",
                           str(tmp_path / "missing"), "--model_path", str(tmp_path / "m")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "missing" in errors[0]
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("damage", ["missing", "no_params", "garbled_params", "bad_json"])
def test_broken_checkpoints_are_rejected(trained_bundle, tmp_path, damage):
    import shutil

    ckpt = tmp_path / "ckpt"
    if damage != "missing":
        shutil.copytree(trained_bundle / "final", ckpt)
    if damage == "no_params":
        (ckpt / PARAMS_FILE).unlink()
    elif damage == "garbled_params":
        (ckpt / PARAMS_FILE).write_bytes(b"\x00garbage" * 10)
    elif damage == "bad_json":
        (ckpt / CONFIG_FILE).write_text("{not json")
    with pytest.raises(CheckpointError):
        _raw_train(TINY + ["--dataset", "sample", "--model_path", str(tmp_path / "m"), "--init_from_ckpt",
                           str(ckpt)])


def test_checkpoint_that_does_not_fit_the_flags_is_rejected(trained_bundle, tmp_path):
    flags = [f for f in TINY]
    flags[flags.index("--hidden_size") + 1] = "64"
    with pytest.raises(CheckpointError, match="hidden_size 64"):
        _raw_train(flags + ["--dataset", "sample", "--model_path", str(tmp_path / "m"), "--init_from_ckpt",
                            str(trained_bundle / "final")])


def test_checkpoint_vocabulary_must_fit_the_corpus(trained_bundle, tmp_path):
    import shutil

    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained_bundle / "final", ckpt)
    with open(ckpt / VOCAB_FILE, "a") as f:
        f.write("extra-token\n")
    with pytest.raises(CheckpointError, match="vocab"):
        _raw_train(TINY + ["--dataset", "sample", "--model_path", str(tmp_path / "m"), "--init_from_ckpt",
                           str(ckpt)])


def test_gpu_request_without_gpu_falls_back_to_cpu():
    import paddle

    from paddle_vae.runtime import set_device

    if paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
        pytest.skip("a GPU is present")
    with pytest.warns(UserWarning, match="no GPU"):
        assert set_device("gpu") == "cpu"


@pytest.mark.slow
def test_two_process_data_parallel_run_matches_one_process(tmp_path):
    """paddle.distributed.launch with 2 CPU processes: one bundle set, one log, the same dev NLL."""
    flags = ["--dataset", "sample", "--max_steps", "30", "--max_epoch", "1", "--embed_dim", "16", "--hidden_size",
             "32", "--latent_size", "8", "--log_freq", "10", "--dec_dropout", "0", "--device", "cpu"]
    assert run_train(flags + ["--model_path", str(tmp_path / "one"), "--num_threads", "1"]) == 0
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir",
                           str(tmp_path / "launch_log"), str(ROOT / "scripts" / "train_entry.py")]
                          + flags + ["--model_path", str(tmp_path / "two")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    two = read_log(tmp_path / "two")
    assert [r["step"] for r in two if r["event"] == "step"] == [10, 20, 30]  # rank 0 alone writes the log
    assert sorted(d for d in os.listdir(tmp_path / "two") if not d.endswith((".jsonl", ".json", ".lock"))) \
        == ["best", "final"]
    dev_two = [r["dev_nll"] for r in two if r["event"] == "epoch"][-1]
    dev_one = [r["dev_nll"] for r in read_log(tmp_path / "one") if r["event"] == "epoch"][-1]
    assert dev_two == pytest.approx(dev_one, rel=0.01)


@pytest.mark.slow
def test_two_process_plateau_rewind_needs_no_shared_disk(tmp_path):
    """Plateaus in a 2-process run rewind every rank from its in-memory copy: rank 1, barred from reading
    any bundle, ends with rank 0's parameters (a rank that had not rewound would keep drifted weights)."""
    flags = ["--dataset", "yahoo", "--data_dir", str(FIXTURES / "yahoo"), "--embed_dim", "16", "--hidden_size",
             "32", "--latent_size", "8", "--batch_size", "4", "--max_epoch", "8", "--learning_rate", "0.1",
             "--lr_decay", "plateau", "--decay_patience", "1", "--max_decays", "3", "--final_eval", "none",
             "--device", "cpu", "--model_path", str(tmp_path / "two")]
    env = dict(os.environ, PYTHONPATH=str(ROOT), PARAMS_DUMP_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir",
                           str(tmp_path / "launch_log"), str(ROOT / "tests" / "dp_rewind_entry.py")] + flags,
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    decays = [r for r in read_log(tmp_path / "two") if r["event"] == "lr_decay"]
    assert decays, "no plateau happened, so the rewind was not exercised"
    rank0, rank1 = np.load(tmp_path / "rank0.npy"), np.load(tmp_path / "rank1.npy")
    np.testing.assert_array_equal(rank1, rank0)


def test_non_finite_loss_stops_with_the_step_and_keeps_the_last_good_bundle(tmp_path):
    from paddle_vae.training.callbacks import TrainingDiverged

    out = tmp_path / "m"
    with pytest.raises(TrainingDiverged, match=r"at step (\d+)") as err:
        _raw_train(TINY + ["--dataset", "sample", "--model_path", str(out), "--learning_rate", "1e30",
                           "--max_grad_norm", "1e30", "--save_steps", "1", "--max_epoch", "1"])
    import re

    bad_step = int(re.search(r"at step (\d+)", str(err.value)).group(1))
    saved = sorted(int(d[5:]) for d in os.listdir(out) if d.startswith("step_"))
    assert saved and saved[-1] == bad_step - 1


def test_sigterm_writes_a_step_bundle_and_exits_cleanly(tmp_path):
    import signal
    import time

    out = tmp_path / "m"
    proc = subprocess.Popen([sys.executable, "-m", "paddle_vae.train"] + TINY + [
        "--dataset", "sample", "--model_path", str(out), "--max_epoch", "50", "--log_freq", "5"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = out / "train_log.jsonl"
    deadline = time.time() + 120
    while not (log.exists() and log.read_text().count("\n") >= 2) and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output[-2000:]
    assert "Traceback" not in output and "stopped by SIGTERM" in output
    assert "Eval samples: 0" not in output  # the dev pass the stop skipped is not reported as empty
    steps = [d for d in os.listdir(out) if d.startswith("step_")]
    assert len(steps) == 1 and (out / steps[0] / PARAMS_FILE).is_file()
    assert not (out / "final").exists()
    resumed = run_train(TINY + ["--dataset", "sample", "--model_path", str(out), "--max_epoch", "1",
                                "--init_from_ckpt", str(out / steps[0])])
    assert resumed == 0


def test_finetune_loads_weights_but_starts_a_fresh_schedule(trained_bundle, tmp_path):
    out = tmp_path / "ft"
    flags = [f for f in TINY]
    common = flags + ["--dataset", "sample", "--max_steps", "5", "--log_freq", "1", "--final_eval", "none"]
    assert run_train(common + ["--model_path", str(out), "--init_from_ckpt", str(trained_bundle / "final"),
                               "--finetune", "--use_visualdl"]) == 0
    assert run_train(common + ["--model_path", str(tmp_path / "fresh")]) == 0
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 5  # counted from zero, not from the bundle's step
    assert (out / "visualdl").is_dir() and os.listdir(out / "visualdl")
    tuned, fresh = ([r for r in read_log(path) if r["event"] == "step"][0] for path in (out, tmp_path / "fresh"))
    assert tuned["loss"] < 0.8 * fresh["loss"]  # the trained weights were loaded: the first batch is far better
    assert tuned["kl_weight"] == pytest.approx(fresh["kl_weight"])  # ... under a fresh anneal


def test_step_records_average_the_steps_since_the_last_record(tmp_path):
    """A log point is the mean of its window, not the (length-sorted, so biased) last batch."""
    from conftest import TINY, run_train

    def steps(log_freq):
        out = tmp_path / f"every{log_freq}"
        assert run_train(TINY + ["--dataset", "sample", "--model_path", str(out), "--max_steps", "8",
                                 "--log_freq", str(log_freq)]) == 0
        return [r for r in read_log(out) if r["event"] == "step"]

    single, windows = steps(1), steps(4)
    assert [r["step"] for r in windows] == [4, 8]
    for i, window in enumerate(windows):
        batch = single[4 * i:4 * i + 4]
        for key in ("loss", "rec", "kl"):
            assert window[key] == pytest.approx(sum(r[key] for r in batch) / 4, rel=1e-5)
        assert window["rec"] != pytest.approx(batch[-1]["rec"], rel=1e-3)


def test_final_eval_none_and_the_sentence_cap_bound_the_summary(tmp_path):
    """--final_eval none skips the end-of-training metrics; --final_eval_sentences caps them."""
    common = TINY + ["--dataset", "sample", "--max_steps", "3"]
    assert run_train(common + ["--model_path", str(tmp_path / "none"), "--final_eval", "none"]) == 0
    summary = json.loads((tmp_path / "none" / "train_summary.json").read_text())
    assert summary["steps"] == 3 and summary["final_eval"] == "none"
    assert not {"dev", "test", "final", "best"} & set(summary)
    assert run_train(common + ["--model_path", str(tmp_path / "cap"), "--final_eval", "test",
                               "--final_eval_sentences", "7"]) == 0
    summary = json.loads((tmp_path / "cap" / "train_summary.json").read_text())
    assert summary["final_eval_sentences"] == 7 and "dev" not in summary
    assert summary["test"]["num_sentences"] == summary["best"]["test"]["num_sentences"] == 7


def test_signal_during_the_dev_pass_finishes_it_and_resumes_like_an_uninterrupted_run(tmp_path, monkeypatch):
    """The dev pass is recorded before step_N is written, so best/, the plateau count and the LR carry over."""
    import signal

    from paddle_vae.training.callbacks import VAETrainCallback

    common = TINY + ["--dataset", "sample", "--max_epoch", "3", "--seed", "5", "--lr_decay", "plateau",
                     "--decay_patience", "1", "--final_eval", "none"]
    assert run_train(common + ["--model_path", str(tmp_path / "a")]) == 0
    fired = []

    def signal_in_second_dev_pass(self, step, logs=None):
        if self.run.state.epoch == 2 and not fired:  # the run behind the callback: the Trainer
            fired.append(step)
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(VAETrainCallback, "on_eval_batch_end", signal_in_second_dev_pass, raising=False)
    assert run_train(common + ["--model_path", str(tmp_path / "b")]) == 0
    monkeypatch.undo()
    assert fired and sorted(d for d in os.listdir(tmp_path / "b") if d.startswith("step_")) == ["step_188"]
    assert not (tmp_path / "b" / "final").exists()
    assert run_train(common + ["--model_path", str(tmp_path / "b"), "--init_from_ckpt",
                               str(tmp_path / "b" / "step_188")]) == 0
    epochs = [[r["step"], r["dev_nll"]] for r in read_log(tmp_path / "b") if r["event"] == "epoch"]
    assert epochs == [[r["step"], r["dev_nll"]] for r in read_log(tmp_path / "a") if r["event"] == "epoch"]
    for name in ("best", "final"):
        a, b = (json.loads((tmp_path / run / name / STATE_FILE).read_text()) for run in "ab")
        for key in ("global_step", "best_step", "best_dev_nll", "bad_epochs", "num_decays", "lr", "last_loss"):
            assert b[key] == pytest.approx(a[key], rel=1e-5), (name, key)


def test_a_resumed_run_numbers_its_epochs_from_where_it_stopped(capsys):
    from paddle_vae.training.callbacks import VAEProgBar

    bar = VAEProgBar(log_freq=10, verbose=2, first_epoch=29)  # a 40-epoch run resumed after epoch 29
    bar.set_params({"epochs": 11, "steps": 5, "verbose": 2, "metrics": ["loss"]})
    bar.on_train_begin()
    bar.on_epoch_begin(0)
    bar.on_epoch_begin(10)
    headers = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch")]
    assert headers == ["Epoch 30/40", "Epoch 40/40"]
