"""Cached virtualenvs for the matrix: one per (Python, requests version[, Locust version]),
and one per (Python, client, version) for every other client library (issue 30).

locust 2.47 declares requests>=2.33.1 (2.42 declares <2.32.5), so an env gets locust and the
other dependencies first and then `requests==X` installed over them with --no-deps; `check`
says beforehand, from the wheels' metadata (one `pip download --no-deps` each, seconds),
which pairs cannot be built at all and labels the rest (yanked, outside the declared range).
This package is made importable by a .pth file naming a directory that holds only a link to
it, rewritten at every use, so a cached env follows a checkout wherever it is cloned, or an
installed wheel, and never sees the other packages installed beside it.

A client's env holds Locust and the client at its version, nothing else of ours: niquests
brings urllib3-future, which installs over `urllib3` (its wheel ships a `urllib3` package
and a .pth that copies it back at every start), so in that env requests and Locust run on
urllib3-future; no requests cell ever runs there.
"""

from __future__ import annotations

import fcntl
import functools
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import Parser
from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from locust_mtls.errors import ConfigError
from locust_mtls.strategies import LIBRARIES

CLIENTS = tuple(name for name in LIBRARIES if name != "requests")  # an env of their own

PACKAGE = Path(__file__).resolve().parent.parent  # the locust_mtls directory
DEFAULT_ENV_DIR = Path.home() / ".cache" / "locust-mtls" / "envs"
OTHER_PACKAGES = ("trustme", "gevent", "cryptography", "certifi")
INSTALL_TIMEOUT_S = 900
CHECK_TIMEOUT_S = 60  # one `pip download --no-deps` of one wheel
# Package versions an env reports (`None`: not installed): ours, then the clients'.
PACKAGES = ("requests", "urllib3", "locust", "gevent", *CLIENTS, "urllib3-future", "httpcore")
# Versions from package metadata, plus the urllib3 that `import urllib3` gives: in a
# niquests env that is urllib3-future's, whatever urllib3's metadata says. Locust is not
# imported (it monkey-patches ssl at import).
PROBE = """
import json, platform, ssl, sys, sysconfig
from importlib.metadata import version, PackageNotFoundError
def installed(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return None
facts = {name: installed(name) for name in json.loads(sys.argv[1])}
try:
    import urllib3
    facts["urllib3"] = urllib3.__version__
except ImportError:
    pass
facts.update(python=platform.python_version(), openssl=ssl.OPENSSL_VERSION,
             purelib=sysconfig.get_paths()["purelib"])
print(json.dumps(facts))
"""


@dataclass(frozen=True)
class Env:
    """A ready virtualenv: its interpreter and the exact versions it holds."""

    python: str  # the env's interpreter
    facts: dict  # requests, urllib3, locust, gevent, python, openssl
    labels: tuple[str, ...] = ()  # from PairCheck: "requests 2.32.0 yanked", ...
    requests_range: str = ""  # the requests versions its Locust declares (PairCheck)


@dataclass(frozen=True)
class PairCheck:
    """Can an env hold this Locust and this requests? Why not, or what to label it with."""

    locust: str
    requests: str
    problem: str = ""  # empty: buildable
    labels: tuple[str, ...] = ()
    requests_range: str = ""  # what the env's Locust declares, e.g. ">=2.33.1"; "": unknown


def resolve_python(spec: str) -> tuple[str, str]:
    """'3.12' or a path -> (interpreter, 'X.Y'); ConfigError when nothing found runs."""
    if os.sep in spec:
        candidates = [spec]
    else:
        pyenv = os.path.expanduser(f"~/.pyenv/versions/{spec}*/bin/python{spec}")
        candidates = [shutil.which(f"python{spec}"), *sorted(glob.glob(pyenv))]
    for candidate in filter(None, candidates):
        try:
            done = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return candidate, done.stdout.strip()
    raise ConfigError(
        f"--python {spec}: no working interpreter found (tried python{spec} on PATH and "
        "~/.pyenv/versions); pass the interpreter's path"
    )


def current_python() -> tuple[str, str]:
    """The interpreter running the matrix, as (path, 'X.Y')."""
    return sys.executable, f"{sys.version_info[0]}.{sys.version_info[1]}"


class Environments:
    """The env cache directory; `ensure` builds an env once and reuses it while valid."""

    def __init__(self, env_dir: str | Path = DEFAULT_ENV_DIR, package: Path = PACKAGE):
        self.env_dir = Path(env_dir).expanduser().resolve()  # cells run in another cwd
        self.package = package

    def ensure(
        self,
        interpreter: str,
        python_label: str,
        requests_version: str,
        locust_version: str = "",
        on_step: Callable[[str], None] | None = None,
        client: str = "requests",
        client_version: str = "",
    ) -> Env:
        """The env for this Python and requests (and Locust) version, built if missing or
        broken; no Locust version: the runner's own Locust. For another `client`: the env
        of that client at `client_version` (requests_version ""), with the runner's Locust.

        `on_step(text)` hears each build step ("pip install locust==2.47.0 ...") as it starts.
        """
        name = env_name(python_label, requests_version, locust_version, client, client_version)
        measured, wanted = (client, client_version) if client != "requests" else (
            "requests", requests_version)  # fmt: skip
        path = self.env_dir / name
        try:
            self.env_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"--env-dir {self.env_dir}: {error.strerror}") from None
        with open(self.env_dir / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two matrix runs must not build one env at once
            facts = probe(path)
            wanted_locust = locust_version or (facts or {}).get("locust")
            if (
                not facts
                or facts.get(measured) != wanted
                or not facts["locust"]
                or facts["locust"] != wanted_locust
            ):
                shutil.rmtree(path, ignore_errors=True)
                log = self.env_dir / f"{name}.log"
                extras = LIBRARIES[measured].extras if measured in LIBRARIES else ""
                pin = f"{measured}{extras}=={wanted}"
                self._build(interpreter, path, pin, log, locust_version, on_step)
                facts = probe(path)
                if not facts or facts.get(measured) != wanted:
                    raise ConfigError(f"{path} was built but holds no {measured} {wanted}")
            Path(facts.pop("purelib"), "locust_mtls_repo.pth").write_text(f"{self._link(path)}\n")
        facts = {key: value for key, value in facts.items() if value is not None}
        return Env(python=str(path / "bin" / "python"), facts=facts)

    def _link(self, env_path: Path) -> Path:
        """A directory in the env holding only `locust_mtls` -> this package."""
        directory = env_path / "locust_mtls_source"
        directory.mkdir(exist_ok=True)
        link = directory / "locust_mtls"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(self.package, target_is_directory=True)
        return directory

    def check(self, python_label: str, locust_version: str, requests_version: str) -> PairCheck:
        """Whether pip can install this pair for this Python, from the two wheels' metadata
        (Requires-Python, Locust's declared requests range, requests' yanked flag)."""
        requests_meta = wheel_metadata("requests", requests_version)
        if requests_meta.get("problem"):
            return PairCheck(locust_version, requests_version, requests_meta["problem"])
        labels = [f"requests {requests_version} yanked"] if requests_meta.get("yanked") else []
        if locust_version:
            locust_meta = wheel_metadata("locust", locust_version)
            if locust_meta.get("problem"):
                return PairCheck(locust_version, requests_version, locust_meta["problem"])
            supported = SpecifierSet(locust_meta.get("requires_python") or "")
            if not supported.contains(f"{python_label}.99"):
                return PairCheck(
                    locust_version, requests_version,
                    f"locust {locust_version} requires Python {supported}, not {python_label}",
                )  # fmt: skip
            env_locust, declared = locust_version, locust_meta.get("requests_range") or ""
        else:  # the env gets the runner's own Locust (_build)
            env_locust, declared = runner_locust()
        if declared and not SpecifierSet(declared).contains(requests_version, prereleases=True):
            labels.append(f"outside locust {env_locust}'s requests{declared} (--no-deps)")
        return PairCheck(locust_version, requests_version, "", tuple(labels), declared)

    def check_client(self, python_label: str, client: str, client_version: str) -> PairCheck:
        """Whether pip can install `client==client_version` for this Python, from its
        wheel's metadata (no such release, Requires-Python)."""
        meta = wheel_metadata(client, client_version)
        problem = meta.get("problem") or ""
        supported = SpecifierSet(meta.get("requires_python") or "")
        if not problem and not supported.contains(f"{python_label}.99"):
            problem = f"{client} {client_version} requires Python {supported}, not {python_label}"
        labels = (f"{client} {client_version} yanked",) if meta.get("yanked") else ()
        return PairCheck("", "", problem, labels)

    def _build(
        self,
        interpreter: str,
        path: Path,
        pin: str,
        log: Path,
        locust_version: str = "",
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        """Locust and our dependencies, then `pin`: requests==X over them with --no-deps
        (Locust declares a range), or another client==X with its own dependencies."""
        python = str(path / "bin" / "python")
        try:  # the same locust as the runner's, so envs differ only in requests
            locust_pin = f"locust=={locust_version or version('locust')}"
        except PackageNotFoundError:
            locust_pin = "locust"
        dependencies = [locust_pin, *OTHER_PACKAGES]
        last = ["--no-deps", pin] if pin.startswith("requests==") else [pin]
        uv = shutil.which("uv")
        if uv:
            steps = [
                [uv, "venv", "--python", interpreter, str(path)],
                [uv, "pip", "install", "--python", python, *dependencies],
                [uv, "pip", "install", "--python", python, *last],
            ]
        else:
            steps = [
                [interpreter, "-m", "venv", str(path)],
                [python, "-m", "pip", "install", *dependencies],
                [python, "-m", "pip", "install", *last],
            ]
        if on_step is None:
            print(f"building {path} (log: {log})", file=sys.stderr)
        log.write_text("")
        for number, step in enumerate(steps, 1):
            if on_step is not None:
                what = ("create the virtualenv", f"install {' '.join(dependencies)}",
                        f"install {pin} over them")[number - 1]  # fmt: skip
                on_step(f"step {number}/{len(steps)}: {what} (log: {log})")
            with open(log, "ab") as output:
                output.write(f"$ {' '.join(step)}\n".encode())
                output.flush()
                try:
                    done = subprocess.run(
                        step, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                        timeout=INSTALL_TIMEOUT_S,
                    )  # fmt: skip
                    failed = done.returncode != 0
                except subprocess.TimeoutExpired:
                    failed = True
            if failed:
                shutil.rmtree(path, ignore_errors=True)
                raise ConfigError(
                    f"could not build the env for {pin}: `{' '.join(step[-2:])}` failed; see {log}"
                )


def env_name(
    python_label: str, requests_version: str, locust_version: str, client: str, client_version: str
) -> str:
    """'py3.11-requests-2.32.3', 'py3.11-locust-2.42.0-requests-2.34.2',
    'py3.11-httpx-http2-0.28.1' (a client's extras in its name: an env without them is
    another env)."""
    if client != "requests":
        extras = (
            LIBRARIES[client].extras.strip("[]").replace(",", "-") if client in LIBRARIES else ""
        )
        return f"py{python_label}-{client}{'-' + extras if extras else ''}-{client_version}"
    locust_part = f"-locust-{locust_version}" if locust_version else ""
    return f"py{python_label}{locust_part}-requests-{requests_version}"


@functools.cache
def wheel_metadata(name: str, wanted: str) -> dict:
    """{requires_python, requests_range, yanked} of `name==wanted`'s wheel, or {problem}:
    one `pip download --no-deps` (cached by pip), read without installing anything."""
    with tempfile.TemporaryDirectory() as directory:
        try:
            done = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                 "--ignore-requires-python", "-d", directory, f"{name}=={wanted}"],
                capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return {"problem": f"pip download {name}=={wanted} took over {CHECK_TIMEOUT_S} s"}
        wheels = list(Path(directory).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            return {"problem": f"pip cannot find {name}=={wanted} (no such release or wheel)"}
        with zipfile.ZipFile(wheels[0]) as wheel:
            meta_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            metadata = Parser().parsestr(wheel.read(meta_name).decode(errors="replace"))
    return {
        "requires_python": metadata.get("Requires-Python") or "",
        "requests_range": requests_range(metadata.get_all("Requires-Dist") or []),
        "yanked": "yanked version" in done.stderr,
    }


def runner_locust() -> tuple[str, str]:
    """(version, declared requests range) of the Locust running the matrix, from its
    installed metadata; ("", "") without one."""
    try:
        return version("locust"), requests_range(requires("locust") or [])
    except PackageNotFoundError:
        return "", ""


def requests_range(requirements: list[str]) -> str:
    """The requests range among a package's Requires-Dist lines (">=2.33.1"), or ""."""
    parsed = [Requirement(text) for text in requirements]
    return next((str(r.specifier) for r in parsed if r.name == "requests" and not r.marker), "")


def probe(path: Path) -> dict | None:
    """Versions inside the env at `path` (one interpreter start), None if it does not run."""
    python = path / "bin" / "python"
    if not python.exists():
        return None
    try:
        done = subprocess.run(
            [str(python), "-I", "-c", PROBE, json.dumps(PACKAGES)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
