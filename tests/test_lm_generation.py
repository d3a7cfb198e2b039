"""Generation from a language-model bundle: `sample` decodes from the LM's zero state, and what it decodes is
what the LM's own teacher-forced pass predicts."""
import numpy as np
import paddle
import pytest

from paddle_vae.config import ModelConfig
from paddle_vae.errors import UsageError
from paddle_vae.generator import VAEGenerator

TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>"] + [f"w{i}" for i in range(26)]


def untrained_lm(decoder: str, num_layers: int = 1) -> VAEGenerator:
    paddle.seed(3)
    config = ModelConfig(vocab_size=len(TOKENS), embed_dim=16, hidden_size=16, num_layers=num_layers,
                         init_scale=0.5, model="lm", decoder=decoder, num_blocks=2, num_heads=2, ffn_size=32)
    return VAEGenerator(config.to_json(), TOKENS)


def teacher_forced_argmax(lm: VAEGenerator, words):
    """The LM's most likely next word after <bos> w1..wt, for every t, <pad> and <bos> ruled out."""
    ids = [lm.vocab.token_to_idx[w] for w in words]
    trg = paddle.to_tensor([[lm.config["bos_id"]] + ids[:-1]], dtype="int64")
    logits = lm.net.decode_logits(trg, paddle.to_tensor([len(ids)], dtype="int64"), lm.net.trg_mask(trg))
    logits = logits.numpy()
    logits[:, [lm.config["pad_id"], lm.config["bos_id"]]] = -np.inf
    return [lm.vocab.idx_to_token[i] for i in logits.argmax(-1)]


@pytest.mark.parametrize("decoder,num_layers", [("lstm", 1), ("lstm", 2), ("transformer", 1)])
def test_an_lm_samples_and_its_greedy_sentences_are_its_teacher_forced_argmax_chain(decoder, num_layers):
    lm = untrained_lm(decoder, num_layers)
    greedy = lm.sample(num=3, strategy="greedy", max_len=8)
    assert len(greedy) == 3 and len(set(greedy)) == 1  # no z: every greedy sentence is the same one
    words = greedy[0].split()
    assert words, "the greedy sentence is empty"
    with_eos = words + ["<eos>"] if len(words) < 8 else words  # a sentence cut at max_len has no EOS
    assert teacher_forced_argmax(lm, with_eos) == with_eos

    sampled = lm.sample(num=6, strategy="sampling", max_len=8, seed=5)
    assert len(sampled) == 6 and len(set(sampled)) > 1 and sampled == lm.sample(num=6, max_len=8, seed=5)
    beam = lm.sample(num=2, strategy="beam", beam_size=3, max_len=8)
    assert len(beam) == 2 and beam[0] == beam[1]  # (an untrained LM may well find the empty sentence likeliest)
    assert all("<pad>" not in s and "<bos>" not in s for s in greedy + sampled + beam)


def test_an_lm_refuses_the_operations_that_need_z():
    lm = untrained_lm("lstm")
    for operation in (lambda: lm.encode(["w4 w5"]), lambda: lm.reconstruct(["w4 w5"]),
                      lambda: lm.interpolate("w4", "w5"), lambda: lm.decode(np.zeros((1, 4), "float32"))):
        with pytest.raises(UsageError, match="scores and samples"):
            operation()


def test_the_cli_samples_from_an_lm_bundle_and_export_refuses_it_in_one_line(tmp_path, capsys):
    from paddle_vae import export, predict

    bundle = untrained_lm("lstm").save_pretrained(str(tmp_path / "lm"))
    out = tmp_path / "samples.txt"
    assert predict.main(["--init_from_ckpt", bundle, "--num_samples", "4", "--seed", "1",
                         "--infer_output_file", str(out), "--num_threads", "1"]) == 0
    assert len(out.read_text().splitlines()) == 4
    capsys.readouterr()
    assert export.main(["--init_from_ckpt", bundle, "--output_dir", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "language model" in err[0] and not (tmp_path / "e").exists()
