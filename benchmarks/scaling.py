"""Scaling benchmark: the whole sentiment pipeline at 1x, 4x and 16x IMDB's size, step by step.

For each size it makes a jsonl source of that many reviews from IMDB's real ones, runs
`lstm-pipeline run` on it for one epoch, and records each step's seconds, seconds per 1,000
reviews and peak RSS (from the run's run_summary.json). 1x is IMDB itself (25,000 train and
25,000 test reviews); a larger size adds reviews made by sentence-level recombination: each
new review takes a real review of the same split and label as its pattern and replaces every
sentence with a random sentence of that split and label, under a fresh id, so vocabulary,
sentence lengths, review lengths and the label signal stay IMDB's. The sources are written
under --work-dir (outside the repository), in shards of 25,000 reviews (`train-NNN.jsonl`,
`test-NNN.jsonl`), as a user's large corpus would come.

Results are merged into `<output-dir>/scaling.json` (one entry per size, a rerun of a size
replaces it), with `scaling.md` (the table, goals marked) and `scaling.png` (the chart):

    python benchmarks/scaling.py --data-dir ../shared/tfds --sizes 1,4,16
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from components.common.tasks import SENTIMENT, TASKS

IMDB_REVIEWS = 50_000  # 1x: IMDB's train and test splits together.
SHARD_REVIEWS = 25_000
# The goals of issue 16, per step: at 16x against 1x, time per review and peak RSS.
GOAL_MULTIPLE = 16
GOALS = {"seconds_per_1000": 1.2, "peak_rss_mb": 1.5}
STEPS = TASKS[SENTIMENT].steps
# Where a review's sentences end: after . ! ? (and the IMDB texts' <br /> line breaks).
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?:<br\s*/?>\s*)+")


def load_imdb(data_dir: str) -> dict[str, tuple[list[str], np.ndarray]]:
    """IMDB's labeled splits: split -> (texts, labels)."""
    import tensorflow_datasets as tfds

    splits = {}
    for split in ("train", "test"):
        data = tfds.as_numpy(
            tfds.load("imdb_reviews", split=split, data_dir=data_dir, batch_size=-1)
        )
        splits[split] = ([t.decode() for t in data["text"]], data["label"].astype(np.int64))
    return splits


def recombined_reviews(texts: list[str], labels: np.ndarray, count: int, seed: int):
    """`count` new (text, label) reviews from one split's sentences (see the module's doc)."""
    rng = np.random.default_rng(seed)
    sentences = [[part for part in SENTENCE_END.split(text) if part] for text in texts]
    by_label = {}
    for label in (0, 1):
        chosen = [s for s, y in zip(sentences, labels, strict=True) if y == label]
        by_label[label] = (chosen, [sentence for review in chosen for sentence in review])
    for label in rng.integers(0, 2, count):
        patterns, pool = by_label[int(label)]
        pattern = patterns[rng.integers(len(patterns))]
        picks = rng.integers(len(pool), size=len(pattern))
        yield " ".join(pool[i] for i in picks), int(label)


def write_source(imdb: dict, multiple: int, source_dir: Path) -> int:
    """Writes a source `multiple` times IMDB's size under `source_dir`; returns its reviews."""
    done = source_dir / "complete"
    if done.exists():
        return int(done.read_text())
    source_dir.mkdir(parents=True, exist_ok=True)
    total = 0
    for split_number, (split, (texts, labels)) in enumerate(imdb.items()):
        real = (
            {"id": f"imdb-{split}-{i}", "text": t, "label": int(y)}
            for i, (t, y) in enumerate(zip(texts, labels, strict=True))
        )
        made = (
            {"id": f"recombined-{split}-{i}", "text": t, "label": y}
            for i, (t, y) in enumerate(
                recombined_reviews(texts, labels, (multiple - 1) * len(texts), seed=split_number)
            )
        )
        shard, file, written = 0, None, 0
        for record in itertools.chain(real, made):
            if written % SHARD_REVIEWS == 0:
                if file:
                    file.close()
                file = open(source_dir / f"{split}-{shard:03d}.jsonl", "w")
                shard += 1
            file.write(json.dumps(record) + "\n")
            written += 1
        file.close()
        total += written
    done.write_text(str(total))
    return total


def run_pipeline(source_dir: Path, run_dir: Path, epochs: int, pipeline_args: list[str]) -> dict:
    """One local run on the source; its wall seconds and run_summary.json's steps."""
    # The walkthrough's model, whose figures were measured first; --preset in pipeline_args
    # (after it) picks another.
    command = [sys.executable, "-m", "pipeline.cli", "run", "--source", f"jsonl:{source_dir}"]
    command += ["--preset", "walkthrough"]
    command += ["--epochs", str(epochs), "--patience", str(epochs), "--accuracy-threshold", "0"]
    command += ["--no-reuse", "--output-dir", str(run_dir), *pipeline_args]
    load_before = os.getloadavg()
    start = time.monotonic()
    with open(run_dir.with_suffix(".log"), "w") as log:
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True)
    seconds = time.monotonic() - start
    summary = json.loads((run_dir / "run_summary.json").read_text())
    return {
        "seconds": round(seconds, 1),
        "load_average_1min": [round(load_before[0], 1), round(os.getloadavg()[0], 1)],
        "counts": summary["counts"],
        "steps": {
            step: {
                "seconds": summary["steps"][step]["seconds"],
                "peak_rss_mb": summary["steps"][step]["peak_rss_mb"],
            }
            for step in STEPS
        },
        "command": " ".join(command[2:]),
    }


def with_rates(size: dict) -> dict:
    for step in size["steps"].values():
        step["seconds_per_1000"] = round(1000 * step["seconds"] / size["reviews"], 3)
    return size


def goal_marks(sizes: list[dict]) -> dict[str, dict[str, str]]:
    """Per step and goal: 'met' or 'not met' with the ratio of 16x to 1x, or 'not measured'
    (with the ratio of the largest size measured, if any) until both were run."""
    by_multiple = {size["reviews"] // IMDB_REVIEWS: size for size in sizes}
    base, largest = by_multiple.get(1), max(by_multiple)
    marks = {}
    for step in STEPS:
        marks[step] = {}
        for measure, limit in GOALS.items():
            if base is None or largest == 1:
                marks[step][measure] = "not measured"
                continue
            ratio = by_multiple[largest]["steps"][step][measure] / base["steps"][step][measure]
            if largest < GOAL_MULTIPLE:
                marks[step][measure] = f"not measured ({largest}x: {ratio:.2f}x)"
            else:
                verdict = "met" if ratio <= limit else "not met"
                marks[step][measure] = f"{verdict} ({ratio:.2f}x)"
    return marks


def markdown(result: dict) -> str:
    sizes = sorted(result["sizes"], key=lambda size: size["reviews"])
    marks = goal_marks(sizes)
    header = " | ".join(f"{s['reviews'] // IMDB_REVIEWS}x ({s['reviews']:,})" for s in sizes)
    lines = [
        f"Machine: {result['machine']}. One epoch. Goals at {GOAL_MULTIPLE}x against 1x, per "
        f"step: time per review at most {GOALS['seconds_per_1000']}x, peak RSS at most "
        f"{GOALS['peak_rss_mb']}x. Each cell: seconds, seconds per 1,000 reviews, peak RSS MB.",
        "",
        f"| step | {header} | time/review goal | RSS goal |",
        "|---|" + "---|" * len(sizes) + "---|---|",
    ]
    for step in STEPS:
        cells = " | ".join(
            f"{s['steps'][step]['seconds']:.0f}, {s['steps'][step]['seconds_per_1000']:.2f}, "
            f"{s['steps'][step]['peak_rss_mb']:.0f}"
            for s in sizes
        )
        lines.append(
            f"| {step} | {cells} | {marks[step]['seconds_per_1000']} | "
            f"{marks[step]['peak_rss_mb']} |"
        )
    walls = " | ".join(f"{s['seconds']:.0f} s wall, load {s['load_average_1min']}" for s in sizes)
    lines.append(f"| whole run | {walls} | | |")
    return "\n".join(lines) + "\n"


def chart(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(result["sizes"], key=lambda size: size["reviews"])
    reviews = [size["reviews"] for size in sizes]
    figure, (time_axis, rss_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for step in STEPS:
        time_axis.plot(
            reviews, [s["steps"][step]["seconds_per_1000"] for s in sizes], "o-", label=step
        )
        rss_axis.plot(reviews, [s["steps"][step]["peak_rss_mb"] for s in sizes], "o-", label=step)
    time_axis.set(
        xscale="log", xlabel="reviews", ylabel="seconds per 1,000 reviews", title="Time per review"
    )
    rss_axis.set(xscale="log", xlabel="reviews", ylabel="MB", title="Peak RSS per step")
    for axis in (time_axis, rss_axis):
        axis.set_xticks(reviews, [f"{r:,}" for r in reviews])
        axis.minorticks_off()
        axis.grid(alpha=0.3)
    rss_axis.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("TFDS_DATA_DIR", ""))
    parser.add_argument(
        "--sizes", default="1,4,16", help="multiples of IMDB's 50,000 reviews (default 1,4,16)"
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument(
        "--work-dir",
        default="/tmp/lstm-pipeline-scaling",
        help="where the generated sources and the runs go (default /tmp/lstm-pipeline-scaling)",
    )
    parser.add_argument("--output-dir", default="benchmarks/results")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="run nothing: rewrite scaling.md and scaling.png from scaling.json",
    )
    args, pipeline_args = parser.parse_known_args()
    multiples = [int(m) for m in args.sizes.split(",")]
    work_dir, output_dir = Path(args.work_dir).resolve(), Path(args.output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    results_file = output_dir / "scaling.json"
    result = json.loads(results_file.read_text()) if results_file.exists() else {"sizes": []}
    if args.render_only:
        render(result, output_dir)
        return
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"

    imdb = load_imdb(args.data_dir)
    for multiple in multiples:
        source_dir = work_dir / f"source-{multiple}x"
        reviews = write_source(imdb, multiple, source_dir)
        run = run_pipeline(source_dir, work_dir / f"run-{multiple}x", args.epochs, pipeline_args)
        size = with_rates({"reviews": reviews, **run})
        size["date"] = datetime.now(UTC).isoformat(timespec="minutes")
        result["sizes"] = [s for s in result["sizes"] if s["reviews"] != reviews] + [size]
        result["sizes"].sort(key=lambda s: s["reviews"])
        results_file.write_text(json.dumps(result, indent=2) + "\n")
        render(result, output_dir)


def render(result: dict, output_dir: Path) -> None:
    (output_dir / "scaling.md").write_text(markdown(result))
    chart(result, output_dir / "scaling.png")
    print(markdown(result), flush=True)


if __name__ == "__main__":
    main()
