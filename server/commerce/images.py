"""Product photos as a phone sends them, made safe and small: decoded by Pillow with the
format the upload declared (nothing else is tried), refused when too many pixels or
broken, turned upright by its EXIF orientation, stripped of every other metadata (GPS
included) and re-encoded as a card image and a square thumbnail, both RGB JPEG.

Pure work on bytes, no I/O: the gallery runs it in a thread, a few at a time.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from server.platform.errors import RuleError

# Declared type -> the one Pillow decoder allowed to read it.
FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
# A 48 MP phone photo is 8000 x 6000; anything much bigger is a bomb, not a photo.
MAX_PIXELS = 50_000_000
JPEG_QUALITY = 82
MAX_ICC_BYTES = 65536  # colour profiles are kept (P3 photos look right); nothing else is
BACKGROUND = (255, 255, 255)  # what transparent parts become (JPEG has no alpha)


class ImageRefused(RuleError):
    """The upload is not an image we can use; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="bad_image")


@dataclass(frozen=True)
class Made:
    card: bytes  # JPEG, long side at most card_px
    thumb: bytes  # JPEG, thumb_px square
    width: int  # the card's size
    height: int


def declared_format(content_type: str) -> str | None:
    """The Pillow format for an upload's Content-Type, None if not one we take."""
    return FORMATS.get(content_type.split(";")[0].strip().lower())


def _open(data: bytes, fmt: str, draft_px: int) -> Image.Image:
    if not data:
        raise ImageRefused("the file is empty")
    try:
        img = Image.open(io.BytesIO(data), formats=[fmt])
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ImageRefused(f"not a readable {fmt} image") from None
    width, height = img.size
    if width < 1 or height < 1 or width * height > MAX_PIXELS:
        raise ImageRefused(f"the image is {width} x {height}: at most {MAX_PIXELS} pixels")
    if fmt == "JPEG":
        # Decode at 1/2, 1/4 or 1/8 scale when the card is that much smaller: a 48 MP photo
        # then costs a few MB, not 150.
        img.draft("RGB", (draft_px, draft_px))
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        raise ImageRefused("the image is truncated or corrupt") from None
    return img


def _flatten(img: Image.Image) -> Image.Image:
    """RGB, with any transparency laid on white."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        out = Image.new("RGB", rgba.size, BACKGROUND)
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    return img.convert("RGB")


def _jpeg(img: Image.Image, icc: bytes | None) -> bytes:
    img.info = {}  # Pillow would carry a comment over from the source otherwise
    buf = io.BytesIO()
    extra = {"icc_profile": icc} if icc else {}
    img.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True, **extra)
    return buf.getvalue()


def make_images(data: bytes, content_type: str, card_px: int, thumb_px: int) -> Made:
    """The card and thumbnail of an uploaded photo. Raises ImageRefused (code bad_image)
    for anything that is not a sound image of the declared type."""
    fmt = declared_format(content_type)
    if fmt is None:
        raise RuleError("send image/jpeg, image/png or image/webp",
                        code="unsupported_media_type")
    img = _open(data, fmt, card_px)
    icc = img.info.get("icc_profile")
    icc = icc if isinstance(icc, bytes) and len(icc) <= MAX_ICC_BYTES else None
    try:
        upright = ImageOps.exif_transpose(img) or img
    except (OSError, SyntaxError, ValueError, TypeError):
        upright = img  # a broken EXIF block: keep the pixels as stored
    rgb = _flatten(upright)
    card = rgb.copy()
    card.thumbnail((card_px, card_px), Image.Resampling.LANCZOS)
    thumb = ImageOps.fit(rgb, (thumb_px, thumb_px), Image.Resampling.LANCZOS)
    # New images carry no EXIF, XMP or comments; only the colour profile is passed on.
    return Made(card=_jpeg(card, icc), thumb=_jpeg(thumb, icc), width=card.width,
                height=card.height)
