"""Load benchmark of `lstm-pipeline serve`: what a client on the same machine sees over HTTP.

Starts the server on 127.0.0.1 over an exported model, and drives it with a small asyncio
client (aiohttp, keep-alive connections, KServe v1 bodies built beforehand) in three bounded
scenarios: one review per request at concurrency 1 and 8, and 32 reviews per request at
concurrency 8. For each: p50/p99 latency, reviews per second, errors, and the server's RSS
after it. Then a 60 s soak of the 32-review scenario samples the server's RSS every 5 s to show
it stays flat. The same SavedModel called in this process gives the figures without HTTP.
Reviews are real ones, from the IMDB test split. Each run starts a fresh server; `--runs 2`
repeats everything. Writes `<output-dir>/serve_load.json` and `<output-dir>/serve_load.md`.

    TFDS_DATA_DIR=../shared/tfds python benchmarks/serve_load.py --model-dir SERVING_MODEL
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

import aiohttp
import numpy as np
import orjson
import psutil
from benchmark import load_imdb, measure_serving

from components.common.serving import resolve_version_dir

MODEL_NAME = "lstm-sentiment"
SCENARIOS = (
    {"reviews": 1, "concurrency": 1},
    {"reviews": 1, "concurrency": 8},
    {"reviews": 32, "concurrency": 8},
)
SOAK = {"reviews": 32, "concurrency": 8}
REVIEW_COUNT = 2000
WARMUP_SECONDS = 3.0
RSS_SAMPLE_SECONDS = 5.0
START_DEADLINE_SECONDS = 180
GOALS = {
    "p50_ms_one_review_concurrency_1": 5.0,
    "p99_ms_one_review_concurrency_1": 20.0,
    "reviews_per_second_32_per_request": 5000,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model_dir: str, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "pipeline.cli", "serve", "--model-dir", model_dir]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, stdout=log_path.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited: see {log_path}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process, url
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"the server did not start within {START_DEADLINE_SECONDS} s: see {log_path}")


def server_predict_seconds(url: str) -> tuple[float, int]:
    """The server's own total time in predict (checking, TensorFlow, answer) and its request
    count, from its Prometheus histogram: the rest of a client's latency is HTTP and JSON."""
    metrics = urllib.request.urlopen(f"{url}/metrics", timeout=30).read().decode()
    label = f'{{model_name="{MODEL_NAME}"}}'
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in metrics.splitlines()
        if line.startswith("request_predict_seconds_") and label in line
    }
    total = values[f"request_predict_seconds_sum{label}"]
    return total, int(values[f"request_predict_seconds_count{label}"])


def rss_mb(process: subprocess.Popen) -> float:
    return round(psutil.Process(process.pid).memory_info().rss / 2**20, 1)


async def drive(
    url: str, bodies: list[tuple[bytes, int]], concurrency: int, seconds: float, on_tick=None
) -> dict:
    """`concurrency` clients, each sending its next body as soon as its last answer came, for
    `seconds`; every answer is checked (status 200, one prediction per review)."""
    latencies_ms, errors = [], {}
    reviews = 0
    next_body = itertools.count()
    predict_url = f"{url}/v1/models/{MODEL_NAME}:predict"
    headers = {"content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal reviews
            while time.perf_counter() < deadline:
                body, count = bodies[next(next_body) % len(bodies)]
                begin = time.perf_counter()
                try:
                    async with session.post(predict_url, data=body, headers=headers) as response:
                        payload = await response.read()
                    ok = (
                        response.status == 200
                        and len(orjson.loads(payload)["predictions"]) == count
                    )
                    reason = f"HTTP {response.status}"
                except (aiohttp.ClientError, orjson.JSONDecodeError, KeyError) as error:
                    ok, reason = False, type(error).__name__
                latencies_ms.append((time.perf_counter() - begin) * 1000)
                if ok:
                    reviews += count
                else:
                    errors[reason] = errors.get(reason, 0) + 1

        async def ticker() -> None:
            while time.perf_counter() < deadline:
                await asyncio.sleep(RSS_SAMPLE_SECONDS)
                on_tick()

        begin = time.perf_counter()
        tasks = [client() for _ in range(concurrency)] + ([ticker()] if on_tick else [])
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - begin
    return {
        "requests": len(latencies_ms),
        "p50_ms": round(float(np.percentile(latencies_ms, 50)), 2),
        "p99_ms": round(float(np.percentile(latencies_ms, 99)), 2),
        "reviews_per_second": round(reviews / elapsed),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "seconds": round(elapsed, 1),
    }


def request_bodies(texts: list[str], reviews_per_request: int) -> list[tuple[bytes, int]]:
    chunks = [texts[i : i + reviews_per_request] for i in range(0, len(texts), reviews_per_request)]
    return [(orjson.dumps({"instances": chunk}), len(chunk)) for chunk in chunks]


def one_run(
    model_dir: str, texts: list[str], seconds: float, soak_seconds: float, log: Path
) -> dict:
    process, url = start_server(model_dir, log)
    try:
        result = {"server_rss_mb_at_start": rss_mb(process), "scenarios": []}
        for scenario in SCENARIOS:
            bodies = request_bodies(texts, scenario["reviews"])
            asyncio.run(drive(url, bodies, scenario["concurrency"], WARMUP_SECONDS))
            total_before, count_before = server_predict_seconds(url)
            measured = asyncio.run(drive(url, bodies, scenario["concurrency"], seconds))
            total_after, count_after = server_predict_seconds(url)
            in_predict = (total_after - total_before) / (count_after - count_before)
            measured["server_predict_ms_mean"] = round(in_predict * 1000, 2)
            result["scenarios"].append(
                {**scenario, **measured, "server_rss_mb_after": rss_mb(process)}
            )
            print(json.dumps(result["scenarios"][-1]), flush=True)
        samples = [rss_mb(process)]
        bodies = request_bodies(texts, SOAK["reviews"])
        soak = asyncio.run(
            drive(
                url,
                bodies,
                SOAK["concurrency"],
                soak_seconds,
                lambda: samples.append(rss_mb(process)),
            )
        )
        result["soak"] = {**SOAK, **soak, "server_rss_mb_samples": samples}
        print(json.dumps(result["soak"]), flush=True)
        return result
    finally:
        process.terminate()
        process.wait(timeout=60)


def check_goals(run: dict) -> dict:
    by_shape = {(s["reviews"], s["concurrency"]): s for s in run["scenarios"]}
    samples = run["soak"]["server_rss_mb_samples"]
    return {
        "p50_ms_one_review_concurrency_1": by_shape[1, 1]["p50_ms"]
        <= GOALS["p50_ms_one_review_concurrency_1"],
        "p99_ms_one_review_concurrency_1": by_shape[1, 1]["p99_ms"]
        <= GOALS["p99_ms_one_review_concurrency_1"],
        "reviews_per_second_32_per_request": by_shape[32, 8]["reviews_per_second"]
        >= GOALS["reviews_per_second_32_per_request"],
        "zero_errors": all(s["errors"] == 0 for s in [*run["scenarios"], run["soak"]]),
        # Flat: the second half of the soak grows by under 2% of the RSS.
        "rss_flat": samples[-1] - samples[len(samples) // 2] <= 0.02 * samples[-1],
    }


def markdown(result: dict) -> str:
    runs = result["runs"]
    lines = [
        f"Machine: {result['machine']}; load average before each run: "
        + ", ".join(str(run["load_average_before"]) for run in runs)
        + f". Model: {result['model_dir']}. {result['date']}.",
        "",
        "| reviews per request | concurrency | run | p50 ms | p99 ms | reviews/s | errors | "
        "server's predict ms (mean) | server RSS MB after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for index, scenario in enumerate(SCENARIOS):
        for i, run in enumerate(runs, 1):
            s = run["scenarios"][index]
            cells = [scenario["reviews"], scenario["concurrency"], i, s["p50_ms"], s["p99_ms"]]
            cells += [s["reviews_per_second"], s["errors"], s["server_predict_ms_mean"]]
            cells += [s["server_rss_mb_after"]]
            lines.append("| " + " | ".join(map(str, cells)) + " |")
    lines.append("")
    for i, run in enumerate(runs, 1):
        soak = run["soak"]
        lines.append(
            f"Run {i} soak ({soak['seconds']} s, {soak['reviews']} reviews per request at "
            f"concurrency {soak['concurrency']}): {soak['reviews_per_second']} reviews/s, "
            f"{soak['errors']} errors, server RSS MB every {RSS_SAMPLE_SECONDS:.0f} s: "
            f"{soak['server_rss_mb_samples']}."
        )
    serving = result["in_process"]
    lines += [
        "",
        "In process (the same SavedModel, no HTTP): one review p50 "
        f"{serving['latency_ms_p50']} ms, p99 {serving['latency_ms_p99']} ms; "
        "reviews/s at batch 1, 32, 256: "
        + ", ".join(str(v) for v in serving["reviews_per_second_by_batch"].values())
        + ".",
        "",
        "| goal | " + " | ".join(f"run {i}" for i in range(1, len(runs) + 1)) + " |",
        "|---|" + "---|" * len(runs),
    ]
    for goal in runs[0]["goals"]:
        limit = GOALS.get(goal)
        label = goal.replace("_", " ") + (
            f" ({'<=' if 'ms' in goal else '>='} {limit})" if limit else ""
        )
        lines.append(
            f"| {label} | "
            + " | ".join("met" if run["goals"][goal] else "NOT met" for run in runs)
            + " |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", required=True, help="export destination or version folder")
    parser.add_argument(
        "--data-dir", default=os.environ.get("TFDS_DATA_DIR", ""), help="tfds data folder"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per scenario")
    parser.add_argument("--soak-seconds", type=float, default=60.0, help="seconds of the RSS soak")
    parser.add_argument("--runs", type=int, default=2, help="independent runs, each a fresh server")
    parser.add_argument("--output-dir", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    texts = load_imdb(args.data_dir, REVIEW_COUNT)["test"][0]
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    in_process = measure_serving(resolve_version_dir(args.model_dir), texts)
    logs = Path(tempfile.mkdtemp(prefix="serve-load-"))
    print(f"server logs: {logs}", flush=True)
    runs = []
    for i in range(args.runs):
        load_average = round(os.getloadavg()[0], 2)
        run = one_run(
            args.model_dir, texts, args.seconds, args.soak_seconds, logs / f"server-{i + 1}.log"
        )
        run["load_average_before"] = load_average
        run["goals"] = check_goals(run)
        runs.append(run)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "date": date.today().isoformat(),
        "model_dir": args.model_dir,
        "review_count": len(texts),
        "in_process": in_process,
        "runs": runs,
    }
    (output / "serve_load.json").write_text(json.dumps(result, indent=2) + "\n")
    (output / "serve_load.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
