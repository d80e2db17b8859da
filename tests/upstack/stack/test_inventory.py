"""The inventory (``upstack.stack.inventory``): the example parses into the six-host layout, each host's
placement points at the others, and every kind of bad input is refused with an error naming the file,
the line and the host."""

from __future__ import annotations

from pathlib import Path

import pytest

from upstack.stack import inventory
from upstack.stack.inventory import InventoryError

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "inventory.example.toml"
GOOD = """\
[hosts.edge1]
address = "10.0.0.21"
roles = ["edge"]

[hosts.app1]
address = "10.0.0.31"
roles = ["app", "worker"]

[hosts.db1]
address = "10.0.0.41"
roles = ["db-primary", "cache", "broker"]
"""


def test_the_example_is_the_six_host_layout():
    inv = inventory.load(EXAMPLE)
    assert [h.name for h in inv.hosts] == ["lb1", "edge1", "edge2", "app1", "app2", "db1"]
    assert inv.replicas() == {"app": 2, "worker": 1, "varnish": 2}
    db1 = inv.host("db1")
    assert db1.port("db-primary") == 5432 and db1.port("db-replica") == 5433 and db1.memory == 16 * 2**30
    assert inv.host("edge1").cpus == 4 and inv.host("lb1").cpus == 2  # [defaults] unless the host says
    assert db1.line == EXAMPLE.read_text().splitlines().index("[hosts.db1]") + 1
    services = {h.name: inventory.services_of(inv, h) for h in inv.hosts}
    assert services == {"lb1": ("haproxy",), "edge1": ("varnish",), "edge2": ("varnish",),
                        "app1": ("app", "worker", "beat"), "app2": ("app",),
                        "db1": ("postgres", "postgres-replica", "redis-cache", "redis-broker")}


def test_a_placement_binds_here_and_points_at_the_other_hosts():
    inv = inventory.load(EXAMPLE)
    place = inventory.placement(inv, "app2")
    assert place.address == "10.0.0.32" and place.services == ("app",)
    assert place.edges == (("10.0.0.21", 6081), ("10.0.0.22", 6081))
    assert place.apps == (("10.0.0.31", 8000), ("10.0.0.32", 8000))
    assert place.replicas == (("10.0.0.41", 5433),) and place.primary == ("10.0.0.41", 5432)
    assert place.reach["redis-broker"] == ("10.0.0.41", 6380) and place.load_balancers == ("10.0.0.10",)
    assert set(place.insiders) == {"10.0.0.21", "10.0.0.22", "10.0.0.31", "10.0.0.32"}
    assert place.db_clients == ("10.0.0.31", "10.0.0.32")
    db = inventory.placement(inv, "db1", with_pgbouncer=True)
    assert "pgbouncer" in db.services and db.ports["postgres-replica"] == 5433
    assert db.db_clients == ("10.0.0.31", "10.0.0.32", "10.0.0.41")  # PgBouncer connects from the primary


def _with(extra: str) -> str:
    return GOOD + "\n" + extra


@pytest.mark.parametrize("text, message", [
    (_with('[hosts.cache9]\naddress = "10.0.0.9"\nroles = ["cache", "mongodb"]\n'),
     r"inv.toml:13: host 'cache9': unknown role\(s\) 'mongodb'; choose from lb, edge"),
    (_with('[hosts.edge2]\naddress = "10.0.0.21"\nroles = ["edge"]\n'),
     r"inv.toml:13: host 'edge2': address 10.0.0.21 is taken by host 'edge1' \(line 1\)"),
    (GOOD.replace('roles = ["app", "worker"]', 'roles = ["app"]'), r"no host has the role 'worker'"),
    (GOOD.replace('"db-primary", ', ""), r"no host has the role 'db-primary'; the layout needs exactly one"),
    (_with('[hosts.db2]\naddress = "10.0.0.42"\nroles = ["cache"]\n'),
     r"2 hosts have the role 'cache' \(db1 line 9, db2 line 13\); it takes exactly one"),
    (GOOD.replace('"10.0.0.31"', '"app1.example.com"'), r"inv.toml:5: host 'app1': address 'app1.example.com' is not"),
    (GOOD.replace('"10.0.0.31"', '"10.0.0.300"'), r"host 'app1': address '10.0.0.300' is not a usable IPv4"),
    (GOOD.replace('"10.0.0.31"', '"0.0.0.0"'), r"address '0.0.0.0' is not a usable IPv4"),
    (GOOD.replace('"10.0.0.31"', '"fd00::31"'), r"address 'fd00::31' is not a usable IPv4"),
    (GOOD.replace('address = "10.0.0.31"', "address = 10"), r"address 10 is not a usable IPv4"),
    (GOOD.replace('address = "10.0.0.31"\n', ""), r"inv.toml:5: host 'app1': no address"),
    (GOOD.replace('roles = ["edge"]', "roles = []"), r"host 'edge1': roles must be a non-empty list"),
    (GOOD.replace('roles = ["edge"]', 'roles = ["edge", "edge"]'), r"a role is listed twice"),
    (GOOD.replace('roles = ["edge"]', 'roles = ["edge"]\nrole = "x"'), r"host 'edge1': unknown key\(s\) role;"),
    (GOOD.replace("[hosts.edge1]", "[hosts.Edge_1]"), r"host 'Edge_1': a host name is lower-case letters"),
    (GOOD.replace('roles = ["db-primary", "cache", "broker"]',
                  'roles = ["db-primary", "db-replica", "cache", "broker"]'),
     r"host 'db1': db-primary and db-replica would both listen on port 5432; give one its own, e.g. "
     r"ports = \{ db-replica = 5433 \}"),
    (GOOD.replace('roles = ["edge"]', 'roles = ["edge"]\nports = { app = 8001 }'),
     r"host 'edge1': ports.app: not a role of this host that listens"),
    (GOOD.replace('roles = ["edge"]', 'roles = ["edge"]\nports = { edge = 70000 }'),
     r"ports.edge must be a port 1-65535, got 70000"),
    (GOOD.replace('roles = ["edge"]', 'roles = ["edge"]\nmemory = "lots"'), r"host 'edge1': memory: unrecognised"),
    (GOOD.replace('roles = ["edge"]', 'roles = ["edge"]\ncpus = 0'), r"cpus must be a whole number of at least 1"),
    ("[defaults]\ncpus = 2\ndisk = 3\n" + GOOD, r"\[defaults\] takes cpus and memory only"),
    ("project = 'x'\n" + GOOD, r"unknown top-level key\(s\) project"),
    ("[defaults]\ncpus = 2\n", r"no hosts; add \[hosts.NAME\] tables"),
    (GOOD.replace('roles = ["edge"]', 'roles = ["edge"'), r"inv.toml: not valid TOML: .*line 5"),
])
def test_a_bad_inventory_is_refused_naming_the_line_and_host(text, message):
    with pytest.raises(InventoryError, match=message):
        inventory.parse(text, "inv.toml")


def test_the_good_base_of_the_negative_cases_parses():
    """The cases above break GOOD one way each: GOOD itself must pass, or they would prove nothing."""
    inv = inventory.parse(GOOD, "inv.toml")
    assert [h.line for h in inv.hosts] == [1, 5, 9]
    assert inventory.placement(inv, "db1").replicas == ()


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(InventoryError, match=r"cannot read the inventory .*nope.toml: No such file"):
        inventory.load(tmp_path / "nope.toml")
