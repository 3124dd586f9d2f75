"""Product photos as phones send them: upright, stripped, flattened, sized; anything that is
not a sound image of the declared type is refused before it can cost much."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from server.commerce.images import MAX_PIXELS, ImageRefused, make_images
from server.platform.errors import RuleError

CARD, THUMB = 720, 240


def _jpeg(img: Image.Image, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95, **params)
    return buf.getvalue()


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _halves(width: int, height: int) -> Image.Image:
    """Left half red, right half blue."""
    img = Image.new("RGB", (width, height), (220, 20, 20))
    img.paste((20, 20, 220), (width // 2, 0, width, height))
    return img


def _open(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def test_exif_rotated_photo_comes_out_upright_without_gps() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees clockwise
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (22.0, 30.0, 0.0)
    gps[3], gps[4] = "E", (110.0, 20.0, 0.0)
    raw = _jpeg(_halves(1600, 800), exif=exif.tobytes())
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(0x8825)  # the fixture has GPS
    made = make_images(raw, "image/jpeg", CARD, THUMB)
    card = _open(made.card)
    assert card.format == "JPEG" and card.mode == "RGB"
    assert (card.width, card.height) == (made.width, made.height) == (360, 720)  # portrait
    top, bottom = card.getpixel((180, 100)), card.getpixel((180, 620))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 150 and top[2] < 100  # the stored left (red) is now on top
    assert bottom[2] > 150 and bottom[0] < 100
    for data in (made.card, made.thumb):
        out = _open(data)
        assert not out.getexif() and b"Exif" not in data and b"PhoneMaker" not in data
        assert "comment" not in out.info and "xmp" not in out.info


def test_png_with_alpha_becomes_rgb_jpeg_on_white() -> None:
    img = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    img.paste((0, 128, 0, 255), (0, 0, 150, 200))
    made = make_images(_png(img), "image/png", CARD, THUMB)
    card = _open(made.card)
    assert card.format == "JPEG" and card.mode == "RGB"
    assert (made.width, made.height) == (300, 200)  # never enlarged
    clear = card.getpixel((250, 100))
    assert isinstance(clear, tuple) and min(clear) > 240  # transparent -> white
    thumb = _open(made.thumb)
    assert thumb.size == (THUMB, THUMB) and thumb.mode == "RGB"


def test_sizes_card_long_side_and_square_thumb() -> None:
    made = make_images(_jpeg(_halves(4000, 3000)), "image/jpeg", CARD, THUMB)
    assert (made.width, made.height) == (720, 540)
    assert _open(made.card).size == (720, 540)
    assert _open(made.thumb).size == (240, 240)
    buf = io.BytesIO()
    _halves(900, 1600).save(buf, "WEBP")
    made = make_images(buf.getvalue(), "image/webp", CARD, THUMB)
    assert (made.width, made.height) == (405, 720)


def test_decompression_bomb_is_refused_from_its_header() -> None:
    side = int(MAX_PIXELS ** 0.5) + 100
    bomb = _png(Image.new("1", (side, side)))
    assert len(bomb) < 200_000  # tiny on the wire, huge in memory
    with pytest.raises(ImageRefused) as err:
        make_images(bomb, "image/png", CARD, THUMB)
    assert err.value.code == "bad_image" and "pixels" in str(err.value)


@pytest.mark.parametrize("case", ["empty", "truncated", "garbage", "png_as_jpeg",
                                  "jpeg_as_webp"])
def test_broken_or_mislabelled_files_are_refused(case: str) -> None:
    photo = _jpeg(_halves(800, 600))
    data, kind = {
        "empty": (b"", "image/jpeg"),
        "truncated": (photo[: len(photo) // 2], "image/jpeg"),
        "garbage": (b"\xff\xd8\xff" + b"\x00" * 500, "image/jpeg"),
        "png_as_jpeg": (_png(_halves(80, 60)), "image/jpeg"),
        "jpeg_as_webp": (photo, "image/webp"),
    }[case]
    with pytest.raises(ImageRefused) as err:
        make_images(data, kind, CARD, THUMB)
    assert err.value.code == "bad_image"


def test_types_other_than_jpeg_png_webp_are_not_taken() -> None:
    for kind in ("text/plain", "image/gif", "image/svg+xml", ""):
        with pytest.raises(RuleError) as err:
            make_images(_png(_halves(10, 10)), kind, CARD, THUMB)
        assert err.value.code == "unsupported_media_type"
    made = make_images(_png(_halves(10, 10)), "image/png; charset=binary", CARD, THUMB)
    assert made.width == 10
