"""The bench's printed report: one table per kind of row, in the order the rows ran.

Every table has the same form (a row name, then right-aligned columns, or the
row's error), so one function prints them all from a list of columns.
"""
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from .rows import YAHOO_TRAIN_DOCUMENTS

Column = Tuple[str, str, int, str]  # (result key, header, width, format spec)

STEP_COLUMNS = (("sec_per_step", "s/step", 10, ".3f"), ("tokens_per_s", "tokens/s", 12, ".0f"),
                ("peak_rss_mb", "peak RSS MB", 14, ".0f"))
SAMPLE_COLUMNS = (("sentences_per_s", "sent/s", 10, ".1f"), ("batch", "batch", 12, ""),
                  ("peak_rss_mb", "peak RSS MB", 14, ".0f"), ("mean_length", "mean len", 10, ".1f"),
                  ("ended_with_eos", "EOS", 7, ".0%"))
EVAL_COLUMNS = (("sec_per_sentence", "s/sent", 10, ".3f"), ("num_sentences", "sentences", 12, ""),
                ("iw_samples", "K", 6, ""), ("max_rows", "row cap", 9, ""), ("peak_rss_mb", "peak RSS MB", 14, ".0f"))


def print_table(title: str, rows: Dict[str, Dict[str, Any]], columns: Sequence[Column], name_width: int = 22,
                after: Optional[Callable[[Dict[str, Any]], None]] = None) -> None:
    """A header line, then a line per row; `after` prints more about a row that has no error."""
    print(f"{title:<{name_width}}" + "".join(f"{header:>{width}}" for _, header, width, _ in columns))
    for name, r in rows.items():
        if "error" in r:
            print(f"{name:<{name_width}}  error: {r['error']}")
            continue
        print(f"{name:<{name_width}}" + "".join(format(r[key], f">{width}{spec}") for key, _, width, spec in columns))
        if after:
            after(r)


def _yahoo_cost_line(r: Dict[str, Any]) -> None:
    print(f"  at this speed, 50 epochs of {YAHOO_TRAIN_DOCUMENTS:,} documents: "
          f"{r['yahoo_hours_50_epochs']:.1f} h ({r['yahoo_hours_per_epoch']:.2f} h per epoch, dev passes not counted)")


def print_report(results: Dict[str, Any]) -> None:
    """The bench's results on the terminal: the machine line, one table per kind of row that ran, the GEMM floor
    and the ratios (per round when there were several, so a noisy round shows)."""
    print(f"machine: {results['machine']}; threads: {results['threads']}; PTB batches of {results['batch_size']}; "
          f"data prep {results['data_prep_seconds']:.2f} s")
    if results.get("train") is not None:
        rounds = results.get("rounds", 1)
        title = f"training step, median of {rounds} rounds" if rounds > 1 else "training step"
        print_table(title, results["train"], STEP_COLUMNS, name_width=36)
    if results.get("sample") is not None:
        print_table("prior sampling", results["sample"], SAMPLE_COLUMNS)
    if results.get("floor"):
        f = results["floor"]
        print(f"GEMM floor: {f['step_gflop']:.1f} GFLOP/step at numpy's {f['gemm_gflops']:.0f} GFLOPS "
              f"= {f['floor_s']:.3f} s/step")
    if "eval" in results:
        print_table("evaluation", results["eval"], EVAL_COLUMNS, name_width=30)
    if "yahoo" in results:
        print_table("yahoo-shape training", results["yahoo"], STEP_COLUMNS, after=_yahoo_cost_line)
    by_round = results.get("ratios_by_round", {})
    for k, v in results["ratios"].items():
        rounds = f" (per round: {', '.join(f'{r:.2f}x' for r in by_round[k])})" if k in by_round else ""
        print(f"{k}: {v:.2f}x{rounds}")
