"""What one request may ask of the server, and the check that says, in one sentence, what is over.

Each limit is a command-line flag of the same name (`--max_num 64`), so an operator sizes the server without
editing code, and `GET /info` shows the limits in force. The schemas in `schemas.py` reject what no server
could run (a NaN temperature, an empty list); these reject what this one will not run.
"""
import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Tuple

if TYPE_CHECKING:  # annotations only: the limits import no pydantic
    from .schemas import Request

# Request fields bounded by a limit of their own: field -> limit name.
BOUNDED_FIELDS = {"num": "max_num", "steps": "max_steps", "iw_samples": "max_iw_samples",
                  "max_len": "max_decode_len", "beam_size": "max_beam_size"}
# Request fields that are lists, each bounded in length.
LIST_FIELDS = {"sentences": "max_sentences", "latent_z": "max_sentences"}


def _limit(default, help_text: str):
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class Limits:
    """The limits in force, one field per flag: the serve command builds its flags and their help from these fields,
    so a new limit is one field here, and `GET /info` shows the same values the requests are checked against."""
    max_sentences: int = _limit(32, "sentences (or latent codes) per request")
    max_tokens: int = _limit(100, "tokens per sentence, as the bundle's tokenizer counts them")
    max_num: int = _limit(64, "sentences per /sample request (num)")
    max_steps: int = _limit(20, "points on an interpolation path (steps)")
    max_iw_samples: int = _limit(200, "importance samples per sentence for /score (iw_samples)")
    max_decode_len: int = _limit(100, "tokens per decoded sentence (max_len)")
    max_beam_size: int = _limit(8, "beam width for strategy beam (beam_size)")
    max_map_sentences: int = _limit(1000, "sentences a pasted latent map may hold (POST /map)")
    max_body_bytes: int = _limit(256 * 1024, "bytes in a request body")
    max_waiting: int = _limit(16, "requests queued or running at once; past it the answer is 503 with Retry-After")
    request_timeout: float = _limit(30.0, "seconds a request may take, queueing included; past it 503")

    def problems(self) -> List[str]:
        """Limits that make no sense (zero or negative), as flag names."""
        return [f"--{f.name}" for f in dataclasses.fields(self) if not getattr(self, f.name) > 0]

    def as_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def over_limit(request: "Request", limits: Limits, count_tokens: Callable[[str], int],
               list_limit: Optional[str] = None) -> Optional[str]:
    """The first limit the request breaks, as one sentence, or None.

    `count_tokens` is the bundle's tokenizer (sentences are bounded as the model will see them);
    `list_limit` names the limit of the request's list when it is not the usual one (a pasted map)."""
    for name, limit_name in BOUNDED_FIELDS.items():
        value = getattr(request, name, None)
        if value is not None and value > getattr(limits, limit_name):
            return f"{name} is {value}; this server allows at most {getattr(limits, limit_name)} (--{limit_name})"
    for name, limit_name in LIST_FIELDS.items():
        items = getattr(request, name, None)
        limit_name = list_limit or limit_name
        if items is not None and len(items) > getattr(limits, limit_name):
            return (f"{name} holds {len(items)} items; this server takes at most {getattr(limits, limit_name)} "
                    f"per request (--{limit_name})")
    return _long_sentence(_sentences_of(request), limits.max_tokens, count_tokens)


def _sentences_of(request) -> List[Tuple[str, str]]:
    """(where, sentence) for every sentence the request carries: `sentences[3]`, `sentence_a`."""
    named = [(f"sentences[{i}]", s) for i, s in enumerate(getattr(request, "sentences", None) or [])]
    return named + [(name, getattr(request, name)) for name in ("sentence_a", "sentence_b")
                    if getattr(request, name, None)]


def _long_sentence(sentences: Iterable[Tuple[str, str]], max_tokens: int,
                   count_tokens: Callable[[str], int]) -> Optional[str]:
    for where, sentence in sentences:
        # A cheap bound first: a sentence has at most one token per character.
        if len(sentence) > max_tokens and count_tokens(sentence) > max_tokens:
            return f"{where} has more than {max_tokens} tokens (--max_tokens)"
    return None
