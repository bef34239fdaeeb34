"""locust_mtls.results.files: the one writer of a run's files. A device node is refused,
never replaced; a planted symlink is never followed; a full disk is one line naming the
file, leaves the old file and no temporary one, and the run still ends properly.

Device nodes and links are made in a temporary directory (never /dev); the full disk is a
small tmpfs this test mounts, or, where mounting is not allowed, a file object that
raises ENOSPC.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import stat
import subprocess
from pathlib import Path

import pytest

from locust_mtls.errors import ConfigError
from locust_mtls.results import files
from locust_mtls.results.files import check_output_file, write_atomically, write_output

from conftest import run_locust

ROOT = Path(__file__).resolve().parent.parent
MTLS = str(ROOT / "locustfiles" / "mtls.py")
DEV_FULL = os.makedev(1, 7)  # the numbers of /dev/full; the node is our own


@pytest.fixture
def device_node(tmp_path) -> Path:
    node = tmp_path / "full"
    os.mknod(node, stat.S_IFCHR | 0o666, DEV_FULL)
    return node


@pytest.fixture(autouse=True)
def forget_failures():
    files._failing.clear()  # which outputs failed is per process; each test starts afresh


def test_a_device_node_is_refused_at_start_and_never_replaced(device_node, caplog):
    with pytest.raises(ConfigError) as refused:
        check_output_file(str(device_node), "--mtls-summary-file")
    assert str(refused.value) == (
        f"--mtls-summary-file {device_node} is not a regular file (a device or a pipe); name a file"
    )
    with pytest.raises(OSError, match="not a regular file"):
        write_atomically(str(device_node), "{}")
    assert not write_output(str(device_node), "{}", "--mtls-junit")
    assert stat.S_ISCHR(device_node.lstat().st_mode)
    assert device_node.lstat().st_rdev == DEV_FULL
    assert sorted(os.listdir(device_node.parent)) == ["full"]  # no temporary file left
    assert [r.getMessage() for r in caplog.records] == [
        f"locust-mtls: cannot write --mtls-junit {device_node}: "
        "is not a regular file (a device or a pipe), not replaced"
    ]


def test_a_symlink_at_the_old_temporary_name_is_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "s.json.tmp").symlink_to(victim)
    write_atomically(str(out / "s.json"), '{"finished": true}')
    assert victim.read_text() == "precious"
    assert (out / "s.json").read_text() == '{"finished": true}'
    assert sorted(os.listdir(out)) == ["s.json", "s.json.tmp"]


def test_the_temporary_file_is_created_exclusively(tmp_path, monkeypatch):
    """Even a link planted at the very name the writer picks is refused, not followed."""
    victim = tmp_path / "victim"
    victim.write_text("precious")
    monkeypatch.setattr(files.secrets, "token_hex", lambda _n: "guessed")
    (tmp_path / ".s.json.guessed.tmp").symlink_to(victim)
    with pytest.raises(FileExistsError):
        write_atomically(str(tmp_path / "s.json"), "{}")
    assert victim.read_text() == "precious"
    assert not (tmp_path / "s.json").exists()


def test_temporary_names_are_unpredictable(tmp_path, monkeypatch):
    names = []
    real_open = os.open

    def recording_open(path, *args):
        names.append(path)
        return real_open(path, *args)

    monkeypatch.setattr(files.os, "open", recording_open)
    for _ in range(3):
        write_atomically(str(tmp_path / "s.json"), "{}")
    assert len(set(names)) == 3 and all(n.startswith(str(tmp_path / ".s.json.")) for n in names)


def fill(directory: Path) -> None:
    """Write into `directory` until its filesystem is full."""
    with open(directory / "filler", "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError as error:
            assert error.errno == errno.ENOSPC


@pytest.fixture
def full_disk(tmp_path):
    """A full 64 KiB tmpfs mounted on a directory of tmp_path; unmounted afterwards."""
    mount_point = tmp_path / "full-disk"
    mount_point.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mount_point)]
    if subprocess.run(command, capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (test_full_disk_by_fault_injection covers it)")
    try:
        fill(mount_point)
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_disk_is_one_line_keeps_the_old_file_and_leaves_no_temporary(full_disk, caplog):
    caplog.set_level(logging.INFO)
    target = full_disk / "s.json"
    (full_disk / "filler").unlink()
    target.write_text('{"old": true}')
    fill(full_disk)
    for _ in range(3):  # the summary writer retries every second
        assert not write_output(str(target), '{"new": true}' * 1000, "--mtls-summary-file")
    assert target.read_text() == '{"old": true}'
    assert sorted(os.listdir(full_disk)) == ["filler", "s.json"]
    (full_disk / "filler").unlink()
    assert write_output(str(target), '{"new": true}', "--mtls-summary-file")
    assert target.read_text() == '{"new": true}'
    assert [r.getMessage() for r in caplog.records] == [
        f"locust-mtls: cannot write --mtls-summary-file {target}: No space left on device",
        f"locust-mtls: --mtls-summary-file {target} written again",
    ]


class FullDiskFile(io.StringIO):
    """A file object on a full disk: every write fails with ENOSPC."""

    def write(self, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_by_fault_injection(tmp_path, monkeypatch, caplog):
    """The same without a mount: the writer's file object raises ENOSPC."""
    target = tmp_path / "junit.xml"
    target.write_text("<old/>")
    real_fdopen = os.fdopen

    def full_disk_fdopen(descriptor, *args, **kwargs):
        real_fdopen(descriptor).close()
        return FullDiskFile()

    monkeypatch.setattr(files.os, "fdopen", full_disk_fdopen)
    assert not write_output(str(target), "<new/>", "--mtls-junit")
    assert target.read_text() == "<old/>"
    assert sorted(os.listdir(tmp_path)) == ["junit.xml"]
    assert [r.getMessage() for r in caplog.records] == [
        f"locust-mtls: cannot write --mtls-junit {target}: No space left on device"
    ]


def test_a_run_whose_files_hit_a_full_disk_still_ends_properly(full_disk, tmp_path):
    """Summary and JUnit on the full disk, Markdown elsewhere: one line per file that could
    not be written (not one per second), the console summary, the Markdown file and the
    gate's exit code; nothing half-written on the full disk."""
    done = run_locust(
        *("-f", MTLS, "--mtls-certs-dir", str(tmp_path / "certs")),
        *("--mtls-summary-file", str(full_disk / "s.json")),
        *("--mtls-junit", str(full_disk / "junit.xml"), "--mtls-markdown", "summary.md"),
        cwd=tmp_path,
        users=2,
        run_time="3s",
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    said = [line.split("locust_mtls: ", 1)[-1] for line in done.stderr.splitlines()]
    assert [line for line in said if "cannot write" in line] == [
        f"locust-mtls: cannot write --mtls-summary-file {full_disk}/s.json: "
        "No space left on device",
        f"locust-mtls: cannot write --mtls-junit {full_disk}/junit.xml: No space left on device",
    ]
    assert "mTLS summary" in done.stdout
    assert "## locust-mtls summary" in (tmp_path / "summary.md").read_text()
    assert done.returncode == 0  # identity-cache: the gate passes
    assert sorted(os.listdir(full_disk)) == ["filler"]
