"""s3:// for every user path (the source, the export destination, the cache folder) against an
S3-compatible server on 127.0.0.1 (tests/object_store.py, standing in for KFP's SeaweedFS)."""

import csv
import dataclasses
import inspect
import random
import signal

from kfp import dsl

from components.common import io
from components.common.artifacts import COUNTS_FILE, HISTORY_FILE, read_counts
from components.common.config import IngestConfig, task_defaults
from components.common.provenance import code_version
from components.common.serving import newest_version
from components.common.tasks import FORECAST, SENTIMENT
from components.conftest import DATED_SERIES, generated_review
from components.ingest.ingest import run_ingest
from components.train.callbacks import PROGRESS_FILE
from components.train.test_resume import EPOCHS, KILL_AFTER_EPOCH, train_in_child
from pipeline.dag import STEP_COMPONENTS, pipeline_arguments


def test_folders_go_to_s3_and_back_with_a_savedmodel_file_last(object_store, tmp_path):
    folder = tmp_path / "model"
    (folder / "variables").mkdir(parents=True)
    (folder / "variables" / "variables.index").write_bytes(b"index")
    (folder / "saved_model.pb").write_bytes(b"graph")
    with io.atomic_directory(object_store.uri("serving/7")) as staging:
        io.copy_tree(str(folder), staging)
    assert object_store.keys("serving/") == [
        "serving/7/saved_model.pb",
        "serving/7/variables/variables.index",
    ]
    # A reader listing the destination mid-copy sees saved_model.pb only after the variables.
    order = io.files_below(object_store.uri("serving/7"))
    assert [path.rsplit("/", 1)[-1] for path in order] == ["variables.index", "saved_model.pb"]
    assert newest_version(object_store.uri("serving")) == object_store.uri("serving/7")
    with io.local_copy(object_store.uri("serving/7")) as local:
        assert open(f"{local}/variables/variables.index", "rb").read() == b"index"
    before = io.file_versions(object_store.uri("serving"))
    with io.open_file(object_store.uri("serving/7/saved_model.pb"), "wb") as f:
        f.write(b"a new graph")
    assert io.file_versions(object_store.uri("serving")) != before


def write_reviews(path, count: int) -> None:
    rng = random.Random(0)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "split"])
        for index in range(count):
            label = index % 2
            split = "test" if index % 4 == 3 else "train"
            writer.writerow([generated_review(rng, label), label, split])


def test_every_step_reads_its_source_pushes_and_caches_on_s3(object_store, tmp_path):
    local_source = tmp_path / "reviews.csv"
    write_reviews(local_source, 240)
    object_store.client.upload_file(str(local_source), "lstm-test", "data/reviews.csv")
    defaults = task_defaults(SENTIMENT)
    config = dataclasses.replace(
        defaults,
        ingest=dataclasses.replace(
            defaults.ingest, source=f"csv:{object_store.uri('data/reviews.csv')}"
        ),
        transform=dataclasses.replace(defaults.transform, vocab_size=40, max_seq_len=30),
        train=dataclasses.replace(
            defaults.train, epochs=2, embedding_dim=8, units=8, dense_units=8, batch_size=16
        ),
        evaluate=dataclasses.replace(
            defaults.evaluate, accuracy_threshold=0.0, export_dir=object_store.uri("serving")
        ),
    )
    arguments = pipeline_arguments(config, cache_dir=object_store.uri("cache"))
    arguments["model_type"] = arguments.pop("model_types")[0]  # One ParallelFor iteration.
    arguments.update(task=SENTIMENT, code_version=code_version())  # The steps' constants.

    def run_every_step(run_dir):
        """Calls each step's component body, in DAG order, on local artifact folders."""

        def run(step, **artifacts):
            component = STEP_COMPONENTS[SENTIMENT][step]
            parameters = inspect.signature(component.python_func).parameters
            taken = {name: arguments[name] for name in parameters if name in arguments}
            outputs = {
                name: kind(uri=str(run_dir / step / name)) for name, kind in OUTPUTS[step].items()
            }
            returned = component.python_func(**taken, **artifacts, **outputs)
            return outputs, returned

        ingest, _ = run("ingest")
        transform, _ = run("transform", examples=ingest["examples"])
        graph = transform["transform_graph"]
        data = {"transformed_examples": transform["transformed_examples"], "transform_graph": graph}
        pretrain, _ = run("pretrain", **data)
        train, _ = run("train", pretrained_encoder=pretrain["encoder"], **data)
        compare, _ = run("compare", models=[train["model"]])
        evaluate, blessed = run(
            "evaluate",
            examples=ingest["examples"],
            transform_graph=graph,
            model=compare["champion"],
        )
        assert blessed is True
        export, _ = run("export", transform_graph=graph, model=compare["champion"])
        return {
            "ingest": ingest["examples"],
            "train": train["model"],
            "evaluation": evaluate["evaluation"],
            "serving_model": export["serving_model"],
        }

    first = run_every_step(tmp_path / "first")
    read = io.read_json(f"{first['ingest'].path}/{COUNTS_FILE}")
    assert read["read"] == 240 and first["ingest"].metadata["reused"] is False
    pushed = first["serving_model"].metadata["pushed_to"]
    version = first["serving_model"].metadata["version"]
    assert pushed == object_store.uri(f"serving/{version}")
    assert f"serving/{version}/saved_model.pb" in object_store.keys("serving/")
    assert (
        first["serving_model"].metadata["version_uri"] == f"{first['serving_model'].uri}/{version}"
    )
    cached = {key.split("/")[1].split("-")[0] for key in object_store.keys("cache/")}
    assert {"ingest", "transform", "train", "compare", "evaluate", "export"} <= cached

    second = run_every_step(tmp_path / "second")
    assert second["ingest"].metadata["reused"] is True
    assert second["train"].metadata["reused"] is True
    # The model pushed by the first run is read back from s3 and known as this very candidate
    # (its .candidate_key): not beaten against itself, so evaluate's key is the first run's,
    # and not pushed again.
    assert second["evaluation"].metadata["reused"] is True
    evaluation = io.read_json(f"{second['evaluation'].path}/evaluation.json")
    assert evaluation["served_model"] is None
    assert second["serving_model"].metadata["pushed_to"] == pushed
    assert {key.split("/")[1] for key in object_store.keys("serving/")} == {version}


OUTPUTS = {
    "ingest": {"examples": dsl.Dataset},
    "transform": {"transform_graph": dsl.Artifact, "transformed_examples": dsl.Dataset},
    "pretrain": {"encoder": dsl.Artifact},
    "train": {"model": dsl.Model, "tensorboard_logs": dsl.Artifact},
    "compare": {
        "champion": dsl.Model,
        "leaderboard": dsl.Artifact,
        "leaderboard_metrics": dsl.Metrics,
    },
    "evaluate": {
        "evaluation": dsl.Artifact,
        "metrics": dsl.Metrics,
        "classification_metrics": dsl.ClassificationMetrics,
    },
    "export": {"serving_model": dsl.Model},
}


def test_a_dated_csv_on_s3_is_a_forecast_source(object_store, tmp_path, dated_csv):
    path, reasons = dated_csv
    object_store.client.upload_file(str(path), "lstm-test", "prices/prices.csv")
    for location in ("prices/prices.csv", "prices"):  # The file, or a folder of them.
        config = IngestConfig(
            source=f"csv:{object_store.uri(location)}", max_quarantine_fraction=0.5
        )
        output = str(tmp_path / location)
        run_ingest(FORECAST, config, output, series=DATED_SERIES)
        counts = read_counts(output)
        assert counts["quarantine_reasons"] == dict(sorted(reasons.items()))
        assert counts["written"] == {"train": 14, "eval": 3, "test": 3}


def test_training_killed_resumes_from_checkpoints_on_s3(object_store, tmp_path, transformed):
    model_dir, checkpoint_dir = tmp_path / "model", object_store.uri("cache/train.checkpoint")
    killed = train_in_child(transformed, model_dir, checkpoint_dir, KILL_AFTER_EPOCH, dropout=0.0)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    progress = io.read_json(f"{checkpoint_dir}/{PROGRESS_FILE}")
    assert len(progress["history"]["val_accuracy"]) == KILL_AFTER_EPOCH
    resumed = train_in_child(transformed, model_dir, checkpoint_dir, kill_after=0, dropout=0.0)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming after epoch {KILL_AFTER_EPOCH}" in resumed.stderr
    history = io.read_json(f"{model_dir}/{HISTORY_FILE}")
    assert len(history["per_epoch"]["val_accuracy"]) == EPOCHS
    assert not object_store.keys("cache/train.checkpoint")  # Cleared once the model is complete.
