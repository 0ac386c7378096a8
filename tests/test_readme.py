"""The README documents every command and option the CLI has, so the two cannot drift."""

import argparse
import re
from pathlib import Path

from components.common.config import task_defaults
from pipeline.cli import build_parser

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


OPTIONS_TABLE = "| option | default | meaning |\n|---|---|---|\n"
# The README's options tables in their order: the commands each documents (compile's cluster
# options are submit's too), and the task whose defaults it gives.
TABLES = [
    (("run",), "sentiment"),
    (("serve",), "sentiment"),
    (("run",), "forecast"),
    (("image build",), "sentiment"),
    (("compile", "submit"), "sentiment"),
    (("submit",), "sentiment"),
]
# How a default cell without a literal value says what the default is.
SPOKEN_DEFAULTS = {"on": True, "off": False}


def subcommands(task: str) -> dict[str, argparse.ArgumentParser]:
    """Each command's parser by its words: `run`, ..., and `image build` for nested ones."""
    parsers = {}
    for name, parser in (
        build_parser(task_defaults(task))._subparsers._group_actions[0].choices.items()
    ):
        parsers[name] = parser
        if parser._subparsers:
            for sub, subparser in parser._subparsers._group_actions[0].choices.items():
                parsers[f"{name} {sub}"] = subparser
    return parsers


def options_tables() -> list[dict[str, str]]:
    """Each options table of the README as {option: default cell}, `--a` / `--no-a` as `--a`."""
    tables = []
    for block in README.split(OPTIONS_TABLE)[1:]:
        rows = {}
        for line in block.split("\n\n")[0].splitlines():
            option_cell, default_cell = [cell.strip() for cell in line.strip("|").split("|")][:2]
            option = re.match(r"`(--[\w-]+)", option_cell).group(1)
            rows[option] = default_cell
        tables.append(rows)
    return tables


def documented_default(cell: str):
    """The value a default cell states: a literal in backticks, on/off, or (described) empty."""
    literal = re.fullmatch(r"`([^`]*)`( with .*)?", cell)
    if literal:
        return literal.group(1)
    return SPOKEN_DEFAULTS.get(cell, "(empty)")


def assert_documented_default(action: argparse.Action, cell: str, where: tuple) -> None:
    stated = documented_default(cell)
    if action.required:
        assert cell == "(required)", where
    elif stated == "(empty)":
        assert not action.default, (*where, action.default)
    elif isinstance(action.default, bool):
        assert stated is action.default, where
    elif isinstance(action.default, int | float):
        assert type(action.default)(stated) == action.default, (*where, action.default)
    else:
        assert stated == action.default, (*where, action.default)


def test_every_option_is_in_its_commands_table_with_the_real_default():
    tables = options_tables()
    assert len(tables) == len(TABLES)
    documented = {}
    for (documented_commands, task), rows in zip(TABLES, tables, strict=True):
        for command in documented_commands:
            parser = subcommands(task)[command]
            actions = {a.option_strings[0]: a for a in parser._actions if a.option_strings}
            for option, cell in rows.items():
                documented.setdefault(command, set()).add(option)
                assert_documented_default(actions[option], cell, (command, task, option))
    for command, options in documented.items():
        parser = subcommands("sentiment")[command]
        undocumented = {a.option_strings[0] for a in parser._actions if a.option_strings}
        undocumented -= options | {"-h"} | set(heading_options(command))
        assert not undocumented, (command, undocumented)


def heading_options(command: str) -> list[str]:
    """The options the command's heading shows, as in `lstm-pipeline runs [--output-dir DIR]`."""
    heading = re.search(rf"### `lstm-pipeline {command} ([^`]*)`", README)
    return re.findall(r"--[\w-]+", heading.group(1)) if heading else []


def test_the_commands_without_a_table_show_their_options_in_their_heading():
    for command in ("runs", "predict"):
        parser = subcommands("sentiment")[command]
        shown = {a.option_strings[0] for a in parser._actions if a.option_strings} - {"-h"}
        assert shown and set(heading_options(command)) == shown, command


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
