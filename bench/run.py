"""Entry point of `make bench` / `make bench-quick`. The side-by-side runner is not written yet."""

import sys

if __name__ == "__main__":
    sys.exit("bench: the side-by-side benchmark is not implemented yet (issue 9); nothing was measured.")
