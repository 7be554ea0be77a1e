"""MNIST-style preprocessing: MNIST digits survive it unchanged; drawings and photos of
digits (dark on light, any size, off centre, RGB/RGBA) come out as MNIST-like 28x28 inputs."""

import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from chainrule.preprocess import BlankImageError, load_image, mnist_image

MNIST = Path(__file__).resolve().parents[1] / "src/chainrule/datasets/mnist"


@pytest.fixture(scope="module")
def test_images():
    raw = gzip.open(MNIST / "t10k-images-idx3-ubyte.gz").read()
    return np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)[:50] / 255.0


def centre_of_mass(field):
    ys, xs = np.indices(field.shape)
    return (ys * field).sum() / field.sum(), (xs * field).sum() / field.sum()


def test_mnist_digits_are_a_fixed_point(test_images):
    """MNIST was made by these steps, so its digits come back (almost) as they were."""
    for image in test_images:
        out = mnist_image(image).reshape(28, 28)
        assert np.corrcoef(out.ravel(), image.ravel())[0, 1] > 0.97


def test_dark_on_light_large_off_centre_digit(test_images):
    # a digit drawn black on white, 5x larger, in a corner of a 300x200 canvas
    digit = np.kron(test_images[0], np.ones((5, 5)))
    canvas = np.ones((300, 200))
    canvas[10:150, 20:160] = 1 - digit
    out = mnist_image(canvas * 255).reshape(28, 28)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    rows = np.flatnonzero((out > 0.1).any(axis=1))
    cols = np.flatnonzero((out > 0.1).any(axis=0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 21  # fits the 20x20 box
    com = centre_of_mass(out)
    assert abs(com[0] - 14) < 1 and abs(com[1] - 14) < 1
    assert np.corrcoef(out.ravel(), test_images[0].ravel())[0, 1] > 0.9


def test_a_given_background_overrides_the_border_guess(test_images):
    """A light digit framed by ink along the edges looks like dark-on-paper to the border
    guess (inverted: the frame becomes the digit's background); background="dark" keeps it,
    "light" inverts a dark digit on paper, anything else is refused."""
    framed = np.zeros((140, 140))
    framed[42:98, 42:98] = np.kron(test_images[2], np.ones((2, 2))) > 0.5
    framed[:6], framed[-6:], framed[:, :6], framed[:, -6:] = 1, 1, 1, 1  # a frame of ink
    guessed = mnist_image(framed).reshape(28, 28)
    kept = mnist_image(framed, background="dark").reshape(28, 28)
    assert guessed.mean() > 0.5  # inverted: mostly light, a dark digit
    top = np.flatnonzero((kept > 0.5).any(axis=1))[0]
    assert kept.mean() < 0.5 and (kept[top] > 0.5).sum() >= 15  # the frame is ink, as drawn
    paper = 1.0 - test_images[3]  # dark on light, whatever its border
    np.testing.assert_allclose(
        mnist_image(paper, background="light"), mnist_image(test_images[3]), atol=1e-6
    )
    with pytest.raises(ValueError, match="background must be 'dark', 'light' or None"):
        mnist_image(paper, background="white")


def test_a_16_bit_png_reads_as_its_8_bit_copy(tmp_path, test_images):
    """A 16-bit gray PNG (mode I;16) by its own scale, 0-65535: converting it to 8 bits, as
    for other modes, clipped everything above 255 and left 3 pixels of the digit."""
    digit = (test_images[0] * 255).round().astype(np.uint8)
    Image.fromarray(digit).save(tmp_path / "d8.png")
    Image.fromarray(digit.astype(np.uint16) * 257).save(tmp_path / "d16.png")
    assert Image.open(tmp_path / "d16.png").mode == "I;16"
    np.testing.assert_allclose(load_image(tmp_path / "d16.png"), load_image(tmp_path / "d8.png"))
    np.testing.assert_allclose(mnist_image(tmp_path / "d16.png"), mnist_image(tmp_path / "d8.png"))


def test_gray_paper_is_inverted_and_its_gray_removed(test_images):
    """A dark digit on gray paper (a photo's 0.6, not white) is dark-on-light (the border is
    brighter than 0.5), and the 0.4 the paper leaves once inverted is removed: else the whole
    picture would count as the digit."""
    paper = 0.6 * (1.0 - test_images[5])
    out = mnist_image(paper)
    assert np.corrcoef(out, mnist_image(test_images[5]))[0, 1] > 0.95


def test_noise_on_blank_paper_stays_blank_and_faint_ink_keeps_its_shape(test_images):
    """Removing the background does not blow noise up: a blank page with noise is blank, and
    a faint digit on a noisy dark background is found with its own bounding box."""
    rng = np.random.default_rng(0)
    for page in (1.0 - np.abs(rng.normal(0, 0.01, (60, 60))), 0.6 + rng.normal(0, 0.01, (60, 60))):
        with pytest.raises(BlankImageError):
            mnist_image(np.clip(page, 0, 1))
    faint = np.clip(0.3 * test_images[6] + np.abs(rng.normal(0, 0.01, (28, 28))), 0, 1)
    assert np.corrcoef(mnist_image(faint), mnist_image(test_images[6]))[0, 1] > 0.9


def test_values_just_above_1_are_rounding_not_the_0_255_scale(test_images):
    image = test_images[4].copy()
    image[np.unravel_index(image.argmax(), image.shape)] = 1.0000001
    np.testing.assert_allclose(mnist_image(image), mnist_image(test_images[4]), atol=1e-6)
    assert mnist_image(image * 255).max() > 0.9  # 0-255 still scaled


def test_rgb_and_rgba_images_and_files(tmp_path, test_images):
    gray = (test_images[1] * 255).astype(np.uint8)
    rgb = np.stack([gray] * 3, axis=-1)
    rgba = np.concatenate([rgb, np.full((28, 28, 1), 255, np.uint8)], axis=-1)
    expected = mnist_image(gray)
    np.testing.assert_allclose(mnist_image(rgb), expected, atol=0.02)
    np.testing.assert_allclose(mnist_image(rgba), expected, atol=0.02)
    path = tmp_path / "digit.png"
    Image.fromarray(255 - gray).save(path)  # saved dark on light, as a scan would be
    np.testing.assert_allclose(mnist_image(str(path)), expected, atol=0.02)


def test_transparent_background_counts_as_background(test_images):
    """A canvas drawing: black strokes, transparent elsewhere."""
    alpha = (test_images[2] * 255).astype(np.uint8)
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = alpha
    out = mnist_image(rgba)
    assert np.corrcoef(out, test_images[2].ravel())[0, 1] > 0.97


def test_blank_and_bad_images():
    with pytest.raises(BlankImageError, match="blank"):
        mnist_image(np.zeros((50, 50)))
    for shade in (0.3, 128 / 255, 0.8):  # a gray page, e.g. a photo of blank paper
        with pytest.raises(BlankImageError, match="one shade"):
            mnist_image(np.full((40, 40), shade))
    with pytest.raises(BlankImageError, match="one shade"):
        mnist_image([128] * 784)  # 8-bit values, as the web page would send them
    faint = np.full((40, 40), 0.5)
    faint[10:30, 18:22] = 0.9  # a light stroke on the gray page is still a digit
    assert mnist_image(faint).max() > 0.5
    with pytest.raises(ValueError, match="expected a 2-D gray or RGB"):
        mnist_image(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="NaN"):
        mnist_image(np.full((5, 5), np.nan))


def test_unreadable_file(tmp_path):
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"hello")
    with pytest.raises(ValueError, match="not a readable image"):
        mnist_image(str(bad))


def test_exif_orientation_is_honoured(tmp_path, test_images):
    """A photo stored sideways with an EXIF orientation tag reads as it is shown: upright."""
    from chainrule.preprocess import load_image

    digit = np.full((28, 40), 255, np.uint8)  # dark on light, like a photo; not square
    digit[:, 6:34] = 255 * (1 - test_images[1])
    upright = Image.fromarray(digit)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # tag 6 turns it back on display
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    stored.save(tmp_path / "tagged.jpg", exif=exif, quality=95)
    stored.save(tmp_path / "untagged.jpg", quality=95)
    tagged = load_image(tmp_path / "tagged.jpg")
    assert tagged.shape == digit.shape
    assert np.abs(tagged * 255 - digit).mean() < 8  # JPEG noise only
    assert load_image(tmp_path / "untagged.jpg").shape == digit.shape[::-1]
    assert np.abs(mnist_image(tagged) - mnist_image(upright)).max() < 0.2


def test_an_image_over_the_decompression_bomb_limit_is_refused(tmp_path, monkeypatch):
    from chainrule.preprocess import load_image

    Image.new("L", (200, 100)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 15_000)  # 20,000 pixels: over, not 2x over
    with pytest.raises(ValueError, match="not a readable image.*decompression bomb"):
        load_image(tmp_path / "big.png")
