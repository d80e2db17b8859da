"""Thumbnails ask the storage nothing on a render once anyone has recorded them (upstack.images): with
S3 every ``exists()`` is a HEAD request, per image, per uncached render. The storage here is Django's
FileSystemStorage counting its calls that would be round trips on a remote storage."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from django.core.cache import caches
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage

from upstack import images

ROUND_TRIPS = ("exists", "open", "save", "delete", "size", "listdir", "get_modified_time")


class CountingStorage(FileSystemStorage):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []
        for name in ROUND_TRIPS:
            setattr(self, name, self._counted(name, getattr(self, name)))

    def _counted(self, name, method):
        def call(*args, **kwargs):
            self.calls.append(name)
            return method(*args, **kwargs)
        return call


@pytest.fixture
def source(tmp_path):
    from PIL import Image

    storage = CountingStorage(location=tmp_path, base_url="/media/")
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), "navy").save(buffer, format="JPEG")
    name = storage.save("articles/lead.jpg", ContentFile(buffer.getvalue()))
    caches[images.EXISTS_NAMESPACE].clear()
    storage.calls.clear()
    return SimpleNamespace(name=name, storage=storage, url=storage.url(name))


def render_all(image) -> list[str]:
    return [images.url(image, size, fmt) for size in images.sizes() for fmt in images.FORMATS]


def test_renders_after_the_first_make_no_storage_call(source):
    first = render_all(source)  # nothing made yet: made on the spot, which does cost calls
    assert "save" in source.storage.calls
    source.storage.calls.clear()
    for _ in range(20):
        assert render_all(source) == first
    assert source.storage.calls == []


def test_thumbnails_a_worker_made_cost_a_render_nothing(source):
    images.generate_all(source)  # the worker, after the upload
    source.storage.calls.clear()
    urls = render_all(source)
    assert source.storage.calls == []
    assert all(source.storage.path(url.removeprefix("/media/")) for url in urls)


def test_a_thumbnail_nobody_recorded_costs_one_exists_once(source):
    images.generate_all(source)
    caches[images.EXISTS_NAMESPACE].clear()  # made before the record existed, or the cache was flushed
    source.storage.calls.clear()
    render_all(source)
    assert source.storage.calls == ["exists"] * len(images.sizes()) * len(images.FORMATS)
    source.storage.calls.clear()
    render_all(source)
    assert source.storage.calls == []


def test_without_the_record_every_render_would_ask_the_storage(source):
    """Negative: forget the record before each render and the counter sees the round trips."""
    images.generate_all(source)
    source.storage.calls.clear()
    for _ in range(5):
        caches[images.EXISTS_NAMESPACE].clear()
        images.url(source, "small", "webp")
    assert source.storage.calls == ["exists"] * 5
