"""`python -m paddle_vae.bench.serve` on a tiny bundle with a handful of requests: it runs every phase and writes
a JSON that the docs' generated tables read. A check that the benchmark works, not a timing."""
import json

import pytest

from helpers import demo_bundle

pytest.importorskip("httpx")


def test_the_serve_bench_runs_every_phase_and_its_json_makes_the_tables(tmp_path):
    from paddle_vae.bench import serve, serve_table

    bundle = demo_bundle(tmp_path / "run", "--max_epoch", "1")
    out = tmp_path / "serve_tiny.json"
    assert serve.main(["--init_from_ckpt", str(bundle), "--requests", "4", "--warmup", "1", "--clients", "2",
                       "--overload_factor", "2",
                       "--overload_requests", "40", "--rss_requests", "20", "--server_flags", "--max_waiting 2",
                       "--json", str(out)]) == 0
    run = json.loads(out.read_text())
    assert run["server_exit"] == 0 and run["command"].startswith("python -m paddle_vae.bench.serve --init_from_ckpt")
    rows = {(r["endpoint"], r["clients"]) for r in run["latency"]}
    assert {("sample num=1", 1), ("sample num=1", 2), ("reconstruct 1 sentence", 2), ("score 1 sentence, "
            "iw_samples=100", 2), ("interpolate steps=5", 2)} <= rows
    assert all(r["status"] == {"200": 4} for r in run["latency"])
    overload = run["overload"]
    assert overload["clients"] == 4 and overload["admitted"] == 2 and overload["http_5xx_other"] == 0
    assert set(overload["status"]) <= {"200", "503"} and overload["503_without_retry_after"] == 0
    assert 0 <= run["other_processes_cpu_share"] <= 1
    assert run["rss"]["long_run_requests"] == 20 and len(run["rss"]["during_long_run_mb"]) == 10
    pattern = str(tmp_path / "serve_*.json")
    assert "| sample num=1 | 2 | 4 |" in serve_table.latency_markdown(pattern)
    assert "| 4 (2) | 40 |" in serve_table.load_markdown(pattern)
    goals = serve_table.goals_markdown(pattern).splitlines()[2:]  # no 8-client rows: no latency goal to judge
    assert [g.split(" |")[0] for g in goals] == ["| no 5xx but 503 at 2x the admitted load",
                                                 "| RSS grows < 10% over 20 requests"]


def test_the_serve_bench_refuses_to_overwrite_a_json(tmp_path, capsys):
    from paddle_vae.bench import serve

    out = tmp_path / "serve_old.json"
    out.write_text("{}")
    assert serve.main(["--init_from_ckpt", str(tmp_path / "unused"), "--json", str(out)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err and out.read_text() == "{}"
