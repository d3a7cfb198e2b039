"""Progress bars with an ETA for long evaluations, built on tqdm (which paddlenlp already depends on).

A bar is drawn on stderr only when it is a terminal and the caller did not ask
for quiet output, so logs, pipes and CI output stay free of carriage returns.
"""
import sys
from typing import Any, Optional

from tqdm import tqdm


def wants_progress(quiet: bool = False) -> bool:
    """True when a progress bar would reach a person: not quiet, and stderr is a terminal."""
    return not quiet and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


def progress_bar(total: Optional[int], desc: str, enabled: bool, unit: str = "sent") -> Any:
    """A tqdm bar (a no-op object when disabled); call `.update(n)` and `.close()`."""
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True, leave=False,
                file=sys.stderr)
