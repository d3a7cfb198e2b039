"""Greedy-reconstruction BLEU: how much of each input sentence z carries back out.

Corpus BLEU-4 (0-100) by `paddlenlp.metrics.BLEU` of greedy decodes from the
posterior means against the inputs, each decode cut at EOS or at twice the
input's length (words + EOS), so batching cannot change it.
"""
from typing import TYPE_CHECKING, Iterable, List, Optional, Sequence

import paddle

from .progress import progress_bar
from .row_cap import default_max_rows, is_lm

if TYPE_CHECKING:  # annotations only: importing the models here would load them for BLEU alone
    from ..models.vae import VAESeq2SeqInferModel


def corpus_bleu(hypotheses: Sequence[Sequence], references: Sequence[Sequence]) -> float:
    """Corpus BLEU-4 (0-100, no smoothing, one reference each) by paddlenlp.metrics.BLEU."""
    from paddlenlp.metrics import BLEU  # lazy: paddlenlp takes seconds to import, and only BLEU needs it here

    bleu = BLEU(n_size=4)
    for hyp, ref in zip(hypotheses, references):
        bleu.add_inst(list(hyp), [list(ref)])
    return 100.0 * bleu.score() if bleu.bp_c > 0 else 0.0


def cut_at_eos(ids: Sequence[int], eos: int) -> List[int]:
    """The ids before the first EOS, as ints; a decode that never emitted EOS keeps every id."""
    ids = [int(i) for i in ids]
    return ids[:ids.index(eos)] if eos in ids else ids


@paddle.no_grad()
def greedy_reconstruction_ids(net: "VAESeq2SeqInferModel", src: paddle.Tensor, src_length: paddle.Tensor,
                              max_len: int, max_rows: Optional[int] = None) -> List[List[int]]:
    """Greedy decodes from the posterior means (ids up to EOS); `net` is a VAESeq2SeqInferModel."""
    mean, _ = net.encode(src, src_length)
    saved = net.decode_strategy, net.max_out_len
    net.decode_strategy, net.max_out_len = "greedy", max_len
    step = max_rows or default_max_rows(net)  # each decoding step scores one row per sentence
    try:
        ids = [row for s in range(0, mean.shape[0], step) for row in net(mean[s:s + step]).numpy()]
    finally:
        net.decode_strategy, net.max_out_len = saved
    return [cut_at_eos(row, net.end_token) for row in ids]


def reference_ids(label: paddle.Tensor, trg_length: paddle.Tensor) -> List[List[int]]:
    """The input sentences as ids: the label rows without their EOS and padding."""
    label = label.numpy().reshape(trg_length.shape[0], -1)
    return [[int(t) for t in row[:n - 1]] for row, n in zip(label, trg_length.numpy().reshape(-1))]


def bleu_greedy(net: paddle.nn.Layer, batches: Iterable, max_rows: Optional[int] = None, progress: bool = False,
                total: Optional[int] = None) -> Optional[float]:
    """`bleu_greedy` over (src, src_length, trg, trg_length, label) batches; None for a language model."""
    if is_lm(net):
        return None
    hyps, refs = [], []
    bar = progress_bar(total, "greedy BLEU", progress)
    for src, src_length, trg, trg_length, label in batches:
        # cut at twice the input's predicted tokens (n + 1), per sentence, so batching cannot change it
        decoded = greedy_reconstruction_ids(net, src, src_length, 2 * trg.shape[1] + 2, max_rows)
        limits = 2 * trg_length.numpy().reshape(-1)
        hyps += [ids[:limit] for ids, limit in zip(decoded, limits)]
        refs += reference_ids(label, trg_length)
        bar.update(src.shape[0])
    bar.close()
    return corpus_bleu(hyps, refs)
