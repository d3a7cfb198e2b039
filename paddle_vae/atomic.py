"""Writes that never leave a half-written file: through a temporary sibling, then a rename.

Standard library only, so every process can use it: the bench's PyTorch row runs in an interpreter that may
have neither Paddle nor safetensors.
"""
import json
import os
from typing import Any


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Write `data` to `path` through a temporary sibling, creating missing parent folders.

    On any failure (a full disk, say) the temporary file is removed and the
    OSError goes on, naming `path`: the CLIs print it as one line.
    """
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise OSError(exc.errno, exc.strerror, path) from None


def write_text_atomic(path: str, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def append_line(path: str, line: str) -> None:
    """One line appended to a log (a failure names the log's path)."""
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, path) from None
