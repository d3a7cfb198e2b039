"""Bundles that run none of their author's code, runs that overwrite nothing unasked, and writes that fail
cleanly (one line, exit 2, no debris)."""
import builtins
import errno
import os
import pickle
import shutil
import subprocess
import sys

import numpy as np
import paddle  # noqa: F401  imported before any capsys: hapi's progress bar keeps the sys.stdout of import time
import pytest

from conftest import FIXTURES, ROOT, TINY, run_train
from paddle_vae import bundle, predict, prepare_corpus
from paddle_vae.bundle import PARAMS_FILE, PICKLE_OPT_FILE, PICKLE_PARAMS_FILE, read_bundle
from paddle_vae.errors import CheckpointError
from paddle_vae.training.run_dir import RunDirLock

SHORT = TINY + ["--dataset", "sample", "--max_steps", "6", "--final_eval", "none"]


class _Payload:
    """Unpickling this runs `touch MARKER`: what a malicious shared bundle could do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "m"
    assert run_train(SHORT + ["--model_path", str(out), "--save_steps", "3"]) == 0
    return out


def old_format_copy(src, dst, payload_marker=None):
    """`src` rewritten as an old (pickle) bundle; with a marker, its weights file is a code-running pickle."""
    shutil.copytree(src, dst)
    state = bundle.load_tensors(str(dst / PARAMS_FILE))
    for name in (PARAMS_FILE, bundle.OPT_FILE):
        (dst / name).unlink(missing_ok=True)
    if payload_marker is None:
        paddle.save(state, str(dst / PICKLE_PARAMS_FILE))
    else:
        (dst / PICKLE_PARAMS_FILE).write_bytes(pickle.dumps(_Payload(payload_marker)))
    return dst


def test_loading_never_unpickles_only_convert_does(small_run, tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = old_format_copy(small_run / "final", tmp_path / "evil", payload_marker=marker)
    from paddle_vae.generator import VAEGenerator

    with pytest.raises(CheckpointError, match="pickle.*convert"):
        VAEGenerator.from_pretrained(str(evil))
    out = tmp_path / "samples.txt"
    assert predict.main(["--init_from_ckpt", str(evil), "--infer_output_file", str(out), "--num_samples", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "can run code" in err[0]
    assert not marker.exists() and not out.exists()
    # The payload is real: `convert`, for bundles whose author you trust, does run it (and then refuses it).
    assert bundle.main(["convert", str(evil), str(tmp_path / "converted")]) == 2
    assert marker.exists() and not (tmp_path / "converted").exists()


def test_an_old_bundle_converts_to_the_same_weights_and_resumes(small_run, tmp_path):
    old = old_format_copy(small_run / "step_6", tmp_path / "old")
    opt = bundle.load_tensors(str(small_run / "step_6" / bundle.OPT_FILE))
    paddle.save(opt, str(old / PICKLE_OPT_FILE))
    with pytest.raises(CheckpointError):
        read_bundle(str(old))
    assert bundle.main(["convert", str(old), str(tmp_path / "new")]) == 0
    _, _, converted, state = read_bundle(str(tmp_path / "new"))
    _, _, original, _ = read_bundle(str(small_run / "step_6"))
    assert sorted(converted) == sorted(original) and state["global_step"] == 6
    for key in original:
        np.testing.assert_array_equal(converted[key].numpy(), original[key].numpy())
    assert run_train(SHORT + ["--model_path", str(tmp_path / "resumed"), "--max_steps", "8", "--init_from_ckpt",
                              str(tmp_path / "new")]) == 0
    assert bundle.main(["convert", str(old), str(tmp_path / "new")]) == 2  # never over an existing folder


def test_a_swap_a_kill_cut_short_is_undone_by_the_next_training_not_by_a_reader(small_run, tmp_path):
    """A kill between a bundle swap's two renames leaves only NAME.oldPID. Reading NAME changes nothing on
    disk (it is not there); the training that continues the run puts it back, under the folder's lock."""
    model = tmp_path / "m"
    shutil.copytree(small_run, model)
    writer = subprocess.Popen([sys.executable, "-c", ""])
    writer.wait()  # a writer that is no longer running
    (model / "step_6").rename(model / f"step_6.old{writer.pid}")
    before = sorted(os.listdir(model))
    with pytest.raises(CheckpointError, match="not found"):
        read_bundle(str(model / "step_6"))
    assert sorted(os.listdir(model)) == before
    assert run_train(SHORT + ["--model_path", str(model), "--max_steps", "8", "--init_from_ckpt",
                              str(model / "step_6")]) == 0
    assert read_bundle(str(model / "final"))[3]["global_step"] == 8
    assert (model / "step_6").is_dir() and not [p for p in os.listdir(model) if ".old" in p]


def test_training_into_a_trained_folder_stops_unless_it_continues_or_overwrites(small_run, tmp_path, capsys):
    model = tmp_path / "m"
    shutil.copytree(small_run, model)
    before = (model / "final" / PARAMS_FILE).read_bytes()
    assert run_train(SHORT + ["--model_path", str(model)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--init_from_ckpt {model / 'step_6'}" in err[0] and "--overwrite" in err[0]
    assert (model / "final" / PARAMS_FILE).read_bytes() == before
    assert run_train(SHORT + ["--model_path", str(model), "--max_steps", "9", "--init_from_ckpt",
                              str(model / "step_6")]) == 0  # continuing the run in its own folder
    assert read_bundle(str(model / "final"))[3]["global_step"] == 9
    assert run_train(SHORT + ["--model_path", str(model), "--max_steps", "2", "--overwrite"]) == 0
    assert read_bundle(str(model / "final"))[3]["global_step"] == 2 and not (model / "step_6").exists()


def test_a_second_training_into_a_folder_in_use_stops(tmp_path, capsys):
    lock = RunDirLock(str(tmp_path / "m")).acquire()
    try:
        assert run_train(SHORT + ["--model_path", str(tmp_path / "m")]) == 2
    finally:
        lock.release()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"pid {os.getpid()}" in err[0]
    assert not (tmp_path / "m" / "final").exists()


def test_prepare_corpus_keeps_existing_split_files(tmp_path, capsys):
    raw, split = FIXTURES / "raw" / "en_wrapped.txt", ["--split", "0.6,0.2,0.2"]
    out = tmp_path / "corpus"
    out.mkdir()
    (out / "train.txt").write_text("mine\n")
    assert prepare_corpus.main([str(raw), "--output_dir", str(out), *split]) == 2
    assert "--overwrite" in capsys.readouterr().err and (out / "train.txt").read_text() == "mine\n"
    assert prepare_corpus.main([str(raw), "--output_dir", str(out), *split, "--overwrite"]) == 0
    assert (out / "train.txt").read_text() != "mine\n"


def no_space_on(monkeypatch, should_fail):
    """open() raises ENOSPC for writes whose path `should_fail(path)` picks: a full disk at one write site."""
    real_open = builtins.open

    def fake_open(file, mode="r", *args, **kwargs):
        if any(m in mode for m in "wa") and should_fail(str(file)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)


@pytest.mark.parametrize("site", ["step_bundle", "log", "summary"])
def test_a_full_disk_while_training_is_one_line_and_leaves_no_debris(tmp_path, monkeypatch, capsys, site):
    model = tmp_path / "m"
    picks = {"step_bundle": lambda p: "step_4.tmp" in p and p.endswith(PARAMS_FILE + f".tmp{os.getpid()}"),
             "log": lambda p: p.endswith("train_log.jsonl") and (model / "step_2").exists(),
             "summary": lambda p: "train_summary.json" in p}
    no_space_on(monkeypatch, picks[site])
    assert run_train(SHORT + ["--model_path", str(model), "--save_steps", "2", "--log_freq", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {model}") and "No space left on device" in err[0]
    assert not [p for p in os.listdir(model) if ".tmp" in p]
    monkeypatch.undo()
    read_bundle(str(model / "step_2"))  # the earlier bundle is intact


def test_inference_output_full_disk_and_missing_folder(small_run, tmp_path, monkeypatch, capsys):
    nested = tmp_path / "no" / "such" / "dir" / "out.txt"
    assert predict.main(["--init_from_ckpt", str(small_run / "final"), "--infer_output_file", str(nested),
                         "--num_samples", "2", "--quiet"]) == 0
    assert len(nested.read_text().splitlines()) == 2
    no_space_on(monkeypatch, lambda p: "full.txt" in p)
    assert predict.main(["--init_from_ckpt", str(small_run / "final"), "--infer_output_file",
                         str(tmp_path / "full.txt"), "--num_samples", "2", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {tmp_path / 'full.txt'}: No space left on device"]
    assert not [p for p in os.listdir(tmp_path) if "full.txt" in p]


@pytest.mark.parametrize("flag", ["--learning_rate", "--max_grad_norm", "--kl_start", "--lr_decay_factor"])
def test_a_non_finite_float_flag_is_refused(flag, tmp_path, capsys):
    assert run_train(SHORT + [flag, "nan", "--model_path", str(tmp_path / "m")]) == 2
    assert f"{flag} must be" in capsys.readouterr().err and not (tmp_path / "m").exists()


def test_a_real_full_disk_is_one_line(tmp_path):
    """A real small tmpfs (root on Linux only): the run fills it with step bundles."""
    mount = tmp_path / "tiny_disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    try:
        proc = subprocess.run([sys.executable, "-m", "paddle_vae.train", *SHORT, "--max_steps", "200",
                               "--save_steps", "1", "--model_path", str(mount / "m")],
                              cwd=ROOT, capture_output=True, text=True, timeout=300,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert proc.returncode == 2, proc.stderr[-2000:]
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "No space left on device" in errors[0] and "Traceback" not in proc.stderr
        left = os.listdir(mount / "m")
        assert not [p for p in left if ".tmp" in p]
        steps = sorted(int(p[5:]) for p in left if p.startswith("step_"))
        assert steps and read_bundle(str(mount / "m" / f"step_{steps[-1]}"))[3]["global_step"] == steps[-1]
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


@pytest.mark.slow
def test_a_wheel_install_trains_predicts_and_evaluates_outside_the_source_tree(tmp_path):
    site, work = tmp_path / "site", tmp_path / "elsewhere"
    work.mkdir()
    build = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                            "--target", str(site), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    assert (site / "paddle_vae" / "data" / "demo_corpus" / "train.txt").is_file()
    env = dict(os.environ, PYTHONPATH=str(site))

    def run(script, *argv):
        proc = subprocess.run([str(site / "bin" / script), *argv], cwd=work, env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-1000:] + proc.stderr[-2000:]
        return proc.stdout

    small = ["--embed_dim", "16", "--hidden_size", "32", "--latent_size", "8", "--num_threads", "1"]
    run("paddle-vae-train", "--max_steps", "5", "--final_eval", "none", *small)
    run("paddle-vae-predict", "--num_samples", "3")
    assert len((work / "infer_output.txt").read_text().splitlines()) == 3
    out = run("paddle-vae-evaluate", "--init_from_ckpt", "model/final", "--iw_samples", "2", "--max_sentences", "16",
              "--no_bleu", "--quiet")
    assert "nll_iw" in out
    where = subprocess.run([sys.executable, "-c", "import paddle_vae; print(paddle_vae.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True)
    assert where.stdout.startswith(str(site))  # the installed copy ran, not the source tree
