"""upstack's caching inside Django: fault-tolerant backends, namespaces, ``get_or_compute``.

Public API: ``get_or_compute``, ``flush``, ``stats``, ``caches_setting``, ``hooks``.
"""

from . import hooks
from .api import get_or_compute
from .namespaces import NAMESPACES, caches_setting, flush, stats

__all__ = ["NAMESPACES", "caches_setting", "flush", "get_or_compute", "hooks", "stats"]
