"""`VAEGenerator`: sample, reconstruct, interpolate, encode and score with a trained bundle.

    vae = VAEGenerator.from_pretrained("model/best")
    vae.sample(num=5, strategy="greedy")
    vae.interpolate("the market fell", "the company said it expects profits", steps=5)

All decoding runs through `paddle.Model.predict_batch` on a
`VAESeq2SeqInferModel`, i.e. `paddle.nn.dynamic_decode(..., latent_z=...)`.
"""
from typing import Any, Dict, Iterator, List, Optional, Sequence

import numpy as np
import paddle

from . import arguments as check
from .bundle import BUNDLE, load_weights, read_bundle, save_bundle
from .config import DEFAULT_MAX_BYTES, MAX_POSITIONS, ModelConfig, inference_options
from .data.corpus import (BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, UNK_TOKEN, encode_sentences, prepare_train_input,
                   unknown_share, vocab_from_tokens, vocab_tokens)
from .models.decoding import STRATEGIES
from .errors import UsageError
from .files import check_output
from .evaluation.bleu import bleu_greedy, cut_at_eos
from .evaluation.metrics import iw_log_likelihood
from .evaluation.row_cap import is_lm
from .models.networks import build_infer_network
from .evaluation.progress import progress_bar, wants_progress
from .data.tokenizers import tokenize

DECODE_BATCH = 512


class VAEGenerator:
    """A trained (or freshly initialised) VAE with its vocabulary, ready for generation."""

    def __init__(self, config: Dict[str, Any], tokens: Sequence[str], state_dict: Optional[Dict] = None,
                 source: str = "<memory>"):
        self.config = dict(config)
        self.vocab = vocab_from_tokens(list(tokens), config["unk_token"])
        self.net = build_infer_network(ModelConfig.from_bundle(config))
        if state_dict is not None:
            load_weights(self.net, state_dict, source)
        self.net.eval()
        self.model = paddle.Model(self.net)
        self.model.prepare()
        self.tokenizer, self.lowercase, self.max_len = inference_options(config)

    def _require_latent(self, operation: str) -> None:
        if is_lm(self.net):
            raise UsageError(f"{operation} needs a latent variable; this bundle is a language model (--model lm), "
                             "which scores and samples sentences")

    # -- construction -----------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> "VAEGenerator":
        """Load a bundle folder written by training (or by `save_pretrained`).

        Every file is checked before anything is built (a CheckpointError of one line otherwise), and a bundle
        whose config.json declares more than `max_bytes` of weights (2 GiB by default) is refused: raise it
        for a model you trust to be that large. Loading runs none of the bundle's code: it holds no pickles."""
        config, tokens, state_dict, _ = read_bundle(path, check.integer("max_bytes", max_bytes))
        return cls(config, tokens, state_dict, source=path)

    def save_pretrained(self, path: str, overwrite: bool = False) -> str:
        """Write this model as a bundle folder at `path`, swapped in whole once written.

        As training does, it never replaces what someone may need: an existing
        bundle only with `overwrite=True`; a file, a run folder or any other
        non-empty folder never (a ValueError says so, and nothing is written)."""
        check_output(path, BUNDLE, overwrite, how="overwrite=True")
        return save_bundle(path, self.net, self.config, vocab_tokens(self.vocab))

    # -- helpers -----------------------------------------------------------------
    def tokenize(self, sentence: str) -> List[str]:
        """A raw sentence as training saw it: the bundle's tokenizer and lowercasing ("Hello, world!" works)."""
        return tokenize(sentence, self.tokenizer, self.lowercase)

    def _check_sentences(self, sentences: Sequence[str]) -> List[List[str]]:
        if isinstance(sentences, str) or not isinstance(sentences, (list, tuple)):
            raise UsageError("expected a list of sentences (strings)")
        if not sentences:
            raise UsageError("expected at least one sentence")
        out = []
        for i, s in enumerate(sentences):
            if not isinstance(s, str):
                raise UsageError(f"sentence {i} is a {type(s).__name__}, not a string")
            tokens = self.tokenize(s)
            if not tokens:
                raise UsageError(f"sentence {i} is empty")
            out.append(tokens[:self.max_len])
        return out

    def unknown_share(self, sentences: Sequence[str]) -> float:
        """Share of the sentences' tokens that this bundle's vocabulary does not know."""
        return unknown_share(self._check_sentences(sentences), self.vocab)

    def _batch(self, tokenized: List[List[str]]):
        """Encoder/decoder tensors for sentences; unknown words become the unknown token."""
        arrays = prepare_train_input(encode_sentences(tokenized, self.vocab), self.config["bos_id"],
                                     self.config["eos_id"], self.config["pad_id"])
        return [paddle.to_tensor(a) for a in arrays]

    def ids_to_text(self, ids: np.ndarray) -> str:
        """Tokens up to the first EOS; a sentence that never emitted EOS keeps every token."""
        ids = cut_at_eos(np.asarray(ids).reshape(-1), self.config["eos_id"])
        return " ".join(self.vocab.idx_to_token[i] for i in ids)

    def decode(self, latent_z: np.ndarray, strategy: str = "greedy", beam_size: int = 4, max_len: int = 50,
               temperature: float = 1.0, seed: Optional[int] = None, progress: Optional[bool] = None) -> List[str]:
        """Decode sentences from latent codes [N, latent_size] (a progress bar for long inputs on a terminal)."""
        self._require_latent("decoding")
        z = check.latent_codes(latent_z, self.net.latent_size)
        batches = (z[start:start + DECODE_BATCH] for start in range(0, len(z), DECODE_BATCH))
        return list(self._generate(batches, len(z), strategy, beam_size, max_len, temperature, seed, progress))

    def _generate(self, batches: Iterator[np.ndarray], total: int, strategy: str, beam_size: int, max_len: int,
                  temperature: float, seed: Optional[int], progress: Optional[bool]) -> Iterator[str]:
        """One sentence per row of each batch of the network's input (latent codes for the VAE, <bos> ids for
        the LM), decoded batch by batch as the caller takes them, so only one batch is ever held.

        The arguments are checked now, not at the first sentence; the decoding
        settings are set again for each batch, as another generation may have run
        in between."""
        check.choice("strategy", strategy, STRATEGIES)
        beam_size = check.integer("beam_size", beam_size)
        # The Transformer's position table (and so its decoding cache) has MAX_POSITIONS slots.
        max_len = check.integer("max_len", max_len, 1, MAX_POSITIONS if self.config.get("decoder") == "transformer"
                                else None)
        temperature = check.positive_number("temperature", temperature)
        seed, progress = check.seed(seed), check.optional_flag("progress", progress)
        settings = dict(decode_strategy=strategy, beam_size=beam_size, max_out_len=max_len, temperature=temperature)

        def sentences() -> Iterator[str]:
            if seed is not None:
                paddle.seed(seed)
            bar = self._progress(total, "decode", progress)
            try:
                for inputs in batches:
                    for name, value in settings.items():
                        setattr(self.net, name, value)
                    ids = self.model.predict_batch([inputs])[0]
                    bar.update(len(ids))
                    yield from (self.ids_to_text(row) for row in ids)
            finally:
                bar.close()

        return sentences()

    # -- the public operations ----------------------------------------------------
    def sample(self, num: int = 10, strategy: str = "sampling", beam_size: int = 4, max_len: int = 50,
               temperature: float = 1.0, seed: Optional[int] = None, progress: Optional[bool] = None) -> List[str]:
        """Sentences decoded from z ~ N(0, I); from a language-model bundle, sentences the LM generates."""
        return list(self.iter_sample(num, strategy, beam_size, max_len, temperature, seed, progress))

    def iter_sample(self, num: int = 10, strategy: str = "sampling", beam_size: int = 4, max_len: int = 50,
                    temperature: float = 1.0, seed: Optional[int] = None, progress: Optional[bool] = None,
                    batch_size: int = DECODE_BATCH) -> Iterator[str]:
        """`sample`'s sentences one at a time: z is drawn and decoded `batch_size` rows at a time, so memory
        stays flat in `num` (10**9 works). The same arguments give `sample`'s sentences, when no other Paddle
        sampling runs while the iterator is being read."""
        num, batch_size = check.integer("num", num), check.integer("batch_size", batch_size)
        lm, rng = is_lm(self.net), np.random.RandomState(check.seed(seed))  # one stream: batch by batch, the same draws

        def inputs() -> Iterator[np.ndarray]:
            for start in range(0, num, batch_size):
                rows = min(batch_size, num - start)
                if lm:
                    yield np.full((rows, 1), self.config["bos_id"], dtype="int64")
                else:
                    yield rng.standard_normal((rows, self.net.latent_size)).astype("float32")

        return self._generate(inputs(), num, strategy, beam_size, max_len, temperature, seed, progress)

    @paddle.no_grad()
    def encode(self, sentences: Sequence[str]) -> np.ndarray:
        """Posterior means, [N, latent_size]."""
        self._require_latent("encode")
        tokenized = self._check_sentences(sentences)
        means = []
        for start in range(0, len(tokenized), DECODE_BATCH):
            src, src_length, _, _, _ = self._batch(tokenized[start:start + DECODE_BATCH])
            means.append(self.net.encode(src, src_length)[0].numpy())
        return np.concatenate(means)

    def reconstruct(self, sentences: Sequence[str], strategy: str = "greedy", beam_size: int = 4,
                    max_len: int = 50, temperature: float = 1.0, seed: Optional[int] = None,
                    progress: Optional[bool] = None) -> List[str]:
        """Decode each sentence from its posterior mean."""
        return self.decode(self.encode(sentences), strategy, beam_size, max_len, temperature, seed, progress)

    def interpolate(self, sentence_a: str, sentence_b: str, steps: int = 5, strategy: str = "greedy",
                    beam_size: int = 4, max_len: int = 50, seed: Optional[int] = None) -> List[str]:
        """Decode `steps` evenly spaced points on the line between two posterior means (Bowman et al.)."""
        return list(self.iter_interpolate(sentence_a, sentence_b, steps, strategy, beam_size, max_len, seed))

    def iter_interpolate(self, sentence_a: str, sentence_b: str, steps: int = 5, strategy: str = "greedy",
                         beam_size: int = 4, max_len: int = 50, seed: Optional[int] = None,
                         batch_size: int = DECODE_BATCH) -> Iterator[str]:
        """`interpolate`'s sentences one at a time, `batch_size` points decoded at once: memory flat in `steps`."""
        steps, batch_size = check.integer("steps", steps, minimum=2), check.integer("batch_size", batch_size)
        z_a, z_b = self.encode([sentence_a, sentence_b])

        def points() -> Iterator[np.ndarray]:
            for start in range(0, steps, batch_size):
                # np.linspace(0, 1, steps)'s values, a batch at a time
                index = np.arange(start, min(start + batch_size, steps))
                alphas = np.where(index == steps - 1, 1.0, index * (1.0 / (steps - 1))).astype("float32")[:, None]
                yield (1 - alphas) * z_a + alphas * z_b

        return self._generate(points(), steps, strategy, beam_size, max_len, 1.0, seed, None)

    @paddle.no_grad()
    def score(self, sentences: Sequence[str], iw_samples: int = 100, seed: Optional[int] = 1,
              progress: Optional[bool] = None) -> np.ndarray:
        """Per-sentence NLL estimate in nats: -log p(x) by importance sampling (as `evaluate` computes it)."""
        iw_samples, seed = check.integer("iw_samples", iw_samples), check.seed(seed)
        tokenized = self._check_sentences(sentences)
        if seed is not None:
            paddle.seed(seed)
        out, bar = [], self._progress(len(tokenized), f"IW K={iw_samples}", progress, chunk=64)
        for start in range(0, len(tokenized), 64):
            batch = self._batch(tokenized[start:start + 64])
            out.append(-iw_log_likelihood(self.net, *batch, num_samples=iw_samples))
            bar.update(len(out[-1]))
        bar.close()
        return np.concatenate(out)

    def bleu(self, sentences: Sequence[str], progress: Optional[bool] = None) -> float:
        """Corpus BLEU-4 (0-100) of greedy reconstructions from the posterior means against the sentences
        (as `evaluate` reports `bleu_greedy`; unknown words count as the unknown token on both sides)."""
        self._require_latent("bleu")
        tokenized = self._check_sentences(sentences)
        batches = [self._batch(tokenized[s:s + DECODE_BATCH]) for s in range(0, len(tokenized), DECODE_BATCH)]
        return bleu_greedy(self.net, batches, progress=self._wants(progress, len(tokenized), DECODE_BATCH),
                           total=len(tokenized))

    @staticmethod
    def _wants(progress: Optional[bool], total: int, chunk: int) -> bool:
        """None: a bar only for inputs longer than one chunk, and only on a terminal."""
        return wants_progress() and total > chunk if progress is None else progress

    def _progress(self, total: int, desc: str, progress: Optional[bool], chunk: int = DECODE_BATCH):
        return progress_bar(total, desc, self._wants(progress, total, chunk))




def untrained_generator(vocab_tokens_list: Optional[Sequence[str]] = None, embed_dim: int = 256,
                        hidden_size: int = 256, latent_size: int = 32, num_layers: int = 1, init_scale: float = 0.1,
                        seed: int = 1) -> VAEGenerator:
    """A randomly initialised model (PTB-sized by default) for experiments without a checkpoint."""
    tokens = list(vocab_tokens_list) if vocab_tokens_list else [PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN] + [
        f"w{i}" for i in range(9998)]
    paddle.seed(seed)
    config = ModelConfig(vocab_size=len(tokens), embed_dim=embed_dim, hidden_size=hidden_size,
                         latent_size=latent_size, num_layers=num_layers, init_scale=init_scale,
                         pad_id=tokens.index(PAD_TOKEN), bos_id=tokens.index(BOS_TOKEN),
                         eos_id=tokens.index(EOS_TOKEN), unk_token=UNK_TOKEN)
    return VAEGenerator(config.to_json(), tokens)
