"""Every option is checked before any work: values a later step would reject exit 2, one line."""

import pytest

from components.common.config import SEED_LIMIT, PipelineConfig
from pipeline.cli import main


def reviews_csv(folder) -> str:
    path = folder / "reviews.csv"
    path.write_text("text,label,split\na fine film,1,train\na dull film,0,test\n")
    return str(path)


# Each of these once passed validation and failed minutes later in a step, or was accepted.
@pytest.mark.parametrize(
    "args, message",
    [
        (["--seed", "-1"], "--seed=-1 is not allowed: 0 <= x <= 2**32 - 1"),
        (["--seed", str(SEED_LIMIT + 1)], "--seed=4294967296 is not allowed: 0 <= x <= 2**32"),
        (["--learning-rate", "inf"], "--learning-rate=inf is not allowed: a finite number"),
        (["--learning-rate", "nan"], "--learning-rate=nan is not allowed: a finite number"),
        (["--vocab-size", str(10**30)], f"--vocab-size={10**30} is not allowed: at most 2**31"),
        (["--epochs", str(2**31)], "--epochs=2147483648 is not allowed: at most 2**31 - 1"),
        (["--max-rmse-ratio", "inf"], "--max-rmse-ratio=inf is not allowed: a finite number"),
        (["--task", "forecast", "--sine-amplitude", "nan"], "--sine-amplitude=nan is not allowed"),
        (["--task", "forecast", "--sine-seed", "-1"], "--sine-seed=-1 is not allowed: 0 <= x"),
        (["--task", "forecast", "--sine-period", "inf"], "--sine-period=inf is not allowed"),
        (["--task", "forecast", "--sine-noise", "inf"], "--sine-noise=inf is not allowed"),
        (["--export-dir", "/proc/no-such-place"], "--export-dir='/proc/no-such-place' is not al"),
    ],
)
def test_a_value_a_later_step_would_reject_exits_2_before_any_work(tmp_path, capsys, args, message):
    output = tmp_path / "out"
    source = [] if "forecast" in args else ["--source", f"csv:{reviews_csv(tmp_path)}"]
    assert main(["run", "--output-dir", str(output), *source, *args]) == 2
    error_lines = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and message in error_lines[0], error_lines
    assert not (output / "artifacts").exists()  # Nothing ran.


def test_an_export_dir_that_is_a_file_exits_2(tmp_path, capsys):
    a_file = tmp_path / "serving"
    a_file.write_text("not a folder")
    argv = [
        "run",
        "--output-dir",
        str(tmp_path / "out"),
        "--source",
        f"csv:{reviews_csv(tmp_path)}",
    ]
    assert main([*argv, "--export-dir", str(a_file)]) == 2
    assert f"--export-dir={str(a_file)!r} is not allowed: cannot write there" in (
        capsys.readouterr().err
    )


def test_the_defaults_pass_the_number_checks():
    PipelineConfig()  # Raises ConfigError if a default broke its own rule.
