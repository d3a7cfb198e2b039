"""What every picture of the package shares: a headless matplotlib, and a figure written whole or not at all.

matplotlib is imported only here and only when a picture is drawn: it is optional for training and
inference, and slow to import.
"""
import os
from typing import Any


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib  # lazy: optional, and only the plot commands need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, out_path: str, dpi: int) -> str:
    """Write `fig` as PNG to a temporary name beside `out_path`, then rename it into place; closes `fig`."""
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    tmp = out_path + ".tmp.png"
    try:
        fig.savefig(tmp, dpi=dpi)
    finally:
        pyplot().close(fig)
    os.replace(tmp, out_path)
    return out_path
