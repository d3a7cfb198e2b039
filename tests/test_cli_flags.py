"""Command-line hygiene: no flag abbreviations anywhere, and a file passed as --model_path is a one-line error."""
import importlib
import subprocess
import sys

import pytest

from conftest import ROOT, TINY


@pytest.mark.parametrize("module, required", [("paddle_vae.training.flags", []), ("paddle_vae.evaluate", []),
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
