"""Corpora, vocabulary, batching and `prepare_train_input`.

Every sentence becomes `[<bos>] + tokens + [<eos>]`; the decoder reads it
shifted right and predicts it shifted left, and padding has an id of its own.
The reference fed neither BOS nor EOS and padded with EOS, which is why its
samples never stopped (README, "Differences from the reference").
"""
import argparse
import logging
import os
from collections import Counter
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import DataError
from .batching import BucketBatchSampler
from .reading import check_text_folder, read_lines, read_vocab_file, resolve_tokenizer

if TYPE_CHECKING:  # annotations only: Paddle and paddlenlp are imported lazily here
    import paddle
    from paddlenlp.data import Vocab

logger = logging.getLogger("paddle_vae")

PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = [PAD_TOKEN, BOS_TOKEN, EOS_TOKEN]
SPLITS = ("train", "valid", "test")
# Batches are sorted by length inside windows of this many batches (the reference's value).

SAMPLE_DIR = Path(__file__).resolve().parent / "demo_corpus"  # package data: a wheel install carries it
SPLIT_FILES = {
    "ptb": {s: f"ptb.{s}.txt" for s in SPLITS},
    "yahoo": {s: f"yahoo.{s}.txt" for s in SPLITS},
    "sample": {s: f"{s}.txt" for s in SPLITS},
    "text": {s: f"{s}.txt" for s in SPLITS},
}
YAHOO_VOCAB_FILE = "vocab.txt"
YAHOO_UNK_TOKEN = "_UNK"
# More unknown tokens than this share of a split means the vocabulary and the text do not belong together.
UNKNOWN_SHARE_WARN = 0.2
PADDLENLP_NAMES = {"ptb": "ptb", "yahoo": "yahoo_answer_100k"}


# ---------------------------------------------------------------------------
# Corpora (files are read by textio)
# ---------------------------------------------------------------------------
def truncate(sentences: List[List[str]], max_len: int, name: str) -> List[List[str]]:
    """Cut sentences to `max_len` tokens, saying once how many were cut."""
    n_long = sum(len(s) > max_len for s in sentences)
    if n_long:
        logger.warning("%s: %d sentence(s) longer than --max_len %d tokens were truncated", name, n_long, max_len)
        sentences = [s[:max_len] for s in sentences]
    return sentences


def load_corpus(args: argparse.Namespace) -> Tuple[Dict[str, List[List[str]]], Optional[List[str]]]:
    """Token lists for train/valid/test, plus a fixed vocabulary list when the dataset ships one.

    Resolves `args.tokenizer` (and `args.lowercase` for a prepared folder), so
    that training records in config.json how raw sentences must be tokenised.
    """
    dataset = args.dataset
    data_dir = args.data_dir
    if dataset == "sample" and data_dir is None:
        data_dir = str(SAMPLE_DIR)
    if data_dir is None:
        args.tokenizer = getattr(args, "tokenizer", None) or "whitespace"
        return _load_from_paddlenlp(dataset)
    if not os.path.isdir(data_dir):
        raise DataError(f"--data_dir {data_dir} is not a folder")
    if dataset == "text":
        check_text_folder(data_dir, SPLITS)
    read_as = resolve_tokenizer(args, data_dir)
    lowercase = getattr(args, "lowercase", False)
    splits = {s: read_lines(os.path.join(data_dir, SPLIT_FILES[dataset][s]), lowercase, read_as) for s in SPLITS}
    vocab_list = None
    if dataset == "yahoo":
        vocab_list = read_vocab_file(os.path.join(data_dir, YAHOO_VOCAB_FILE))
    return splits, vocab_list


def _load_from_paddlenlp(dataset: str) -> Tuple[Dict[str, List[List[str]]], Optional[List[str]]]:
    if dataset not in PADDLENLP_NAMES:
        raise DataError(f"--dataset {dataset} needs --data_dir")
    from paddlenlp.datasets import load_dataset  # lazy, as all paddlenlp here: it takes seconds to import

    try:
        splits_ds = load_dataset(PADDLENLP_NAMES[dataset], splits=SPLITS)
    except Exception as exc:  # network, checksum, disk: all end the run the same way
        raise DataError(
            f"could not load '{PADDLENLP_NAMES[dataset]}' through paddlenlp ({type(exc).__name__}: {exc}); "
            f"download it elsewhere and pass --data_dir") from None
    splits = {s: [ex["sentence"].split() for ex in ds] for s, ds in zip(SPLITS, splits_ds)}
    vocab_list = None
    if dataset == "yahoo":
        vocab_list = read_vocab_file(splits_ds[0].vocab_info["filepath"])
    return splits, vocab_list


# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------
def build_vocab(train: List[List[str]], vocab_list: Optional[List[str]] = None, max_vocab: Optional[int] = None,
                min_freq: int = 1) -> "Vocab":
    """A paddlenlp Vocab with <pad>, <bos>, <eos> at ids 0-2 and an unknown token.

    With `vocab_list` (Yahoo) the corpus's own ids follow the specials in file
    order; otherwise words are ranked by train frequency (ties alphabetical).
    """
    if vocab_list is not None:
        unk = YAHOO_UNK_TOKEN if YAHOO_UNK_TOKEN in vocab_list else UNK_TOKEN
        words = [t for t in vocab_list if t not in SPECIAL_TOKENS and t != unk]
    else:
        unk = UNK_TOKEN
        counts = Counter(tok for sent in train for tok in sent)
        counts.pop(unk, None)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        words = [w for w, c in ranked if c >= min_freq and w not in SPECIAL_TOKENS]
        if max_vocab is not None:
            words = words[:max_vocab]
    tokens = SPECIAL_TOKENS + [unk] + words
    return vocab_from_tokens(tokens, unk)


def vocab_from_tokens(tokens: Sequence[str], unk_token: str = UNK_TOKEN) -> "Vocab":
    from paddlenlp.data import Vocab

    return Vocab.from_dict({t: i for i, t in enumerate(tokens)}, unk_token=unk_token, pad_token=PAD_TOKEN,
                           bos_token=BOS_TOKEN, eos_token=EOS_TOKEN)


def vocab_tokens(vocab: "Vocab") -> List[str]:
    return [vocab.idx_to_token[i] for i in range(len(vocab))]


def special_ids(vocab: "Vocab") -> Tuple[int, int, int]:
    """(bos_id, eos_id, pad_id)."""
    return vocab.to_indices(BOS_TOKEN), vocab.to_indices(EOS_TOKEN), vocab.to_indices(PAD_TOKEN)


def encode_sentences(sentences: List[List[str]], vocab: "Vocab") -> List[List[int]]:
    """Token ids via a plain dict lookup: about 10x faster than Vocab.to_indices on PTB."""
    token_to_idx = vocab.token_to_idx
    unk_id = token_to_idx[vocab.unk_token]
    get = token_to_idx.get
    return [[get(t, unk_id) for t in sent] for sent in sentences]


# ---------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------
def prepare_train_input(insts: Sequence[Sequence[int]], bos_id: int, eos_id: int, pad_id: int
                        ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pad a batch of id lists into (src, src_length, trg, trg_length, label).

    src = <bos> w1..wn <eos>; trg = src[:-1] (what the decoder reads);
    label = src[1:] (what it predicts, EOS included), shaped [B, T, 1].
    """
    from paddlenlp.data import Pad

    src = [[bos_id] + list(inst) + [eos_id] for inst in insts]
    trg = [s[:-1] for s in src]
    label = [s[1:] for s in src]
    pad = Pad(pad_val=pad_id, ret_length=True, dtype="int64")
    src, src_length = pad(src)
    trg, trg_length = pad(trg)
    label, _ = pad(label)
    label = label.reshape((label.shape[0], label.shape[1], 1))
    return src, src_length.astype("int64"), trg, trg_length.astype("int64"), label


class TokenDataset:
    """A list of id lists, indexable by paddle.io.DataLoader."""

    def __init__(self, ids: List[List[int]]):
        self.ids = ids

    def __getitem__(self, idx: int) -> List[int]:
        return self.ids[idx]

    def __len__(self) -> int:
        return len(self.ids)


class Corpus:
    """The three encoded splits and their vocabulary."""

    def __init__(self, splits: Dict[str, List[List[int]]], vocab):
        self.splits = splits
        self.vocab = vocab
        self.bos_id, self.eos_id, self.pad_id = special_ids(vocab)

    @property
    def num_train_sentences(self) -> int:
        return len(self.splits["train"])

    def num_words(self, split: str) -> int:
        """Predicted tokens: every word plus EOS, never padding."""
        return sum(len(s) + 1 for s in self.splits[split])

    def loader(self, split: str, batch_size: int, shuffle: bool = False, seed: int = 1, num_replicas: int = 1,
               rank: int = 0) -> "paddle.io.DataLoader":
        """`split` as padded (src, src_length, trg, trg_length, label) batches in the reference's order; unshuffled
        (dev, test) every pass sees the same batches, and `num_replicas` / `rank` give a rank its slice."""
        import paddle  # lazy: reading and encoding a corpus (prepare_corpus, predict's start) needs no Paddle

        dataset = TokenDataset(self.splits[split])
        sampler = BucketBatchSampler([len(s) for s in dataset.ids], batch_size, shuffle, seed, num_replicas, rank)
        collate = partial(prepare_train_input, bos_id=self.bos_id, eos_id=self.eos_id, pad_id=self.pad_id)
        return paddle.io.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=0,
                                    return_list=True)


def unknown_share(sentences: Sequence[Sequence[str]], vocab: "Vocab") -> float:
    """Share of tokens that the vocabulary maps to its unknown token (an <unk> already in the text counts)."""
    token_to_idx, unk = vocab.token_to_idx, vocab.unk_token
    total = sum(len(s) for s in sentences)
    unknown = sum(1 for s in sentences for t in s if t == unk or t not in token_to_idx)
    return unknown / total if total else 0.0


def warn_unknown_share(share: float, name: str) -> bool:
    """One warning line when `share` of `name`'s tokens are unknown to a bundle's vocabulary."""
    if share <= UNKNOWN_SHARE_WARN:
        return False
    logger.warning("%s: %.1f%% of tokens are unknown to the bundle's vocabulary (over %d%%): the bundle was "
                   "probably trained on another corpus, or with another --tokenizer / --lowercase", name,
                   100 * share, round(100 * UNKNOWN_SHARE_WARN))
    return True


def load_and_encode(args: argparse.Namespace, vocab: Optional["Vocab"] = None) -> Corpus:
    """Read the corpus named by `args`, build (or reuse) the vocabulary, and encode every split.

    With a given vocabulary (a bundle's: evaluation, resumed training) a
    split that is mostly unknown words gets a warning, not a silent PPL.
    """
    token_splits, vocab_list = load_corpus(args)
    for split in SPLITS:
        token_splits[split] = truncate(token_splits[split], args.max_len, f"{args.dataset}/{split}")
    if vocab is None:
        vocab = build_vocab(token_splits["train"], vocab_list, getattr(args, "max_vocab", None),
                            getattr(args, "min_freq", 1))
    else:
        for split in SPLITS:
            warn_unknown_share(unknown_share(token_splits[split], vocab), f"{args.dataset}/{split}")
    return Corpus({s: encode_sentences(token_splits[s], vocab) for s in SPLITS}, vocab)


def create_data_loader(args: argparse.Namespace, vocab: Optional["Vocab"] = None
                       ) -> Tuple[Any, Any, Any, Any, int, int, int]:
    """The reference's entry point, with its return value: (train_loader, dev_loader, test_loader, vocab,
    bos_id, pad_id, number of training sentences).

    The reference returns no eos_id (its EOS and padding share one id); ours differ, so a caller that needs
    EOS takes `corpus.eos_id` from `load_and_encode` instead. Unlike the reference, the test loader
    iterates the test split (the reference's draws dev batch indices).
    """
    corpus = load_and_encode(args, vocab)
    train_loader = corpus.loader("train", args.batch_size, shuffle=True, seed=args.seed)
    dev_loader = corpus.loader("valid", args.batch_size)
    test_loader = corpus.loader("test", args.batch_size)
    return (train_loader, dev_loader, test_loader, corpus.vocab, corpus.bos_id, corpus.pad_id,
            corpus.num_train_sentences)
