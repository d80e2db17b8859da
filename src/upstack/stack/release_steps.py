"""What ``upstack release`` and ``rollback`` (upstack.ops.release) do to a running local stack: load a
new VCL into the running Varnish (its cache survives), reload the app server worker by worker, restart
the Celery workers warm. A mixin of ``runner.LocalStack``, which supplies ``dir``, ``supervisor``,
``state``, ``context``, ``env``, ``_wait`` and ``_celery_ping``."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from . import render, rolling
from .errors import StackError
from .probes import http_status


class ReleaseSteps:
    def _require_running(self) -> dict:
        if not self.supervisor.running():
            raise StackError("the stack is not running; start it with `manage.py upstack up`")
        return self.state()

    def reload_edge(self) -> str:
        """Re-render the configs (the VCL embeds the site's error page) and load the new VCL into the
        running Varnish: its cache survives."""
        state = self._require_running()
        ctx = self.context(state)
        render.write(render.render("local", ctx), self.dir)
        return self.use_vcl(self.vcl_file(), "upstack", ctx)

    def vcl_file(self) -> Path:
        """The VCL the last render wrote (what ``reload_edge`` loads)."""
        return self.dir / "etc" / "varnish" / "default.vcl"

    def use_vcl(self, path: Path, prefix: str, ctx=None) -> str:
        """Load ``path`` into the running Varnish under a new name and make it the active VCL (its cache
        survives); returns the name. A rollback loads a previous release's copy this way."""
        ctx = ctx or self.context(self._require_running())
        name = f"{prefix}_{int(time.time() * 1000)}"
        adm = [ctx.binaries["varnishadm"], "-n", str(self.dir / "varnish")]
        for args in (["vcl.load", name, str(path)], ["vcl.use", name]):
            result = subprocess.run([*adm, *args], capture_output=True, text=True, timeout=60)
            if result.returncode != 0:
                raise StackError(f"varnishadm {args[0]} failed: {result.stdout}{result.stderr}")
        return name

    def reload_app(self) -> None:
        """A graceful reload: new workers with the new code, old ones finish their requests. gunicorn's is
        rolling (upstack.stack.rolling: never fewer ready workers than before); granian's is its HUP."""
        state = self._require_running()
        if state["options"]["app_server"] == "gunicorn":
            rolling.reload(self.supervisor.processes()["app"]["pid"], self.dir / "run" / "workers")
        else:
            self.supervisor.rpc().signalProcess("app", "HUP")
        port = state["ports"]["app"]
        self._wait(lambda: http_status(f"http://127.0.0.1:{port}/healthz") == 200, "app", timeout=60)

    def restart_workers(self) -> None:
        """Warm shutdown (running tasks finish; late acks requeue any that cannot), then start again."""
        self._require_running()
        env = self.env()
        self.supervisor.stop_program("worker")
        self.supervisor.start_program("worker")
        self._wait(lambda: self._celery_ping(env), "worker", timeout=60)
