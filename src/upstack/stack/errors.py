"""The error every stack command raises for an operational failure (the CLI maps it to an exit code)."""

from __future__ import annotations


class StackError(RuntimeError):
    def __init__(self, message: str, returncode: int = 1):
        super().__init__(message)
        self.returncode = returncode
