"""The settings module of the local stack's Django processes when the project has no stack-ready one:
the project's own settings (``$UPSTACK_PROJECT_SETTINGS``), with the stack's servers overlaid
(upstack.stack.overlay)."""

import os
from importlib import import_module

from .overlay import PROJECT_VARIABLE, apply

if not os.environ.get(PROJECT_VARIABLE):
    raise RuntimeError(f"{__name__} overlays a project's settings: set {PROJECT_VARIABLE} to its module")
globals().update({k: v for k, v in vars(import_module(os.environ[PROJECT_VARIABLE])).items() if k.isupper()})
apply(globals(), os.environ)
