"""The row cap that bounds evaluation's memory: at most LOGIT_BUDGET float32 logits per decoder pass.

Shared by the likelihood estimators (`metrics`) and greedy BLEU (`bleu`): both
score rows of [rows, V] logits, and both must stay inside the same working set.
"""
from typing import TYPE_CHECKING, List, Sequence

if TYPE_CHECKING:  # annotations only: the row cap itself needs no Paddle
    import paddle

LOGIT_BUDGET = 1 << 23  # float32 logits per decoder pass (32 MiB: glibc reuses such buffers, see runtime)


def is_lm(net: "paddle.nn.Layer") -> bool:
    """True for a plain language model (no encoder, no latent)."""
    return bool(getattr(net, "is_lm", False))


def default_max_rows(net: "paddle.nn.Layer") -> int:
    return max(1, LOGIT_BUDGET // int(net.vocab_size))


def row_groups(rows: Sequence[int], max_rows: int) -> List[slice]:
    """Consecutive slices whose row counts sum to at most `max_rows` (a longer single item stands alone)."""
    groups, start, total = [], 0, 0
    for i, r in enumerate(rows):
        if i > start and total + r > max_rows:
            groups.append(slice(start, i))
            start, total = i, 0
        total += int(r)
    groups.append(slice(start, len(rows)))
    return groups
