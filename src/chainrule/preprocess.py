"""Turn a picture of a digit into an MNIST-style input, as the MNIST data was made.

MNIST digits are white on black, their bounding box scaled to fit 20x20 pixels (keeping the
aspect ratio, anti-aliased), then placed in a 28x28 field so that their centre of mass sits at
the centre. :func:`mnist_image` repeats those steps for any picture: a photo or scan of a digit,
a drawing from the web page, or an array. It first makes the picture white on black: a dark
digit on light paper is inverted, and a background that is then gray rather than black (paper
in a photo) is subtracted, white staying white. Pillow (``pip install
chainrule[images]``) does the resampling and reads image files.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

__all__ = ["mnist_image", "load_image", "BlankImageError"]


class BlankImageError(ValueError):
    """The picture has no digit in it (all background)."""


def _pillow():
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "reading and resizing images needs Pillow: pip install 'chainrule[images]'"
        ) from exc
    return Image


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read a PNG/JPEG/... file as a float array in [0, 1]: (H, W) gray or (H, W, 3/4).

    The image is turned upright as its EXIF orientation says (phone photos are often stored
    sideways with such a tag). Images over Pillow's decompression-bomb limit (about 89
    million pixels) are refused.
    """
    Image = _pillow()
    from PIL import ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = _open_upright(Image, ImageOps, path)
        with img:
            if img.mode.startswith("I") or img.mode == "F":  # 16- or 32-bit gray, or floats
                # by their own scale: converting to 8 bits would clip everything above 255
                array = np.asarray(img, dtype=np.float64)
                wide = img.mode.startswith("I;16") or array.max() > 255
                top = 65535.0 if wide else 255.0 if array.max() > 1 else 1.0
                return np.clip(array / top, 0.0, 1.0).astype(np.float32)
            if img.mode not in ("L", "RGB", "RGBA", "LA"):
                img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
            array = np.asarray(img, dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise
    except Exception as exc:  # Pillow raises several types for bad files
        raise ValueError(f"{path}: not a readable image ({exc})") from exc
    return array


def _open_upright(Image, ImageOps, path):
    with Image.open(path) as img:
        img.load()
        return ImageOps.exif_transpose(img)  # a new image, upright


# a [0, 1] image may exceed 1 by rounding (1.0000001); beyond this it is on the 0-255 scale
ROUNDING_SLACK = 1e-3
BACKGROUNDS = (None, "dark", "light")


def _unit_scale(image: np.ndarray, integers: bool = False) -> np.ndarray:
    """Gray levels of ``image`` on [0, 1]: divided by 255 when they are ``integers`` (8-bit
    values) or any exceeds 1 by more than :data:`ROUNDING_SLACK`; as they are otherwise
    (values just above 1 are a [0, 1] image's rounding, for the caller to clip)."""
    if integers or image.max() > 1 + ROUNDING_SLACK:
        return image / 255.0
    return image


def _to_gray(image: np.ndarray, background: str | None = None) -> np.ndarray:
    """(H, W) in [0, 1], white digit on black; transparent pixels count as background.
    ``background`` "light" inverts, "dark" does not, None decides from the border."""
    raw = np.asarray(image)
    if raw.dtype.kind not in "biuf":
        raise ValueError(f"expected a numeric image, got dtype {raw.dtype}")
    img = raw.astype(np.float32)
    if img.size == 0 or not np.isfinite(img).all():
        raise ValueError("image is empty or contains NaN/inf")
    img = _unit_scale(img, integers=raw.dtype.kind in "iu")
    if img.ndim == 1 and img.size == 784:
        img = img.reshape(28, 28)
    if img.ndim == 3 and img.shape[2] in (2, 4):  # gray/colour with alpha
        alpha = img[..., -1:]
        colour = img[..., :-1]
        gray = colour.mean(axis=2) if colour.shape[2] == 3 else colour[..., 0]
        # transparent pixels are background: composite onto the colour opposite to the
        # strokes (dark strokes on transparent -> white paper)
        opaque = alpha[..., 0] > 0.5
        fill = 1.0 if opaque.any() and np.median(gray[opaque]) < 0.5 else 0.0
        img = gray * alpha[..., 0] + fill * (1 - alpha[..., 0])
    elif img.ndim == 3 and img.shape[2] == 3:
        img = img @ np.array([0.299, 0.587, 0.114], np.float32)
    elif img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D gray or RGB(A) image, got shape {np.shape(image)}")
    img = np.clip(img, 0.0, 1.0)
    if background is None:  # guessed: a light border is paper
        background = "light" if np.median(_border(img)) > 0.5 else "dark"
    if background == "light":  # dark digit on a light background: invert
        img = 1.0 - img
    # a background that is not black (gray paper in a photo: 0.4 once inverted) goes to 0, as
    # MNIST's, white staying white: else all of it would count as the digit. (Not stretched to
    # the ink's maximum: that would make a blank page's noise, or faint ink's, full white.)
    level = float(np.median(_border(img)))
    if 0 < level < 0.5:
        img = np.clip((img - level) / (1.0 - level), 0.0, 1.0)
    return img


def _border(img: np.ndarray) -> np.ndarray:
    """The pixels along the four edges of ``img`` (H, W)."""
    return np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])


def mnist_image(image, threshold: float = 0.1, background: str | None = None) -> np.ndarray:
    """An MNIST-style input from a picture of one digit.

    Parameters
    ----------
    image : array or path
        (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA, values in [0, 1] or [0, 255] (an
        integer array, or any value above 1.001); a 784 vector; or an image file's path.
    threshold : float
        Pixels brighter than this (after inversion and the background's removal) belong to
        the digit's bounding box.
    background : {None, "dark", "light"}
        "dark": a light digit on a dark background, as MNIST's; "light": a dark digit on
        light paper (inverted); None (default): decided by the image's border, light if most
        of it is brighter than 0.5 (a drawing with much ink along its edges can be mistaken:
        say which when you know).

    Returns
    -------
    ndarray of shape (784,), float32 in [0, 1]
        The 28x28 field, row-major: the digit's bounding box scaled into 20x20 and its centre
        of mass at the centre. Raises :class:`BlankImageError` if there is no digit.
    """
    if background not in BACKGROUNDS:
        raise ValueError(f"background must be 'dark', 'light' or None, got {background!r}")
    if isinstance(image, (str, os.PathLike)):
        image = load_image(image)
    gray = _to_gray(image, background)
    if gray.max() - gray.min() <= threshold:  # one flat shade (a gray page): no strokes
        raise BlankImageError("the image is blank: one shade, no digit found")
    rows = np.flatnonzero((gray > threshold).any(axis=1))
    cols = np.flatnonzero((gray > threshold).any(axis=0))
    if rows.size == 0:
        raise BlankImageError("the image is blank: no digit found")
    digit = gray[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = digit.shape
    scale = 20.0 / max(height, width)
    new_h = max(1, round(height * scale))
    new_w = max(1, round(width * scale))
    Image = _pillow()
    resized = Image.fromarray(digit.astype(np.float32), mode="F").resize(
        (new_w, new_h), Image.Resampling.LANCZOS
    )
    small = np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)
    # centre of mass of the scaled digit, placed at pixel (14, 14) of the 28x28 field, where
    # the MNIST digits have theirs
    total = small.sum()
    ys, xs = np.indices(small.shape)
    com_y = (ys * small).sum() / total if total > 0 else (new_h - 1) / 2
    com_x = (xs * small).sum() / total if total > 0 else (new_w - 1) / 2
    top = int(round(14.0 - com_y))
    left = int(round(14.0 - com_x))
    top = min(max(top, 0), 28 - new_h)
    left = min(max(left, 0), 28 - new_w)
    field = np.zeros((28, 28), np.float32)
    field[top : top + new_h, left : left + new_w] = small
    return field.reshape(784)
