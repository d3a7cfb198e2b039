"""Bundles of the Transformer decoder's first layout, renamed to the current one on load.

The first release of `--decoder transformer` stacked paddle's TransformerDecoderLayer (the VAE) or
TransformerEncoderLayer (the LM) inside nn.TransformerDecoder / nn.TransformerEncoder, so its weights are
named `...blocks.layers.N.norm1.weight`, `...blocks.layers.N.cross_attn.v_proj.weight`, `...blocks.norm.weight`.
The current blocks (transformer.TransformerBlock) compute the same function under other names, and drop
what cannot matter: the cross-attention's query and key projections and the LayerNorm in front of them
(the softmax over z's one position is 1 whatever the query). The renaming applies to weights and to the
optimizer's moments alike (both are keyed by these names plus a suffix), so such a bundle loads, scores,
decodes and resumes.
"""
import re
from typing import Any, Dict

_BLOCK = re.compile(r"(^|\.)blocks\.layers\.(\d+)\.")
_FINAL_NORM = re.compile(r"(^|\.)blocks\.norm\.")
VAE_RENAMES = {"norm1.": "self_norm.", "norm3.": "ffn_norm.", "cross_attn.v_proj.": "z_attn.v_proj.",
               "cross_attn.out_proj.": "z_attn.out_proj."}
VAE_DROPPED = ("cross_attn.q_proj.", "cross_attn.k_proj.", "norm2.")
LM_RENAMES = {"norm1.": "self_norm.", "norm2.": "ffn_norm."}


def is_first_layout(state: Dict[str, Any]) -> bool:
    return any(_BLOCK.search(key) for key in state)


def upgrade_transformer_keys(state: Dict[str, Any]) -> Dict[str, Any]:
    """`state` with first-layout Transformer names renamed (and the unused ones dropped); others unchanged."""
    if not is_first_layout(state):
        return state
    vae = any(".cross_attn." in key for key in state)
    renames, dropped = (VAE_RENAMES, VAE_DROPPED) if vae else (LM_RENAMES, ())
    upgraded = {}
    for key, value in state.items():
        block = _BLOCK.search(key)
        if block is None:
            upgraded[_FINAL_NORM.sub(r"\1final_norm.", key)] = value
            continue
        head, rest = key[:block.start()] + f"{block.group(1)}blocks.{block.group(2)}.", key[block.end():]
        if rest.startswith(dropped):
            continue
        for old, new in renames.items():
            if rest.startswith(old):
                rest = new + rest[len(old):]
                break
        upgraded[head + rest] = value
    return upgraded
