"""Every `--mtls-*` option, from the one table (options.OPTIONS): the docs page
docs/options.md and `locust-mtls options` in a terminal.

`locust --help` cannot list these options: Locust prints its help before it loads the
locustfile, and with it the plugin. tests/test_options_page.py fails when the page is
stale; `locust-mtls options --markdown > docs/options.md` rewrites it.
"""

from __future__ import annotations

import argparse
import shutil
import textwrap
from dataclasses import dataclass

from locust_mtls.config.options import OPTIONS, env_var
from locust_mtls.config.user_settings import ATTRIBUTES

REGENERATE = "locust-mtls options --markdown > docs/options.md"
NOT_SET = "not set"

INTRO = f"""\
# Options

<!-- generated from locust_mtls/config/options.py by `{REGENERATE}`: do not edit -->

`locust --help` does not list these options: Locust prints its help before it loads the
plugin. `locust-mtls options` prints this page in a terminal.

Give each option in one of four places; the first one found wins: the command line, the
environment variable, `locust.conf`, the default. A user class attribute of the same name
(`strategy = "shared-context"`) wins over all four for that class. Options marked
*web UI* are also fields of Locust's start form, under *Custom parameters*.

```ini
# locust.conf
locustfile = locustfiles/mtls.py
headless = true
users = 20
spawn-rate = 10
run-time = 1m
mtls-strategy = identity-cache
mtls-keepalive = off
mtls-summary-file = mtls-summary.json
mtls-threshold = [bleed<=0, rps>=400]
```

A repeatable option takes a list in `locust.conf` and in the environment
(`LOCUST_MTLS_THRESHOLD='[bleed<=0, rps>=400]'`). A bad value stops Locust at start with
one line and exit code 2 ([Troubleshooting](troubleshooting.md#bad-input)).
"""


@dataclass(frozen=True)
class OptionRow:
    """One option as the page and the terminal show it."""

    name: str
    env_var: str
    conf_key: str
    default: str
    help: str
    notes: tuple[str, ...]  # values, class attribute, web UI, repeatable


def option_rows() -> list[OptionRow]:
    """The rows of OPTIONS, in its order."""
    rows = []
    for name, default, help_text, extra in OPTIONS:
        notes = []
        if "choices" in extra:
            notes.append("values: " + ", ".join(extra["choices"]))
        if extra.get("action") == "append":
            notes.append("repeatable")
        if extra.get("action") == "store_true":
            notes.append("a flag: give it without a value")
        attribute = name.removeprefix("--mtls-").replace("-", "_")
        if attribute in ATTRIBUTES:
            notes.append(f"class attribute: {attribute}")
        if extra.get("include_in_web_ui", True):
            notes.append("web UI")
        rows.append(
            OptionRow(
                name=name,
                env_var=env_var(name),
                conf_key=name.lstrip("-"),
                default=_shown_default(default, extra),
                help=help_text.replace("%%", "%"),  # argparse's escape of a literal %
                notes=tuple(notes),
            )
        )
    return rows


def _shown_default(default, extra: dict) -> str:
    if extra.get("action") == "store_true":
        return "off"
    if default in ("", [], None):
        return NOT_SET
    return str(default)


def _code(text: str) -> str:
    return f"`{text}`"


def markdown_page() -> str:
    """docs/options.md, whole."""
    lines = [
        INTRO,
        "| option | default | environment variable | `locust.conf` key | what it does |",
        "|---|---|---|---|---|",
    ]
    for row in option_rows():
        default = row.default if row.default == NOT_SET else _code(row.default)
        notes = "".join(f"<br>*{note}*" for note in row.notes)
        what = row.help.replace("|", "\\|")
        lines.append(
            f"| {_code(row.name)} | {default} | {_code(row.env_var)} | {_code(row.conf_key)} "
            f"| {what}{notes} |"
        )
    return "\n".join(lines) + "\n"


def terminal_text(width: int = 100) -> str:
    """The same rows for a terminal: name and default, then the help, indented."""
    wrap = textwrap.TextWrapper(
        width=width,
        initial_indent="    ",
        subsequent_indent="    ",
        break_long_words=False,
        break_on_hyphens=False,
    )
    blocks = [
        "Options of every locust-mtls user class, for `locust` (not in `locust --help`).\n"
        "First found wins: command line, environment, locust.conf, default; a user class\n"
        "attribute of the same name wins for its class.",
    ]
    for row in option_rows():
        lines = [f"{row.name}  (default: {row.default})", wrap.fill(row.help)]
        lines.append(wrap.fill(f"env {row.env_var} · locust.conf {row.conf_key}"))
        lines += [wrap.fill("; ".join(row.notes))] if row.notes else []
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `locust-mtls options`."""
    parser.add_argument(
        "--markdown", action="store_true", help="print docs/options.md (the same table)"
    )


def run(args: argparse.Namespace) -> int:
    """`locust-mtls options`: print every option."""
    width = min(shutil.get_terminal_size((100, 24)).columns, 100)
    print(markdown_page() if args.markdown else terminal_text(width), end="")
    return 0
