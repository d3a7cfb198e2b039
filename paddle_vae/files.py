"""The one way the package writes what a user sees (`check_output`, `atomic_file`, `publish_dir`).

- Nothing that exists is replaced unless the caller says so (`overwrite`), a folder only when it holds
  nothing but what its kind of writer puts there, and never a command's own input.
- A file is written to a temporary sibling and renamed into place; a folder of files (a bundle, an export, a
  prepared corpus) is filled as a temporary sibling and swapped in whole, so an interruption leaves the old
  set or the new.
- What a killed process left (NAME.tmpPID, NAME.oldPID) is tidied by the next writer to NAME.
- Every OSError names the user's path, not a temporary one.

Standard library only, so every process can use it: the bench's PyTorch row runs in an interpreter that may
have neither Paddle nor safetensors.
"""
import contextlib
import json
import os
import re
import shutil
from typing import IO, Any, Callable, FrozenSet, Iterator, NamedTuple, Optional, Sequence

from .errors import UsageError


class OutputKind(NamedTuple):
    """A folder one writer makes: `manifest` marks a finished one, `files` is everything it may hold."""
    name: str
    manifest: str
    files: FrozenSet[str]

    def holds_only_its_files(self, folder: str) -> bool:
        """True when every entry of `folder` is one of `files` (or a temporary copy of one)."""
        return all(_LEFTOVER.sub("", entry) in self.files for entry in os.listdir(folder))

    def made(self, folder: str) -> bool:
        return os.path.isfile(os.path.join(folder, self.manifest)) and self.holds_only_its_files(folder)


_LEFTOVER = re.compile(r"\.(tmp|old)(\d+)$")  # NAME.tmpPID: being written; NAME.oldPID: moved aside by a swap


def _within(inner: str, outer: str) -> bool:
    """True when `inner` is `outer` or lies inside it (symbolic links followed)."""
    inner, outer = os.path.realpath(inner), os.path.realpath(outer)
    return inner == outer or inner.startswith(outer.rstrip(os.sep) + os.sep)


def _overlaps(output: str, source: str) -> bool:
    """True when writing `output` would write onto `source`, into it, or replace a folder holding it."""
    if _within(output, source) or _within(source, output):
        return True
    return os.path.exists(output) and os.path.exists(source) and os.path.samefile(output, source)


def check_output(path: str, kind: Optional[OutputKind] = None, overwrite: bool = False,
                 inputs: Sequence[Optional[str]] = (), how: str = "--overwrite") -> None:
    """Refuse, with one line, to write `path` (a file, or a folder of `kind`) where that would lose something.

    Called before any work, so a refusal costs nothing and writes nothing. A
    non-empty file is replaced only with `overwrite`; a non-empty folder only
    with `overwrite` and when it holds nothing but `kind`'s files (a run folder,
    or a folder with a user's notes, never); never an input of the command (`inputs`), the
    folder we stand in, or one holding it. `how` is how the caller asks to replace.
    """
    for source in inputs:
        if source and _overlaps(path, source):
            raise UsageError(f"{path}: refusing to write onto this command's input {source}; choose another path")
    if not os.path.exists(path):
        return
    if kind is None:
        if not os.path.isfile(path):
            raise UsageError(f"{path} is {'a folder' if os.path.isdir(path) else 'not a regular file'}; "
                             f"give a file path to write")
        if os.path.getsize(path) and not overwrite:
            raise UsageError(f"{path} already exists; pass {how} to replace it, or choose another path")
        return
    if not os.path.isdir(path):
        raise UsageError(f"{path} is a file, not a {kind.name} folder; not replacing it")
    if _within(os.getcwd(), path):
        raise UsageError(f"{path} is the current folder or holds it; give a new folder for the {kind.name}")
    if not os.listdir(path):
        return
    held = ", ".join(sorted(os.listdir(path))[:4])
    if not kind.holds_only_its_files(path):
        raise UsageError(f"{path} is a non-empty folder that is not a {kind.name} (it holds {held}...); "
                         f"not replacing it, choose another path")
    if not overwrite:
        raise UsageError(f"{path} already holds {kind.name} files ({held}); pass {how} to replace them, or "
                         f"choose another path")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except (OverflowError, ValueError):
        return False
    return True


def clean_leftovers(folder: str, name: Optional[str] = None, kind: Optional[OutputKind] = None) -> None:
    """Tidy what dead processes left while writing NAME in `folder` (every name when None).

    NAME.tmpPID is a half-written copy: deleted. NAME.oldPID is the previous copy a
    swap moved aside: renamed back when NAME is missing (the swap stopped half-way),
    else deleted. A folder is touched only when it holds nothing but `kind`'s files,
    so nothing a user named that way is lost.
    """
    if not os.path.isdir(folder):
        return
    for entry in sorted(os.listdir(folder)):
        match = _LEFTOVER.search(entry)
        base = entry[:match.start()] if match else None
        if not match or (name is not None and base != name) or _alive(int(match.group(2))):
            continue
        full, target = os.path.join(folder, entry), os.path.join(folder, base)
        if os.path.isdir(full) and not os.path.islink(full):
            if kind is None or not kind.holds_only_its_files(full):
                continue
            if match.group(1) == "old" and not os.path.exists(target) and kind.made(full):
                os.replace(full, target)
            else:
                shutil.rmtree(full, ignore_errors=True)
        elif os.path.isfile(full) and match.group(1) == "tmp":  # files are renamed straight over: no .old
            os.remove(full)


def _named(exc: OSError, tmp: str, path: str) -> OSError:
    """The OSError naming the user's path: a file inside the temporary copy by its final name, the output
    itself when the OS named no file (shutil.copyfile names its source first, the destination second)."""
    for name in (exc.filename2, exc.filename):
        if isinstance(name, str) and (name == tmp or name.startswith(tmp + os.sep)):
            return OSError(exc.errno, exc.strerror, path + name[len(tmp):])
    if exc.filename is not None and exc.filename2 is None:
        return exc
    return OSError(exc.errno, exc.strerror or str(exc), path)


@contextlib.contextmanager
def atomic_file(path: str, mode: str = "w") -> Iterator[IO]:
    """Write `path` through a temporary sibling, renamed into place only when the block ends without error.

    On any failure or interrupt the temporary file is removed and the error goes
    on (an OSError naming `path`, which the CLIs print as one line). Missing parent
    folders are created. Text is UTF-8 with "\n" line ends.
    """
    parent, name = os.path.split(path)
    os.makedirs(parent or ".", exist_ok=True)
    clean_leftovers(parent or ".", name)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            yield f
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.lexists(tmp):
            os.remove(tmp)
        if isinstance(exc, OSError):
            raise _named(exc, tmp, path) from None
        raise


def write_bytes_atomic(path: str, data: bytes) -> None:
    with atomic_file(path, "wb") as f:
        f.write(data)


def write_text_atomic(path: str, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def publish_dir(path: str, fill: Callable[[str], None], kind: OutputKind) -> str:
    """Fill a temporary sibling folder with `fill(tmp)` (the manifest last), then swap it in for `path` whole.

    The swap moves an older `path` aside as `path.oldPID`, renames the new one in
    and deletes the old: a failure or interrupt at any point removes the
    temporary folder and puts the old one back, and a kill -9 leaves leftovers the
    next writer here tidies (`clean_leftovers`). Whether `path` may be replaced at
    all is `check_output`'s question, asked by the caller before the work.
    """
    path = os.path.normpath(path)
    if _within(os.getcwd(), path):
        raise UsageError(f"{path} is the current folder or holds it; give a new folder for the {kind.name}")
    parent, name = os.path.split(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    clean_leftovers(parent, name, kind)
    tmp, old = f"{path}.tmp{os.getpid()}", f"{path}.old{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        os.makedirs(tmp)
        fill(tmp)
        if os.path.exists(path):
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)  # a half-written copy would hold the space a full disk needs
        if os.path.isdir(old) and not os.path.exists(path):  # stopped between the renames: the old copy back
            os.replace(old, path)
        shutil.rmtree(old, ignore_errors=True)  # (or the new copy was in already)
        if isinstance(exc, OSError):
            raise _named(exc, tmp, path) from None
        raise
    shutil.rmtree(old, ignore_errors=True)
    return path


def append_line(path: str, line: str) -> None:
    """One line appended to a log (a failure names the log's path)."""
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, path) from None
