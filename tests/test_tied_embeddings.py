"""--tie_embeddings and --no_attn_bias: the output layer is the decoder's embedding, for both decoders and the
LM, through training, bundles, generation, evaluation, hub and export."""
import json

import numpy as np
import paddle
import pytest

from conftest import ROOT, TINY, run_train
from paddle_vae import export
from paddle_vae.bundle import read_bundle
from paddle_vae.config import ModelConfig
from paddle_vae.generator import VAEGenerator
from paddle_vae.models.networks import build_network

TIED_LSTM = TINY + ["--dataset", "sample", "--final_eval", "none", "--hidden_size", "16", "--tie_embeddings"]
TRANSFORMER = ["--decoder", "transformer", "--embed_dim", "16", "--num_heads", "2", "--ffn_size", "32",
               "--num_blocks", "1"]


def tiny_config(**kw) -> ModelConfig:
    return ModelConfig(vocab_size=40, embed_dim=16, hidden_size=16, latent_size=4, num_blocks=1, num_heads=2,
                       ffn_size=32, **kw)


@pytest.mark.parametrize("decoder", ["lstm", "transformer"])
@pytest.mark.parametrize("model", ["vae", "lm"])
def test_the_output_layer_and_the_embedding_are_one_parameter_and_stay_equal(decoder, model):
    paddle.seed(0)
    net = build_network(tiny_config(decoder=decoder, model=model, tie_embeddings=True))
    dec = net.decoder
    names = [n for n, _ in net.named_parameters()]
    assert not any(n.startswith("decoder.output_fc.weight") for n in names)  # saved once, as the embedding
    assert (dec.output_fc.bias is not None) == (decoder == "lstm")  # the LSTM keeps its bias, Texar's has none
    opt = paddle.optimizer.Adam(learning_rate=0.01, parameters=net.parameters())
    before = dec.trg_embedder.weight.numpy().copy()
    ids = paddle.to_tensor(np.random.RandomState(0).randint(3, 40, (4, 7)).astype("int64"))
    length = paddle.full([4], 7, dtype="int64")
    for _ in range(3):
        output = net(ids, length, ids, length)
        (output.logits.mean() + output.kl_objective).backward()
        opt.step()
        opt.clear_grad()
    after = dec.trg_embedder.weight.numpy()
    assert not np.allclose(before, after)  # the output layer's gradient reached the table
    np.testing.assert_array_equal(dec.output_fc.weight.numpy(), after.T)


def test_the_lstm_needs_hidden_size_equal_to_embed_dim(tmp_path, capsys):
    assert run_train(TINY + ["--dataset", "sample", "--tie_embeddings", "--model_path", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--tie_embeddings" in err[0] and not (tmp_path / "m").exists()


@pytest.fixture(scope="module")
def tied_lstm(tmp_path_factory):
    out = tmp_path_factory.mktemp("tied") / "m"
    assert run_train(TIED_LSTM + ["--model_path", str(out), "--max_steps", "30"]) == 0
    return out / "final"


def test_a_tied_bundle_round_trips_and_generates(tied_lstm, tmp_path):
    config = read_bundle(str(tied_lstm))[0]
    assert config["tie_embeddings"] is True
    vae = VAEGenerator.from_pretrained(str(tied_lstm))
    dec = vae.net.decoder
    np.testing.assert_array_equal(dec.output_fc.weight.numpy(), dec.trg_embedder.weight.numpy().T)
    vae.save_pretrained(str(tmp_path / "copy"))
    again = VAEGenerator.from_pretrained(str(tmp_path / "copy"))
    z = np.random.RandomState(0).standard_normal((3, 8)).astype("float32")
    for strategy in ("sampling", "greedy", "beam"):
        assert again.decode(z, strategy=strategy, seed=1) == vae.decode(z, strategy=strategy, seed=1)
    hub = paddle.hub.load(str(ROOT), "vae_seq2seq", source="local", checkpoint=str(tied_lstm))
    assert hub.decode(z, strategy="greedy") == vae.decode(z, strategy="greedy")
    assert np.all(np.isfinite(vae.score(["the man saw the dog ."])))


def test_a_tied_bundle_exports(tied_lstm, tmp_path):
    assert export.main(["--init_from_ckpt", str(tied_lstm), "--output_dir", str(tmp_path / "e"),
                        "--decode_strategy", "greedy"]) == 0
    assert any(p.suffix == ".pdiparams" for p in (tmp_path / "e").iterdir())


def test_the_tied_transformer_without_attention_bias_trains_and_records_both(tmp_path):
    out = tmp_path / "t"
    assert run_train(TINY + TRANSFORMER + ["--dataset", "sample", "--final_eval", "none", "--tie_embeddings",
                                           "--no_attn_bias", "--model_path", str(out), "--max_steps", "5"]) == 0
    config = json.loads((out / "final" / "config.json").read_text())
    assert config["tie_embeddings"] is True and config["attn_bias"] is False
    vae = VAEGenerator.from_pretrained(str(out / "final"))
    block = vae.net.decoder.blocks[0]
    assert block.self_attn.q_proj.bias is None and block.z_attn.out_proj.bias is None
    assert len(vae.sample(num=2, strategy="beam", beam_size=2, seed=1, max_len=10)) == 2
