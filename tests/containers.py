"""Docker for the container tests (``make test-containers``): Debian's docker.io and docker-compose (v1),
a ``dockerd`` started by hand on a private socket and stopped afterwards, and a base image made with
debootstrap and cached between runs - no registry is reachable here, Debian's mirror and PyPI are.

``Daemon`` keeps everything under ``var/containers/`` (data root: the image and build cache; socket;
logs) and its runtime state under ``/run/upstack-docker-<hash>``. It never touches another daemon,
creates no default bridge (``--bridge=none``) and masquerades nothing. The base image carries this
machine's extra CA certificates (a TLS-inspecting proxy signs PyPI's certificate here), so apt and pip
inside ``docker build --network host`` trust what the host trusts. ``Stages`` times each step.

No library does this: testcontainers and pytest-docker drive an existing daemon and pull images from
a registry, and neither is possible here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / "var" / "containers"
BASE_IMAGE = "upstack-base:bookworm"
MIRROR = os.environ.get("UPSTACK_DEBIAN_MIRROR", "http://deb.debian.org/debian")
DOCKER = "/usr/bin/docker"  # Debian's client, never whatever else is first on PATH
NEEDED = ("dockerd", "docker-compose", "debootstrap", "iptables")


class Unavailable(RuntimeError):
    """Docker cannot run here; the message says why (the test skips, or fails under CI=true)."""


def run(argv, *, timeout: float = 600, env: dict | None = None, log: Path | None = None, check: bool = True,
        **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **(env or {})}, **kwargs)
    if log:
        with log.open("a") as out:
            out.write(f"$ {' '.join(map(str, argv))}\n{result.stdout}{result.stderr}\n")
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv[:4]))} ... exited {result.returncode}:\n"
                           f"{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return result


def install() -> None:
    """Install Docker, Compose v1 and debootstrap from Debian when missing (scripts/install-services)."""
    if os.geteuid() != 0:
        raise Unavailable("dockerd must run as root here (no rootless setup); run make test-containers as root")
    result = run([ROOT / "scripts" / "install-services", "--if-missing", "--containers"], timeout=900, check=False)
    missing = [name for name in NEEDED if not shutil.which(name)]
    if result.returncode != 0 or missing or not Path(DOCKER).exists():
        raise Unavailable(f"Docker could not be installed ({', '.join(missing) or 'docker'} missing): "
                          f"{result.stderr.strip()[-500:]}")


class Stages:
    """Named, timed steps; ``report()`` is the table make test-containers prints."""

    def __init__(self):
        self.times: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        start = time.monotonic()
        try:
            yield
        finally:
            self.times[name] = round(time.monotonic() - start, 1)
            print(f"[containers] {name}: {self.times[name]:.1f} s", flush=True)

    def report(self) -> str:
        total = sum(self.times.values())
        rows = [f"  {name:<34} {seconds:7.1f} s" for name, seconds in self.times.items()]
        return "\n".join(["stage times (make test-containers):", *rows, f"  {'total':<34} {total:7.1f} s"])

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.times, indent=2) + "\n")


class Daemon:
    """A dockerd of our own: ``start()`` (overlay2, else vfs), ``docker(...)``, ``stop()``."""

    def __init__(self, state: Path = STATE):
        self.state = state
        self.socket = state / "docker.sock"
        self.exec_root = Path("/run") / f"upstack-docker-{hashlib.sha1(str(state).encode()).hexdigest()[:8]}"
        self.log = state / "dockerd.log"
        self.proc: subprocess.Popen | None = None
        self.driver = ""

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": f"unix://{self.socket}"}

    def docker(self, *args, **kwargs) -> subprocess.CompletedProcess:
        return run([DOCKER, "-H", f"unix://{self.socket}", *args], **kwargs)

    def start(self, timeout: float = 60) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        failures = []
        for driver in ("overlay2", "vfs"):
            self.socket.unlink(missing_ok=True)
            with self.log.open("a") as log:
                self.proc = subprocess.Popen(
                    ["dockerd", "--data-root", self.state / "data", "--exec-root", self.exec_root,
                     "--pidfile", self.state / "dockerd.pid", "-H", f"unix://{self.socket}", "--bridge=none",
                     "--ip-masq=false", "--storage-driver", driver],
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self.socket.exists() and self.docker("info", check=False, timeout=10).returncode == 0:
                    self.driver = driver
                    return
                time.sleep(0.5)
            failures.append(f"{driver}: {self.log.read_text()[-800:]}")
            self.stop()
        raise Unavailable("dockerd did not start with overlay2 or vfs:\n" + "\n".join(failures))

    def stop(self, timeout: float = 30) -> None:
        """TERM our dockerd (it stops its containerd), then KILL; wait until it is gone."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None
        self.socket.unlink(missing_ok=True)
        self._clean_host()

    def _clean_host(self) -> None:
        """What a stopped dockerd leaves on the host: its exec root (a network namespace mounted in it)
        and its iptables chains. The chains go only when no other dockerd runs here (they are shared)."""
        for mount in reversed(self._mounts()):
            run(["umount", mount], check=False)
        if self.exec_root.exists() and not self._mounts():
            shutil.rmtree(self.exec_root, ignore_errors=True)
        if other_dockerd() or not shutil.which("iptables"):
            return
        for table, chains in (("filter", ("FORWARD",)), ("nat", ("PREROUTING", "OUTPUT", "POSTROUTING"))):
            rules = run(["iptables", "-t", table, "-S"], check=False).stdout.splitlines()
            for rule in rules:
                parts = rule.split()
                if parts[:1] == ["-A"] and parts[1] in chains and any(p.startswith("DOCKER") for p in parts[2:]):
                    run(["iptables", "-t", table, "-D", *parts[1:]], check=False)
            for rule in rules:
                if rule.startswith("-N DOCKER"):
                    run(["iptables", "-t", table, "-F", rule.split()[1]], check=False)
            for rule in rules:
                if rule.startswith("-N DOCKER"):
                    run(["iptables", "-t", table, "-X", rule.split()[1]], check=False)

    def _mounts(self) -> list[str]:
        return [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                if line.split()[1].startswith(str(self.exec_root))]

    def host_leftovers(self) -> list[str]:
        """What is still on the host once stopped: processes, mounts, the exec root, iptables chains."""
        found = [f"pid {pid}: {args}" for pid, args in processes(str(self.exec_root))]
        found += [f"mount {m}" for m in self._mounts()]
        found += [f"{self.exec_root} exists"] if self.exec_root.exists() else []
        if not other_dockerd() and shutil.which("iptables"):
            found += [f"iptables {table}: {rule}" for table in ("filter", "nat")
                      for rule in run(["iptables", "-t", table, "-S"], check=False).stdout.splitlines()
                      if "DOCKER" in rule]
        return found

    def leftovers(self) -> dict[str, list[str]]:
        """What a project left in the daemon: containers, volumes, non-default networks."""
        lines = {
            "containers": self.docker("ps", "-aq").stdout.split(),
            "volumes": self.docker("volume", "ls", "-q").stdout.split(),
            "networks": [n for n in self.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
                         if n not in ("host", "none", "bridge")],
        }
        return {kind: names for kind, names in lines.items() if names}


def processes(needle: str) -> list[tuple[int, str]]:
    """(pid, command line) of every process whose command line contains ``needle``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                args = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            if needle in args:
                found.append((int(proc.name), args))
    return found


def other_dockerd() -> bool:
    """A dockerd not started from this checkout's var/containers runs here."""
    return any(args.split()[0].endswith("dockerd") and str(STATE) not in args for _, args in processes("dockerd"))


def base_image(daemon: Daemon) -> str:
    """``BASE_IMAGE`` from debootstrap --variant=minbase bookworm, made once: 'cached' or 'built'."""
    if daemon.docker("image", "inspect", BASE_IMAGE, check=False).returncode == 0:
        return "cached"
    rootfs = daemon.state / "rootfs"
    if rootfs.exists():
        _remove_rootfs(rootfs)
    run(["debootstrap", "--variant=minbase", "bookworm", rootfs, MIRROR], timeout=900,
        log=daemon.state / "debootstrap.log")
    # This machine's extra CAs, so apt and pip in the builds trust what the host trusts.
    extra = rootfs / "usr" / "local" / "share" / "ca-certificates"
    extra.mkdir(parents=True, exist_ok=True)
    for cert in Path("/usr/local/share/ca-certificates").glob("*.crt"):
        shutil.copy(cert, extra / cert.name)
    (rootfs / "etc" / "ssl" / "certs").mkdir(parents=True, exist_ok=True)
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", rootfs / "etc" / "ssl" / "certs" / "ca-certificates.crt")
    (rootfs / "etc" / "pip.conf").write_text("[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")
    with subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE) as tar:
        daemon.docker("import", "-", BASE_IMAGE, stdin=tar.stdout)
    _remove_rootfs(rootfs)
    return "built"


def _remove_rootfs(rootfs: Path) -> None:
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
              if line.split()[1].startswith(str(rootfs))]
    if mounts:
        raise RuntimeError(f"not removing {rootfs}: still mounted: {mounts}")
    shutil.rmtree(rootfs)


def free_subnet() -> str:
    """A /24 in 10.213.0.0/16 that no route of this machine covers."""
    import ipaddress

    routes = []
    for line in Path("/proc/net/route").read_text().splitlines()[1:]:
        fields = line.split()
        dest, mask = (ipaddress.IPv4Address(int(fields[i], 16).to_bytes(4, "little")) for i in (1, 7))
        if int(mask):
            routes.append(ipaddress.ip_network(f"{dest}/{mask}", strict=False))
    for third in range(7, 250):
        candidate = ipaddress.ip_network(f"10.213.{third}.0/24")
        if not any(candidate.overlaps(route) for route in routes):
            return str(candidate)
    raise Unavailable("no free /24 in 10.213.0.0/16 for the project network")
