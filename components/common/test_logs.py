"""A step process starts TensorFlow without GPU probing noise and still passes other output on."""

import os
import subprocess
import sys

import pytest

PROBING = ("Could not find cuda drivers", "failed call to cuInit", "absl::InitializeLog")


ONEDNN_NOTICE = "oneDNN custom operations are on"


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Runs `code` with this environment less any TF_CPP_MIN_LOG_LEVEL of the caller's."""
    inherited = {
        name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**inherited, **env},
    )


def test_tensorflow_starts_without_probing_lines_and_other_stderr_passes():
    quiet = run_python(
        "import os, sys\n"
        "from components.common import logs\n"
        "logs.start_tensorflow_quietly()\n"
        "import tensorflow as tf\n"
        "print(len(tf.config.list_physical_devices('CPU')), 'cpu')\n"
        "print('still mine', file=sys.stderr)\n"
    )
    assert quiet.stdout.strip() == "1 cpu"
    assert "still mine" in quiet.stderr
    assert not [line for line in quiet.stderr.splitlines() if any(p in line for p in PROBING)]
    assert ONEDNN_NOTICE not in quiet.stderr


def test_a_lower_tensorflow_log_level_shows_the_start_up_notices():
    shown = run_python(
        "from components.common import logs\nlogs.start_tensorflow_quietly()\n",
        TF_CPP_MIN_LOG_LEVEL="0",
    )
    assert ONEDNN_NOTICE in shown.stderr


@pytest.mark.skipif(os.path.exists("/proc/driver/nvidia/version"), reason="a GPU machine")
def test_the_probing_lines_are_there_without_it():
    # Guards the test above: on a CPU machine plain TensorFlow does print them.
    plain = run_python("import tensorflow as tf\ntf.config.list_physical_devices()\n")
    assert any(p in plain.stderr for p in PROBING)
    assert ONEDNN_NOTICE in plain.stderr
