"""Beat's schedule file outlives a restart on every target: each rendered beat command names a
schedule outside temp folders, and where a container runs beat the folder is storage of its own (a
Compose volume, a Kubernetes claim) the container's user can write. The nightly backup does not need
the file (it is a crontab), but a schedule in /tmp is forgotten by every deploy. docs/deploy.md."""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import PurePosixPath

import pytest
import yaml

from upstack.stack import project, render, services
from upstack.stack.context import Resources
from upstack.stack.sizing import GB

# Where nothing is kept: emptied at boot, by systemd's PrivateTmp, or gone with the container.
TEMP_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm", "/run")  # noqa: S108 - the folders refused, not used
STATE_DIR = "/srv/newsroom/.upstack"


def ctx_for():
    # A state dir of its own (the default one is wherever this checkout lives), and the ports the local
    # target asks for (nothing is started).
    ports = {name: 20000 + i for i, name in enumerate(services.STANDARD_PORTS)}
    return dataclasses.replace(project.context(Resources(4, 16 * GB), ports=ports), state_dir=STATE_DIR)


def _schedule(argv: list[str]) -> str:
    assert "beat" in argv and "--schedule" in argv, argv
    return argv[argv.index("--schedule") + 1]


def _ini_command(text: str, section: str, key: str) -> list[str]:
    body = text.split(section, 1)[1]
    return shlex.split(re.search(rf"^{key}\s*=\s*(.+)$", body, re.MULTILINE).group(1))


def rendered_beat_argv(target: str, files: dict[str, str]) -> list[str]:
    """Beat's command line as the rendered files for ``target`` run it."""
    if target == "local":
        return _ini_command(files["supervisord.conf"], "[program:beat]", "command")
    if target == "systemd":
        return _ini_command(files["systemd/newsroom-beat.service"], "[Service]", "ExecStart")
    if target == "compose":
        return yaml.safe_load(files["compose.yaml"])["services"]["beat"]["command"]
    if target == "kubernetes":
        docs = yaml.safe_load_all(files["kubernetes/worker.yaml"])
        beat = next(d for d in docs if d and d["kind"] == "Deployment" and d["metadata"]["name"] == "beat")
        return beat["spec"]["template"]["spec"]["containers"][0]["args"]
    line = next(line for line in files["Procfile"].splitlines() if line.startswith("beat: "))
    return shlex.split(line.split(": ", 1)[1])[1:]  # after the broker's environment


def in_temp_folder(path: str) -> bool:
    return any(PurePosixPath(path).is_relative_to(folder) for folder in TEMP_FOLDERS)


@pytest.mark.parametrize("target", render.TARGETS)
def test_no_target_keeps_beats_schedule_in_a_temp_folder(target):
    files = render.render(target, ctx_for())
    schedule = _schedule(rendered_beat_argv(target, files))
    assert not in_temp_folder(schedule), f"{target}: beat's schedule {schedule} is in a temp folder"
    expected = {"local": f"{STATE_DIR}/celerybeat-schedule", "procfile": "celerybeat-schedule"}
    assert schedule == expected.get(target, "/var/lib/upstack-beat/celerybeat-schedule")


def test_the_temp_folder_check_can_fail():
    assert in_temp_folder("/tmp/celerybeat-schedule") and in_temp_folder("/var/tmp/x/celerybeat-schedule")
    assert not in_temp_folder("/var/lib/upstack-beat/celerybeat-schedule")
    assert not in_temp_folder("/tmpfoo/celerybeat-schedule")  # a name that merely starts the same


def test_systemd_keeps_it_in_beats_state_directory():
    files = render.render("systemd", ctx_for())
    unit = files["systemd/newsroom-beat.service"]
    folder = PurePosixPath(_schedule(rendered_beat_argv("systemd", files))).parent
    assert folder == PurePosixPath("/var/lib", re.search(r"^StateDirectory=(\S+)$", unit, re.MULTILINE).group(1))


def test_compose_mounts_a_named_volume_the_app_user_owns_where_beat_writes():
    files = render.render("compose", ctx_for())
    spec = yaml.safe_load(files["compose.yaml"])
    folder = str(PurePosixPath(_schedule(spec["services"]["beat"]["command"])).parent)
    mounts = dict(reversed(volume.split(":")[:2]) for volume in spec["services"]["beat"]["volumes"])
    assert folder in mounts and mounts[folder] in spec["volumes"]  # named, so it outlives the container
    # Everything the Django anchor mounts is still mounted (a service's own list replaces the anchor's).
    assert {"/etc/upstack", "/app/var/media"} <= set(mounts)
    assert spec["services"]["beat"]["volumes"][:2] == spec["services"]["worker"]["volumes"]
    # An empty volume takes the image folder's owner: the image makes the folder for its user.
    dockerfile = files["Dockerfile"]
    chown = next(line for line in dockerfile.splitlines() if line.startswith("RUN useradd"))
    assert f"mkdir -p var/media {folder}" in chown and f"chown -R app var/media {folder}" in chown
    assert dockerfile.index(chown) < dockerfile.index("USER app")


def test_procfile_keeps_it_in_the_apps_root():
    """Heroku and Dokku run the Procfile in the app's root (/app): a relative schedule lands there."""
    schedule = _schedule(rendered_beat_argv("procfile", render.render("procfile", ctx_for())))
    assert not PurePosixPath(schedule).is_absolute() and "/" not in schedule

