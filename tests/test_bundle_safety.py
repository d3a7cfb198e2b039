"""A bundle from anyone: every file checked before anything is built, each violation one line naming the file
and field, nothing written by a reader, nothing allocated beyond what config.json declares and the budget
allows; and the Python API's arguments refused in the package's words before they reach Paddle."""
import itertools
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from conftest import run_train
from paddle_vae import evaluate, predict
from paddle_vae.bundle import CONFIG_FILE, PARAMS_FILE, VOCAB_FILE, write_bundle
from paddle_vae.config import ModelConfig
from paddle_vae.errors import CheckpointError
from paddle_vae.generator import VAEGenerator

TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>"] + [f"w{i}" for i in range(12)]
TRAIN_ARGS = {"tokenizer": "whitespace", "lowercase": False, "max_len": 50}


def tiny_config(**changes) -> ModelConfig:
    return ModelConfig(vocab_size=len(TOKENS), embed_dim=8, hidden_size=8, latent_size=4, **changes)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """One tiny untrained LSTM VAE bundle, written as training writes one (built once: loads take ~10 ms)."""
    import paddle

    from paddle_vae.models.networks import build_infer_network

    paddle.seed(0)
    cfg = tiny_config()
    path = tmp_path_factory.mktemp("bundles") / "tiny"
    write_bundle(str(path), build_infer_network(cfg).state_dict(), dict(cfg.to_json(), train_args=TRAIN_ARGS),
                 TOKENS)
    return path


def variant(tiny: Path, folder: Path, config=None, vocab=None, weights=None) -> Path:
    """A copy of `tiny` in `folder` with config.json (a dict or raw text), vocab.txt (bytes) or the weights
    (a dict of arrays) replaced; the rest are links to the fixture's files, which nothing may change."""
    folder.mkdir(parents=True)
    for name in os.listdir(tiny):
        os.symlink(tiny / name, folder / name)
    if config is not None:
        (folder / CONFIG_FILE).unlink()
        (folder / CONFIG_FILE).write_text(config if isinstance(config, str) else json.dumps(config))
    if vocab is not None:
        (folder / VOCAB_FILE).unlink()
        (folder / VOCAB_FILE).write_bytes(vocab)
    if weights is not None:
        (folder / PARAMS_FILE).unlink()
        save_file(weights, str(folder / PARAMS_FILE))
    return folder


def config_of(tiny: Path) -> dict:
    return json.loads((tiny / CONFIG_FILE).read_text())


def refused(path: Path, match: str, **kwargs) -> str:
    """from_pretrained(path) fails with a one-line CheckpointError matching `match`; the message."""
    with pytest.raises(CheckpointError, match=match) as caught:
        VAEGenerator.from_pretrained(str(path), **kwargs)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*")}


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


# -- reading changes nothing (#42 item 4) ------------------------------------------------------------------
def test_reading_a_missing_bundle_renames_no_neighbour(tiny, tmp_path):
    """Only a user's `best.old_backup` and a dead writer's `best.oldPID` sit where `best` is asked for: the
    reader says it is not there and leaves both as they were (restoring a swap is the writer's job)."""
    rec = tmp_path / "rec"
    rec.mkdir()
    for name in ("best.old_backup", f"best.old{dead_pid()}"):
        variant(tiny, rec / name)
    before = tree(rec)
    refused(rec / "best", "not found")
    assert tree(rec) == before


# -- the size budget, before anything is built (#42 item 5) ------------------------------------------------
@pytest.mark.parametrize("field, value, match", [
    ("num_blocks", 10 ** 6, "num_blocks: input should be less than or equal to 256"),
    ("latent_size", 10 ** 9, r"latent_size 1000000000.*over the 2,048.0 MiB limit.*--max_bundle_mb"),
    ("latent_size", 10 ** 5, r"holds 3,176 values, config.json.s sizes declare 11,402,720"),
])
def test_a_config_that_inflates_the_network_is_refused_before_it_is_built(tiny, tmp_path, field, value, match):
    start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    refused(variant(tiny, tmp_path / "b", config=dict(config_of(tiny), **{field: value})), match)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start < 100 * 1024  # KiB: nothing big was made


def test_the_budget_is_a_limit_the_caller_sets(tiny, tmp_path, capsys):
    declared = tiny_config().parameter_count() * 4
    refused(tiny, "over the 0.0 MiB limit", max_bytes=declared - 1)
    assert VAEGenerator.from_pretrained(str(tiny), max_bytes=declared).config["vocab_size"] == len(TOKENS)
    big = variant(tiny, tmp_path / "big", config=dict(config_of(tiny), latent_size=10 ** 5))  # 45 MiB declared
    out = tmp_path / "out.txt"
    assert predict.main(["--init_from_ckpt", str(big), "--max_bundle_mb", "1", "--infer_output_file", str(out),
                         "--num_samples", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "over the 1.0 MiB limit" in err[0] and not out.exists()


def test_the_declared_size_counts_every_weight_of_every_kind_of_network():
    from paddle_vae.models.networks import build_infer_network, build_network

    for model, decoder, tie, bias, bn, depth in itertools.product(
            ["vae", "lm"], ["lstm", "transformer"], [False, True], [True, False], [0.0, 0.5], [1, 2]):
        cfg = ModelConfig(vocab_size=11, embed_dim=8, hidden_size=8 if tie else 5, latent_size=3, num_layers=depth,
                          num_blocks=depth, model=model, decoder=decoder, tie_embeddings=tie, attn_bias=bias,
                          bn_vae=bn if model == "vae" else 0.0, num_heads=2, ffn_size=7)
        for build in (build_network, build_infer_network):
            built = sum(int(np.prod(v.shape)) for v in build(cfg).state_dict().values())
            assert built == cfg.parameter_count(), (cfg, build.__name__)


# -- tensors, vocabulary and config.json (#42 items 9 and 10) ----------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "int8", "float16"])
def test_a_tensor_stored_in_another_dtype_is_refused(tiny, tmp_path, dtype):
    weights = load_file(str(tiny / PARAMS_FILE))
    weights["fc.weight"] = weights["fc.weight"].astype(dtype)
    kind = {"float64": "F64", "int8": "I8", "float16": "F16"}[dtype]
    refused(variant(tiny, tmp_path / "b", weights=weights), f"tensor fc.weight is {kind}; bundles hold F32")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights_are_refused(tiny, tmp_path, bad):
    weights = load_file(str(tiny / PARAMS_FILE))
    weights["decoder.output_fc.bias"][3] = bad
    refused(variant(tiny, tmp_path / "b", weights=weights), "tensor decoder.output_fc.bias holds NaN or Inf")


def test_a_sidecar_cannot_replace_a_weight(tiny, tmp_path):
    folder = variant(tiny, tmp_path / "b")
    (folder / (PARAMS_FILE + ".json")).write_text(json.dumps({"fc.bias": [0.0] * 16}))
    refused(folder, "model.safetensors.json does not belong in a bundle")


@pytest.mark.parametrize("edit, match", [
    (lambda lines: lines[:5] + [lines[4]] + lines[6:], "vocab.txt line 6 repeats line 5"),
    (lambda lines: lines[:1] + [b"\xff\xfe"] + lines[2:], r"vocab.txt is not UTF-8 \(line 2\)"),
    (lambda lines: lines[:1] + [b"<start>"] + lines[2:], "bos_id is 1, but vocab.txt line 2 is '<start>', not <bos>"),
    (lambda lines: lines[:3] + [b"w99"] + lines[4:], "lacks the unknown token '<unk>'"),
    (lambda lines: lines[:-1], "vocab.txt has 15 lines, config.json field vocab_size says 16"),
    (lambda lines: lines[:7] + [b"two words"] + lines[8:], "vocab.txt line 8 is not one token"),
])
def test_a_bad_vocabulary_is_refused(tiny, tmp_path, edit, match):
    lines = (tiny / VOCAB_FILE).read_bytes().split(b"\n")[:-1]
    refused(variant(tiny, tmp_path / "b", vocab=b"\n".join(edit(lines)) + b"\n"), match)


@pytest.mark.parametrize("field, value, match", [
    ("hidden_size", "256", "hidden_size: input should be a valid integer, got '256'"),
    ("hidden_size", None, "hidden_size: input should be a valid integer, got None"),
    ("hidden_size", 256.0, "hidden_size: input should be a valid integer, got 256.0"),
    ("hidden_size", [1], r"hidden_size: input should be a valid integer, got \[1\]"),
    ("hidden_size", -5, "hidden_size: input should be greater than or equal to 1"),
    ("hidden_size", True, "hidden_size: input should be a valid integer, got True"),
    ("embed_dim", 0, "embed_dim: input should be greater than or equal to 1"),
    ("num_heads", 0, "num_heads: input should be greater than or equal to 1"),
    ("pad_id", 10 ** 6, "pad_id: 1000000 is outside the vocabulary"),
    ("dec_dropout", 2, "dec_dropout: input should be less than 1"),
    ("model", "evil", "model: input should be 'vae' or 'lm', got 'evil'"),
    ("eos_id", -7, "eos_id: input should be greater than or equal to 0"),
    ("eos_id", 0, "pad_id, bos_id, eos_id must differ"),
    ("vocab_size", "16", "vocab_size: input should be a valid integer, got '16'"),
    ("init_scale", "NaN", "init_scale: input should be a valid number"),
    ("train_args", "flags", "train_args: must be an object"),
    ("train_args", dict(TRAIN_ARGS, max_len=-1), "train_args.max_len: must be a positive integer, got -1"),
    ("train_args", dict(TRAIN_ARGS, tokenizer="evil"), "train_args.tokenizer: must be one of"),
    ("format_version", 1, "format_version: this paddle_vae reads format 2, got 1"),
])
def test_a_bad_config_field_is_refused_by_name(tiny, tmp_path, field, value, match):
    refused(variant(tiny, tmp_path / "b", config=dict(config_of(tiny), **{field: value})),
            f"corrupt checkpoint .*config.json fields? {match}")


def test_a_deeply_nested_config_is_refused_without_recursion_error(tiny, tmp_path):
    text = json.dumps(config_of(tiny))[:-1] + ', "dataset": ' + "[" * 100_000 + "]" * 100_000 + "}"
    refused(variant(tiny, tmp_path / "b", config=text), "config.json (nests too deeply|is not valid JSON)")
    text = json.dumps(dict(config_of(tiny), dataset=json.loads("[" * 50 + "]" * 50)))
    refused(variant(tiny, tmp_path / "c", config=text), "config.json nests deeper than 16 levels")


def test_a_config_json_larger_than_any_bundle_writes_is_not_read(tiny, tmp_path):
    text = json.dumps(dict(config_of(tiny), dataset="x" * 2 ** 21))
    refused(variant(tiny, tmp_path / "b", config=text), "config.json is 2,09.* bytes, more than")


def test_bundle_contents_end_the_commands_in_one_line(tiny, tmp_path, capsys):
    weights = load_file(str(tiny / PARAMS_FILE))
    weights["fc.bias"][0] = np.nan
    broken = variant(tiny, tmp_path / "b", weights=weights)
    runs = {"predict": lambda: predict.main(["--init_from_ckpt", str(broken), "--num_samples", "2",
                                              "--infer_output_file", str(tmp_path / "out.txt")]),
            "evaluate": lambda: evaluate.main(["--init_from_ckpt", str(broken), "--iw_samples", "1", "--quiet"]),
            "train": lambda: run_train(["--init_from_ckpt", str(broken), "--model_path", str(tmp_path / "m"),
                                        "--max_steps", "1", "--device", "cpu", "--num_threads", "1"])}
    for name, run in runs.items():
        assert run() == 2, name
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "fc.bias holds NaN or Inf" in err[0], (name, err)
    assert not (tmp_path / "out.txt").exists() and not (tmp_path / "m" / "final").exists()


def test_evaluate_refuses_a_resume_file_that_is_not_its_own_in_one_line(tiny, tmp_path, capsys):
    """#42 item 12: an unrelated existing file given as --resume_file is neither read as progress nor
    overwritten."""
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("my notes\n")
    assert evaluate.main(["--init_from_ckpt", str(tiny), "--iw_samples", "1", "--no_bleu", "--quiet",
                          "--max_sentences", "8", "--resume_file", str(unrelated)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {unrelated} is not a progress file of `evaluate`; remove it or give another "
                   f"--resume_file"]
    assert unrelated.read_text() == "my notes\n"


# -- the Python API's arguments (#42 item 14) ----------------------------------------------------------------
@pytest.mark.parametrize("call, error, match", [
    (lambda g: g.sample(num=2, temperature=float("nan")), ValueError, "temperature must be a finite number > 0"),
    (lambda g: g.sample(num=True), TypeError, "num must be an integer, got bool"),
    (lambda g: g.sample(num="3"), TypeError, "num must be an integer, got str"),
    (lambda g: g.sample(num=0), ValueError, "num must be >= 1, got 0"),
    (lambda g: g.sample(num=2, beam_size=2.0), TypeError, "beam_size must be an integer"),
    (lambda g: g.sample(num=2, seed=-1), ValueError, "seed must be in"),
    (lambda g: g.sample(num=2, progress="yes"), TypeError, "progress must be True, False or None"),
    (lambda g: g.decode(np.zeros((2, 5))), ValueError, r"latent_z must be \[N, 4\].*got shape \[2, 5\]"),
    (lambda g: g.decode(np.zeros(4)), ValueError, r"latent_z must be \[N, 4\].*got shape \[4\]"),
    (lambda g: g.decode(np.zeros((0, 4))), ValueError, r"got shape \[0, 4\]"),
    (lambda g: g.decode(np.full((2, 4), np.nan)), ValueError, "latent_z holds NaN or Inf"),
    (lambda g: g.decode([["a", "b", "c", "d"]]), TypeError, "latent_z must hold real numbers"),
    (lambda g: g.interpolate("w1 w2", "w3", steps=1), ValueError, "steps must be >= 2, got 1"),
    (lambda g: g.interpolate("w1 w2", "w3", steps=2.5), TypeError, "steps must be an integer"),
    (lambda g: g.score(["w1 w2"], iw_samples=True), TypeError, "iw_samples must be an integer"),
])
def test_the_python_api_refuses_bad_arguments_before_paddle(tiny, call, error, match, monkeypatch):
    generator = VAEGenerator.from_pretrained(str(tiny))

    def no_paddle(*args, **kwargs):
        raise AssertionError("reached Paddle")

    monkeypatch.setattr(generator.model, "predict_batch", no_paddle)
    with pytest.raises(error, match=match):
        call(generator)


def test_from_pretrained_takes_a_whole_number_budget(tiny):
    with pytest.raises(TypeError, match="max_bytes must be an integer"):
        VAEGenerator.from_pretrained(str(tiny), max_bytes=2.5e9)


# -- any corruption of config.json or vocab.txt: a CheckpointError of one line, quickly ----------------------
VALUES = [None, True, False, 0, -1, 1, 2, 3, 4, 7, 16, 255, 256.0, 0.5, 1.5, -0.1, 10 ** 6, 10 ** 12, 10 ** 30,
          float("nan"), float("inf"), "256", "", "lstm", "transformer", "vae", "lm", "memory+embed", "<unk>", "w3",
          [], [1], {}, {"tokenizer": "char"}, "x" * 300]


def corrupt_config(rng: random.Random, config: dict) -> str:
    kind = rng.randrange(6)
    if kind == 0:  # one field (or a new one) takes a value of another type or range
        key = rng.choice(sorted(config) + ["extra"])
        return json.dumps(dict(config, **{key: rng.choice(VALUES)}))
    if kind == 1:  # a field of the training record
        train_args = dict(config.get("train_args", {}), **{rng.choice(sorted(TRAIN_ARGS)): rng.choice(VALUES)})
        return json.dumps(dict(config, train_args=train_args))
    if kind == 2:
        return json.dumps({k: v for k, v in config.items() if k != rng.choice(sorted(config))})
    text = json.dumps(config)
    if kind == 3:  # cut short
        return text[:rng.randrange(len(text))]
    if kind == 4:  # one character changed
        i = rng.randrange(len(text))
        return text[:i] + rng.choice('{}[]":,0123456789-.eE tfn\\x') + text[i + 1:]
    return json.dumps(rng.choice(VALUES))  # not an object at all


def corrupt_vocab(rng: random.Random, lines: list) -> bytes:
    lines, kind, i, j = list(lines), rng.randrange(8), rng.randrange(len(lines)), rng.randrange(len(lines))
    if kind == 0:
        del lines[i]
    elif kind == 1:
        lines.insert(i, lines[j])
    elif kind == 2:
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == 3:
        lines[i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4)))
    elif kind == 4:
        lines[i] = rng.choice([b"", b"a b", b" ", b"\r", b"w3\t"])
    elif kind == 5:
        lines.append(b"w%d" % rng.randrange(20))
    elif kind == 6:
        return b"\r\n".join(lines) + b"\r\n"  # CRLF: the same vocabulary
    else:
        data = b"\n".join(lines) + b"\n"
        return data[:rng.randrange(len(data))]
    return b"\n".join(lines) + b"\n"


def test_randomly_corrupted_configs_and_vocabularies_fail_in_one_line(tiny, tmp_path):
    """300 cases from a fixed seed: each loads (the corruption kept it valid) or raises a CheckpointError of
    one line; never another exception. Memory and time stay bounded: these guard against a case that
    allocates or loops, they are not speed measurements."""
    rng = random.Random(42)
    config, lines = config_of(tiny), (tiny / VOCAB_FILE).read_bytes().split(b"\n")[:-1]
    VAEGenerator.from_pretrained(str(tiny))  # the first load imports paddlenlp's Vocab: not part of any case
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcomes = {"loaded": 0, "refused": 0}
    for case in range(300):
        on_config = case % 2 == 0
        corrupted = corrupt_config(rng, config) if on_config else corrupt_vocab(rng, lines)
        folder = variant(tiny, tmp_path / f"case{case}", **({"config": corrupted} if on_config
                                                             else {"vocab": corrupted}))
        began = time.time()
        try:
            VAEGenerator.from_pretrained(str(folder))
            outcomes["loaded"] += 1
        except CheckpointError as exc:
            assert "\n" not in str(exc) and str(exc), (case, corrupted[:200])
            outcomes["refused"] += 1
        except Exception as exc:  # pragma: no cover - what the test exists to catch
            pytest.fail(f"case {case}: {type(exc).__name__}: {exc} from {corrupted[:200]!r}")
        assert time.time() - began < 5, (case, corrupted[:200])
    assert outcomes["refused"] > 150 and outcomes["loaded"] > 10, outcomes
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_rss < 300 * 1024  # KiB
