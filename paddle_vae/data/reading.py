"""Reading corpus files: UTF-8 with or without a BOM, split folders, and the tokenizer they were made with.

A bad file ends the run with one line naming it (and the line of a bad byte); a folder that is not yet a
corpus points at `prepare_corpus`. Lines are split on "\n" (and "\r\n") only, as files are written:
`str.splitlines` also splits on \x0c, \x1c-\x1e, \x85, U+2028 and a lone \r, which would put outputs out of
line with the inputs they answer.
"""
import argparse
import json
import os
from typing import Dict, List, Sequence

from ..errors import DataError
from .tokenizers import BOM, get_tokenizer


PREPARE_FILE = "prepare.json"  # written by prepare_corpus next to train/valid/test.txt


def read_text(path: str) -> str:
    """A UTF-8 file's text without a BOM, or a DataError naming the file (and the line of a bad byte)."""
    if not os.path.isfile(path):
        if os.path.exists(path):  # a folder, a device such as /dev/zero, a named pipe (opening it would block)
            raise DataError(f"{path}: not a regular file ({'a folder' if os.path.isdir(path) else 'a device or pipe'}"
                            f"); give a text file")
        raise DataError(f"missing data file: {path}")
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = text_line_of_offset(path, exc.start)
        raise DataError(f"{path}: not valid UTF-8 (line {line_no}, byte offset {exc.start})") from None
    return text[1:] if text.startswith(BOM) else text


def read_lines(path: str, lowercase: bool = False, tokenizer: str = "whitespace") -> List[List[str]]:
    """Tokenised non-blank lines of a UTF-8 file, or a DataError naming the file."""
    text = read_text(path)
    if lowercase:
        text = text.lower()
    split = get_tokenizer(tokenizer)
    sentences = [split(line) for line in text_lines(text)]
    sentences = [s for s in sentences if s]
    if not sentences:
        raise DataError(f"{path}: no sentences (the file is empty or holds only blank lines)")
    return sentences


def text_lines(text: str) -> List[str]:
    """The lines of a file's text, split on "\n" (a "\r\n" end counts as one) and nothing else."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline ending the last line starts no new one
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def text_line_of_offset(path: str, offset: int) -> int:
    with open(path, "rb") as f:
        return f.read(offset).count(b"\n") + 1


def read_vocab_file(path: str) -> List[str]:
    """One token per line, the line index being the id (yahoo_answer_100k's vocab.txt)."""
    if not os.path.isfile(path):
        raise DataError(f"missing vocabulary file: {path}")
    tokens = [t for t in text_lines(read_text(path)) if t.strip()]
    if not tokens:
        raise DataError(f"{path}: empty vocabulary file")
    return tokens


def check_text_folder(data_dir: str, splits: Sequence[str]) -> None:
    """--dataset text needs all three split files; point at prepare_corpus when some are missing."""
    missing = [f"{s}.txt" for s in splits if not os.path.isfile(os.path.join(data_dir, f"{s}.txt"))]
    if not missing:
        return
    raws = sorted(f for f in os.listdir(data_dir) if os.path.isfile(os.path.join(data_dir, f)))
    raw = os.path.join(data_dir, raws[0]) if raws else "RAW.txt"
    raise DataError(f"--dataset text: {data_dir} lacks {', '.join(missing)}; make train/valid/test.txt from a raw "
                    f"file with: python -m paddle_vae.prepare_corpus {raw} --output_dir {data_dir.rstrip('/')}_prepared")


def read_prepare_info(data_dir: str) -> Dict:
    """The prepare.json that prepare_corpus wrote in `data_dir`, or {} when there is none."""
    path = os.path.join(data_dir, PREPARE_FILE)
    if not os.path.isfile(path):
        return {}
    try:
        return json.loads(read_text(path))
    except ValueError:
        raise DataError(f"{path}: not valid JSON (rerun prepare_corpus or delete it)") from None


def resolve_tokenizer(args: argparse.Namespace, data_dir: str) -> str:
    """Settle `args.tokenizer`; returns the tokenizer to read the split files with.

    --tokenizer as given, else the one prepare.json records, else whitespace.
    Files prepare_corpus wrote are already tokenised by it, so they are only
    split on whitespace unless --tokenizer asks for a different one.
    """
    options = read_prepare_info(data_dir).get("options", {})
    prepared = options.get("tokenizer")
    if options.get("lowercase"):
        args.lowercase = True  # the files are lowercased; inference must lowercase too
    chosen = getattr(args, "tokenizer", None) or prepared or "whitespace"
    args.tokenizer = chosen
    return "whitespace" if chosen == prepared else chosen
