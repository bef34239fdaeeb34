"""`locust-mtls` subcommands: each one's --help shows its defaults, and the options
subcommand is wired."""

from __future__ import annotations

import argparse

import pytest

from locust_mtls.cli import COMMANDS, DefaultsShown, build_parser, main


def command_parser(name: str) -> argparse.ArgumentParser:
    """The parser `locust-mtls NAME` uses."""
    (commands,) = [
        a for a in build_parser(name)._actions if isinstance(a, argparse._SubParsersAction)
    ]
    return commands.choices[name]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_shows_every_default_there_is(name, capsys):
    with pytest.raises(SystemExit) as exited:
        main([name, "--help"])
    assert exited.value.code == 0
    assert f"usage: locust-mtls {name}" in capsys.readouterr().out
    parser = command_parser(name)
    for action in parser._actions:
        default = action.default
        if default in (None, False, "", [], argparse.SUPPRESS) or action.help is None:
            continue
        shown = parser._get_formatter()._expand_help(action)
        assert "default" in shown, f"locust-mtls {name} --help: {action.dest} hides {default!r}"


def test_a_help_that_names_its_default_is_left_as_written():
    parser = argparse.ArgumentParser(formatter_class=DefaultsShown)
    parser.add_argument("--dir", default="certs", help="output directory (default: certs)")
    parser.add_argument("--port", type=int, default=0, help="port")
    parser.add_argument("--force", action="store_true", help="start over")
    text = parser.format_help()
    assert text.count("default: certs") == 1
    assert "port (default: 0)" in text and "start over\n" in text
