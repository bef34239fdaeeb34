"""`locust-mtls` command line: certs, serve, matrix, report, audit, options.

Each sub-command lives in its own module, which exposes `add_arguments(parser)` and
`run(args) -> int`; this file only wires them and turns ConfigError into one line.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from locust_mtls.errors import ConfigError

# sub-command -> (module, one-line help)
COMMANDS = {
    "certs": ("locust_mtls.tls.pki", "generate a private CA, a server cert and client identities"),
    "serve": (
        "locust_mtls.server.echo",
        "run the mTLS echo server that reports client certificates",
    ),
    "matrix": (
        "locust_mtls.matrix.runner",
        "compare strategies x requests versions in isolated environments",
    ),
    "report": (
        "locust_mtls.matrix.report",
        "rebuild summary.md and report.html from results.jsonl",
    ),
    "audit": (
        "locust_mtls.locust.audit",
        "run your locustfile unchanged and check every request's client certificate",
    ),
    "options": (
        "locust_mtls.config.options_page",
        "list every --mtls-* option Locust takes (locust --help cannot): defaults, "
        "environment variables, locust.conf keys",
    ),
}


class DefaultsShown(argparse.HelpFormatter):
    """Each option's help ends with its default, unless the help names it already or
    there is none to show (a flag, an empty value)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = action.option_strings or action.nargs == argparse.OPTIONAL
        nothing = action.default is None or action.default is False or action.default in ("", [])
        if not shown or nothing or "default" in text or action.default is argparse.SUPPRESS:
            return text
        return f"{text} (default: %(default)s)"


def build_parser(chosen: str | None) -> argparse.ArgumentParser:
    """The `locust-mtls` parser, with the arguments of the `chosen` command only."""
    parser = argparse.ArgumentParser(prog="locust-mtls", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(
            name, help=help_text, description=help_text, formatter_class=DefaultsShown
        )
        command_parser.set_defaults(module_name=module_name)
        # Only the chosen command's module is imported: `certs` must not pay for (or
        # break on) what `matrix` imports.
        if name == chosen:
            importlib.import_module(module_name).add_arguments(command_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    parser = build_parser(next((word for word in words if not word.startswith("-")), None))
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "pass_through", False):  # only audit hands options on
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return importlib.import_module(args.module_name).run(args) or 0
    except ConfigError as error:
        print(f"locust-mtls {args.command}: error: {error}", file=sys.stderr)
        return ConfigError.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `locust-mtls certs | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
