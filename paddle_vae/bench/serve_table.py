"""The served model's load figures (`bench.serve` JSONs) as Markdown, for docs/serving.md's generated blocks:

    <!-- bench-serve GLOB -->        latency and throughput, one line per run and endpoint
    <!-- bench-serve-load GLOB -->   overload (10x the admitted load) and memory over the long run, one line per run
    <!-- bench-serve-goals GLOB -->  each of issue 41's goals against each run: met, or missed and by how much

`python -m paddle_vae.bench.summary "docs/results/bench/serve_*.json" --update docs/serving.md` writes them
(summary.py registers these kinds), and the suite checks that the committed blocks equal what this writes.
"""
from typing import Any, Callable, Dict, List, Optional

from .common import json_link, json_runs

P99_GOAL_MS = 100.0  # sample(num=1) and single-sentence reconstruct at 8 clients
RSS_GOAL = 0.10  # growth over the long run
GOAL_ROWS = ("sample num=1", "reconstruct 1 sentence")


def serve_runs(pattern: str) -> List[Dict[str, Any]]:
    return json_runs(pattern, "latency", "bench.serve JSON")



def bundle_label(run: Dict[str, Any]) -> str:
    b = run["bundle"]
    kind = "LM" if b.get("model") == "lm" else "VAE"
    return (f"{b.get('dataset')} {kind}, {b.get('decoder')} {b.get('embed_dim')}/{b.get('hidden_size')}"
            f"{'/' + str(b['latent_size']) if kind == 'VAE' else ''}, vocab {b.get('vocab_size')}")


def _ms(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.1f}"


def _failed(row: Dict[str, Any]) -> int:
    return row["http_5xx_other"] + sum(row["failed"].values())


def _table(header: List[str], lines: List[str]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + lines)


def latency_markdown(pattern: str, page_dir: str = ".") -> str:
    """One line per run and endpoint; the run's CPU and bundle are in load_markdown's table."""
    header = ["run (JSON)", "endpoint", "clients", "requests", "req/s", "p50 ms", "p99 ms", "4xx", "503",
              "other 5xx + failed"]
    lines = []
    for run in serve_runs(pattern):
        head = f"| {json_link(run, page_dir)} |"
        for row in run["latency"]:
            lines.append(f"{head} {row['endpoint']} | {row['clients']} | {row['requests']} | "
                         f"{row['requests_per_s']:.0f} | {_ms(row['p50_ms'])} | {_ms(row['p99_ms'])} | "
                         f"{row['http_4xx']} | {row['http_503']} | {_failed(row)} |")
    return _table(header, lines)


def load_markdown(pattern: str, page_dir: str = ".") -> str:
    """One line per run: its machine and bundle, the overload test's answers and the RSS over the long run, the
    figures the load goals are judged on (`goals_markdown`)."""
    header = ["CPU", "other processes' CPU", "bundle", "run (JSON)", "overload clients (admitted)", "requests",
              "200", "503", "4xx", "other 5xx + failed", "RSS before → after the long run", "requests in it",
              "growth"]
    lines = []
    for run in serve_runs(pattern):
        o, rss = run["overload"], run["rss"]
        other = run.get("other_processes_cpu_share")
        lines.append(f"| {run['machine']} | {'–' if other is None else f'{other:.0%}'} | {bundle_label(run)} | "
                     f"{json_link(run, page_dir)} | {o['clients']} "
                     f"({o['admitted']}) | {o['requests']} | {o['status'].get('200', 0)} | {o['http_503']} | "
                     f"{o['http_4xx']} | {_failed(o)} | {rss['before_long_run_mb']:.0f} MB → "
                     f"{rss['after_long_run_mb']:.0f} MB | {rss['long_run_requests']:,} | "
                     f"{100 * rss['growth_over_long_run']:+.1f}% |")
    return _table(header, lines)


def _verdict(met: bool, missed_by: str) -> str:
    return "met" if met else f"**missed** by {missed_by}"


def goals_markdown(pattern: str, page_dir: str = ".") -> str:
    """Issue 41's goals, run by run, each with the figure it is judged on."""
    header = ["goal", "run (JSON)", "figure", "verdict"]
    lines = []
    for run in serve_runs(pattern):
        head = json_link(run, page_dir)
        by_name = {(r["endpoint"], r["clients"]): r for r in run["latency"]}
        for name in GOAL_ROWS:
            row = by_name.get((name, 8))
            if row is None or row["p99_ms"] is None:
                continue
            p99 = row["p99_ms"]
            lines.append(f"| p99 < {P99_GOAL_MS:.0f} ms, {name}, 8 clients | {head} | {p99:.1f} ms | "
                         f"{_verdict(p99 < P99_GOAL_MS, f'{p99 - P99_GOAL_MS:.1f} ms ({p99 / P99_GOAL_MS:.1f}x)')} |")
        o = run["overload"]
        bad = _failed(o)
        lines.append(f"| no 5xx but 503 at {o['factor']}x the admitted load | {head} | {o['http_503']} × 503, "
                     f"{bad} other 5xx or failed of {o['requests']} | {_verdict(bad == 0, f'{bad} answers')} |")
        growth = run["rss"]["growth_over_long_run"]
        lines.append(f"| RSS grows < {RSS_GOAL:.0%} over {run['rss']['long_run_requests']:,} requests | {head} | "
                     f"{100 * growth:+.1f}% | "
                     f"{_verdict(growth < RSS_GOAL, f'{100 * (growth - RSS_GOAL):.1f} points')} |")
    return _table(header, lines)


GENERATORS: Dict[str, Callable[[str, str], str]] = {
    "bench-serve": latency_markdown, "bench-serve-load": load_markdown, "bench-serve-goals": goals_markdown}
