import datetime
import json

import numpy as np
import pytest
import tensorflow as tf

from components.common import features as F
from components.common.artifacts import QUARANTINE_DIR, read_counts, read_series_description
from components.common.config import (
    ConfigError,
    IngestConfig,
    PipelineConfig,
    SeriesConfig,
    Source,
    TaskConfig,
)
from components.common.series import read_series
from components.common.tasks import FORECAST
from components.conftest import DATED_SERIES, DATED_VALUES, TINY_SERIES
from components.ingest.forecast import (
    check_csv_columns,
    iso_date,
    order_in_time,
    parse_date,
    parse_number,
    sine_points,
    split_boundaries,
)
from components.ingest.ingest import run_ingest


@pytest.mark.parametrize(
    "text, expected",
    [
        ("11-Aug-17", datetime.datetime(2017, 8, 11)),
        ("9-aug-17", datetime.datetime(2017, 8, 9)),
        ("03-Jan-2011", datetime.datetime(2011, 1, 3)),
        ("1-Jan-69", datetime.datetime(1969, 1, 1)),  # Two-digit years: 1969-2068.
        ("31-Dec-68", datetime.datetime(2068, 12, 31)),
        (" 2017-08-11 ", datetime.datetime(2017, 8, 11)),
        ("2017-08-11T16:30:00", datetime.datetime(2017, 8, 11, 16, 30)),
        ("2017-08-11T16:30:00+02:00", datetime.datetime(2017, 8, 11, 14, 30)),  # In UTC.
    ],
)
def test_parse_date_reads_iso_and_day_month_year(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", [None, "", "31-Feb-17", "11-Foo-17", "Aug 11 2017", "11/08/17"])
def test_parse_date_rejects_everything_else(text):
    assert parse_date(text) is None


def test_iso_date_leaves_out_a_midnight_time():
    assert iso_date(datetime.datetime(2017, 8, 11)) == "2017-08-11"
    assert iso_date(datetime.datetime(2017, 8, 11, 16, 30)) == "2017-08-11T16:30:00"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("157.48", (157.48, None)),
        (" -3e2 ", (-300.0, None)),
        ("", (None, "missing_value")),
        (None, (None, "missing_value")),
        ("n/a", (None, "non_numeric_value")),
        ("nan", (None, "non_numeric_value")),
        ("-inf", (None, "non_numeric_value")),
    ],
)
def test_parse_number(text, expected):
    assert parse_number(text) == expected


def test_split_boundaries_are_floors_of_the_fractions():
    assert split_boundaries(2000, 0.7, 0.15) == (1400, 1700)
    assert split_boundaries(1664, 0.7, 0.15) == (1164, 1414)
    assert split_boundaries(20, 0.7, 0.15) == (14, 17)


def test_order_in_time_sorts_numbers_splits_and_sets_duplicates_aside():
    day = datetime.datetime(2017, 1, 1)
    points = [
        {
            "position": f"f.csv:{10 - i}",
            "order": day + datetime.timedelta(i),
            "date": "",
            "value": i,
        }
        for i in range(10)
    ]
    later_duplicate = dict(points[3], position="f.csv:99", value=-1)
    ordered, duplicates = order_in_time([later_duplicate, *points[::-1]], 0.6, 0.2)
    assert [p[F.VALUE_KEY] for p in ordered] == list(range(10))
    assert [p[F.STEP_KEY] for p in ordered] == list(range(10))
    assert [p["split"] for p in ordered] == ["train"] * 6 + ["eval"] * 2 + ["test"] * 2
    assert duplicates == [later_duplicate]


def test_sine_points_are_the_sine_plus_seeded_noise():
    series = SeriesConfig(sine_length=5000, sine_period=50.0, sine_amplitude=2.0, sine_noise=0.3)
    values = np.array([p[F.VALUE_KEY] for p in sine_points(series)])
    clean = 2.0 * np.sin(2 * np.pi * np.arange(5000) / 50.0)
    assert np.std(values - clean) == pytest.approx(0.3, rel=0.05)
    assert [p[F.VALUE_KEY] for p in sine_points(series)] == values.tolist()  # Seeded.


def test_dated_csv_is_read_in_date_order_with_bad_rows_quarantined(dated_ingested_dir, dated_csv):
    path, expected_reasons = dated_csv
    counts = read_counts(dated_ingested_dir)
    assert counts["quarantine_reasons"] == dict(sorted(expected_reasons.items()))
    assert counts["read"] == 27
    assert counts["written"] == {"train": 14, "eval": 3, "test": 3}
    assert counts["read"] == sum(counts["written"].values()) + counts["quarantined"]

    series = read_series(dated_ingested_dir)
    # Newest-first rows in two date formats come out oldest first, one step per row; the
    # target is the mean of High and Low, and the first 5-Jan row (not the duplicate) is kept.
    assert series.dates.tolist() == [f"2017-01-{day:02d}" for day in range(1, 21)]
    assert series.steps.tolist() == list(range(20))
    assert series.values.tolist() == DATED_VALUES
    assert series.splits.tolist() == ["train"] * 14 + ["eval"] * 3 + ["test"] * 3

    quarantined = []
    for shard in tf.io.gfile.glob(f"{dated_ingested_dir}/{QUARANTINE_DIR}/*.jsonl"):
        quarantined += [json.loads(line) for line in tf.io.gfile.GFile(shard).read().splitlines()]
    by_reason = {q["reason"]: q for q in quarantined}
    assert len(quarantined) == counts["quarantined"]
    assert by_reason["missing_value"]["values"] == {"High": "''", "Low": "'3'"}
    assert by_reason["duplicate_date"]["position"] == f"{path}:27"
    # The row with a byte that is not UTF-8 is set aside whole, the byte named.
    assert by_reason["not_utf8"]["position"] == f"{path}:28"
    assert (
        by_reason["not_utf8"]["detail"] == "line 28: byte 0xff at byte 14 of the line is not UTF-8"
    )
    assert all(q["position"].startswith(str(path)) for q in quarantined)

    description = read_series_description(dated_ingested_dir)
    assert description["target"] == ["High", "Low"] and description["noise_std"] is None
    assert description["periods"]["eval"] == {
        "points": 3,
        "first": "2017-01-15",
        "last": "2017-01-17",
    }


def test_sine_source_is_split_by_time(sine_ingested_dir):
    counts = read_counts(sine_ingested_dir)
    assert counts["written"] == {"train": 280, "eval": 60, "test": 60}
    series = read_series(sine_ingested_dir)
    expected = [p[F.VALUE_KEY] for p in sine_points(TINY_SERIES)]
    np.testing.assert_allclose(series.values, expected, rtol=1e-6)  # Stored as float32.
    assert read_series_description(sine_ingested_dir)["noise_std"] == TINY_SERIES.sine_noise


def test_missing_columns_are_named_before_any_work(tmp_path, dated_csv):
    path = dated_csv[0]
    with pytest.raises(ConfigError, match=r"--target='Close,Adj' .*has no column 'Adj'"):
        check_csv_columns(str(path), f"csv:{path}", SeriesConfig(target="Close,Adj"))
    with pytest.raises(ConfigError, match=r"--date-field='Day' .*columns: Date, Open, High"):
        run_ingest(
            FORECAST,
            IngestConfig(source=f"csv:{path}"),
            str(tmp_path / "out"),
            series=SeriesConfig(date_field="Day"),
        )
    assert not (tmp_path / "out").exists()


def test_forecast_options_are_checked():
    assert Source.parse("sine:") == Source("sine", "")
    with pytest.raises(ConfigError, match="--source='sine:wave' is not allowed"):
        Source.parse("sine:wave")
    with pytest.raises(ConfigError, match="with --task forecast, KIND"):
        PipelineConfig(task=TaskConfig("forecast"))  # The default source is text.
    with pytest.raises(ConfigError, match="with --task sentiment, KIND"):
        PipelineConfig(ingest=IngestConfig(source="sine:"))
    with pytest.raises(ConfigError, match="--task='weather' is not allowed"):
        TaskConfig("weather")
    with pytest.raises(ConfigError, match="--series-eval-fraction=0.3 is not allowed"):
        SeriesConfig(series_train_fraction=0.7, series_eval_fraction=0.3)
    with pytest.raises(ConfigError, match="--target='High,,Low' is not allowed"):
        SeriesConfig(target="High,,Low")
    assert DATED_SERIES.target_columns == ("High", "Low")
