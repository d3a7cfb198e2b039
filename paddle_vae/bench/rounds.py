"""Repeated rounds of the bench's training rows, and their ratios round by round.

On a shared 2-core cloud machine one row's s/step can move by a fifth between two runs minutes apart, so a
ratio of two rows each measured once can read as parity in one bench run and a clear lead in the next.
`--rounds R` runs every training row R times, each time in a fresh process, in an order rotated each round
(no row is always first or last). A row's result is its median round (with every round's s/step kept), and
each ratio is given twice: from the median rows, and once per round, from two rows measured minutes apart.
"""
from typing import Any, Callable, Dict, List, Mapping, Tuple

Result = Dict[str, Any]

# ratio name -> (numerator row, denominator row), both in seconds per step.
STEP_RATIOS: Dict[str, Tuple[str, str]] = {
    "train_speedup_vs_reference": ("reference", "ours"),
    "train_speedup_vs_torch": ("torch", "ours"),
    "transformer_step_over_lstm_step": ("ours_transformer", "ours"),
}


def rotated(names: List[str], round_index: int) -> List[str]:
    """The rows' order in round `round_index`: the list turned left by that many places."""
    shift = round_index % len(names) if names else 0
    return names[shift:] + names[:shift]


def run_rounds(rows: Mapping[str, Callable[[], Result]], rounds: int
               ) -> Tuple[Dict[str, Result], List[Dict[str, Result]]]:
    """Run every row `rounds` times in rotated order: ({row: its median round}, [{row: result} per round])."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    names = list(rows)
    per_round: List[Dict[str, Result]] = []
    for index in range(rounds):
        per_round.append({name: rows[name]() for name in rotated(names, index)})
    return {name: median_round([r[name] for r in per_round]) for name in names}, per_round


def median_round(results: List[Result]) -> Result:
    """The round with the median s/step (the lower middle one of an even count), so its tokens/s and peak RSS
    belong to the same process, plus every round's s/step; the first error if any round failed."""
    failed = [r for r in results if "sec_per_step" not in r]
    if failed:
        return dict(failed[0], rounds=len(results))
    ordered = sorted(results, key=lambda r: r["sec_per_step"])
    return dict(ordered[(len(ordered) - 1) // 2], sec_per_step_rounds=[r["sec_per_step"] for r in results])


def step_ratios(rows: Mapping[str, Result]) -> Dict[str, float]:
    """Each STEP_RATIOS ratio whose two rows both have a step time."""
    out = {}
    for name, (numerator, denominator) in STEP_RATIOS.items():
        top, bottom = rows.get(numerator) or {}, rows.get(denominator) or {}
        if "sec_per_step" in top and "sec_per_step" in bottom:
            out[name] = top["sec_per_step"] / bottom["sec_per_step"]
    return out


def ratios_by_round(per_round: List[Mapping[str, Result]]) -> Dict[str, List[float]]:
    """{ratio: its value in each round}, for the ratios every round could compute."""
    rounds = [step_ratios(r) for r in per_round]
    names = [name for name in STEP_RATIOS if rounds and all(name in r for r in rounds)]
    return {name: [r[name] for r in rounds] for name in names}
