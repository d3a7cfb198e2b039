"""The benchmark's PyTorch row: the same model and step in PyTorch, run by an interpreter that has torch.

torch is never a dependency of paddle_vae; `bench --torch_python` names the interpreter, and only that
process imports this module.
"""
from typing import Any, Dict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import BATCH_KEYS, MODEL, time_steps


def worker_train_torch(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Seconds per step of the PTB model in PyTorch, on the same saved batches as the Paddle rows."""
    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(1)
    data = np.load(cfg["batches"])
    vocab, pad = int(data["vocab_size"]), int(data["pad_id"])
    E, H, Z = MODEL["embed_dim"], MODEL["hidden_size"], MODEL["latent_size"]

    class TorchVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.src_emb, self.trg_emb = nn.Embedding(vocab, E), nn.Embedding(vocab, E)
            self.enc = nn.LSTM(E, H, batch_first=True)
            self.to_latent = nn.Linear(2 * H, 2 * Z)
            self.to_state = nn.Linear(Z, 2 * H)
            self.dec = nn.LSTM(E + Z, H, batch_first=True)
            self.out = nn.Linear(H, vocab)

        def forward(self, src, src_len, trg, trg_len, label):
            packed = nn.utils.rnn.pack_padded_sequence(self.src_emb(src), src_len, batch_first=True,
                                                       enforce_sorted=False)
            _, (h, c) = self.enc(packed)
            mean, log_var = self.to_latent(torch.cat([h[0], c[0]], -1)).chunk(2, -1)
            z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
            kl = (-0.5 * (1 + log_var - mean ** 2 - log_var.exp())).sum(-1).mean()
            h0, c0 = self.to_state(z).chunk(2, -1)
            emb = F.dropout(self.trg_emb(trg), 0.5, self.training)
            x = torch.cat([emb, z.unsqueeze(1).expand(-1, emb.shape[1], -1)], -1)
            out, _ = self.dec(x, (h0.unsqueeze(0).contiguous(), c0.unsqueeze(0).contiguous()))
            real = label.reshape(label.shape[0], -1) != pad  # score real positions only, as ours does
            logits = self.out(F.dropout(out[real], 0.5, self.training))
            rec = F.cross_entropy(logits, label.reshape(label.shape[0], -1)[real], reduction="sum")
            return rec / src.shape[0] + 0.1 * kl

    net = TorchVAE()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    batches = [[torch.from_numpy(data[f"{k}{i}"]) for k in BATCH_KEYS]
               for i in range(int(data["n"]))]

    def step(b):
        loss = net(*b)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        return float(loss)

    result = time_steps(step, batches, cfg)
    result["torch_version"] = torch.__version__
    return result
