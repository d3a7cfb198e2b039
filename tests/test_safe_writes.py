"""Nothing lost, nothing unbounded, no traceback (issue 42): what the package writes, how it reads lines, and
what Ctrl-C and a full disk do. One test per defect the issue lists (1, 2, 3, 6, 7, 8, 11, 13, 15)."""
import builtins
import errno
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import FIXTURES, ROOT, TINY, run_train
from paddle_vae import predict, prepare_corpus
from paddle_vae.data.reading import read_lines, text_lines
from paddle_vae.files import clean_leftovers

SENTS = ["the cat sat on the mat .", "a dog ran in the park ."]
TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>"] + sorted(set(" ".join(SENTS).split()))
EN = FIXTURES / "raw" / "en_wrapped.txt"
SPLIT = ["--split", "0.6,0.2,0.2"]


@pytest.fixture(scope="module")
def vae():
    from paddle_vae.generator import untrained_generator

    return untrained_generator(TOKENS, embed_dim=8, hidden_size=8, latent_size=4)


@pytest.fixture(scope="module")
def bundle(vae, tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "bundle"
    vae.save_pretrained(str(path))
    return path


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def snapshot(folder):
    """Every file under `folder`, by its relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def run_main(main, argv):
    """A command's exit status; "raised" when an interrupt escaped it (it must not stop pytest here)."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        return "raised"


# 1 ------------------------------------------------------------------------------------------------------------
def test_save_pretrained_replaces_only_a_bundle_and_only_when_asked(vae, tmp_path, monkeypatch):
    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    run = tmp_path / "model"
    for name in ("best", "final"):
        vae.save_pretrained(str(run / name))
    (run / "train_log.jsonl").write_text("{}\n")
    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    before = {p: snapshot(p) for p in (user, run)}
    for path in (user, run, a_file):
        with pytest.raises(ValueError, match=re.escape(str(path))):
            vae.save_pretrained(str(path))
        with pytest.raises(ValueError):
            vae.save_pretrained(str(path), overwrite=True)  # never a run folder, a user's folder or a file
    assert {p: snapshot(p) for p in (user, run)} == before and a_file.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "model", "user"]  # no PATH.old*, no .tmp*

    monkeypatch.chdir(user)
    with pytest.raises(ValueError, match="current folder"):
        vae.save_pretrained(".")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "model", "user"] and snapshot(user) == before[user]

    with pytest.raises(ValueError, match="overwrite=True"):
        vae.save_pretrained(str(run / "best"))
    vae.save_pretrained(str(run / "best"), overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["best", "final", "train_log.jsonl"]


# 2 ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["reconstruct", "encode"])
def test_predict_never_writes_onto_its_input_nor_over_a_file_unasked(bundle, tmp_path, capsys, mode):
    given = tmp_path / "in.txt"
    given.write_text("\n".join(SENTS) + "\n")
    alias = tmp_path / "alias.txt"
    alias.symlink_to(given)
    base = ["--init_from_ckpt", str(bundle), "--mode", mode, "--input_file", str(given), "--num_threads", "1"]
    for target in (given, alias, bundle / "out.txt"):
        assert predict.main(base + ["--infer_output_file", str(target)]) == 2
        assert "input" in one_line(capsys)
    assert given.read_text() == "\n".join(SENTS) + "\n" and not (bundle / "out.txt").exists()

    out = tmp_path / "out.txt"
    out.write_text("earlier results\n")
    assert predict.main(base + ["--infer_output_file", str(out)]) == 2
    assert "--overwrite" in one_line(capsys) and out.read_text() == "earlier results\n"
    assert predict.main(base + ["--infer_output_file", str(out), "--overwrite"]) == 0
    assert len(out.read_text().split("\n")) == 3


# 3 ------------------------------------------------------------------------------------------------------------
def fail_writes_to(monkeypatch, name, error):
    """open() for writing a path whose file name starts with `name` raises `error` (a full disk, a Ctrl-C)."""
    real_open = builtins.open

    def fake_open(file, mode="r", *args, **kwargs):
        if any(m in mode for m in "wax") and os.path.basename(str(file)).startswith(name):
            raise error
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)


@pytest.mark.parametrize("error, code", [(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), 2),
                                         (KeyboardInterrupt(), 130)])
def test_prepare_corpus_publishes_all_four_files_or_none(tmp_path, monkeypatch, capsys, error, code):
    out = tmp_path / "corpus"
    assert prepare_corpus.main([str(EN), "--output_dir", str(out), *SPLIT]) == 0
    before = snapshot(out)
    capsys.readouterr()
    fail_writes_to(monkeypatch, "test.txt", error)  # train.txt and valid.txt are written by then
    assert run_main(prepare_corpus.main, [str(EN), "--output_dir", str(out), *SPLIT, "--seed", "7",
                                          "--overwrite"]) == code
    assert snapshot(out) == before  # the old set, whole
    fresh = tmp_path / "fresh"
    assert run_main(prepare_corpus.main, [str(EN), "--output_dir", str(fresh), *SPLIT]) == code
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"]  # no lone train.txt, no temporary folder
    err = capsys.readouterr().err.strip().splitlines()
    if code == 130:
        assert err == ["interrupted", "interrupted"]
    else:
        assert err == [f"error: {out / 'test.txt'}: No space left on device",
                       f"error: {fresh / 'test.txt'}: No space left on device"]
    monkeypatch.undo()
    assert prepare_corpus.main([str(EN), "--output_dir", str(out), *SPLIT, "--seed", "7", "--overwrite"]) == 0
    assert snapshot(out) != before and (out / "prepare.json").is_file()


# 6 ------------------------------------------------------------------------------------------------------------
def count_batches(monkeypatch, vae):
    """Record the row count of every batch the network decodes."""
    sizes, real = [], vae.model.predict_batch

    def predict_batch(inputs):
        sizes.append(len(inputs[0]))
        return real(inputs)

    monkeypatch.setattr(vae.model, "predict_batch", predict_batch)
    return sizes


def test_generation_streams_in_fixed_batches(vae, monkeypatch, tmp_path, bundle, capsys):
    sizes = count_batches(monkeypatch, vae)
    first = list(itertools.islice(vae.iter_sample(num=10 ** 9, batch_size=3, seed=1), 4))
    assert len(first) == 4 and sizes == [3, 3]  # a billion asked for, two batches of three drawn
    sizes.clear()
    path = list(itertools.islice(vae.iter_interpolate(SENTS[0], SENTS[1], steps=10 ** 9, batch_size=2), 1))
    assert len(path) == 1 and sizes == [2]
    # Batch by batch, the same z as all at once (greedy decoding is a function of z)
    assert vae.sample(num=7, strategy="greedy", seed=5) == list(
        vae.iter_sample(num=7, strategy="greedy", seed=5, batch_size=3))
    assert vae.interpolate(SENTS[0], SENTS[1], steps=7) == list(
        vae.iter_interpolate(SENTS[0], SENTS[1], steps=7, batch_size=2))

    out = tmp_path / "o.txt"
    with pytest.raises(SystemExit) as stop:  # argparse's int: a flag error, before any work
        predict.main(["--init_from_ckpt", str(bundle), "--num_samples", "1e9", "--infer_output_file", str(out)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "invalid int value: '1e9'" in err and "Traceback" not in err
    assert not out.exists()


def test_predict_writes_samples_as_they_are_made(bundle, tmp_path):
    """A sampling CLI killed by Ctrl-C mid-stream: it was writing (the temporary file grew), and it ends with
    one line, exit 130, and no output file (also defect 11's subprocess check)."""
    out = tmp_path / "samples.txt"
    proc = subprocess.Popen([sys.executable, "-m", "paddle_vae.predict", "--init_from_ckpt", str(bundle),
                             "--num_samples", "1000000000", "--infer_output_file", str(out), "--num_threads", "1",
                             "--quiet"], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    tmp = tmp_path / f"samples.txt.tmp{proc.pid}"
    deadline = time.monotonic() + 120
    while not (tmp.exists() and tmp.stat().st_size > 0) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert tmp.exists() and tmp.stat().st_size > 0, "no sample written while generating"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip().splitlines()[-1:] == ["interrupted"] and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


# 7 ------------------------------------------------------------------------------------------------------------
def test_leftovers_of_killed_writers_are_tidied_and_errors_name_the_output(bundle, tmp_path, monkeypatch, capsys):
    from paddle_vae import export
    from paddle_vae.training.run_dir import claim

    dead = dead_pid()
    model = tmp_path / "model"
    (model / f"step_80.tmp{dead}").mkdir(parents=True)  # kill -9 during a step bundle's write
    (model / f"final.tmp{dead}").mkdir()
    (model / f"final.tmp{dead}" / "model.safetensors").write_bytes(b"half")
    (model / f"notes.tmp{dead}").mkdir()  # a user's folder that happens to look like one: not ours
    (model / f"notes.tmp{dead}" / "todo.txt").write_text("mine")
    claim(str(model), None, overwrite=False).release()
    assert sorted(p.name for p in model.iterdir()) == [".lock", f"notes.tmp{dead}"]

    out = tmp_path / "export"
    (tmp_path / f"export.tmp{dead}").mkdir()
    (tmp_path / f"export.tmp{dead}" / "vae_decoder.pdiparams").write_bytes(b"truncated")
    real_copy = export.shutil.copyfile

    def copy_onto_a_full_disk(src, dst, **kwargs):
        if os.path.basename(dst) == "vocab.txt":  # as shutil reports it: the source first, then the destination
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(src), None, str(dst))
        return real_copy(src, dst, **kwargs)

    monkeypatch.setattr(export.shutil, "copyfile", copy_onto_a_full_disk)
    assert export.main(["--init_from_ckpt", str(bundle), "--output_dir", str(out), "--num_threads", "1"]) == 2
    assert one_line(capsys) == f"error: {out / 'vocab.txt'}: No space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # the dead one's folder and ours are gone


def test_an_export_paddle_wrote_truncated_is_not_published(bundle, tmp_path, monkeypatch, capsys):
    """paddle.jit.save reports no failed write: on a full disk it leaves a truncated .pdiparams and returns."""
    from paddle_vae import export

    real_save = export.paddle.jit.save

    def save_onto_a_full_disk(layer, prefix, **kwargs):
        real_save(layer, prefix, **kwargs)
        with open(prefix + ".pdiparams", "r+b") as f:
            f.truncate(16)

    monkeypatch.setattr(export.paddle.jit, "save", save_onto_a_full_disk)
    out = tmp_path / "export"
    assert export.main(["--init_from_ckpt", str(bundle), "--output_dir", str(out), "--num_threads", "1"]) == 2
    assert one_line(capsys).startswith(f"error: {out / 'vae_decoder.pdiparams'}: ")
    assert list(tmp_path.iterdir()) == []


# 8 ------------------------------------------------------------------------------------------------------------
ODD = ["form\x0cfeed", "file\x1csep group\x1dsep record\x1esep", "next\x85line", "line\u2028sep", "lone\rreturn",
       "crlf end"]


def test_lines_end_only_at_newlines(bundle, tmp_path):
    text = "\n".join(ODD[:-1]) + "\n" + ODD[-1] + "\r\n"
    assert text_lines(text) == ODD and text_lines("a\n\nb") == ["a", "", "b"] and text_lines("") == []
    given = tmp_path / "odd.txt"
    given.write_bytes(text.encode("utf-8"))
    for mode in ("reconstruct", "encode"):
        out = tmp_path / f"{mode}.txt"
        assert predict.main(["--init_from_ckpt", str(bundle), "--mode", mode, "--input_file", str(given),
                             "--infer_output_file", str(out), "--num_threads", "1"]) == 0
        assert out.read_bytes().count(b"\n") == len(ODD)
    assert len(read_lines(str(given))) == len(ODD)  # an own-text corpus file: one sentence per line
    raw = tmp_path / "raw.txt"
    raw.write_bytes(("".join(f"Sentence {i} has \x85 odd \u2028 breaks.\n\n" for i in range(30))).encode())
    assert prepare_corpus.main([str(raw), "--output_dir", str(tmp_path / "c"), *SPLIT]) == 0
    info = json.loads((tmp_path / "c" / "prepare.json").read_text())
    assert info["counts"]["raw_lines"] == 60 and info["counts"]["paragraphs"] == 30


# 11 -----------------------------------------------------------------------------------------------------------
def test_ctrl_c_in_any_command_is_one_line_and_exit_130(bundle, tmp_path, monkeypatch, capsys):
    from paddle_vae import evaluate

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluate, "evaluate_loader", interrupt)
    assert run_main(evaluate.main, ["--init_from_ckpt", str(bundle), "--dataset", "sample", "--iw_samples", "2",
                                    "--num_threads", "1", "--output_json", str(tmp_path / "m.json")]) == 130
    assert one_line(capsys) == "interrupted"
    monkeypatch.setattr(prepare_corpus, "tokenize_paragraphs", interrupt)
    assert run_main(prepare_corpus.main, [str(EN), "--output_dir", str(tmp_path / "c")]) == 130
    assert one_line(capsys) == "interrupted"
    assert list(tmp_path.iterdir()) == []


# 13 -----------------------------------------------------------------------------------------------------------
class FullDiskFile:
    """A file on a full disk, as Python sees one: a write is buffered, then flush and close fail, naming no file."""

    def __init__(self, handle):
        self.handle = handle

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def write(self, data):
        return len(data)

    def flush(self):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def close(self):
        self.handle.close()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_training_onto_a_full_disk_names_the_path_and_leaves_no_lock(tmp_path, monkeypatch, capsys):
    real_open = builtins.open

    def fake_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        return FullDiskFile(handle) if str(file).endswith(".lock") else handle

    monkeypatch.setattr(builtins, "open", fake_open)
    model = tmp_path / "m"
    assert run_train(TINY + ["--dataset", "sample", "--model_path", str(model), "--max_steps", "2"]) == 2
    assert one_line(capsys) == f"error: {model / '.lock'}: No space left on device"
    assert not (model / ".lock").exists()


def test_a_real_full_disk_leaves_no_lock(tmp_path):
    """The same on a full tmpfs (root on Linux only), through the command line."""
    mount = tmp_path / "full_disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    try:
        (mount / "m").mkdir()
        with open(mount / "filler", "wb") as f, pytest.raises(OSError):
            f.write(b"\0" * 200_000)
        proc = subprocess.run([sys.executable, "-m", "paddle_vae.train", *TINY, "--dataset", "sample",
                               "--max_steps", "2", "--model_path", str(mount / "m")], cwd=ROOT, capture_output=True,
                              text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert proc.returncode == 2 and errors == [f"error: {mount / 'm' / '.lock'}: No space left on device"]
        assert os.listdir(mount / "m") == []
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


# 15 -----------------------------------------------------------------------------------------------------------
def test_prepare_corpus_on_a_device_or_pipe_says_so(tmp_path, capsys):
    pipe, folder = tmp_path / "pipe", tmp_path / "folder"
    os.mkfifo(pipe)
    folder.mkdir()
    for raw in ("/dev/zero", str(pipe), str(folder)):
        assert prepare_corpus.main([raw, "--output_dir", str(tmp_path / "out")]) == 2
        err = one_line(capsys)
        assert err.startswith(f"error: {raw}: not a regular file") and "missing" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "pipe"]


def test_clean_leftovers_spares_live_writers_and_user_files(tmp_path):
    from paddle_vae.bundle import BUNDLE

    dead = dead_pid()
    (tmp_path / f"best.tmp{os.getppid()}").mkdir()  # a live process's write in progress
    (tmp_path / f"best.old{dead}").mkdir()  # a swap stopped between its renames: best is missing
    (tmp_path / f"best.old{dead}" / "config.json").write_text("{}")
    (tmp_path / f"log.txt.tmp{dead}").write_text("half")
    clean_leftovers(str(tmp_path), kind=BUNDLE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best", f"best.tmp{os.getppid()}"]
