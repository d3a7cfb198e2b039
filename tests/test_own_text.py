"""Your own text end to end: the recorded tokenizer at inference, old bundles, one output line per input line,
BOMs, the unknown-token warning, the prepare_corpus hint and a quiet start."""
import json
import logging
import os
import shutil
import subprocess
import sys
import warnings

import pytest

from conftest import FIXTURES, ROOT, TINY, run_train
from helpers import data_args
from paddle_vae import prepare_corpus
from paddle_vae.data import corpus as data
from paddle_vae import runtime
from paddle_vae.errors import DataError

EN = FIXTURES / "raw" / "en_wrapped.txt"
ZH = FIXTURES / "raw" / "zh_small.txt"
RAW_SENTENCE = "Mr. Alder lit the lamp, and the ship turned away!"


@pytest.fixture
def package_log(caplog):
    """caplog on the paddle_vae logger, whether or not it propagates to the root logger."""
    logger = logging.getLogger("paddle_vae")
    logger.addHandler(caplog.handler)
    propagate, logger.propagate = logger.propagate, False
    with caplog.at_level(logging.WARNING, logger="paddle_vae"):
        yield caplog
    logger.removeHandler(caplog.handler)
    logger.propagate = propagate


def prepared(folder, raw=EN, *extra):
    assert prepare_corpus.main([str(raw), "--output_dir", str(folder), "--split", "0.6,0.2,0.2", *extra]) == 0
    return folder


@pytest.fixture(scope="module")
def en_bundle(tmp_path_factory):
    """A few steps on the prepared English fixture (basic tokenizer, lowercased)."""
    root = tmp_path_factory.mktemp("own_text")
    corpus = prepared(root / "en", EN, "--lowercase")
    assert run_train(TINY + ["--dataset", "text", "--data_dir", str(corpus), "--model_path", str(root / "model"),
                             "--max_steps", "2", "--max_epoch", "1"]) == 0
    return root / "model" / "final"


def test_training_records_the_prepared_tokenizer_and_lowercasing(en_bundle):
    train_args = json.loads((en_bundle / "config.json").read_text())["train_args"]
    assert train_args["tokenizer"] == "basic" and train_args["lowercase"] is True


def test_raw_sentences_are_tokenised_as_the_bundle_was_trained(en_bundle):
    from paddle_vae import VAEGenerator

    vae = VAEGenerator.from_pretrained(str(en_bundle))
    assert vae.tokenize("\ufeff" + RAW_SENTENCE)[:4] == ["mr", ".", "alder", "lit"]
    assert vae.unknown_share([RAW_SENTENCE]) == 0.0  # every token is in the fixture's vocabulary
    tokenised = "mr . alder lit the lamp , and the ship turned away !"
    raw, pre = vae.encode([RAW_SENTENCE, tokenised])
    assert (raw == pre).all()
    outputs = vae.reconstruct([RAW_SENTENCE, "Hello, world!"])
    assert outputs[0] == vae.reconstruct([tokenised])[0]  # the same z, so the same greedy decoding
    assert len(outputs) == 2 and all(word in vae.vocab.token_to_idx for line in outputs for word in line.split())
    assert not any(special in line.split() for line in outputs for special in ("<pad>", "<bos>", "<eos>"))


def test_bundle_from_before_the_tokenizer_flag_loads_and_splits_on_whitespace(en_bundle, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(en_bundle, old)
    config = json.loads((old / "config.json").read_text())
    del config["train_args"]["tokenizer"]
    (old / "config.json").write_text(json.dumps(config))
    from paddle_vae import VAEGenerator

    vae = VAEGenerator.from_pretrained(str(old))
    assert vae.tokenizer == "whitespace" and vae.tokenize("Hello, world!") == ["hello,", "world!"]


def test_every_input_line_gives_one_output_line(en_bundle, tmp_path, package_log):
    from paddle_vae import predict

    inp = tmp_path / "in.txt"
    inp.write_bytes(("\ufeff" + RAW_SENTENCE + "\r\n\r\nthe lamp .\r\n   \r\nhe made tea .\r\n").encode("utf-8"))
    for mode in ("reconstruct", "encode"):
        out = tmp_path / f"{mode}.txt"
        assert predict.main(["--init_from_ckpt", str(en_bundle), "--mode", mode, "--input_file", str(inp),
                             "--infer_output_file", str(out), "--decode_strategy", "greedy", "--max_out_len", "5",
                             "--num_threads", "1", "--device", "cpu"]) == 0
        lines = out.read_text(encoding="utf-8").split("\n")[:-1]
        assert len(lines) == 5 and lines[1] == "" and lines[3] == ""
        if mode == "encode":
            assert all(len(lines[i].split()) == 8 for i in (0, 2, 4))
    assert any("2 blank input line(s) (line 2, 4)" in r.getMessage() for r in package_log.records)


def test_mostly_unknown_tokens_warn_once_per_split_with_the_share(en_bundle, tmp_path, package_log):
    from paddle_vae import VAEGenerator, predict

    vae = VAEGenerator.from_pretrained(str(en_bundle))
    zh = prepared(tmp_path / "zh", ZH)
    args = data_args(dataset="text", data_dir=str(zh))
    data.load_and_encode(args, vocab=vae.vocab)  # what evaluate and --init_from_ckpt training do
    messages = [r.getMessage() for r in package_log.records]
    assert len([m for m in messages if "unknown to the bundle's vocabulary" in m]) == 3
    assert any(m.startswith("text/test: 100.0% of tokens are unknown") for m in messages)
    package_log.clear()
    data.load_and_encode(data_args(dataset="text", data_dir=str(prepared(tmp_path / "en", EN, "--lowercase"))),
                         vocab=vae.vocab)
    # its own training split: no warning (the tiny fixture's valid/test do hold many unseen words)
    assert not any(r.getMessage().startswith("text/train") for r in package_log.records)
    inp = tmp_path / "zh_in.txt"
    inp.write_text("今天天气很好。\n", encoding="utf-8")
    assert predict.main(["--init_from_ckpt", str(en_bundle), "--mode", "encode", "--input_file", str(inp),
                         "--infer_output_file", str(tmp_path / "z.txt"), "--num_threads", "1"]) == 0
    assert any("zh_in.txt: 100.0% of tokens are unknown" in r.getMessage() for r in package_log.records)


def test_text_folder_without_valid_and_test_points_at_prepare_corpus(tmp_path):
    (tmp_path / "book.txt").write_text("one raw file\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        data.load_and_encode(data_args(dataset="text", data_dir=str(tmp_path)))
    message = str(err.value)
    assert "train.txt, valid.txt, test.txt" in message and "\n" not in message
    assert f"python -m paddle_vae.prepare_corpus {tmp_path / 'book.txt'} --output_dir" in message


def test_bom_is_stripped_from_split_files(tmp_path):
    for name in ("train", "valid", "test"):
        (tmp_path / f"{name}.txt").write_bytes("\ufeffhello world\r\nhello again\r\n".encode("utf-8"))
    corpus = data.load_and_encode(data_args(dataset="text", data_dir=str(tmp_path)))
    assert "hello" in corpus.vocab.token_to_idx and "\ufeffhello" not in corpus.vocab.token_to_idx


def test_quiet_hides_only_the_known_third_party_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("always")
        assert runtime.quiet_known_warnings([]) == len(runtime.KNOWN_WARNINGS)
        warnings.warn("No ccache found. Please be aware ...", UserWarning)
        warnings.warn("To copy construct from a tensor, it is recommended ...", UserWarning)
        warnings.warn("When training, we now always track global mean and variance.", UserWarning)
        warnings.warn("--device gpu requested but Paddle sees no GPU; training on CPU instead", UserWarning)
    assert [str(w.message)[:12] for w in caught] == ["--device gpu"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("always")
        assert runtime.quiet_known_warnings(["--verbose"]) == 0
        warnings.warn("No ccache found.", UserWarning)
    assert len(caught) == 1


def test_a_normal_inference_run_prints_no_third_party_warnings(en_bundle, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PYTHONWARNINGS", None)
    base = [sys.executable, "-m", "paddle_vae.predict", "--init_from_ckpt", str(en_bundle), "--num_samples", "2",
            "--infer_output_file", str(tmp_path / "s.txt"), "--num_threads", "1", "--max_out_len", "5"]
    quiet_run = subprocess.run(base, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert quiet_run.returncode == 0 and "Warning" not in quiet_run.stderr, quiet_run.stderr
    # --verbose shows what Paddle itself prints on import, whatever this Paddle version prints (3.x: a missing
    # ccache; 2.6.2: nothing), so the filter hides only what it should.
    bare = subprocess.run([sys.executable, "-c", "import paddle"], capture_output=True, text=True, env=env, timeout=300)
    verbose = subprocess.run(base + ["--verbose", "--infer_output_file", str(tmp_path / "v.txt")],  # a new output
                             capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert verbose.returncode == 0
    for line in bare.stderr.splitlines():
        if "Warning" in line:
            assert line.split("Warning", 1)[1] in verbose.stderr, (line, verbose.stderr)


def test_raw_file_to_trained_model_to_reconstruction_with_the_scripts(tmp_path):
    """The README's path: prepare_corpus, run_train.sh --dataset text, run_infer.sh on a raw sentence."""
    env = dict(os.environ, PADDLE_VAE_PYTHON=sys.executable)
    corpus = tmp_path / "corpus"
    subprocess.run([sys.executable, "-m", "paddle_vae.prepare_corpus", str(EN), "--output_dir", str(corpus),
                    "--split", "0.6,0.2,0.2"], check=True, env=dict(env, PYTHONPATH=str(ROOT)), cwd=ROOT,
                   timeout=300)
    model = tmp_path / "model"
    train = subprocess.run(["bash", "run_train.sh", "--dataset", "text", "--data_dir", str(corpus), "--model_path",
                            str(model), "--max_steps", "3", *TINY], capture_output=True, text=True, env=env,
                           cwd=ROOT, timeout=600)
    assert train.returncode == 0, train.stderr[-2000:]
    inp, out = tmp_path / "raw.txt", tmp_path / "out.txt"
    inp.write_text(RAW_SENTENCE + "\n", encoding="utf-8")
    infer = subprocess.run(["bash", "run_infer.sh", "--init_from_ckpt", str(model / "final"), "--mode", "reconstruct",
                            "--input_file", str(inp), "--infer_output_file", str(out), "--decode_strategy",
                            "greedy", "--max_out_len", "8", "--num_threads", "1"],
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert infer.returncode == 0, infer.stderr[-2000:]
    assert "unknown" not in infer.stderr  # the raw sentence was tokenised as the corpus was
    from paddle_vae import VAEGenerator

    api = VAEGenerator.from_pretrained(str(model / "final")).reconstruct([RAW_SENTENCE], strategy="greedy", max_len=8)
    assert out.read_text(encoding="utf-8").splitlines() == api  # one line, the API's reconstruction of the raw text
    assert json.loads((model / "final" / "config.json").read_text())["train_args"]["tokenizer"] == "basic"
