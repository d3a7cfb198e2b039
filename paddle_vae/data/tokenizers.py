"""Tokenizers and sentence splitting for raw text, shared by `prepare_corpus` and inference.

A bundle records the tokenizer its corpus was made with, so `VAEGenerator`
turns "Hello, world!" into the same tokens training saw. The tokenizers are
paddlenlp's `BasicTokenizer` (punctuation split; CJK characters one by one),
jieba (Chinese words; paddlenlp depends on it), plain whitespace, and
single characters. Every tokenizer returns whitespace-free tokens, so a line
written as `" ".join(tokens)` reads back as the same tokens.

(Named `tokenizers`, not `tokenize`: a module called `tokenize` would shadow the
standard library's, which `inspect`, `linecache` and pip import, whenever
paddle_vae/ itself is on sys.path.)
"""
import logging
import re
from typing import Callable, Dict, List

from ..errors import UsageError

TOKENIZERS = ("basic", "whitespace", "jieba", "char")
BOM = "\ufeff"

# Sentence ends. CJK terminators end a sentence wherever they stand; Latin ones only before
# whitespace (or the end) and a next sentence that does not start in lowercase.
_CLOSERS = "\"'”’)]}」』）》"
_BOUNDARY = re.compile(r"(?:[。！？]+|…+)[%s]*|[.!?]+[%s]*(?=\s|$)" % (re.escape(_CLOSERS), re.escape(_CLOSERS)))
# Words whose trailing period is not a sentence end (compared lowercased, without the period).
ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt ft vs cf al fig figs eq no nos vol vols ch sec pp ed eds approx dept est "
    "inc ltd co corp gen col capt lt sgt rev hon e.g i.e a.m p.m u.s u.k jan feb mar apr jun jul aug sep sept "
    "oct nov dec".split())


def is_cjk(ch: str) -> bool:
    """CJK ideographs, kana, hangul, CJK punctuation and full-width forms."""
    code = ord(ch)
    return (0x3000 <= code <= 0x30FF or 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF
            or 0xAC00 <= code <= 0xD7AF or 0xF900 <= code <= 0xFAFF or 0xFF00 <= code <= 0xFFEF)


def cjk_share(text: str) -> float:
    """CJK characters as a share of CJK characters plus Latin letters (0 when there are neither)."""
    cjk = sum(1 for ch in text if is_cjk(ch) and ch.isalpha())
    latin = sum(1 for ch in text if ch.isalpha() and not is_cjk(ch))
    return cjk / (cjk + latin) if cjk + latin else 0.0


def default_tokenizer(text: str) -> str:
    """jieba when the text is mostly CJK, else paddlenlp's BasicTokenizer."""
    return "jieba" if cjk_share(text) > 0.5 else "basic"


def join_lines(lines: List[str]) -> str:
    """Join the wrapped lines of one paragraph: a space between Latin words, nothing next to CJK."""
    out = ""
    for line in (ln.strip() for ln in lines):
        if not line:
            continue
        if out and not (is_cjk(out[-1]) or is_cjk(line[0])):
            out += " "
        out += line
    return out


def paragraphs(lines: List[str]) -> List[str]:
    """Paragraphs of a text's lines (`reading.text_lines`), wrapped: a blank line ends a paragraph."""
    out, current = [], []
    for line in lines:
        if line.strip():
            current.append(line)
        elif current:
            out.append(join_lines(current))
            current = []
    if current:
        out.append(join_lines(current))
    return out


def _is_abbreviation(text: str, period_at: int) -> bool:
    word = text[:period_at].rsplit(None, 1)[-1] if text[:period_at].strip() else ""
    word = word.lstrip("\"'“‘([{").lower()
    return word in ABBREVIATIONS or (len(word) == 1 and word.isalpha())  # "J. Smith"


def split_sentences(paragraph: str) -> List[str]:
    """Sentences of one paragraph, on . ! ? (keeping "Mr.", "e.g." and initials) and on 。！？…"""
    sentences, start = [], 0
    for match in _BOUNDARY.finditer(paragraph):
        end = match.end()
        if match.group()[0] in ".!?":
            rest = paragraph[end:].lstrip()
            if rest and rest[0].islower():
                continue
            if match.group()[0] == "." and match.group().rstrip(_CLOSERS) == "." and _is_abbreviation(
                    paragraph, match.start()):
                continue
        piece = paragraph[start:end].strip()
        if piece:
            sentences.append(piece)
        start = end
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


# ---------------------------------------------------------------------------
# Tokenizers
# ---------------------------------------------------------------------------
def _whitespace(text: str) -> List[str]:
    return text.split()


def _char(text: str) -> List[str]:
    return [ch for ch in text if not ch.isspace()]


def _basic() -> Callable[[str], List[str]]:
    from paddlenlp.transformers import BasicTokenizer  # lazy: paddlenlp takes seconds to import, most corpora never ask

    tokenizer = BasicTokenizer(do_lower_case=False)  # lowercasing is the caller's --lowercase, not implied
    return lambda text: [t for tok in tokenizer.tokenize(text) for t in tok.split()]


def _jieba() -> Callable[[str], List[str]]:
    import jieba  # lazy: only Chinese corpora need it

    if logging.getLogger("paddle_vae").getEffectiveLevel() > logging.DEBUG:
        jieba.setLogLevel(logging.WARNING)  # its "Building prefix dict ..." lines are not ours to print
    return lambda text: [t for tok in jieba.lcut(text) for t in tok.split()]


_FACTORIES: Dict[str, Callable[[], Callable[[str], List[str]]]] = {
    "whitespace": lambda: _whitespace, "char": lambda: _char, "basic": _basic, "jieba": _jieba}
_CACHE: Dict[str, Callable[[str], List[str]]] = {}


def get_tokenizer(name: str) -> Callable[[str], List[str]]:
    """A function str -> tokens for one of TOKENIZERS (built once per process)."""
    if name not in _FACTORIES:

        raise UsageError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")
    if name not in _CACHE:
        _CACHE[name] = _FACTORIES[name]()
    return _CACHE[name]


def tokenize(text: str, name: str = "whitespace", lowercase: bool = False) -> List[str]:
    """Tokens of one sentence as training saw them: BOM dropped, lowercased if asked, then tokenised."""
    text = text.replace(BOM, "")
    return get_tokenizer(name)(text.lower() if lowercase else text)
