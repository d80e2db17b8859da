"""upstack: serve a Django site from as high up the stack as possible.

The public API is re-exported here; everything else is internal and may change.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
