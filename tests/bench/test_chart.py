"""The chart: what it plots (pure), and that it is drawn as a PNG."""

from bench import chart
from tests.bench.test_report import with_peers


def test_each_stack_is_plotted_at_its_staleness_and_throughput():
    found = chart.points(with_peers())
    assert ("sitecache", 58.0, 1000) in found["anonymous"]
    assert ("upstack", 0.04, 1000) in found["anonymous"]
    assert ("plain", chart.FLOOR_S, 50) in found["anonymous"]  # never stale: drawn at the axis floor
    assert {stack for stack, _, _ in found["mixed_writes"]} == {"plain", "typical", "sitecache", "microcache", "upstack"}


def test_the_chart_is_written_as_png(tmp_path):
    path = chart.write(with_peers(), tmp_path / "docs" / "benchmarks.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
