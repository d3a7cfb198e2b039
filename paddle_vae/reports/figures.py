"""The package's pictures: what every one shares (a headless matplotlib, a figure written whole or not at
all) and the 2-D map of a split's posterior means.

    python -m paddle_vae.plot --latent BUNDLE --dataset sample        # coloured by topic and by tense
    python -m paddle_vae.plot --latent BUNDLE --dataset ptb --data_dir ../shared/data/ptb   # by length

The map is a PCA of the posterior means: a collapsed posterior shows as one tight blob whatever the
colouring. An experiment table's rate picture is `experiments.rate_plot`'s. matplotlib is imported only when
a picture is drawn: it is optional and slow to import.
"""
import argparse
import os
from typing import Any, List, Optional, Tuple

import numpy as np

from ..data.corpus import SAMPLE_DIR, load_corpus


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


def pca_2d(points: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Projection on the top two principal axes, and the share of variance each explains."""
    centred = points - points.mean(axis=0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    explained = singular ** 2 / max(float(np.sum(singular ** 2)), 1e-12)
    return centred @ axes[:2].T, explained[:2]


def _sample_labels(split: str) -> Optional[List[List[str]]]:
    path = os.path.join(SAMPLE_DIR, f"{split}.labels")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f]


def plot_latent(bundle: str, args: argparse.Namespace, out_path: str, split: str = "test",
                max_sentences: int = 5000) -> str:
    """Encode the split with the bundle, project the posterior means, colour by labels or by length."""
    from ..generator import VAEGenerator  # lazy: it loads Paddle, which the other pictures do not need

    plt = pyplot()
    vae = VAEGenerator.from_pretrained(bundle)
    splits, _ = load_corpus(args)
    sentences = splits[split][:max_sentences]
    xy, explained = pca_2d(vae.encode([" ".join(s) for s in sentences]).astype("float64"))
    labels = _sample_labels(split) if args.dataset == "sample" and args.data_dir is None else None
    panels = [("topic", [lab[0] for lab in labels]), ("tense", [lab[1] for lab in labels])] if labels else []
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5.5 * max(1, len(panels)), 4.5), squeeze=False)
    if panels:
        for ax, (name, values) in zip(axes[0], panels):
            for value in sorted(set(values)):
                keep = np.array([v == value for v in values])
                ax.scatter(xy[keep, 0], xy[keep, 1], s=6, label=value)
            ax.set_title(f"posterior means by {name}")
            ax.legend(markerscale=2, fontsize=8)
    else:
        ax = axes[0][0]
        points = ax.scatter(xy[:, 0], xy[:, 1], s=3, c=[len(s) for s in sentences], cmap="viridis")
        fig.colorbar(points, ax=ax, label="sentence length (tokens)")
        ax.set_title("posterior means by sentence length")
    for ax in axes[0]:
        ax.set_xlabel(f"PC1 ({100 * explained[0]:.0f}% of variance)")
        ax.set_ylabel(f"PC2 ({100 * explained[1]:.0f}%)")
    fig.suptitle(f"{os.path.basename(os.path.normpath(bundle))}: {len(sentences)} {split} sentences", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out_path, dpi=70)
