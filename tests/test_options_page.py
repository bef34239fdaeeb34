"""The options reference: docs/options.md and `locust-mtls options` come from the one option
table (config/options.py OPTIONS), so neither can miss an option or show a stale default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from locust_mtls.config.options import OPTIONS, env_var
from locust_mtls.config.options_page import REGENERATE, markdown_page, option_rows, terminal_text

PAGE = Path(__file__).resolve().parent.parent / "docs" / "options.md"


def test_the_options_page_is_generated_from_the_option_table():
    assert PAGE.read_text() == markdown_page(), f"docs/options.md is stale: run `{REGENERATE}`"


def test_every_option_has_one_row_with_its_env_var_key_and_default():
    rows = {row.name: row for row in option_rows()}
    assert list(rows) == [name for name, *_ in OPTIONS]
    page = markdown_page()
    for name, default, _help, _extra in OPTIONS:
        row = rows[name]
        assert (row.env_var, row.conf_key) == (env_var(name), name[2:])
        assert f"| `{name}` |" in page and f"`{env_var(name)}`" in page
        if isinstance(default, str) and default:
            assert row.default == default


def test_user_class_attributes_and_choices_are_named():
    rows = {row.name: row for row in option_rows()}
    assert "class attribute: strategy" in rows["--mtls-strategy"].notes
    assert "values: on, off" in rows["--mtls-keepalive"].notes
    assert "repeatable" in rows["--mtls-threshold"].notes
    assert "%%" not in markdown_page()  # argparse's escape is undone


def test_locust_mtls_options_prints_every_option_in_the_terminal():
    done = subprocess.run(
        [sys.executable, "-m", "locust_mtls.cli", "options"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "100"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == terminal_text(100)
    for name, *_ in OPTIONS:
        assert f"\n{name}  (default: " in done.stdout
    assert "LOCUST_MTLS_NO_CERT_FRACTION" in done.stdout
