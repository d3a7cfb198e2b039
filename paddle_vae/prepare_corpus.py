"""From raw text files to a `--dataset text` folder: train/valid/test.txt, one tokenised sentence per line.

    python -m paddle_vae.prepare_corpus book.txt --output_dir corpus/book --lowercase
    python -m paddle_vae.prepare_corpus zh.txt --output_dir corpus/zh --split_by paragraph

People have one file wrapped at 70 columns, with glued punctuation, blank lines,
a BOM and CRLF ends. This joins wrapped lines into paragraphs (a blank line ends
one), splits sentences, tokenises them (paddlenlp's BasicTokenizer for Latin
script, jieba when the text is mostly CJK), filters by length, splits
deterministically and writes DIR/prepare.json with the options and counts.
Training on DIR records the tokenizer, so inference tokenises raw sentences
the same way.
"""
from .runtime import setup_command

setup_command()  # a command owns its process: before Paddle loads, quiet known warnings and tune the CPU

import argparse
import logging
import math
import os
import random
import sys
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .data.corpus import SPLITS
from .data.reading import PREPARE_FILE, read_text, text_lines
from .errors import DataError, UsageError, cli_entry
from .files import OutputKind, check_output, publish_dir, write_json_atomic, write_text_atomic
from .data.tokenizers import TOKENIZERS, cjk_share, default_tokenizer, paragraphs, split_sentences, tokenize

logger = logging.getLogger("paddle_vae")
# A prepared corpus folder: the split files and the prepare.json written last, which marks it finished.
CORPUS = OutputKind("prepared corpus", PREPARE_FILE, frozenset([f"{name}.txt" for name in SPLITS] + [PREPARE_FILE]))
Sentence = List[str]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m paddle_vae.prepare_corpus", allow_abbrev=False,
                                description="Raw UTF-8 text -> DIR/{train,valid,test}.txt + DIR/prepare.json",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("raw", nargs="+", metavar="RAW", help="raw UTF-8 text files (a blank line ends a paragraph)")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--tokenizer", choices=TOKENIZERS, default=None,
                   help="default: jieba when the text is mostly CJK, else basic (paddlenlp's BasicTokenizer)")
    p.add_argument("--lowercase", action="store_true")
    p.add_argument("--min_len", type=int, default=2, help="drop sentences with fewer tokens")
    p.add_argument("--max_len", type=int, default=100, help="drop sentences with more tokens")
    p.add_argument("--dedupe", action="store_true", help="keep only the first copy of a repeated sentence")
    p.add_argument("--split", default="0.9,0.05,0.05", help="train,valid,test fractions")
    p.add_argument("--split_by", choices=["sentence", "paragraph"], default="sentence",
                   help="paragraph: whole paragraphs go to one split, so neighbouring sentences do not leak")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--overwrite", action="store_true",
                   help="replace the corpus already in --output_dir (a folder holding other files is never replaced)")
    p.add_argument("--verbose", action="store_true", help="show third-party warnings")
    return p


def parse_fractions(text: str) -> Tuple[float, float, float]:
    """`--split`'s train,valid,test fractions, checked (summing to 1, valid and test above 0: both splits are
    needed) before any file is read, so a typo costs one UsageError line, not a tokenised corpus."""
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or not all(math.isfinite(x) for x in parts) or min(parts) < 0 or abs(sum(parts) - 1.0) > 1e-6 or parts[1] <= 0 or parts[2] <= 0:
        raise UsageError(f"--split must be three fractions train,valid,test summing to 1 with valid and test "
                         f"above 0, got {text!r}")
    return parts  # type: ignore[return-value]


def read_paragraphs(paths: Sequence[str]) -> Tuple[List[str], int]:
    """Paragraphs of every file in order (a file boundary ends a paragraph), and the raw line count."""
    out, num_lines = [], 0
    for path in paths:
        text = read_text(path)
        lines = text_lines(text)
        num_lines += len(lines)
        out.extend(paragraphs(lines))
    return out, num_lines


def tokenize_paragraphs(paras: List[str], tokenizer: str, lowercase: bool) -> List[List[Sentence]]:
    """Each paragraph as a list of tokenised sentences."""
    return [[tokenize(s, tokenizer, lowercase) for s in split_sentences(p)] for p in paras]


def filter_sentences(paras: List[List[Sentence]], min_len: int, max_len: int, dedupe: bool
                     ) -> Tuple[List[List[Sentence]], Dict[str, int]]:
    """Drop sentences outside [min_len, max_len] tokens (and repeats, with dedupe); empty paragraphs go too."""
    counts = Counter()
    seen = set()
    kept_paras = []
    for para in paras:
        kept = []
        for sent in para:
            if len(sent) < min_len:
                counts["dropped_short"] += 1
            elif len(sent) > max_len:
                counts["dropped_long"] += 1
            elif dedupe and tuple(sent) in seen:
                counts["dropped_duplicate"] += 1
            else:
                seen.add(tuple(sent))
                kept.append(sent)
        if kept:
            kept_paras.append(kept)
    counts["kept"] = sum(len(p) for p in kept_paras)
    return kept_paras, {k: counts[k] for k in ("kept", "dropped_short", "dropped_long", "dropped_duplicate")}


def split_units(num_units: int, fractions: Sequence[float], seed: int) -> Dict[str, List[int]]:
    """Deterministic train/valid/test unit indices (each in original order); valid and test get >= 1 unit."""
    n_valid = max(1, round(num_units * fractions[1]))
    n_test = max(1, round(num_units * fractions[2]))
    if num_units - n_valid - n_test < 1:
        raise UsageError(f"only {num_units} unit(s) left after filtering: too few for train, valid and test "
                         f"(lower --min_len, or use --split_by sentence)")
    order = list(range(num_units))
    random.Random(seed).shuffle(order)
    return {"valid": sorted(order[:n_valid]), "test": sorted(order[n_valid:n_valid + n_test]),
            "train": sorted(order[n_valid + n_test:])}


def vocab_stats(train: List[Sentence]) -> Dict[str, Any]:
    """Vocabulary size at min_freq 1, 2, 5 and the share of train tokens the top 10k / 20k words cover."""
    counts = Counter(t for s in train for t in s)
    total = sum(counts.values()) or 1
    ranked = sorted(counts.values(), reverse=True)
    return {"vocab_size": {f"min_freq_{k}": sum(1 for c in ranked if c >= k) for k in (1, 2, 5)},
            "coverage": {f"top_{k // 1000}k": round(sum(ranked[:k]) / total, 4) for k in (10000, 20000)}}


def validate(args: argparse.Namespace) -> argparse.Namespace:
    """Every flag's rule, checked before any file is read."""
    parse_fractions(args.split)
    if args.min_len < 1 or args.max_len < args.min_len:
        raise UsageError(f"need 1 <= --min_len <= --max_len, got {args.min_len} and {args.max_len}")
    return args


def prepare(args: argparse.Namespace) -> Dict[str, Any]:
    """Run the whole pipeline on validated flags (it validates them itself, as a caller may skip `main`);
    returns what prepare.json holds."""
    validate(args)
    check_output(args.output_dir, CORPUS, args.overwrite, inputs=args.raw)
    paras, num_lines = read_paragraphs(args.raw)
    if not paras:
        raise DataError(f"no text in {', '.join(args.raw)} (empty or blank files)")
    sample = "".join(paras[:2000])
    tokenizer = args.tokenizer or default_tokenizer(sample)
    tokenized = tokenize_paragraphs(paras, tokenizer, args.lowercase)
    num_sentences = sum(len(p) for p in tokenized)
    kept, filtered = filter_sentences(tokenized, args.min_len, args.max_len, args.dedupe)
    units = kept if args.split_by == "paragraph" else [[s] for p in kept for s in p]
    parts = {name: [s for i in idx for s in units[i]]
             for name, idx in split_units(len(units), parse_fractions(args.split), args.seed).items()}
    options = {k: getattr(args, k) for k in ("raw", "lowercase", "min_len", "max_len", "dedupe", "split",
                                              "split_by", "seed")}
    options["tokenizer"] = tokenizer
    info = {"options": options, "cjk_share": round(cjk_share(sample), 4),
            "counts": {"raw_lines": num_lines, "paragraphs": len(paras), "sentences": num_sentences, **filtered},
            "splits": {name: {"sentences": len(parts[name]), "tokens": sum(len(s) for s in parts[name])}
                       for name in SPLITS},
            "train": vocab_stats(parts["train"])}

    def fill(folder: str) -> None:
        for name in SPLITS:
            write_text_atomic(os.path.join(folder, f"{name}.txt"), "".join(" ".join(s) + "\n" for s in parts[name]))
        write_json_atomic(os.path.join(folder, PREPARE_FILE), info)  # last: it marks a finished corpus

    publish_dir(args.output_dir, fill, CORPUS)  # the four files swapped in as one: never old and new mixed
    return info


@cli_entry
def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    info = prepare(args)
    splits = ", ".join(f"{k} {v['sentences']}" for k, v in info["splits"].items())
    vocab = info["train"]["vocab_size"]
    print(f"{info['counts']['sentences']} sentences from {info['counts']['paragraphs']} paragraphs "
          f"({info['options']['tokenizer']} tokenizer); kept {info['counts']['kept']}: {splits}; train vocabulary "
          f"{vocab['min_freq_1']} words ({vocab['min_freq_2']} at min_freq 2)")
    print(f"wrote {args.output_dir}/{{train,valid,test}}.txt and prepare.json; train with: "
          f"bash run_train.sh --dataset text --data_dir {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
