"""`upstack seed` / `up`'s seeding: the project's hook or nothing (the package knows no site's models)."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from upstack.ops import seed

CALLS = []


def record(size):
    CALLS.append(size)


@pytest.fixture
def hook(settings):
    def set_hook(value):
        settings.UPSTACK = {**getattr(settings, "UPSTACK", {}), "SEED": value}
    yield set_hook  # the settings fixture's setting_changed resets upstack.conf


def test_the_hook_is_called_with_the_size(hook):
    CALLS.clear()
    hook(f"{__name__}.record")
    assert seed.seed(42) is True
    assert CALLS == [42]


def test_without_a_hook_nothing_is_seeded(hook, capsys):
    hook(None)
    assert seed.seed(10) is False
    call_command("upstack", "seed", "--size", "5")
    assert "nothing to seed" in capsys.readouterr().out


def test_a_hook_that_cannot_be_imported_is_a_clear_error(hook):
    hook("no_such_module.seed")
    with pytest.raises(ImproperlyConfigured, match="no_such_module.seed"):
        seed.seed(1)
    with pytest.raises(CommandError, match="cannot be imported"):
        call_command("upstack", "seed")


def test_a_negative_size_is_bad_input(hook):
    hook(f"{__name__}.record")
    with pytest.raises(ValueError, match="--size"):
        seed.seed(-1)

