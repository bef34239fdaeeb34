"""Keys that were password-protected (or in a PKCS#12 file), kept where they cannot outlive
the process that decrypted them.

Such a key is re-encrypted once with a random password that exists only in this
process's memory (and, through a pipe, in the thread engine's) and kept, with its chain,
in an anonymous memory file (memfd_create(2)): it never has a name on disk and vanishes
with the last process holding it, even after SIGKILL or an OOM kill. Contexts load it with
that password (`load_cert_chain(password=)`); only requests' `cert=`, which cannot take a
password, gets an unencrypted copy, in another memory file, the first time it asks.

Paths are `/proc/self/fd/N`: a child given the same descriptors (`pass_fds`, which keeps
their numbers) opens the same files by the same paths. Without memfd_create (not Linux),
the files go to a private 0700 directory named after the owner's pid, removed at exit and,
after a crash, by the next process that finds its owner gone.

A process holding keys is made undumpable (`forbid_core_dumps`): a core file would hold
them decrypted. The key password a user put in the environment is scrubbed from the
process's environment block (`scrub_secret_environment`), which /proc/PID/environ shows
for the life of the process and which a fork copies.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import re
import resource
import secrets
import shutil
import tempfile
import threading

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from locust_mtls.processes import PR_SET_DUMPABLE, prctl
from locust_mtls.settings import SECRET_ENV_VARS

_lock = threading.Lock()
_password = secrets.token_hex(32).encode()  # never written anywhere, never logged
_kept: dict[str, str] = {}  # "name\0fingerprint" -> encrypted memory file
_plain_copies: dict[str, str] = {}  # encrypted memory file -> unencrypted one
_descriptors: list[int] = []
_fallback_dir: str | None = None
FALLBACK_PREFIX = "locust-mtls-keys-"
# Fields 50 and 51 of /proc/PID/stat (proc(5)): where the environment block lies, counted
# from the first field after the command name's closing ")" (field 3).
ENV_START_FIELD, ENV_END_FIELD = 50 - 3, 51 - 3


def password() -> bytes:
    """The password of every key this module keeps (for `load_cert_chain(password=)`)."""
    return _password


def adopt_password(value: str) -> None:
    """In a child given this module's descriptors: use the parent's password."""
    global _password
    _password = value.encode()


def inheritable_descriptors() -> list[int]:
    """The descriptors a child needs (`pass_fds`) to open the paths this module gave out."""
    with _lock:
        return list(_descriptors)


def keep(name: str, certs: list[x509.Certificate], private_key, fingerprint: str) -> str:
    """A memory file holding `certs` (leaf first) and `private_key` encrypted with
    `password()`: usable as both certfile and keyfile of `load_cert_chain`."""
    with _lock:
        cache_key = f"{name}\0{fingerprint}"
        if cache_key not in _kept:
            key_pem = private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(_password),
            )
            label = re.sub(r"[^\w.-]", "_", name) + "-" + fingerprint[:16]
            _kept[cache_key] = _memory_file(label, _chain_pem(certs) + key_pem)
        return _kept[cache_key]


def plain_copy(kept_file: str) -> str:
    """An unencrypted memory copy of a kept file, for requests' `cert=` (made once)."""
    with _lock:
        if kept_file not in _plain_copies:
            with open(kept_file, "rb") as file:
                data = file.read()
            certs = x509.load_pem_x509_certificates(data)
            private_key = serialization.load_pem_private_key(
                data, _password, unsafe_skip_rsa_key_validation=True
            )
            key_pem = private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            label = os.path.basename(kept_file) + "-plain"
            _plain_copies[kept_file] = _memory_file(label, _chain_pem(certs) + key_pem)
        return _plain_copies[kept_file]


def _chain_pem(certs: list[x509.Certificate]) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


def _memory_file(label: str, data: bytes) -> str:
    if hasattr(os, "memfd_create"):
        descriptor = os.memfd_create(f"locust-mtls-{label}")  # close-on-exec: pass_fds only
        os.write(descriptor, data)
        _descriptors.append(descriptor)
        return f"/proc/self/fd/{descriptor}"
    path = os.path.join(_private_dir(), label + ".pem")
    # Created 0600 from the start: the key is never readable by others, not even briefly.
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
        file.write(data)
    return path


def _private_dir() -> str:
    global _fallback_dir
    if _fallback_dir is None:
        remove_orphaned_dirs()
        prefix = f"{FALLBACK_PREFIX}{os.getpid()}-"
        _fallback_dir = tempfile.mkdtemp(prefix=prefix)  # mkdtemp makes it 0700
        atexit.register(_remove_dir, _fallback_dir, os.getpid())
    return _fallback_dir


def remove_orphaned_dirs(root: str | None = None) -> list[str]:
    """Remove the fallback directories whose owner process is gone (it crashed)."""
    root = root or tempfile.gettempdir()
    removed = []
    for entry in os.listdir(root):
        match = re.fullmatch(re.escape(FALLBACK_PREFIX) + r"(\d+)-\w+", entry)
        path = os.path.join(root, entry)
        if match and os.stat(path).st_uid == os.getuid() and not _alive(int(match[1])):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_dir(path: str, owner_pid: int) -> None:
    # A forked child inherits atexit handlers; only the process that made the dir removes it.
    if os.getpid() == owner_pid:
        shutil.rmtree(path, ignore_errors=True)


def forbid_core_dumps() -> None:
    """Make this process undumpable: a crash writes no core file (which would hold every
    key decrypted: OpenSSL's copy in each context, and this module's password; #27 found
    87 keys in one core).

    prctl(PR_SET_DUMPABLE, 0) stops the kernel from dumping at all, even into a
    core_pattern pipe, which RLIMIT_CORE does not bound; RLIMIT_CORE 0 (the soft limit,
    inherited) covers systems without prctl. A fork keeps both; an exec resets the flag,
    so each child we exec that loads keys calls this itself. Costs: no core to debug a
    crash (faulthandler's stacks are still written), and only root can attach a debugger
    or py-spy, or read this process's /proc/PID/environ and fd/.
    """
    _soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    prctl(PR_SET_DUMPABLE, 0)


def scrub_secret_environment() -> None:
    """Blank the values of SECRET_ENV_VARS in this process's original environment block.

    /proc/PID/environ shows that block, not os.environ, for the whole life of the process,
    and every fork (Locust's --processes workers) copies it. Call before forking. Python's
    os.environ (a copy read at start, which option parsing uses) keeps the values; the C
    environment loses them, so a child exec'd without an explicit environment gets none.
    """
    for name in SECRET_ENV_VARS:
        os.unsetenv(name)
    try:
        with open("/proc/self/stat", "rb") as file:
            fields = file.read().rpartition(b")")[2].split()
        start, end = int(fields[ENV_START_FIELD]), int(fields[ENV_END_FIELD])
    except (OSError, IndexError, ValueError):
        return  # not Linux: no /proc/PID/environ to show it either
    if not 0 < start < end:
        return
    block = ctypes.string_at(start, end - start)
    offset = 0
    for entry in block.split(b"\0"):
        name, equals, value = entry.partition(b"=")
        if equals and name.decode(errors="replace") in SECRET_ENV_VARS:
            ctypes.memset(start + offset + len(name) + 1, 0, len(value))
        offset += len(entry) + 1
