"""Backups off the machine: each backup (and its manifest) copied to any Django storage
(``UPSTACK["BACKUP_STORAGE"]``: an alias of ``STORAGES``, e.g. a django-storages S3 bucket), listed,
and fetched back for ``backup verify --remote`` and ``restore --remote``.

Only Django's storage API is used (``save``, ``open``, ``listdir``, ``exists``, ``size``), so
any backend django-storages offers works; tests run it against moto's local S3 server.
"""

from __future__ import annotations

from pathlib import Path

from .. import conf

PREFIX = "upstack-backups/"


class RemoteError(RuntimeError):
    pass


def storage():
    """The configured storage, or None when backups stay on this machine."""
    from django.core.files.storage import InvalidStorageError, storages

    alias = conf.get("BACKUP_STORAGE")
    if not alias:
        return None
    try:
        return storages[alias]
    except InvalidStorageError:
        raise ValueError(f"UPSTACK['BACKUP_STORAGE'] is {alias!r}, which is not an alias of STORAGES; add it "
                         "there (e.g. a django-storages S3 backend) or unset it") from None


def _required():
    found = storage()
    if found is None:
        raise ValueError("no remote for backups: set UPSTACK['BACKUP_STORAGE'] to an alias of STORAGES "
                         "(docs/settings.md)")
    return found


def upload(path: Path) -> str:
    """Copy a backup and its manifest (the manifest last: a listed backup is complete); returns its name."""
    from django.core.files import File

    remote = _required()
    for local in (path, Path(str(path) + ".json")):
        name = PREFIX + local.name
        if remote.exists(name):
            remote.delete(name)
        with open(local, "rb") as src:
            saved = remote.save(name, File(src, name=local.name))
        if saved != name:
            raise RemoteError(f"the backup storage saved {local.name} as {saved!r}, not {name!r}")
    return PREFIX + path.name


def names() -> list[str]:
    """Complete remote backups (those with a manifest), newest first."""
    from .backup import SUFFIXES

    _dirs, files = _required().listdir(PREFIX.rstrip("/"))
    present = set(files)
    found = [f for f in files if f.endswith(SUFFIXES) and f + ".json" in present]
    return [PREFIX + f for f in sorted(found, key=lambda f: f.rsplit("-", 1)[-1], reverse=True)]


def describe() -> list[dict]:
    """``backup list --remote``, in ``backup list``'s schema (``created`` from the name's stamp)."""
    remote = _required()
    return [{"file": name, "bytes": remote.size(name), "created": name.rsplit("-", 1)[-1].split(".")[0]}
            for name in names()]


def download(name: str | None, directory: Path) -> Path:
    """Fetch a remote backup (default: the newest) and its manifest into ``directory``."""
    remote = _required()
    if name is None:
        found = names()
        if not found:
            raise ValueError("there is no backup in the backup storage; run `manage.py upstack backup` first")
        name = found[0]
    name = name if name.startswith(PREFIX) else PREFIX + name
    if not (remote.exists(name) and remote.exists(name + ".json")):
        raise ValueError(f"{name} is not a complete backup in the backup storage (the file and its .json); "
                         "`manage.py upstack backup list --remote` lists them")
    local = directory / name.removeprefix(PREFIX)
    for source, target in ((name, local), (name + ".json", Path(str(local) + ".json"))):
        with remote.open(source, "rb") as src, open(target, "wb") as out:
            for block in iter(lambda: src.read(1 << 20), b""):
                out.write(block)
    return local


__all__ = ["PREFIX", "RemoteError", "describe", "download", "names", "storage", "upload"]
