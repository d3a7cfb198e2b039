"""User-facing errors: a bad flag, file or checkpoint ends a run with one line, not a traceback."""
import functools
import os
import sys
from typing import Callable, List, Optional


class PaddleVAEError(Exception):
    """Base class for problems the user can fix; the CLI prints the message and exits 2."""


class UsageError(PaddleVAEError, ValueError):
    """A flag or argument value that makes no sense."""


class DataError(PaddleVAEError):
    """A corpus file that is missing, empty or unreadable."""


class CheckpointError(PaddleVAEError):
    """A bundle folder that is missing, incomplete, corrupt or does not fit the flags."""


def cli_entry(main: Callable[[Optional[List[str]]], int]) -> Callable[[Optional[List[str]]], int]:
    """Wrap a CLI main so user errors and OS errors print `error: ...` on one line and exit with status 2.

    Ctrl-C prints `interrupted` and exits 130 (128 + SIGINT, as shells report it):
    the writers clean up on any exception, an interrupt included, so by the time it
    arrives here nothing half-written is left and a traceback would say nothing more.
    """

    @functools.wraps(main)
    def wrapper(argv: Optional[List[str]] = None) -> int:
        try:
            return main(argv)
        except PaddleVAEError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except BrokenPipeError:  # `... | head` closed stdout: stop quietly, as other Unix tools do
            sys.stdout = open(os.devnull, "w")  # so the interpreter's final flush does not raise again
            return 141
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except OSError as exc:  # a full disk, a read-only folder: the path and the OS's reason, on one line
            where = f"{exc.filename}: " if exc.filename else ""
            print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
            return 2

    return wrapper
