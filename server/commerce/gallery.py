"""Hosts' uploaded product photos: who owns which (Redis ``image:{id}``,
``host:{id}:images``, capped per host) and their card and thumbnail files in
``<data dir>/uploads``. Decoding runs in a thread, at most ``SLOTS`` at once, so a burst
of uploads neither blocks the event loop (and the live streams on it) nor holds many
decoded photos in memory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import time
from pathlib import Path

import redis.asyncio as aioredis

from server.commerce import lua
from server.commerce.images import Made, make_images
from server.platform.config import UploadsConfig
from server.platform.errors import RuleError

log = logging.getLogger("stallcast.commerce")

SLOTS = 2  # photos decoded at once per node
KINDS = ("card", "thumb")
IMAGE_ID = re.compile(r"^i_[0-9a-f]{24}$")
# The files' names, and the URL paths products refer to them by.
FILE_NAME = re.compile(r"^(i_[0-9a-f]{24})-(card|thumb)\.jpg$")
URL = re.compile(r"^/uploads/(i_[0-9a-f]{24})-(card|thumb)\.jpg$")


def image_of_url(url: str) -> str | None:
    """The image id an ``/uploads/...`` URL names; None for any other URL."""
    match = URL.match(url)
    return match.group(1) if match else None


def file_name(image_id: str, kind: str) -> str:
    return f"{image_id}-{kind}.jpg"


class Gallery:
    def __init__(self, redis: aioredis.Redis, folder: Path, settings: UploadsConfig) -> None:
        self.redis = redis
        self.folder = folder
        self.settings = settings
        self._slots = asyncio.Semaphore(SLOTS)
        self._reserve = redis.register_script(lua.RESERVE_IMAGE)

    async def add(self, host_id: str, data: bytes, content_type: str) -> dict[str, object]:
        """Store a photo for ``host_id``; the upload's answer (ids, URLs, card size).
        Raises RuleError: ``quota`` (the host keeps too many), ``bad_image``,
        ``unsupported_media_type``."""
        image_id = "i_" + secrets.token_hex(12)
        owners = f"host:{host_id}:images"
        if not await self._reserve(keys=[owners, f"image:{image_id}"],
                                   args=[image_id, host_id, self.settings.images_per_host,
                                         time.time()]):
            raise RuleError(f"at most {self.settings.images_per_host} images per host; "
                            "delete some first", code="quota")
        try:
            async with self._slots:
                made = await asyncio.to_thread(make_images, data, content_type,
                                               self.settings.card_px, self.settings.thumb_px)
                await asyncio.to_thread(self._write, image_id, made)
        except BaseException:
            await self._forget(host_id, image_id)
            raise
        await self.redis.hset(f"image:{image_id}", mapping={
            "status": "ready", "width": made.width, "height": made.height})
        log.info("image stored", extra={"host_id": host_id, "image_id": image_id,
                                        "bytes": len(data)})
        return {"image_id": image_id, "card": f"/uploads/{file_name(image_id, 'card')}",
                "thumb": f"/uploads/{file_name(image_id, 'thumb')}",
                "width": made.width, "height": made.height}

    def _write(self, image_id: str, made: Made) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for kind, data in zip(KINDS, (made.card, made.thumb), strict=True):
            final = self.folder / file_name(image_id, kind)
            tmp = final.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, final)  # a reader never sees half a file

    async def owner(self, image_id: str) -> str | None:
        if not IMAGE_ID.match(image_id):
            return None
        owner = await self.redis.hget(f"image:{image_id}", "host_id")
        return str(owner) if owner else None

    async def check_owned(self, host_id: str, urls: list[str]) -> None:
        """A product may show only its own host's uploads (or any outside URL)."""
        for url in urls:
            image_id = image_of_url(url)
            if image_id is not None and await self.owner(image_id) != host_id:
                raise RuleError("that image was not uploaded by this host", code="forbidden")

    async def remove(self, host_id: str, image_id: str) -> None:
        owner = await self.owner(image_id)
        if owner is None:
            raise RuleError("no such image", code="not_found")
        if owner != host_id:
            raise RuleError("this image belongs to another host", code="forbidden")
        await self._forget(host_id, image_id)

    async def _forget(self, host_id: str, image_id: str) -> None:
        for kind in KINDS:
            with contextlib.suppress(FileNotFoundError):
                (self.folder / file_name(image_id, kind)).unlink()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.srem(f"host:{host_id}:images", image_id)
            pipe.delete(f"image:{image_id}")
            await pipe.execute()

    def path(self, name: str) -> Path | None:
        """The file behind ``/uploads/{name}``, None for a name that is not one of ours."""
        return self.folder / name if FILE_NAME.match(name) else None
