"""`python -m paddle_vae.bench.serve`: the served model under load, as clients on this machine see it.

    python -m paddle_vae.bench.serve --init_from_ckpt model/best --json docs/results/bench/serve_NAME.json

It starts `python -m paddle_vae.serve` on a free loopback port (its default limits, plus --server_flags),
warms it up, then measures in three phases, each a fixed number of requests from closed-loop clients (a
client sends its next request when its answer arrives; httpx on one event loop, in this process):
1. latency: each endpoint, --requests requests from --clients clients: requests/s, p50 and p99 of the answered
   requests, and every status; sample and reconstruct also from one client (the latency with no queue);
2. overload: --overload_factor times the load the server admits (--max_waiting clients) asking sample(num=1):
   the answers must be 200s and 503s (with Retry-After), never another 5xx or a failed connection;
3. memory: --rss_requests requests cycling through the endpoints; the server's RSS before, every tenth of the
   way, and after.
The clients share the CPU with the server, as they would on one machine. The table the docs show is generated
from the JSON by `python -m paddle_vae.bench.summary "docs/results/bench/serve_*.json" --update docs/serving.md`.
This is a benchmark, not a test: pause other work on the machine while it runs.
"""
import argparse
import asyncio
import os
import shlex
import sys
import time
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import UsageError, cli_entry
from ..files import check_output, write_json_atomic
from ..runtime import available_cores, cpu_name
from ..serve.process import ServerProcess

SENTENCES = ("the company said it expects to report a loss for the third quarter",
             "the market fell sharply in early trading",
             "the old man walked to the market in the morning .",
             "she plays the piano every evening .")
Request = Tuple[str, Optional[Dict[str, Any]]]  # (path, JSON body; None for a GET)


def endpoint_requests(operations: Sequence[str], latent_size: int) -> Dict[str, List[Request]]:
    """One small request per endpoint the bundle serves (a few sentences, so the model is not asked one
    thing only); the names are the rows of the results."""
    a, b = SENTENCES[0], SENTENCES[1]
    every = {
        "sample num=1": [("/sample", {"num": 1})],
        "reconstruct 1 sentence": [("/reconstruct", {"sentences": [s]}) for s in SENTENCES],
        "interpolate steps=5": [("/interpolate", {"sentence_a": a, "sentence_b": b, "steps": 5})],
        "encode 1 sentence": [("/encode", {"sentences": [s]}) for s in SENTENCES],
        "decode 1 code": [("/decode", {"latent_z": [[0.1 * ((i + k) % 7 - 3) for i in range(latent_size)]]})
                          for k in range(4)],
        "score 1 sentence, iw_samples=100": [("/score", {"sentences": [s], "iw_samples": 100}) for s in SENTENCES],
        "sample num=10": [("/sample", {"num": 10})],
    }
    return {name: reqs for name, reqs in every.items() if name.split()[0] in operations}  # an LM: sample, score


def server_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    raise RuntimeError(f"no VmRSS for process {pid}")


def _busy_ticks() -> int:
    """Clock ticks every CPU of the machine spent busy so far (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:9]]
    return sum(fields) - fields[3] - fields[4]


def _process_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


class OtherLoad:
    """The CPU the machine's other processes took while the bench ran (not the server, not its clients), as a
    share of all its cores: a figure of a run that something else disturbed says so in its JSON."""

    def __init__(self, server_pid: int):
        self.server_pid = server_pid
        self.start = (_busy_ticks(), _process_ticks(server_pid), _process_ticks(os.getpid()), time.monotonic())

    def share(self) -> float:
        busy, server, own, wall = self.start
        others = (_busy_ticks() - busy) - (_process_ticks(self.server_pid) - server) - (
            _process_ticks(os.getpid()) - own)
        seconds = others / os.sysconf("SC_CLK_TCK")
        return round(max(0.0, seconds) / ((time.monotonic() - wall) * available_cores()), 3)


async def closed_loop(client, requests: List[Request], clients: int) -> Dict[str, Any]:
    """Send `requests` from `clients` concurrent clients; the phase's figures."""
    import httpx

    todo = iter(requests)
    latencies: List[float] = []
    statuses: Counter = Counter()
    failures: Counter = Counter()
    no_retry_after = 0

    async def one_client() -> None:
        nonlocal no_retry_after
        for path, body in todo:  # the clients share one iterator: each takes the next request
            start = time.perf_counter()
            try:
                answer = await (client.post(path, json=body) if body is not None else client.get(path))
            except httpx.HTTPError as exc:
                failures[type(exc).__name__] += 1
                continue
            statuses[answer.status_code] += 1
            if answer.status_code == 200:
                latencies.append(time.perf_counter() - start)
            elif answer.status_code == 503 and "retry-after" not in answer.headers:
                no_retry_after += 1

    start = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    seconds = time.perf_counter() - start
    ms = np.asarray(latencies) * 1000.0
    return {"clients": clients, "requests": len(requests), "seconds": round(seconds, 3),
            "requests_per_s": round(len(requests) / seconds, 1),
            "answered_per_s": round(len(latencies) / seconds, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 2) if len(ms) else None,
            "p99_ms": round(float(np.percentile(ms, 99)), 2) if len(ms) else None,
            "max_ms": round(float(ms.max()), 2) if len(ms) else None,
            "status": {str(k): v for k, v in sorted(statuses.items())},
            "http_4xx": sum(v for k, v in statuses.items() if 400 <= k < 500),
            "http_503": statuses.get(503, 0),
            "http_5xx_other": sum(v for k, v in statuses.items() if k >= 500 and k != 503),
            "failed": dict(failures), "503_without_retry_after": no_retry_after}


def cycle(requests: List[Request], count: int) -> List[Request]:
    return [requests[i % len(requests)] for i in range(count)]


async def measure(server: ServerProcess, args: argparse.Namespace) -> Dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as client:
        info = (await client.get("/info")).json()
        latent_size = int(info["model"].get("latent_size") or 0)
        endpoints = endpoint_requests(info["operations"], latent_size)
        for reqs in endpoints.values():  # warm-up: Paddle's first calls of each shape allocate and pick kernels
            await closed_loop(client, cycle(reqs, args.warmup), 1)
        rss = {"after_warmup_mb": server_rss_mb(server.pid)}

        latency = []
        for name, reqs in endpoints.items():
            for clients in sorted({1, args.clients} if name.split()[0] in ("sample", "reconstruct")
                                  and "num=10" not in name else {args.clients}):
                row = await closed_loop(client, cycle(reqs, args.requests), clients)
                latency.append(dict(row, endpoint=name))
                print(f"{name:34s} {clients:3d} clients: {row['requests_per_s']:7.1f} req/s  p50 "
                      f"{row['p50_ms']} ms  p99 {row['p99_ms']} ms  {row['status']}", flush=True)

        admitted = int(info["limits"]["max_waiting"])
        overload = await closed_loop(client, cycle(endpoints["sample num=1"], args.overload_requests),
                                     args.overload_factor * admitted)
        overload.update(endpoint="sample num=1", admitted=admitted, factor=args.overload_factor)
        print(f"overload, {overload['clients']} clients: {overload['status']} failed {overload['failed']}", flush=True)

        mixed = [r for reqs in endpoints.values() for r in reqs]
        rss["before_long_run_mb"] = server_rss_mb(server.pid)
        steps = []
        tenth = max(1, args.rss_requests // 10)
        long_run = {"requests": 0, "status": Counter(), "failed": Counter()}
        for done in range(0, args.rss_requests, tenth):
            count = min(tenth, args.rss_requests - done)
            part = await closed_loop(client, cycle(mixed[done % len(mixed):] + mixed, count), args.clients)
            long_run["requests"] += count
            long_run["status"].update({k: v for k, v in part["status"].items()})
            long_run["failed"].update(part["failed"])
            steps.append(round(server_rss_mb(server.pid), 1))
        rss.update(after_long_run_mb=steps[-1], during_long_run_mb=steps, long_run_requests=long_run["requests"],
                   long_run_status=dict(long_run["status"]), long_run_failed=dict(long_run["failed"]))
        rss["growth_over_long_run"] = round(rss["after_long_run_mb"] / rss["before_long_run_mb"] - 1, 4)
        print(f"RSS {rss['before_long_run_mb']:.1f} MB -> {rss['after_long_run_mb']:.1f} MB over "
              f"{long_run['requests']} requests ({100 * rss['growth_over_long_run']:+.1f}%)", flush=True)
    bundle = {"model": info["headline"].get("model"), "decoder": info["headline"].get("decoder"),
              "dataset": info["headline"].get("dataset"), "steps": info["headline"].get("steps"),
              **{k: info["model"].get(k) for k in ("vocab_size", "embed_dim", "hidden_size", "latent_size")}}
    return {"bundle": bundle, "versions": info.get("versions"), "limits": info["limits"], "latency": latency,
            "overload": overload, "rss": rss}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m paddle_vae.bench.serve", description=__doc__.splitlines()[0],
                                allow_abbrev=False, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--init_from_ckpt", required=True, help="the bundle to serve")
    p.add_argument("--json", default=None, help="write the results here (e.g. docs/results/bench/serve_NAME.json)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients of the latency and memory phases")
    p.add_argument("--requests", type=int, default=300, help="requests per endpoint in the latency phase")
    p.add_argument("--warmup", type=int, default=10, help="requests per endpoint before anything is measured")
    p.add_argument("--overload_factor", type=int, default=10, help="overload clients, in server --max_waiting's")
    p.add_argument("--overload_requests", type=int, default=3000, help="requests of the overload phase")
    p.add_argument("--rss_requests", type=int, default=10000, help="requests of the memory phase")
    p.add_argument("--server_flags", default="", help='more flags for the server, e.g. "--num_threads 1"')
    return p


@cli_entry
def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    for name in ("clients", "requests", "warmup", "overload_factor", "overload_requests", "rss_requests"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.json:
        check_output(args.json, overwrite=args.overwrite)
    flags = shlex.split(args.server_flags) + ["--map_sentences", "0"]  # the map is the page's, not the API's load
    machine = f"{cpu_name()}, {available_cores()} cores"
    load_before = os.getloadavg()
    with ServerProcess(args.init_from_ckpt, flags) as server:
        print(f"serving {args.init_from_ckpt} at {server.url} on {machine}", flush=True)
        other = OtherLoad(server.pid)
        results = asyncio.run(measure(server, args))
        other_share = other.share()
    print(f"other processes took {100 * other_share:.1f}% of the CPU meanwhile", flush=True)
    results = {"machine": machine, "command": "python -m paddle_vae.bench.serve " + shlex.join(argv),
               "server_flags": flags, "load_average_before": [round(v, 2) for v in load_before],
               "other_processes_cpu_share": other_share,
               "server_exit": server.returncode, **results}
    if args.json:
        write_json_atomic(args.json, results)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
