"""The rate-distortion picture of an experiment table: what likelihood and reconstruction cost per nat in z.

    python -m paddle_vae.plot --rate experiments/ptb_latent.json --output docs/results/ptb_latent/rate.png

Panel 1: IW-NLL against KL, each LM row as a horizontal line (a VAE point below its line beats the LM).
Panel 2: greedy reconstruction BLEU against KL. Triangles are Transformer-decoder rows. One point per finished
VAE row, named in the legend below the panels and read from the committed result JSONs, so the picture is
drawn from the same numbers as the table.
"""
import os
from typing import Dict, List

from ..errors import UsageError
from ..reports.figures import pyplot, save_figure
from .runfolder import read_json
from .spec import default_results_dir, flag_value, is_lm, load_table


def finished_rows(table_path: str) -> List[Dict]:
    """The table's committed result JSONs (unfinished rows left out), each marked LM or not and with its marker
    (a triangle for a Transformer decoder), as `plot_rate` draws them."""
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
    """Draw the table's two panels to `out_path` and return its path; refused while no VAE row has finished, as
    there would be no point to place."""
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
