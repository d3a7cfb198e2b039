"""Export to Paddle Inference: the exported decoder must say exactly what the dynamic graph says."""
import filecmp
from pathlib import Path

import numpy as np
import pytest

MAX_LEN = 20
CLI = ["--num_threads", "1", "--max_out_len", str(MAX_LEN)]  # export has no --device: it traces on CPU


def run_export(bundle: Path, out: Path, *extra: str) -> int:
    from paddle_vae import export

    return export.main(["--init_from_ckpt", str(bundle), "--output_dir", str(out)] + CLI + list(extra))


@pytest.fixture(scope="module")
def final(trained_bundle) -> Path:
    return trained_bundle / "final"


@pytest.fixture(scope="module")
def dynamic(final):
    from paddle_vae.generator import VAEGenerator

    return VAEGenerator.from_pretrained(str(final))


def dynamic_ids(vae, z, strategy, beam_size=1):
    """What `VAEGenerator.decode` decodes, before it turns ids into text."""
    import paddle

    vae.net.decode_strategy, vae.net.beam_size, vae.net.max_out_len = strategy, beam_size, MAX_LEN
    with paddle.no_grad():
        return vae.net(paddle.to_tensor(z)).numpy()


def latent(rows: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).standard_normal((rows, size)).astype("float32")


@pytest.mark.parametrize("strategy,beam_size", [("greedy", 1), ("beam", 3)])
def test_export_matches_dynamic_graph(final, dynamic, tmp_path, strategy, beam_size):
    from paddle_vae.export import ExportedGenerator, model_files

    out = tmp_path / "export"
    assert run_export(final, out, "--decode_strategy", strategy, "--beam_size", str(beam_size)) == 0
    for name in ("config.json", "vocab.txt"):  # self-contained: copied verbatim
        assert filecmp.cmp(final / name, out / name, shallow=False)
    model_files(str(out))
    assert not list(tmp_path.glob("export.*")), "temporary folders left behind"

    gen = ExportedGenerator(str(out), num_threads=1)
    size = dynamic.net.latent_size
    for z in (latent(4, size), latent(1, size, seed=1), latent(7, size, seed=2)):  # the batch is dynamic
        ids = gen.decode_ids(z)
        np.testing.assert_array_equal(ids, dynamic_ids(dynamic, z, strategy, beam_size))
        assert ids.shape[0] == len(z) and ids.shape[1] <= MAX_LEN
        assert gen.decode(z) == dynamic.decode(z, strategy=strategy, beam_size=beam_size, max_len=MAX_LEN)


def test_sampling_export_runs(final, tmp_path):
    from paddle_vae.export import ExportedGenerator

    out = tmp_path / "export"
    assert run_export(final, out, "--decode_strategy", "sampling") == 0
    gen = ExportedGenerator(str(out), num_threads=1)
    ids = gen.decode_ids(latent(5, gen.latent_size))
    assert ids.shape[0] == 5 and 0 < ids.shape[1] <= MAX_LEN
    assert ids.min() >= 0 and ids.max() < gen.config["vocab_size"]
    assert len(gen.decode(latent(5, gen.latent_size))) == 5


def test_reexport_replaces_the_previous_export_when_asked(final, tmp_path):
    import json

    out = tmp_path / "export"
    assert run_export(final, out, "--decode_strategy", "greedy") == 0
    assert run_export(final, out, "--decode_strategy", "beam", "--beam_size", "2") == 2  # not without asking
    assert json.loads((out / "export.json").read_text())["decode_strategy"] == "greedy"
    assert run_export(final, out, "--decode_strategy", "beam", "--beam_size", "2", "--overwrite") == 0
    assert json.loads((out / "export.json").read_text())["decode_strategy"] == "beam"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_missing_checkpoint_is_a_one_line_error(tmp_path, capsys):
    out = tmp_path / "export"
    assert run_export(tmp_path / "no_such_bundle", out) == 2
    assert "no_such_bundle" in one_line_error(capsys)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_refuses_to_overwrite_other_folders(final, tmp_path, capsys):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert run_export(final, other) == 2
    one_line_error(capsys)
    assert (other / "keep.txt").read_text() == "mine"
    assert run_export(final, final) == 2
    one_line_error(capsys)


def test_loading_a_non_export_folder_is_a_checkpoint_error(final):
    from paddle_vae.errors import CheckpointError
    from paddle_vae.export import ExportedGenerator

    with pytest.raises(CheckpointError):
        ExportedGenerator(str(final))
