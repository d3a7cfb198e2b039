"""The bench's rounds: rotated order, the median round as a row's result, and ratios per round (no timing)."""
import json

import pytest

from paddle_vae.bench.rounds import median_round, ratios_by_round, rotated, run_rounds, step_ratios


def test_each_round_turns_the_row_order_so_no_row_always_runs_first():
    names = ["a", "b", "c"]
    assert [rotated(names, i) for i in range(4)] == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"],
                                                     ["a", "b", "c"]]


def test_run_rounds_runs_every_row_once_per_round_in_rotated_order_and_keeps_the_median_round():
    calls, times = [], {"ours": iter([0.30, 0.10, 0.20]), "torch": iter([0.40, 0.41, 0.39])}

    def row(name):
        def run():
            calls.append(name)
            return {"sec_per_step": next(times[name]), "peak_rss_mb": len(calls)}
        return run

    medians, per_round = run_rounds({"ours": row("ours"), "torch": row("torch")}, rounds=3)
    assert calls == ["ours", "torch", "torch", "ours", "ours", "torch"]
    assert medians["ours"]["sec_per_step"] == 0.20 and medians["ours"]["sec_per_step_rounds"] == [0.30, 0.10, 0.20]
    assert medians["ours"]["peak_rss_mb"] == 5  # the median round's own process, not a mix of rounds
    assert medians["torch"]["sec_per_step"] == 0.40
    assert ratios_by_round(per_round) == {"train_speedup_vs_torch": pytest.approx([0.40 / 0.30, 0.41 / 0.10,
                                                                                   0.39 / 0.20])}
    assert step_ratios(medians) == {"train_speedup_vs_torch": pytest.approx(2.0)}


def test_a_row_that_failed_in_any_round_reports_the_error_and_no_ratio_uses_it():
    result = median_round([{"sec_per_step": 0.1}, {"error": "worker died"}])
    assert result == {"error": "worker died", "rounds": 2}
    per_round = [{"ours": {"sec_per_step": 0.1}, "torch": {"sec_per_step": 0.2}},
                 {"ours": {"sec_per_step": 0.1}, "torch": {"error": "worker died"}}]
    assert ratios_by_round(per_round) == {}
    with pytest.raises(ValueError):
        run_rounds({"ours": lambda: {"sec_per_step": 0.1}}, rounds=0)


def test_the_run_table_shows_a_ratio_with_its_range_over_the_rounds(tmp_path):
    from paddle_vae.bench.summary import summary_markdown

    run = {"machine": "Alpha (family 1, model 1), 2 cores", "threads": 2, "rounds": 3,
           "train": {"ours": {"sec_per_step": 0.1}, "torch": {"sec_per_step": 0.12}},
           "ratios": {"train_speedup_vs_torch": 1.2},
           "ratios_by_round": {"train_speedup_vs_torch": [1.25, 1.02, 1.2]}}
    (tmp_path / "bench_a.json").write_text(json.dumps(run))
    line = summary_markdown(str(tmp_path / "bench*.json")).splitlines()[2]
    assert "| 1.20x (rounds: 1.02–1.25x) |" in line


def test_the_rounds_table_lists_every_round_of_the_runs_made_in_rounds_only(tmp_path):
    from paddle_vae.bench.summary import summary_markdown

    one = {"machine": "Alpha (family 1, model 1), 2 cores", "threads": 2, "train": {"ours": {"sec_per_step": 0.1}},
           "ratios": {}}
    three = dict(one, rounds=3, train={"ours": {"sec_per_step": 0.1, "sec_per_step_rounds": [0.12, 0.1, 0.09]}})
    (tmp_path / "bench_1.json").write_text(json.dumps(one))
    (tmp_path / "bench_3.json").write_text(json.dumps(three))
    lines = summary_markdown(str(tmp_path / "bench*.json"), kind="bench-rounds").splitlines()[2:]
    assert len(lines) == 1 and "bench_3.json" in lines[0] and "| 3 | 0.120, 0.100, 0.090 | – |" in lines[0]
