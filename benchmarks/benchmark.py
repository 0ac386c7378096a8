"""Side-by-side benchmark: the walkthrough's approach in one process against our pipeline.

Runs, on the same IMDB data and model configuration, in one invocation:
- the reference: the walkthrough's notebook approach (Keras tokenization and padding in memory,
  the same LSTM, the same epochs, batch 32, the test set as validation data);
- our pipeline end to end in local mode (`lstm-pipeline run`, early stopping off so it trains
  the same number of epochs), with each step's seconds and peak memory;
- tf.Transform analyze+transform (the transform step) against Keras TextVectorization
  adapt+apply on the same texts;
- training samples per second and seconds per epoch, in both;
- serving through the exported SavedModel: p50/p99 latency for one review, reviews per second
  at batch 1, 32 and 256.
Both run at each of `--epochs` (default 3, where early stopping usually ends, and the
walkthrough's 10), since the pipeline's fixed cost weighs most in a short run.
It writes `<output-dir>/benchmark.json` and `<output-dir>/benchmark.md`.

    python benchmarks/benchmark.py --data-dir ../shared/tfds            # full IMDB
    python benchmarks/benchmark.py --data-dir ../shared/tfds --quick    # 2,000 reviews a split
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from components.common.tasks import SENTIMENT, TASKS
from pipeline.dag import step_task_names

WALKTHROUGH = {"vocab_size": 10_000, "max_seq_len": 120, "embedding_dim": 32, "batch_size": 32}
SERVING_BATCHES = (1, 32, 256)
LATENCY_CALLS = 300
TRAIN_TASK = step_task_names(SENTIMENT)["train"]  # The train step's folder in a run.


def load_imdb(data_dir: str, limit: int) -> dict[str, tuple[list[str], np.ndarray]]:
    import tensorflow_datasets as tfds

    splits = {}
    for split in ("train", "test"):
        name = f"{split}[:{limit}]" if limit else split
        data = tfds.as_numpy(
            tfds.load("imdb_reviews", split=name, data_dir=data_dir, batch_size=-1)
        )
        splits[split] = ([t.decode() for t in data["text"]], data["label"].astype(np.int64))
    return splits


def run_reference(data, epochs: int) -> dict:
    """The walkthrough in one process: tokenize, pad (train truncated 'post', test 'pre'), fit."""
    import keras
    import tensorflow as tf

    from components.train.models import build_model

    keras.utils.set_random_seed(42)
    (train_texts, train_labels), (test_texts, test_labels) = data["train"], data["test"]
    start = time.monotonic()
    vectorize = keras.layers.TextVectorization(max_tokens=WALKTHROUGH["vocab_size"], ragged=True)
    vectorize.adapt(tf.constant(train_texts), batch_size=1024)
    train_ids = vectorize(tf.constant(train_texts)).to_list()
    test_ids = vectorize(tf.constant(test_texts)).to_list()
    length = WALKTHROUGH["max_seq_len"]
    train_padded = keras.utils.pad_sequences(train_ids, maxlen=length, truncating="post")
    test_padded = keras.utils.pad_sequences(test_ids, maxlen=length)
    vectorize_seconds = time.monotonic() - start

    model = build_model("lstm", WALKTHROUGH["vocab_size"], length, 32, 64, 64)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    epoch_seconds = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.begin = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            epoch_seconds.append(time.monotonic() - self.begin)

    history = model.fit(
        train_padded,
        train_labels,
        epochs=epochs,
        batch_size=WALKTHROUGH["batch_size"],
        validation_data=(test_padded, test_labels),
        callbacks=[Timer()],
        verbose=0,
    )
    total = time.monotonic() - start
    return {
        "seconds": round(total, 1),
        "vectorize_seconds": round(vectorize_seconds, 1),
        "epoch_seconds": [round(s, 1) for s in epoch_seconds],
        "train_samples_per_second": round(len(train_texts) * epochs / sum(epoch_seconds)),
        "test_accuracy_last_epoch": round(history.history["val_accuracy"][-1], 4),
        "test_accuracy_best_epoch": round(max(history.history["val_accuracy"]), 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def run_pipeline(data_dir: str, limit: int, epochs: int, output_dir: Path) -> dict:
    # The walkthrough's model and data settings, as the reference trains them.
    command = [sys.executable, "-m", "pipeline.cli", "run", "--data-dir", data_dir]
    command += ["--preset", "walkthrough"]
    command += ["--epochs", str(epochs), "--patience", str(epochs), "--accuracy-threshold", "0"]
    command += ["--max-examples", str(limit), "--no-reuse", "--output-dir", str(output_dir)]
    start = time.monotonic()
    log = output_dir.with_suffix(".log")
    with open(log, "w") as out:
        subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=True)
    seconds = time.monotonic() - start
    summary = json.loads((output_dir / "run_summary.json").read_text())
    history = json.loads(
        next(
            Path(summary["run_dir"]).glob(f"for-loop-*/{TRAIN_TASK}/model/history.json")
        ).read_text()
    )
    epoch_seconds = history["per_epoch"]["epoch_seconds"]
    return {
        "seconds": round(seconds, 1),
        "steps": summary["steps"],
        "epoch_seconds": [round(s, 1) for s in epoch_seconds],
        "train_samples_per_second": round(
            summary["counts"]["train"] * len(epoch_seconds) / sum(epoch_seconds)
        ),
        "test_accuracy": round(summary["metrics"]["test"]["accuracy"], 4),
        "best_epoch": summary["model"]["best_epoch"],
        "serving_model": summary["serving_model"],
    }


def measure_serving(serving_model: str, texts: list[str]) -> dict:
    import tensorflow as tf

    serve = tf.saved_model.load(serving_model).signatures["serving_default"]
    serve(text=tf.constant(texts[:8]))  # Traces and warms up.
    latencies = []
    for i in range(LATENCY_CALLS):
        begin = time.perf_counter()
        serve(text=tf.constant([texts[i % len(texts)]]))
        latencies.append((time.perf_counter() - begin) * 1000)
    throughput = {}
    for batch in SERVING_BATCHES:
        count = max(batch * 20, 2000)
        pool = (texts * (count // len(texts) + 1))[:count]
        batches = [pool[i : i + batch] for i in range(0, count, batch)]
        begin = time.perf_counter()
        for chunk in batches:
            serve(text=tf.constant(chunk))
        throughput[str(batch)] = round(sum(map(len, batches)) / (time.perf_counter() - begin))
    return {
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 2),
        "latency_ms_p99": round(float(np.percentile(latencies, 99)), 2),
        "reviews_per_second_by_batch": throughput,
    }


def markdown(result: dict) -> str:
    lines = [f"Machine: {result['machine']}. Data: {result['data']}.", ""]
    for run in result["runs"]:
        lines += [f"Epochs: {run['epochs']}.", "", *run_markdown(run), ""]
    serving = result["serving"]
    lines += [
        "| serving (exported SavedModel) | value |",
        "|---|---|",
        f"| latency p50, one review | {serving['latency_ms_p50']} ms |",
        f"| latency p99, one review | {serving['latency_ms_p99']} ms |",
        *(
            f"| reviews/s at batch {b} | {n} |"
            for b, n in serving["reviews_per_second_by_batch"].items()
        ),
    ]
    return "\n".join(lines) + "\n"


def run_markdown(run: dict) -> list[str]:
    """The tables of one epoch count: the pipeline against the reference, and its steps."""
    reference, ours = run["reference"], run["pipeline"]
    steps = ours["steps"]
    return [
        "| measure | reference (walkthrough, one process) | our pipeline | ours / reference |",
        "|---|---|---|---|",
        f"| wall time, s | {reference['seconds']} | {ours['seconds']} | "
        f"{ours['seconds'] / reference['seconds']:.2f} |",
        f"| vectorize, s (TextVectorization vs tf.Transform step) | "
        f"{reference['vectorize_seconds']} | {steps['transform']['seconds']} | "
        f"{steps['transform']['seconds'] / reference['vectorize_seconds']:.2f} |",
        f"| seconds per epoch (mean) | {np.mean(reference['epoch_seconds']):.1f} | "
        f"{np.mean(ours['epoch_seconds']):.1f} | "
        f"{np.mean(ours['epoch_seconds']) / np.mean(reference['epoch_seconds']):.2f} |",
        f"| training samples/s | {reference['train_samples_per_second']} | "
        f"{ours['train_samples_per_second']} | "
        f"{ours['train_samples_per_second'] / reference['train_samples_per_second']:.2f} |",
        f"| test accuracy | {reference['test_accuracy_last_epoch']} (last epoch; best "
        f"{reference['test_accuracy_best_epoch']}, picked on test) | {ours['test_accuracy']} "
        f"(best eval epoch {ours['best_epoch']}) | |",
        f"| peak RSS, MB | {reference['peak_rss_mb']} | "
        f"{max(s['peak_rss_mb'] for s in steps.values())} (largest step) | |",
        "",
        "| step | seconds | peak RSS, MB |",
        "|---|---|---|",
        *(
            f"| {n} | {steps[n]['seconds']} | {steps[n]['peak_rss_mb']} |"
            for n in TASKS[SENTIMENT].steps
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("TFDS_DATA_DIR", ""))
    parser.add_argument("--quick", action="store_true", help="2,000 reviews a split, 2 epochs")
    parser.add_argument(
        "--epochs", help="comma-separated epoch counts, each run by both (default 3,10; quick 2)"
    )
    parser.add_argument("--output-dir", default="benchmarks/results")
    args = parser.parse_args()
    limit = 2000 if args.quick else 0
    epoch_counts = [int(n) for n in (args.epochs or ("2" if args.quick else "3,10")).split(",")]
    output_dir = Path(args.output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    data = load_imdb(args.data_dir, limit)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "data": f"imdb_reviews, {len(data['train'][0])} train / {len(data['test'][0])} test",
        "command": " ".join(sys.argv),
        "runs": [],
    }
    for epochs in epoch_counts:
        # Ours first, in subprocesses, so the reference's TensorFlow state cannot help or hurt it.
        run_dir = output_dir / f"pipeline-run-{epochs}"
        pipeline = run_pipeline(args.data_dir, limit, epochs, run_dir)
        result["runs"].append(
            {"epochs": epochs, "pipeline": pipeline, "reference": run_reference(data, epochs)}
        )
    serving_model = result["runs"][-1]["pipeline"]["serving_model"]
    result["serving"] = measure_serving(serving_model, data["test"][0])
    (output_dir / "benchmark.json").write_text(json.dumps(result, indent=2))
    (output_dir / "benchmark.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
