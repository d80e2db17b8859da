"""Talk to the supervisord that runs a local stack: start it, query it, stop it.

A thin adapter over supervisor's own XML-RPC interface on the stack's unix socket. supervisord is
the proven process manager (restarts crashed programs, stops process groups); this module only
drives it. supervisor is imported here and nowhere else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path


class SupervisorError(RuntimeError):
    pass


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False


class Supervisor:
    def __init__(self, state_dir: Path):
        self.state_dir = Path(state_dir)
        self.config = self.state_dir / "supervisord.conf"
        self.socket = self.state_dir / "supervisor.sock"
        self.pidfile = self.state_dir / "supervisord.pid"

    @property
    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        return _pid_alive(self.pid) and self.socket.exists()

    def rpc(self):
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def start(self, env: dict[str, str], timeout: float = 20.0) -> None:
        """Start supervisord (it daemonizes) with ``env`` as the programs' environment."""
        binary = Path(sys.executable).with_name("supervisord")
        if not binary.exists():
            raise SupervisorError("supervisord is not installed in this environment; pip install 'django-upstack[server]'")
        log = self.state_dir / "logs" / "supervisord.start.log"
        with open(log, "ab") as out:
            result = subprocess.run([str(binary), "-c", str(self.config)], env=env, stdout=out, stderr=out,
                                    timeout=timeout)
        if result.returncode != 0:
            raise SupervisorError(f"supervisord failed to start (exit {result.returncode}); see {log}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.running():
                try:
                    if self.rpc().getState()["statename"] == "RUNNING":
                        return
                except (OSError, xmlrpc.client.Fault):
                    pass
            time.sleep(0.1)
        raise SupervisorError(f"supervisord did not come up within {timeout:.0f}s; see {self.state_dir / 'logs'}")

    def processes(self) -> dict[str, dict]:
        return {info["name"]: info for info in self.rpc().getAllProcessInfo()}

    def start_program(self, name: str, wait: bool = True) -> None:
        """Start ``name``; with ``wait``, until it has stayed up for its startsecs."""
        self._call("startProcess", name, wait)

    def stop_program(self, name: str) -> None:
        self._call("stopProcess", name, True)

    def _call(self, method: str, name: str, wait: bool) -> None:
        try:
            getattr(self.rpc(), method)(name, wait)
        except xmlrpc.client.Fault as fault:
            if fault.faultString.split(":")[0] in ("ALREADY_STARTED", "NOT_RUNNING"):
                return
            raise SupervisorError(f"{method} {name}: {fault.faultString}; see {self.state_dir / 'logs' / name}.log") from None

    def shutdown(self, timeout: float = 120.0) -> list[int]:
        """Stop every program and supervisord itself; returns pids that had to be killed."""
        pid = self.pid
        children = [info["pid"] for info in self.processes().values() if info["pid"]] if self.running() else []
        if self.running():
            try:
                self.rpc().shutdown()
            except (OSError, xmlrpc.client.Fault):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (_pid_alive(pid) or any(_pid_alive(c) for c in children)):
            time.sleep(0.1)
        killed = []
        for leftover in [p for p in [pid, *children] if _pid_alive(p)]:
            try:
                os.killpg(leftover, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                os.kill(leftover, signal.SIGKILL)
            killed.append(leftover)
        for path in (self.pidfile, self.socket):
            path.unlink(missing_ok=True)
        return killed
