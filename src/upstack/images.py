"""Thumbnails: every configured size of an image, as optimised JPEG and WebP.

``UPSTACK["THUMBNAIL_SIZES"]`` names the sizes (``{"small": [320, 180], ...}``); each thumbnail is
cropped to fill its box and stored in the default storage (the filesystem, or S3 through
django-storages) under a name derived from the source's name, so generating again finds the files
and does nothing (idempotent). ``register(Model, "field")`` makes every save that sets a new image
enqueue the generation after commit; ``url(image, size, fmt)`` (and ``{% thumbnail %}``) returns a
thumbnail's URL, generating it on the spot if a worker has not yet, so a page never shows a broken
image. Pillow is imported here only.

Which thumbnails exist is remembered in the ``data`` cache namespace (``EXISTS_TTL``), written by
whoever made or first found the file, so a render asks the storage nothing: with S3, ``exists()`` is
one HEAD request per image per render. Only a thumbnail nobody has recorded yet costs one
``exists()``, once. A thumbnail deleted from the storage by hand needs ``manage.py upstack cache
flush data`` (or waits out ``EXISTS_TTL``).
"""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import PurePosixPath

from django.core.files.base import ContentFile
from django.db.models.signals import post_init, post_save

from . import conf

logger = logging.getLogger("upstack.images")
EXISTS_TTL = 30 * 86400
EXISTS_NAMESPACE = "data"
FORMATS = {"jpeg": ("jpg", {"quality": 82, "optimize": True, "progressive": True}),
           "webp": ("webp", {"quality": 80, "method": 6})}


def sizes() -> dict[str, tuple[int, int]]:
    return {name: (int(w), int(h)) for name, (w, h) in conf.get("THUMBNAIL_SIZES").items()}


def thumbnail_name(source_name: str, size: str, fmt: str) -> str:
    """Where a thumbnail of ``source_name`` lives: stable, so it can be found again."""
    if size not in sizes():
        raise ValueError(f"unknown thumbnail size {size!r}; sizes: {', '.join(sizes())}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown thumbnail format {fmt!r}; formats: {', '.join(FORMATS)}")
    digest = hashlib.sha1(source_name.encode(), usedforsecurity=False).hexdigest()[:12]
    return f"thumbs/{digest}/{PurePosixPath(source_name).stem}-{size}.{FORMATS[fmt][0]}"


def _existence():
    """The cache recording which thumbnails exist (None when the project has no ``data`` alias)."""
    from django.core.cache import caches
    from django.core.cache.backends.base import InvalidCacheBackendError

    try:
        return caches[EXISTS_NAMESPACE]
    except InvalidCacheBackendError:
        return None


def _exists_key(name: str) -> str:
    return "thumb-exists:" + hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()


def known(name: str) -> bool:
    cache = _existence()
    return bool(cache is not None and cache.get(_exists_key(name)))


def remember(name: str) -> None:
    cache = _existence()
    if cache is not None:
        cache.set(_exists_key(name), True, EXISTS_TTL)


def generate(image, size: str, fmt: str) -> str:
    """Create one thumbnail unless it exists; returns its storage name."""
    from PIL import Image, ImageOps

    name = thumbnail_name(image.name, size, fmt)
    storage = image.storage
    if known(name) or storage.exists(name):
        remember(name)
        return name
    with storage.open(image.name, "rb") as source:
        picture = Image.open(source)
        picture = ImageOps.exif_transpose(picture)
        picture = ImageOps.fit(picture.convert("RGB"), sizes()[size], Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt.upper(), **FORMATS[fmt][1])
    if not storage.exists(name):  # another worker may have just written it
        saved = storage.save(name, ContentFile(buffer.getvalue()))
        if saved != name:  # lost a race: keep the first, drop ours
            storage.delete(saved)
    remember(name)
    return name


def generate_all(image) -> list[str]:
    return [generate(image, size, fmt) for size in sizes() for fmt in FORMATS]


def generate_for(app_label: str, model: str, pk, field: str) -> list[str]:
    """Every configured thumbnail of one instance's image field (task ``upstack.thumbnails``;
    idempotent: existing ones are kept). Nothing for a row or an image that is gone."""
    from django.apps import apps

    instance = apps.get_model(app_label, model).objects.filter(pk=pk).first()
    if instance is None or not getattr(instance, field):
        return []
    return generate_all(getattr(instance, field))


def url(image, size: str, fmt: str = "jpeg") -> str:
    """The thumbnail's URL; generated now if it does not exist yet (never a broken image)."""
    if not image:
        return ""
    name = thumbnail_name(image.name, size, fmt)
    if not known(name):
        try:
            generate(image, size, fmt)  # one exists() if a worker made it; it records it either way
        except Exception:  # noqa: BLE001 - a bad upload shows the original, not an error page
            logger.exception("could not make the %s %s thumbnail of %s", size, fmt, image.name)
            return image.url
    return image.storage.url(name)


def register(model, field: str) -> None:
    """Enqueue thumbnail generation after commit whenever ``model.field`` gets a new image."""
    def remember(sender, instance, **kwargs):
        instance.__dict__[f"_upstack_image_{field}"] = getattr(instance, field).name if field in instance.__dict__ else None

    def saved(sender, instance, raw=False, **kwargs):
        current = getattr(instance, field)
        if raw or not current or instance.__dict__.get(f"_upstack_image_{field}") == current.name:
            return
        instance.__dict__[f"_upstack_image_{field}"] = current.name
        from .tasks import celery_installed, enqueue_on_commit

        if not celery_installed():  # no workers: url() makes each thumbnail on its first view
            return
        enqueue_on_commit("upstack.thumbnails", model._meta.app_label, model._meta.model_name, instance.pk, field)

    uid = f"upstack.images.{model._meta.label_lower}.{field}"
    post_init.connect(remember, sender=model, weak=False, dispatch_uid=uid + ".init")
    post_save.connect(saved, sender=model, weak=False, dispatch_uid=uid + ".save")
