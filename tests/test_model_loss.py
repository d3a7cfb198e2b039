"""Model and loss: the ELBO arithmetic, the two decoder paths, dropout placement, annealing, decoding."""
import math

import numpy as np
import paddle
import pytest

from paddle_vae.config import ModelConfig
from paddle_vae.models import decoding, lstm as lstm_mod
from paddle_vae.data.corpus import prepare_train_input
from paddle_vae.models.loss import (CrossEntropyWithKL, HapiLoss, NegativeLogLoss, Perplexity, kl_weight_at,
                                    sentence_rec_loss)
from paddle_vae.models.vae import TrainingOptions, VAEOutput, VAESeq2SeqInferModel, VAESeq2SeqModel

V, PAD, BOS, EOS = 12, 0, 1, 2


def tiny_model(impl="fused", dec_dropout=0.0, num_layers=1, cls=VAESeq2SeqModel, **kw):
    paddle.seed(7)
    cfg = ModelConfig(vocab_size=V, embed_dim=8, hidden_size=16, latent_size=4, num_layers=num_layers, pad_id=PAD,
                      bos_id=BOS, eos_id=EOS, dec_dropout=dec_dropout)
    return cls(cfg, TrainingOptions(decoder_impl=impl)) if cls is VAESeq2SeqModel else cls(cfg, **kw)


def batch(insts=((3, 4, 5, 6), (7, 8), (9, 10, 11))):
    return [paddle.to_tensor(a) for a in prepare_train_input([list(i) for i in insts], BOS, EOS, PAD)]


def numpy_log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


@pytest.mark.parametrize("impl", ["fused", "cell"])
def test_loss_matches_a_numpy_elbo(impl):
    net = tiny_model(impl)
    net.eval()
    src, src_len, trg, trg_len, label = batch()
    paddle.seed(3)
    output = net(src, src_len, trg, trg_len)
    assert isinstance(output, VAEOutput)
    kl_loss, dec_output, trg_mask = output.kl_objective, output.logits, output.trg_mask
    lf = CrossEntropyWithKL(base_kl_weight=0.25, anneal_r=0.0)
    lf.train()
    loss = float(lf(*output, label))

    logits = dec_output.numpy()
    labels, mask = label.numpy()[..., 0], trg_mask.numpy()
    if impl == "fused":  # packed rows = the unmasked (batch, time) positions in order
        full = np.zeros(mask.shape + (V,), dtype="float32")
        full[mask.astype(bool)] = logits
        logits = full
    logp = numpy_log_softmax(logits.astype("float64"))
    token_nll = -np.take_along_axis(logp, labels[..., None], -1)[..., 0] * mask
    rec = token_nll.sum(1).mean()  # summed over time, averaged over the batch
    assert mask.sum() == 4 + 1 + 2 + 1 + 3 + 1  # words + EOS per sentence, pads excluded
    assert loss == pytest.approx(rec + 0.25 * float(kl_loss), rel=1e-5)
    lf.eval()  # evaluation reports the ELBO at KL weight 1, whatever the anneal says
    terms = lf.terms(output, label)
    assert float(terms.loss) == pytest.approx(rec + float(kl_loss), rel=1e-5) and terms.kl_weight == 1.0
    assert float(terms.rec) == pytest.approx(rec, rel=1e-5) and float(terms.kl) == float(output.kl)


def test_per_sentence_rec_loss_of_packed_rows_matches_the_padded_layout_with_its_gradients():
    """segment_sum over packed (row-major) positions gives the padded layout's per-sentence sums, and the
    same gradients for a per-sentence upstream weight (which tells sentences apart)."""
    paddle.seed(5)
    _, _, trg, _, label = batch()
    mask = paddle.cast(trg != PAD, "float32")
    padded = paddle.randn(mask.shape + [V])
    padded.stop_gradient = False
    packed = paddle.gather_nd(padded, paddle.nonzero(mask))
    weights = paddle.to_tensor([0.5, 2.0, -1.0])
    results = []
    for logits in (padded, packed):
        per_sentence = sentence_rec_loss(logits, label, mask)
        (per_sentence * weights).sum().backward()
        results.append((per_sentence.numpy(), padded.grad.numpy().copy()))
        padded.clear_gradient()
    assert results[0][0].shape == (3,)
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-6)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-6, atol=1e-7)


def test_kl_matches_the_closed_form():
    mean = paddle.to_tensor([[0.5, -1.0]])
    log_var = paddle.to_tensor([[0.2, -0.3]])
    expected = 0.5 * sum(math.exp(lv) + m * m - 1 - lv for m, lv in [(0.5, 0.2), (-1.0, -0.3)])
    assert float(VAESeq2SeqModel.kl_divergence(mean, log_var)[0]) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_fused_and_cell_decoders_give_the_same_loss_for_the_same_weights(num_layers):
    fused = tiny_model("fused", num_layers=num_layers)
    cell = tiny_model("cell", num_layers=num_layers)
    cell.set_state_dict(fused.state_dict())
    src, src_len, trg, trg_len, label = batch()
    lf = CrossEntropyWithKL(1.0, 0.0)
    results = []
    for net in (fused, cell):
        paddle.seed(11)  # same z sample
        results.append(float(lf(*net(src, src_len, trg, trg_len), label)))
    assert results[0] == pytest.approx(results[1], rel=1e-5)


def test_fused_path_gradients_match_the_cell_path():
    fused, cell = tiny_model("fused"), tiny_model("cell")
    cell.set_state_dict(fused.state_dict())
    src, src_len, trg, trg_len, label = batch()
    grads = []
    for net in (fused, cell):
        paddle.seed(5)
        CrossEntropyWithKL(1.0, 0.0)(*net(src, src_len, trg, trg_len), label).backward()
        grads.append(net.decoder.lstm.weight_hh_l0.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_decoder_dropout_is_applied_once_per_layer_output(monkeypatch):
    calls = []
    real = lstm_mod.F.dropout

    def counting(x, p, *a, **kw):
        calls.append(tuple(x.shape))
        return real(x, p, *a, **kw)

    monkeypatch.setattr(lstm_mod.F, "dropout", counting)
    net = tiny_model("cell", dec_dropout=0.5)
    net.train()
    src, src_len, trg, trg_len, _ = batch()
    net(src, src_len, trg, trg_len)
    steps = trg.shape[1]
    embedding_calls = [c for c in calls if c[-1] == 8]
    output_calls = [c for c in calls if c[-1] == 16]
    assert len(embedding_calls) == 1  # the input embedding, once
    assert len(output_calls) == steps  # one layer: its output once per step, not twice


def test_kl_weight_rises_linearly_and_caps_at_one():
    assert kl_weight_at(0, 0.1, 0.01) == pytest.approx(0.1)
    assert kl_weight_at(50, 0.1, 0.01) == pytest.approx(0.6)
    assert kl_weight_at(10_000, 0.1, 0.01) == 1.0
    lf = CrossEntropyWithKL(0.1, 0.01)
    lf.set_step(30)
    assert lf.kl_weight == pytest.approx(0.4)


def test_evaluation_does_not_advance_the_anneal(tmp_path):
    """Fit with a dev set between steps: the weight follows training steps only."""
    from conftest import TINY, run_train
    import json

    out = tmp_path / "m"
    assert run_train(TINY + ["--dataset", "sample", "--model_path", str(out), "--max_epoch", "2",
                             "--warm_up", "1", "--log_freq", "10"]) == 0
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["event"] == "step"]
    anneal_r = 1.0 / (3000 / 32)
    for r in steps:  # logged after the step, so the weight used was that of step-1
        assert r["kl_weight"] == pytest.approx(min(1.0, 0.1 + anneal_r * (r["step"] - 1)), rel=1e-6)


def test_metrics_count_eos_and_skip_padding_from_the_terms_of_the_loss_hapi_called():
    lf = CrossEntropyWithKL(1.0, 0.0)
    hapi_loss = HapiLoss(lf)
    ppl, nll = Perplexity(hapi_loss), NegativeLogLoss(hapi_loss)
    net = tiny_model()
    src, src_len, trg, trg_len, label = batch()
    lf.eval()
    outputs = net(src, src_len, trg, trg_len)
    assert float(hapi_loss(*outputs, label)) == float(lf(*outputs, label))  # what paddle.Model backpropagates
    for metric in (ppl, nll):
        metric.update(*[t.numpy() for t in metric.compute(*outputs, label)])
    sentence_nll = hapi_loss.terms.sentence_nll.numpy()
    rec = sentence_rec_loss(outputs.logits, label, outputs.trg_mask).numpy()
    np.testing.assert_allclose(sentence_nll, rec + float(outputs.kl), rtol=1e-6)  # rec + true KL, at weight 1
    assert nll.accumulate() == pytest.approx(sentence_nll.mean(), rel=1e-6)
    assert ppl.accumulate() == pytest.approx(math.exp(sentence_nll.sum() / (5 + 3 + 4)), rel=1e-6)


def test_inference_starts_at_bos_and_stops_at_eos(monkeypatch):
    net = tiny_model(cls=VAESeq2SeqInferModel, decode_strategy="greedy", max_out_len=30)
    seen_first = []
    embed = net.decoder.trg_embedder.forward

    def recording(ids):
        if not seen_first:
            seen_first.append(ids.numpy().tolist())
        return embed(ids)

    monkeypatch.setattr(net.decoder.trg_embedder, "forward", recording)
    with paddle.no_grad():  # make EOS the arg-max after the first word
        bias = net.decoder.output_fc.bias
        b = np.zeros(V, dtype="float32")
        b[EOS] = 50.0
        bias.set_value(b)
        out = net(paddle.zeros([3, 4])).numpy()
    assert seen_first[0] == [BOS] * 3
    assert out.shape[1] == 1 and (out[:, 0] == EOS).all()  # stopped at EOS, not at max_out_len


@pytest.mark.parametrize("strategy", ["sampling", "greedy", "beam"])
def test_every_strategy_decodes_through_dynamic_decode(strategy, monkeypatch):
    calls = []
    real = paddle.nn.dynamic_decode

    def spy(decoder, **kw):
        calls.append(sorted(kw))
        return real(decoder, **kw)

    monkeypatch.setattr(decoding.nn, "dynamic_decode", spy)
    net = tiny_model(cls=VAESeq2SeqInferModel, decode_strategy=strategy, beam_size=3, max_out_len=7)
    net.eval()
    with paddle.no_grad():
        out = net(paddle.randn([2, 4])).numpy()
    assert out.shape[0] == 2 and out.shape[1] <= 7
    assert "latent_z" in calls[0]


def test_sample_without_eos_keeps_every_token():
    from paddle_vae.generator import untrained_generator

    vae = untrained_generator(["<pad>", "<bos>", "<eos>", "<unk>", "a", "b"], embed_dim=4, hidden_size=4,
                              latent_size=2)
    assert vae.ids_to_text(np.array([4, 5, 4])) == "a b a"
    assert vae.ids_to_text(np.array([4, 2, 5])) == "a"


def test_perplexity_of_a_diverged_run_is_inf_not_an_overflow_error():
    metric = Perplexity(HapiLoss(CrossEntropyWithKL(0.1, 0.0)))
    metric.update(np.array([1e6]), np.array([10]))
    assert metric.accumulate() == math.inf
