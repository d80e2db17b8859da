"""``upstack seed``: run the project's seed hook (``UPSTACK["SEED"]``), which `upstack up` calls once
the stack's database is migrated. The hook belongs to the project: upstack knows nothing of its
models. It should leave existing content alone, since `up` calls it on every start."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .. import conf


def seed(size: int) -> bool:
    """Call the hook with ``size``; False when the project has none."""
    if size < 0:
        raise ValueError(f"--size must be 0 or more, not {size}")
    hook = conf.get("SEED")
    if not hook:
        return False
    try:
        function = import_string(hook)
    except ImportError as exc:
        raise ImproperlyConfigured(f'UPSTACK["SEED"] = {hook!r} cannot be imported: {exc}') from exc
    function(size)
    return True
