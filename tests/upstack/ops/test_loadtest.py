"""``upstack loadtest`` gets its URL list from the project's LOADTEST_PREPARE hook (the package knows
no site), and without a hook from the home page only."""

import pytest

from upstack.ops import loadtest


def fake_prepare(top):
    return [f"/page/{n}/" for n in range(top)], {"UPSTACK_LOADTEST_EXTRA": "yes"}


@pytest.mark.django_db
def test_the_hook_gives_the_urls_and_the_environment(settings, tmp_path):
    settings.UPSTACK = {**settings.UPSTACK, "LOADTEST_PREPARE": f"{__name__}.fake_prepare"}
    env = loadtest.prepare(tmp_path, top=3)
    assert (tmp_path / "urls.txt").read_text().split() == ["/page/0/", "/page/1/", "/page/2/"]
    assert env["UPSTACK_LOADTEST_EXTRA"] == "yes" and env["UPSTACK_LOADTEST_EDITOR_PASSWORD"]


@pytest.mark.django_db
def test_without_a_hook_the_home_page(settings, tmp_path):
    settings.UPSTACK = {**settings.UPSTACK, "LOADTEST_PREPARE": None}
    loadtest.prepare(tmp_path)
    assert (tmp_path / "urls.txt").read_text().split() == ["/"]
