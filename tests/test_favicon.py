"""The site's icon: linked from every page, and /favicon.ico (asked for by browsers regardless) is
not a 404."""

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_favicon_ico_redirects_to_the_svg_icon_that_exists(client):
    resp = client.get("/favicon.ico")
    assert resp.status_code == 301
    assert resp["Location"] == f"{settings.STATIC_URL}favicon.svg"
    path = finders.find("favicon.svg")
    assert path and Path(path).read_text(encoding="utf-8").lstrip().startswith("<svg")


def test_pages_link_the_icon(client):
    for url in ("/", "/accounts/login/", "/api/docs/", "/admin/login/"):
        html = client.get(url).content.decode()
        assert f'<link rel="icon" href="{settings.STATIC_URL}favicon.svg" type="image/svg+xml">' in html, url
