"""The speed bench's training rows and GEMM floor (checks of what it reports, not timings)."""
import json
import re
import subprocess
import sys

import pytest

from conftest import ROOT
from paddle_vae.bench.common import step_flops


def test_step_flops_match_the_hand_count_for_a_ptb_batch():
    """736 target and source tokens, V = 10,002: 11.3 GFLOP in the output layer, 4.8 in the two LSTMs."""
    flops = step_flops(736, 736, 10002)
    assert flops["output_layer"] / 1e9 == pytest.approx(11.31, abs=0.01)
    assert flops["lstms"] / 1e9 == pytest.approx(4.77, abs=0.01)


@pytest.mark.slow
def test_bench_smoke_reports_the_floor_and_its_ratio(ptb_dir, tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "paddle_vae.bench", "--data_dir", str(ptb_dir), "--rows", "train",
                           "--smoke", "--rounds", "2", "--threads", "1", "--json", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "GEMM floor:" in proc.stdout and "ours_over_floor" in proc.stdout
    results = json.loads(out.read_text())
    floor = results["floor"]
    assert floor["gemm_gflops"] > 0 and floor["floor_s"] == pytest.approx(floor["step_gflop"] / floor["gemm_gflops"])
    assert set(results["train"]) == {"reference", "reference+env", "ours", "ours_glibc_malloc", "ours_stride_kernels",
                                     "ours_transformer", "ours_transformer_stride_kernels"}
    assert all("sec_per_step" in row for row in results["train"].values())
    assert results["rounds"] == 2 and all(len(row["sec_per_step_rounds"]) == 2 for row in results["train"].values())
    assert all(row["sec_per_step"] == min(row["sec_per_step_rounds"]) for row in results["train"].values())
    assert len(results["ratios_by_round"]["transformer_step_over_lstm_step"]) == 2
    assert results["ratios"]["transformer_step_over_lstm_step"] == pytest.approx(
        results["train"]["ours_transformer"]["sec_per_step"] / results["train"]["ours"]["sec_per_step"])
    assert results["ratios"]["ours_over_floor"] == pytest.approx(
        results["train"]["ours"]["sec_per_step"] / floor["floor_s"])


def test_the_pytorch_rows_interpreter_needs_neither_paddle_nor_safetensors():
    """--torch_python may be a plain torch venv: what its worker imports must not pull in Paddle's stack."""
    blocked = "import sys; [sys.modules.__setitem__(m, None) for m in ('paddle', 'paddlenlp', 'safetensors')]; "
    proc = subprocess.run([sys.executable, "-c", blocked + "import paddle_vae.bench.run, paddle_vae.bench.common"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


BENCH_BLOCK = re.compile(r"<!-- (bench[a-z-]*) (\S+) -->\n(.*?)\n<!-- /\1 -->", re.S)


def test_every_bench_block_in_the_readme_and_docs_is_what_the_summaries_generate_from_the_committed_jsons(
        monkeypatch):
    from paddle_vae.bench.summary import generators

    monkeypatch.chdir(ROOT)  # the blocks' globs are relative to the repository root
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    blocks = [(page, m) for page in pages for m in BENCH_BLOCK.finditer(page.read_text(encoding="utf-8"))]
    assert {(page.name, m.group(1)) for page, m in blocks} >= {
        ("speed.md", "bench-cpus"), ("speed.md", "bench"), ("speed.md", "bench-profile"), ("speed.md", "bench-eval"),
        ("transformer.md", "bench-transformer")}
    for page, match in blocks:
        kind, pattern = match.group(1), match.group(2)
        expected = generators(pattern)[kind](str(page.parent.relative_to(ROOT)) or ".")
        assert match.group(3) == expected, f"{page.name}: regenerate with python -m paddle_vae.bench.summary " \
                                           f"\"{pattern}\" --update {page.relative_to(ROOT)}"


def _bench_json(path, machine, ours, torch=None, transformer=None):
    train = {"ours": {"sec_per_step": ours}}
    ratios = {"ours_over_floor": 1.5}
    if torch:
        train["torch"] = {"sec_per_step": torch, "torch_version": "2.13.0+cpu"}
        ratios["train_speedup_vs_torch"] = torch / ours
    if transformer:
        train["ours_transformer"] = {"sec_per_step": transformer}
        ratios["transformer_step_over_lstm_step"] = transformer / ours
    path.write_text(json.dumps({"machine": machine, "threads": 2, "train": train, "ratios": ratios}))


def test_the_summaries_have_a_line_per_training_run_by_cpu_with_links_from_the_page_and_skip_eval_only_runs(
        tmp_path, monkeypatch):
    from paddle_vae.bench.summary import main

    docs = tmp_path / "docs"
    docs.mkdir()
    _bench_json(docs / "bench_b.json", "Zeta CPU (family 1, model 2), 2 cores", 0.2, torch=0.3)
    _bench_json(docs / "bench_a.json", "Alpha CPU (family 3, model 4), 2 cores", 0.1, transformer=0.15)
    (docs / "bench_eval.json").write_text(json.dumps({"machine": "x", "threads": 2, "train": None, "eval": {}}))
    page = docs / "speed.md"
    page.write_text('intro\n<!-- bench docs/bench*.json -->\nstale\n<!-- /bench -->\n'
                    '<!-- bench-transformer docs/bench*.json -->\nstale\n<!-- /bench-transformer -->\nend\n')
    monkeypatch.chdir(tmp_path)
    assert main(["docs/bench*.json", "--update", "docs/speed.md"]) == 0
    lines = page.read_text().splitlines()
    assert lines[0] == "intro" and lines[-1] == "end" and "stale" not in lines
    rows = [line for line in lines if line.startswith("| ") and "CPU" in line and "family" in line]
    assert len(rows) == 3 and "Alpha CPU" in rows[0] and "Zeta CPU" in rows[1]  # by CPU, not by file name
    assert "Alpha CPU" in rows[2] and "| 0.100 | 0.150 | – | – | – | 1.50x |" in rows[2]  # only runs with a Transformer
    assert "[bench_a.json](bench_a.json)" in rows[0]  # relative to the page's folder
    assert "| 0.100 | – | – | 0.150 | 1.50x |" in rows[0]
    assert "| 0.200 | 0.300 (torch 2.13.0+cpu) | 1.50x | – | – |" in rows[1]


def test_the_summary_of_a_glob_without_training_runs_or_a_page_without_its_block_is_a_one_line_error(
        tmp_path, capsys):
    from paddle_vae.bench.summary import main

    assert main([str(tmp_path / "none*.json")]) == 2
    assert capsys.readouterr().err.startswith("error: no bench JSON with training rows matches")
    _bench_json(tmp_path / "bench_a.json", "A (family 1, model 1), 2 cores", 0.1)
    page = tmp_path / "page.md"
    page.write_text("no block here\n")
    assert main([str(tmp_path / "bench*.json"), "--update", str(page)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "has no <!-- bench" in err and err.count("\n") == 1
    assert page.read_text() == "no block here\n"


def test_the_per_cpu_summary_spans_the_runs_of_each_cpu_and_counts_the_runs_behind_each_ratio(tmp_path):
    from paddle_vae.bench.summary import by_cpu_markdown

    _bench_json(tmp_path / "bench_1.json", "Alpha (family 1, model 1), 2 cores", 0.1, torch=0.12)
    _bench_json(tmp_path / "bench_2.json", "Alpha (family 1, model 1), 2 cores", 0.2, torch=0.3, transformer=0.3)
    _bench_json(tmp_path / "bench_3.json", "Beta (family 2, model 1), 2 cores", 0.4)
    lines = by_cpu_markdown(str(tmp_path / "bench*.json")).splitlines()[2:]
    assert lines == ["| Alpha (family 1, model 1), 2 cores | 2 | 0.100–0.200 | 1.20–1.50x (2 runs) | 1.50x (1 run) |",
                     "| Beta (family 2, model 1), 2 cores | 1 | 0.400 | – | – |"]
