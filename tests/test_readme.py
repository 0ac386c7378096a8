"""The README documents every command and option the CLI has, so the two cannot drift."""

from pathlib import Path

from pipeline.cli import build_parser

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_option_of_every_command_is_in_the_readme():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, command in commands.items():
        assert f"lstm-pipeline {name}" in README
        for action in command._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}" in README or f"{option} " in README, (name, option)


def test_readme_test_command_is_what_ci_runs():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "python -m pytest components tests" in README
    assert "python -m pytest components tests" in ci


def test_help_lists_allowed_values_not_the_names_of_constants(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    run_help, compile_help = commands["run"].format_help(), commands["compile"].format_help()
    assert "lstm, bilstm, stacked-bilstm, gru" in " ".join(run_help.split())
    assert "/data/tfds" in compile_help
    for constant in ("MODEL_TYPES", "TASK_DEFAULTS", "TFDS_CACHE_PATH", "POOLING_MODES"):
        assert constant not in run_help + compile_help + parser.format_help(), constant
