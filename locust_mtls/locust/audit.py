"""`locust-mtls audit -f THEIR_LOCUSTFILE.py [any locust options]`: their locustfile, unchanged,
run by Locust with audit_plugin.py loaded after it (and audit_first.py before it), so every
request of their HttpUser and FastHttpUser classes is checked against the identity the
target reports.

This module does not import Locust (the command runs Locust in a child process, so the
`locust-mtls` process is never monkey-patched); the exit status is Locust's: 1 when the
mTLS gate failed (bleed, wrong identity, crash), 2 for bad input.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from locust_mtls.config.options import options_given
from locust_mtls.errors import ConfigError

PLUGIN = Path(__file__).resolve().parent / "audit_plugin.py"
FIRST = Path(__file__).resolve().parent / "audit_first.py"  # before theirs: see its docstring
# Options that set how our own user classes send; an audited user's own client ignores them.
IGNORED = (
    "--mtls-strategy",
    "--mtls-concurrency",
    "--mtls-keepalive",
    "--mtls-no-cert-fraction",
    "--mtls-no-cert-split",
    "--mtls-tls-version",
    "--mtls-ciphers",
    "--mtls-resumption",
)


def ignored_options_line(options) -> str | None:
    """One line naming the IGNORED options given a value other than their default."""
    given = options_given(options, IGNORED)
    if not given:
        return None
    return (
        f"locust-mtls audit: ignored {', '.join(given)}: these set how locust-mtls's own user "
        "classes send; your users' own clients send as your locustfile says"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--locustfile",
        required=True,
        metavar="FILE[,FILE]",
        help="your locustfile(s), run unchanged; every other option goes to Locust as is "
        "(--host, --headless, -u, -t, --mtls-*, ...); no --host: the embedded echo server",
    )
    parser.set_defaults(pass_through=True)  # cli.py hands the unknown options over


def locust_argv(locustfiles: str, locust_options: list[str]) -> list[str]:
    """The Locust command line: their files between audit_first.py and the audit plugin."""
    for name in locustfiles.split(","):
        if name.strip().endswith(".py") and not Path(name.strip()).is_file():
            raise ConfigError(f"-f {name}: no such locustfile; give the path of your locustfile")
    files = ",".join([str(FIRST), *(n.strip() for n in locustfiles.split(",")), str(PLUGIN)])
    return [sys.executable, "-m", "locust", "-f", files, *locust_options]


def run(args: argparse.Namespace) -> int:
    argv = locust_argv(args.locustfile, list(getattr(args, "extra", [])))
    process = subprocess.Popen(argv)
    try:
        return process.wait()
    except KeyboardInterrupt:  # Locust got the same Ctrl-C: let it write its summary
        process.wait()
        return 130
