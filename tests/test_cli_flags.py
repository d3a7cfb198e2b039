"""Command-line hygiene: each command lists only the flags it reads, a bad value is one line and exit 2, no flag
abbreviations anywhere, and a file passed as --model_path is a one-line error."""
import importlib
import re
import subprocess
import sys

import pytest

from conftest import ROOT, TINY

# The PaddleNLP example's args.py flags: training keeps them all, under the same names.
REFERENCE_FLAGS = {"--dataset", "--learning_rate", "--num_layers", "--embed_dim", "--hidden_size", "--latent_size",
                   "--batch_size", "--max_epoch", "--max_len", "--log_freq", "--dec_dropout", "--enc_dropout",
                   "--init_scale", "--max_grad_norm", "--model_path", "--infer_output_file", "--beam_size", "--device",
                   "--warm_up", "--kl_start", "--init_from_ckpt"}
TRAINING_ONLY = {"--warm_up", "--kl_start", "--free_bits", "--word_dropout", "--embed_dim", "--learning_rate",
                 "--model_path", "--tie_embeddings", "--no_attn_bias", "--max_epoch"}
BUNDLE = {"--init_from_ckpt", "--max_bundle_mb"}
PROCESS = {"--num_threads", "--verbose"}
DECODING = {"--decode_strategy", "--beam_size", "--max_out_len", "--temperature"}
OWN_FLAGS = {
    "paddle_vae.predict": BUNDLE | PROCESS | DECODING | {"--device", "--mode", "--num_samples", "--input_file",
                                                         "--interpolation_steps", "--infer_output_file", "--seed",
                                                         "--quiet", "--overwrite"},
    "paddle_vae.evaluate": BUNDLE | PROCESS | {"--device", "--dataset", "--data_dir", "--max_len", "--batch_size",
                                               "--tokenizer", "--lowercase", "--split", "--iw_samples", "--seed",
                                               "--output_json", "--max_sentences", "--mi_batch_size", "--no_bleu",
                                               "--max_rows", "--quiet", "--resume_file"},
    "paddle_vae.export": BUNDLE | PROCESS | DECODING | {"--output_dir", "--overwrite"},
}


def help_flags(module: str, capsys) -> set:
    """The flags `python -m MODULE --help` lists (each option line starts with two spaces and the flag)."""
    with pytest.raises(SystemExit) as exc:
        importlib.import_module(module).main(["--help"])
    assert exc.value.code == 0
    return set(re.findall(r"^  (?:-h, )?(--\w+)", capsys.readouterr().out, re.MULTILINE)) - {"--help"}


@pytest.mark.parametrize("module", sorted(OWN_FLAGS))
def test_an_inference_command_lists_exactly_the_flags_it_reads(module, capsys):
    listed = help_flags(module, capsys)
    assert listed == OWN_FLAGS[module]
    assert not listed & TRAINING_ONLY


def test_train_lists_the_references_flags_and_every_flag_it_had(capsys):
    listed = help_flags("paddle_vae.train", capsys)
    assert REFERENCE_FLAGS | TRAINING_ONLY <= listed
    assert {"--free_bits", "--kl_schedule", "--bn_vae", "--lr_decay", "--decoder", "--z_path", "--num_samples",
            "--tokenizer", "--max_vocab", "--max_bundle_mb", "--num_threads", "--verbose"} <= listed
    assert len(listed) == 66 and not listed & {"--mode", "--decode_strategy", "--iw_samples", "--output_dir"}


@pytest.mark.parametrize("module, argv, message", [
    ("paddle_vae.train", ["--kl_start", "2", "--model_path", "{tmp}/m"], "--kl_start must be in [0, 1], got 2.0"),
    ("paddle_vae.evaluate", ["--init_from_ckpt", "{tmp}/no_bundle", "--iw_samples", "-1"],
     "--iw_samples must be >= 0, got -1"),
    ("paddle_vae.predict", ["--init_from_ckpt", "{tmp}/no_bundle", "--infer_output_file", "{tmp}/out.txt",
                            "--beam_size", "0"], "--beam_size must be a positive integer, got 0"),
    ("paddle_vae.export", ["--init_from_ckpt", "{tmp}/no_bundle", "--output_dir", "{tmp}/export", "--temperature",
                           "0"], "--temperature must be positive, got 0.0"),
    ("paddle_vae.prepare_corpus", ["{tmp}/raw.txt", "--output_dir", "{tmp}/corpus", "--split", "1,0,0"],
     "--split must be three fractions train,valid,test summing to 1 with valid and test above 0, got '1,0,0'"),
    ("paddle_vae.plot", ["--output", "{tmp}/x.png"],
     "give a RUN_DIR (training curves), --latent BUNDLE (posterior means) or --rate TABLE (rate-distortion)"),
])
def test_a_bad_value_is_one_line_and_exit_2_before_anything_is_read(module, argv, message, tmp_path, capsys):
    # The bundle (or raw file) does not exist: an error about the flag shows it was checked before any read.
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert importlib.import_module(module).main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {message}"]
    assert not list(tmp_path.iterdir())


def test_a_bad_value_exits_the_process_with_status_2():
    proc = subprocess.run([sys.executable, "-m", "paddle_vae.predict", "--max_out_len", "0"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: --max_out_len must be a positive integer, got 0"]


@pytest.mark.parametrize("module, required", [("paddle_vae.train", []), ("paddle_vae.evaluate", []),
                                              ("paddle_vae.predict", []), ("paddle_vae.export", ["--output_dir", "o"])])
def test_flag_prefixes_are_not_taken_for_flags(module, required, capsys):
    parser = importlib.import_module(module).build_parser()
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(required + ["--model_pa", "somewhere"])  # a prefix of --model_path only
    assert exc.value.code == 2 and "unrecognized arguments: --model_pa" in capsys.readouterr().err


def test_train_refuses_an_abbreviated_flag_before_training(tmp_path, capsys):
    from paddle_vae import train

    with pytest.raises(SystemExit) as exc:
        train.main(TINY + ["--max_steps", "1", "--model_pa", str(tmp_path / "m")])
    assert exc.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("module, argv", [("paddle_vae.plot", ["run_dir", "--out", "x.png"]),
                                          ("paddle_vae.bench.run", ["--data", "x"])])
def test_tool_clis_refuse_abbreviations(module, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        importlib.import_module(module).main(argv)
    assert exc.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


def test_sample_corpus_script_refuses_abbreviations(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "data" / "make_sample_corpus.py"), "--se", "2",
                           "--out_dir", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "unrecognized arguments: --se" in proc.stderr
    assert not list(tmp_path.iterdir())


def test_model_path_naming_a_file_is_a_one_line_error(tmp_path, capsys):
    from paddle_vae import train

    target = tmp_path / "model.txt"
    target.write_text("not a folder\n")
    assert train.main(TINY + ["--max_steps", "1", "--model_path", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --model_path {target} is a file; it must name a folder (new or existing)"]
    assert target.read_text() == "not a folder\n"


def test_a_closed_output_pipe_ends_a_cli_quietly(monkeypatch, capsys):
    from paddle_vae.errors import cli_entry

    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

    @cli_entry
    def prints(argv=None):
        print("a line for `| head`")
        return 0

    monkeypatch.setattr("sys.stdout", ClosedPipe())
    assert prints([]) == 141
    assert capsys.readouterr().err == ""
