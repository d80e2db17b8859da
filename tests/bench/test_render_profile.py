"""bench/render_profile.py: the CPU-clock profile's tables and the arguments it refuses."""

import cProfile
import pstats
import time

import pytest

from bench import render_profile
from upstack.cache import batch


def busy():
    end = time.process_time() + 0.02
    while time.process_time() < end:
        batch.page_id(None)


def test_cpu_profile_lists_self_time_and_the_packages_inclusive_time():
    profiler = cProfile.Profile(time.process_time)
    profiler.runcall(busy)
    top = render_profile.cpu_top_functions(pstats.Stats(profiler), 5)
    own = [ms for _, ms in top["self"]]
    assert own == sorted(own, reverse=True) and len(own) <= 5
    assert any(name.startswith("page_id (") and "upstack/cache/batch.py" in name for name, _ in top["inclusive"])
    assert all("upstack/" in name or "newsroom/" in name for name, _ in top["inclusive"])  # busy() is not ours


@pytest.mark.parametrize("argv", [["--blocks", "0"], ["--renders", "3", "--blocks", "4"], ["--renders", "0"]])
def test_bad_counts_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        render_profile.main(argv)
    assert exit_.value.code == 2 and "--blocks" in capsys.readouterr().err
