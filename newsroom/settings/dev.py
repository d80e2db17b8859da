"""Development profile (``make run``): the embedded default, DEBUG on unless the environment says no."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
WHITENOISE_AUTOREFRESH = DEBUG
