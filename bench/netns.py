"""Test hosts on one machine: Linux network namespaces, each with its own address and
name, joined by a bridge in a namespace of their own; made and removed by the caller
(root, iproute2). Nothing leaves the namespaces: no interface of the machine's own
namespace takes part, and every process started here is killed, by PID, on exit.

    with TestNetwork(["target", "master", "worker1", "worker2"]) as network:
        server = network["target"].start(["python", "-m", ...])

Each host resolves the others' names (`target.mtls.test`) through /etc/netns/NS/hosts,
which `ip netns exec` mounts over /etc/hosts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field

DOMAIN = "mtls.test"


def missing_reason() -> str:
    """Why namespaces cannot be made here ("" when they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "ip (iproute2) is not installed: apt-get install -y iproute2"
    probe = f"lmprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return ""


@dataclass
class Host:
    """One test host: a namespace, its address and its name."""

    name: str
    namespace: str
    address: str
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{DOMAIN}"

    def command(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *argv]

    def start(self, argv: list[str], **popen) -> subprocess.Popen:
        """Start `argv` on this host (killed when the network is removed)."""
        process = subprocess.Popen(self.command(argv), **popen)
        self.processes.append(process)
        return process

    def run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(argv), **kwargs)


class TestNetwork:
    """Hosts named `names` on 10.211.N.0/24 (N from our PID, so two runs never meet)."""

    def __init__(self, names: list[str]):
        tag = f"lm{os.getpid() % 100000}"
        self.switch = f"{tag}sw"
        self.subnet = f"10.211.{os.getpid() % 250 + 1}"
        self.hosts = {
            name: Host(name, f"{tag}h{index}", f"{self.subnet}.{10 + index}")
            for index, name in enumerate(names)
        }

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def __enter__(self) -> TestNetwork:
        try:
            self._make()
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *_exc) -> None:
        self._remove()

    def _make(self) -> None:
        ip(["netns", "add", self.switch])
        ip(["-n", self.switch, "link", "add", "br0", "type", "bridge"])
        ip(["-n", self.switch, "link", "set", "br0", "up"])
        hosts_file = "127.0.0.1 localhost\n" + "".join(
            f"{host.address} {host.fqdn} {host.name}\n" for host in self.hosts.values()
        )
        for index, host in enumerate(self.hosts.values()):
            ip(["netns", "add", host.namespace])
            port = f"p{index}"
            ip(["-n", host.namespace, "link", "add", "eth0", "type", "veth"]
               + ["peer", "name", port, "netns", self.switch])  # fmt: skip
            ip(["-n", self.switch, "link", "set", port, "master", "br0", "up"])
            ip(["-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0"])
            ip(["-n", host.namespace, "link", "set", "eth0", "up"])
            ip(["-n", host.namespace, "link", "set", "lo", "up"])
            directory = f"/etc/netns/{host.namespace}"
            os.makedirs(directory, exist_ok=True)
            with open(os.path.join(directory, "hosts"), "w") as file:
                file.write(hosts_file)

    def _remove(self) -> None:
        for host in self.hosts.values():
            for process in host.processes:
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=30)
            subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True)
            shutil.rmtree(f"/etc/netns/{host.namespace}", ignore_errors=True)
        subprocess.run(["ip", "netns", "del", self.switch], capture_output=True)


def ip(args: list[str]) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
