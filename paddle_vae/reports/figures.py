"""What every picture of the package shares: a headless matplotlib, and a figure written whole or not at all.

matplotlib is imported only here and only when a picture is drawn: it is optional for training and
inference, and slow to import.

The rate-distortion picture of an experiment table: what likelihood and reconstruction cost per nat in z.

    python -m paddle_vae.plot --rate experiments/ptb_latent.json --output docs/results/ptb_latent/rate.png

Panel 1: IW-NLL against KL, each LM row as a horizontal line (a VAE point below its line beats the LM).
Panel 2: greedy reconstruction BLEU against KL. Triangles are Transformer-decoder rows. One point per finished
VAE row, named in the legend below the panels and read from the committed result JSONs, so the picture is
regenerated from the same numbers as the table.

A 2-D PCA picture of a split's posterior means: does z separate what the sentences say?

    python -m paddle_vae.plot --latent BUNDLE --dataset sample        # coloured by topic and by tense
    python -m paddle_vae.plot --latent BUNDLE --dataset ptb --data_dir ../shared/data/ptb   # by length

A collapsed posterior shows as one tight blob whatever the colouring.
"""
import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..data.corpus import SAMPLE_DIR, load_corpus
from ..errors import UsageError
from ..experiments.runfolder import read_json
from ..experiments.spec import default_results_dir, flag_value, is_lm, load_table
from ..generator import VAEGenerator


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


def finished_rows(table_path: str) -> List[Dict]:
    table = load_table(table_path)
    results_dir = default_results_dir(table)
    rows = []
    for row in table.rows:
        result = read_json(os.path.join(results_dir, f"{row.name}.json"))
        if result is not None:
            rows.append(dict(result, is_lm=is_lm(row),
                             marker="^" if flag_value(row.flags, "decoder") == "transformer" else "o"))
    return rows


def plot_rate(table_path: str, out_path: str) -> str:
    plt = pyplot()
    rows = finished_rows(table_path)
    vaes = [r for r in rows if not r["is_lm"]]
    if not vaes:
        raise UsageError(f"no finished VAE row in {table_path} yet: nothing to plot")
    fig, (nll_ax, bleu_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    for lm in (r for r in rows if r["is_lm"]):
        nll_ax.axhline(lm["nll_iw"], linestyle="--", color="grey", linewidth=1)
        # x in axes fractions, so the label stays in view whatever the KL range
        nll_ax.annotate(f"{lm['label']} {lm['nll_iw']:.2f}", (0.01, lm["nll_iw"]),
                        xycoords=nll_ax.get_yaxis_transform(), textcoords="offset points", xytext=(0, 3),
                        fontsize=8, color="grey")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, r in enumerate(vaes):  # a legend, not labels at the points: the rows near the LM crowd together
        style = dict(s=22, marker=r["marker"], color=colors[i % len(colors)], label=r["label"])
        nll_ax.scatter(r["kl"], r["nll_iw"], **style)
        if r.get("bleu_greedy") is not None:
            bleu_ax.scatter(r["kl"], r["bleu_greedy"], **style)
    nll_ax.set(xlabel="KL (nats, test)", ylabel="IW-NLL (nats per sentence, test)", title="likelihood vs rate")
    bleu_ax.set(xlabel="KL (nats, test)", ylabel="greedy reconstruction BLEU", title="reconstruction vs rate")
    right = max(r["kl"] for r in vaes) * 1.1 + 0.5
    for ax in (nll_ax, bleu_ax):
        ax.set_xlim(0, right)  # rates are read from zero: the collapsed rows sit near it
    bleu_ax.set_ylim(bottom=0)
    fig.legend(*nll_ax.get_legend_handles_labels(), loc="lower center", ncol=min(len(vaes), 4), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0.06 * ((len(vaes) + 3) // 4), 1, 1))  # the legend's rows below the panels
    return save_figure(fig, out_path, dpi=110)


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


def plot_latent(bundle: str, args, out_path: str, split: str = "test", max_sentences: int = 5000) -> str:
    """Encode the split with the bundle, project the posterior means, colour by labels or by length."""
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
