"""The speed bench's training rows and GEMM floor (checks of what it reports, not timings)."""
import json
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
                           "--smoke", "--threads", "1", "--json", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "GEMM floor:" in proc.stdout and "ours_over_floor" in proc.stdout
    results = json.loads(out.read_text())
    floor = results["floor"]
    assert floor["gemm_gflops"] > 0 and floor["floor_s"] == pytest.approx(floor["step_gflop"] / floor["gemm_gflops"])
    assert set(results["train"]) == {"reference", "reference+env", "ours", "ours_glibc_malloc", "ours_stride_kernels",
                                     "ours_transformer", "ours_transformer_stride_kernels",
                                     "ours_transformer_paddle_dropout"}
    assert all("sec_per_step" in row for row in results["train"].values())
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
