"""The edge contract has one home (upstack.edge.contract): the URLs, the page middleware and the
rendered VCL take its names from there, so a change is made once."""

import dataclasses

from django.urls import reverse

from upstack.edge import contract, esi, fresh
from upstack.stack import project, render
from upstack.stack.context import Resources
from upstack.stack.services import STANDARD_PORTS


def test_the_urls_and_modules_use_the_contract():
    assert reverse("upstack-live") == contract.HEALTH_PATH and reverse("upstack-ready") == contract.READY_PATH
    assert reverse("upstack-esi", args=["userbar"]) == contract.ESI_PREFIX + "userbar/"
    assert esi.PREFIX == contract.ESI_PREFIX and fresh.COOKIE == contract.FRESH_COOKIE


def test_the_vcl_takes_the_esi_prefix_and_the_fresh_cookie_from_the_context():
    ctx = project.context(Resources(2, 2 << 30), ports={"app": 1, **STANDARD_PORTS})
    vcl = render.render("systemd", ctx)["etc/varnish/default.vcl"]
    assert f'"^{contract.ESI_PREFIX}"' in vcl and f"{contract.FRESH_COOKIE}=" in vcl
    moved = dataclasses.replace(ctx, esi_prefix="/_fragments/", fresh_cookie="site_fresh")
    vcl = render.render("systemd", moved)["etc/varnish/default.vcl"]
    assert '"^/_fragments/"' in vcl and "site_fresh=" in vcl
    assert "/_esi/" not in vcl and "upstack_fresh" not in vcl  # no copy of the old names left behind
