"""Runs cannot mix: one run at a time holds an output folder, and a run knows its own folder."""

import os
import signal
import subprocess
import sys

import pytest

from components.common.config import ConfigError
from pipeline.cli import main
from pipeline.local import LOCK_FILE, output_dir_lock


def test_a_second_run_in_a_held_output_dir_exits_2_naming_the_holder(tmp_path, capsys):
    source = tmp_path / "reviews.csv"
    source.write_text("text,label,split\na fine film,1,train\na dull film,0,test\n")
    output = tmp_path / "out"
    output.mkdir()
    with output_dir_lock(str(output), "20260101-000000-abcdef"):
        status = main(["run", "--output-dir", str(output), "--source", f"csv:{source}"])
    assert status == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        f"lstm-pipeline: error: --output-dir={str(output)!r} is not allowed: it is in use by "
        f"run 20260101-000000-abcdef (pid {os.getpid()} on "
    )
    assert line.endswith("wait for that run to end or choose another --output-dir")
    assert not (output / "artifacts").exists()  # Nothing ran.


def test_the_lock_ends_with_its_process_however_it_ends(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pipeline.local import output_dir_lock\n"
            "with output_dir_lock(sys.argv[1], 'killed-run'):\n"
            "    print('held', flush=True); time.sleep(600)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline() == "held\n"
    with pytest.raises(ConfigError, match="it is in use by run killed-run"):
        with output_dir_lock(str(tmp_path), "second"):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with output_dir_lock(str(tmp_path), "after-the-kill"):
        assert "run after-the-kill" in (tmp_path / LOCK_FILE).read_text()
    assert (tmp_path / LOCK_FILE).read_text() == ""  # Released: no holder to name.
