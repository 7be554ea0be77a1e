"""The draw-a-digit page in a real browser: draw digits with the mouse (and a finger), read the
label the page shows.

Playwright drives Debian's Chromium (``apt-get install chromium``; Playwright's own browser
download is not used). A small network is trained on MNIST first (a few seconds), so the page
must really recognize what is drawn. The test writes a screenshot of the page to
``tests/artifacts/web-page.png``; with ``CHAINRULE_DOCS_SCREENSHOT=1`` it also refreshes
``docs/web-page.png``.

Skipped when Playwright, Chromium or the ``web`` extra is missing, except in CI (``CI`` set),
where that is a failure.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "tests" / "artifacts" / "web-page.png"
DOCS_SCREENSHOT = ROOT / "docs" / "web-page.png"

if not os.environ.get("CI"):
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True
        )

import uvicorn  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

import chainrule  # noqa: E402
from chainrule.datasets import load_mnist  # noqa: E402
from chainrule.web import create_app  # noqa: E402


def train_small_net(n: int = 20000, epochs: int = 2, batch_size: int = 128, seed: int = 0):
    """A 784-128-64-10 ReLU net trained with Adam on ``n`` MNIST examples, and what the page shows
    about it (per-epoch loss/accuracy, test accuracy on 2000 test examples)."""
    x, y = load_mnist("train")
    x, y = x[:n], y[:n]
    x_val, y_val = load_mnist("test")
    x_val, y_val = x_val[:2000], y_val[:2000]
    net = chainrule.Network.from_sizes([784, 128, 64, 10], hidden="relu", seed=seed)
    rng = np.random.default_rng(seed)
    params = net.parameters()
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    lr, beta1, beta2, step = 2e-3, 0.9, 0.999, 0
    curves = []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            net.train_step(x[batch], net.encode_targets(y[batch]), want_loss=False)
            step += 1
            for p, g, m_i, v_i in zip(params, net.parameter_gradients(), m, v):
                m_i *= beta1
                m_i += (1 - beta1) * g
                v_i *= beta2
                v_i += (1 - beta2) * g * g
                p -= lr * (m_i / (1 - beta1**step)) / (np.sqrt(v_i / (1 - beta2**step)) + 1e-8)
        curves.append(
            {
                "epoch": epoch,
                "loss": net.loss(x[:5000], y[:5000]),
                "accuracy": float((net.predict(x[:5000]) == y[:5000]).mean()),
                "val_loss": net.loss(x_val, y_val),
                "val_accuracy": float((net.predict(x_val) == y_val).mean()),
            }
        )
    info = {
        "name": "test-model (trained by the test)",
        "test_accuracy": curves[-1]["val_accuracy"],
        "training_config": {"optimizer": "adam", "learning_rate": lr, "epochs": epochs},
        "curves": curves,
    }
    return net, info


@contextlib.contextmanager
def serving(app):
    """Run ``app`` with uvicorn on a free port of 127.0.0.1; yields its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def base_url():
    net, info = train_small_net()
    assert info["test_accuracy"] > 0.9
    with serving(create_app(net, info)) as url:
        yield url


FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
FASHION += ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


@pytest.fixture(scope="module")
def named_url():
    """An untrained network whose classes have names (as a model's metadata may give them), a
    tanh hidden layer, and one epoch of curves from a run of ``chainrule train`` (which saves
    the learning rate as ``lr``)."""
    net = chainrule.Network.from_sizes([784, 32, 16, 10], hidden=["relu", "tanh"], seed=0)
    info = {
        "name": "named.npz",
        "classes": FASHION,
        "training_config": {"optimizer": "adam", "lr": 0.003, "epochs": 1},
        "curves": [{"epoch": 1, "loss": 0.32, "accuracy": 0.91}],
    }
    with serving(create_app(net, info)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, base_url):
    """The page, loaded; fails the test if it requests anything from another host or logs an
    error."""
    with open_page(browser, base_url) as page:
        yield page


@contextlib.contextmanager
def open_page(browser, base_url, **options):
    """The page at ``base_url`` in a new context (``options`` as Playwright's ``new_context``),
    loaded; fails if it requests anything from another host or logs an error."""
    options = {"viewport": {"width": 1280, "height": 900}, "has_touch": True, **options}
    context = browser.new_context(**options)
    page = context.new_page()
    foreign, errors = [], []
    page.on(
        "request",
        lambda r: None if r.url.startswith((base_url, "data:")) else foreign.append(r.url),
    )
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base_url + "/")
    page.wait_for_selector("body[data-ready=true]", timeout=10000)
    try:
        yield page
    finally:
        context.close()
    assert not foreign, f"the page loaded from other hosts: {foreign}"
    assert not errors, f"the page logged errors: {errors}"


# strokes in the 280x280 pad's coordinates
ONE = [[(140, 45), (140, 235)]]
SEVEN = [[(75, 60), (205, 60), (120, 235)]]
ZERO = [
    [
        (140 + 62 * math.sin(2 * math.pi * k / 24), 140 - 92 * math.cos(2 * math.pi * k / 24))
        for k in range(25)
    ]
]


def pad_box(page):
    box = page.locator("#pad").bounding_box()
    return box["x"], box["y"], box["width"] / 280


def draw_with_mouse(page, strokes) -> None:
    x0, y0, scale = pad_box(page)
    for stroke in strokes:
        (x, y), rest = stroke[0], stroke[1:]
        page.mouse.move(x0 + x * scale, y0 + y * scale)
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(x0 + x * scale, y0 + y * scale, steps=8)
        page.mouse.up()


def draw_with_finger(page, strokes) -> None:
    """Real touch events (through the DevTools protocol): a finger, not a mouse."""
    x0, y0, scale = pad_box(page)
    cdp = page.context.new_cdp_session(page)
    for stroke in strokes:
        points = []
        for (xa, ya), (xb, yb) in zip(stroke, stroke[1:]):
            points += [(xa + (xb - xa) * t / 8, ya + (yb - ya) * t / 8) for t in range(8)]
        points.append(stroke[-1])
        for i, (x, y) in enumerate(points):
            kind = "touchStart" if i == 0 else "touchMove"
            touch = {"x": x0 + x * scale, "y": y0 + y * scale}
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [touch]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def expect_prediction(page, digit: str) -> str:
    """Wait until #prediction starts with ``digit``; fail showing what it says instead."""
    try:
        page.wait_for_function(
            "d => document.getElementById('prediction').textContent.startsWith(d)",
            arg=digit,
            timeout=10000,
        )
    except Exception:
        text = page.inner_text("#prediction")
        pytest.fail(f"the page shows {text!r} after drawing a {digit}")
    return page.inner_text("#prediction")


def test_draw_digits_with_the_mouse(page):
    assert page.inner_text("#prediction") == "–"
    assert "784 → 128 relu → 64 relu → 10 softmax" in page.inner_text("#model")
    assert page.locator(".curve canvas").count() == 2

    draw_with_mouse(page, ONE)
    text = expect_prediction(page, "1")
    assert text.startswith("1 (") and "% sure" in text
    # a probability is never rounded to a certainty it is not
    shown = page.evaluate("() => [0.99999, 1, 0.9995, 0.998, 0.0005, 0.0001, 0].map(percent)")
    assert shown == [">99.9%", ">99.9%", ">99.9%", "99.8%", "0.1%", "<0.1%", "<0.1%"]

    # the bar of the predicted class is the highlighted one, ten bars in all
    assert page.locator(".bar-fill").count() == 10
    assert page.locator(".bar-fill.top").get_attribute("id") == "bar-1"
    # the 28x28 input is drawn, and one heat strip per hidden layer
    ink = page.evaluate(
        "() => Array.from(document.getElementById('seen').getContext('2d')"
        ".getImageData(0, 0, 28, 28).data).reduce((a, b) => a + b, 0)"
    )
    assert ink > 28 * 28 * 255  # more than the opaque black background
    assert page.locator("#strips canvas").count() == 2
    assert "128 relu units" in page.inner_text("#strips")
    assert "64 relu units" in page.inner_text("#strips")

    page.click("#clear")
    assert page.inner_text("#prediction") == "–"

    draw_with_mouse(page, SEVEN)
    expect_prediction(page, "7")
    page.click("#clear")

    draw_with_mouse(page, ZERO)
    expect_prediction(page, "0")
    page.click("#clear")

    draw_with_mouse(page, SEVEN)
    expect_prediction(page, "7")
    page.wait_for_timeout(300)  # let the last answer settle before the picture
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    if os.environ.get("CHAINRULE_DOCS_SCREENSHOT"):
        shutil.copyfile(SCREENSHOT, DOCS_SCREENSHOT)


def test_ink_along_the_pads_edges_is_not_taken_for_paper(page):
    """The page says its pad is a light digit on black (background "dark"): a frame drawn
    along the edges stays ink, where the server's border guess would invert the drawing."""
    frame = [[(4, 4), (276, 4), (276, 276), (4, 276), (4, 4)]]
    with page.expect_request("**/api/predict") as sent:
        draw_with_mouse(page, frame + ONE)
    assert sent.value.post_data_json["background"] == "dark"
    page.wait_for_function("document.getElementById('prediction').textContent !== '–'")
    page.wait_for_timeout(300)  # the last answer drawn
    light = page.evaluate(
        "() => { const d = document.getElementById('seen').getContext('2d')"
        ".getImageData(0, 0, 28, 28).data; let n = 0;"
        "for (let i = 0; i < d.length; i += 4) n += d[i] > 128; return n; }"
    )
    assert 60 < light < 200  # the frame and the 1 light on a dark field (inverted: ~370)


def test_draw_a_digit_with_a_finger(page):
    draw_with_finger(page, SEVEN)
    expect_prediction(page, "7")


def test_a_phone_draws_with_a_finger_on_a_square_pad(browser, base_url):
    """A 320-pixel-wide phone screen at twice the pixel density: the page fits the width and the
    pad shrinks to a square, so a finger's strokes keep their shape."""
    phone = {"width": 320, "height": 568}
    with open_page(browser, base_url, viewport=phone, device_scale_factor=2) as page:
        width, scroll_width = page.evaluate(
            "() => [document.documentElement.clientWidth, document.documentElement.scrollWidth]"
        )
        assert scroll_width <= width, "the page scrolls sideways on a phone"
        box = page.locator("#pad").bounding_box()
        assert box["x"] + box["width"] <= width
        assert box["width"] == pytest.approx(box["height"], abs=0.5), box
        draw_with_finger(page, SEVEN)
        expect_prediction(page, "7")


def test_class_names_tanh_layers_and_a_one_epoch_run_are_shown_as_they_are(browser, named_url):
    with open_page(browser, named_url) as page:
        assert page.inner_text("#intro").startswith(
            "Draw one of the model's 10 classes (T-shirt/top, Trouser, Pullover, Dress, ...)"
        )
        answers = []
        page.on("response", lambda r: answers.append(r) if r.url.endswith("/predict") else None)
        draw_with_mouse(page, SEVEN)
        page.wait_for_function("() => document.getElementById('prediction').textContent !== '–'")
        # the answer to the whole stroke, shown last: none in flight or waiting to be sent
        page.wait_for_function("() => !state.inFlight && !state.pending", timeout=10000)
        answer = answers[-1].json()
        assert page.inner_text("#prediction").startswith(answer["label"])
        shown = page.locator(".bar-value").all_inner_texts()
        assert shown == [f"{100 * p:.1f}%" for p in answer["probabilities"]]
        # the bars are a group, not an image: ARIA makes an image's children presentational,
        # which would hide the names and values from a screen reader
        spoken = page.locator("#bars").aria_snapshot()
        assert spoken.startswith('- group "class probabilities"'), spoken
        assert "Ankle boot" in spoken and shown[-1] in spoken, spoken
        # every class name is shown whole, beside its bar and not under it
        labels = page.locator(".bar-label")
        tracks = page.locator(".bar-track")
        assert labels.all_inner_texts() == FASHION
        for k in range(len(FASHION)):
            label, track = labels.nth(k).bounding_box(), tracks.nth(k).bounding_box()
            assert label["x"] + label["width"] <= track["x"] + 0.5, FASHION[k]
            assert labels.nth(k).evaluate("e => e.scrollWidth <= e.clientWidth"), FASHION[k]
        # a tanh layer's values may be negative: the caption gives its range
        tanh = answer["activations"][1]["values"]
        caption = page.locator("#strips .caption").nth(1).inner_text()
        assert f"min {js_precision(min(tanh))}, max {js_precision(max(tanh))}" in caption
        # the learning rate as chainrule train saves it (lr), and axes that stay in range
        assert "learning rate 0.003" in page.inner_text("#model")
        loss, accuracy = (
            [float(c.get_attribute(k)) for k in ("data-y-min", "data-y-max")]
            for c in page.locator(".curve canvas").all()
        )
        assert 0 <= loss[0] < 0.32 < loss[1]
        assert 0 <= accuracy[0] < 0.91 < accuracy[1] <= 1


def js_precision(value: float) -> str:
    """``value.toPrecision(3)`` as JavaScript writes it (for numbers between 1e-3 and 1e3)."""
    return f"{value:#.3g}".rstrip(".")


def test_server_errors_are_shown_as_readable_messages(browser, base_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # the model cannot be read: the server's own message, not a script error
    page.route(
        "**/api/model",
        lambda route: route.fulfill(
            status=400, json={"detail": "unexpected Host header 'example.org'"}
        ),
    )
    page.goto(base_url + "/")
    page.wait_for_function(
        "() => document.getElementById('status').textContent.includes('Host')", timeout=10000
    )
    assert page.inner_text("#status") == (
        "could not read the model from the server: unexpected Host header 'example.org'"
    )
    page.unroute("**/api/model")
    page.goto(base_url + "/")
    page.wait_for_selector("body[data-ready=true]")

    def status_after_drawing(handler) -> str:
        page.route("**/api/predict", handler)
        page.click("#clear")
        draw_with_mouse(page, ONE)
        page.wait_for_function(
            "() => document.getElementById('status').textContent !== ''", timeout=10000
        )
        page.unroute("**/api/predict")
        return page.inner_text("#status")

    # an answer that is not the API's JSON (a proxy's error page): its status, not a parse error
    text = status_after_drawing(
        lambda route: route.fulfill(status=502, content_type="text/html", body="<h1>Bad</h1>")
    )
    assert text.startswith("the server answered 502"), text
    # no answer at all (the server stopped)
    text = status_after_drawing(lambda route: route.abort("connectionrefused"))
    assert text == "no answer from the server: is chainrule serve still running?"
    # the server stops while a drawing that had an answer goes on: the earlier answer is not
    # left beside the error, as if it were this drawing's
    page.click("#clear")
    draw_with_mouse(page, ONE)
    expect_prediction(page, "1")
    page.route("**/api/predict", lambda route: route.abort("connectionrefused"))
    draw_with_mouse(page, [[(100, 140), (180, 140)]])  # one more stroke on the same drawing
    page.wait_for_function("() => document.getElementById('status').textContent !== ''")
    page.unroute("**/api/predict")
    assert page.inner_text("#status").startswith("no answer from the server")
    assert page.inner_text("#prediction") == "–"
    assert set(page.locator(".bar-value").all_inner_texts()) == {"–"}
    assert page.inner_text("#intro").startswith("Draw one digit (0-9)")  # an MNIST model
    # once the server answers again, so does the page
    draw_with_mouse(page, ONE)
    expect_prediction(page, "1")
    page.wait_for_function("() => document.getElementById('status').textContent === ''")
    context.close()
    assert not errors


def test_a_second_finger_on_the_pad_draws_nothing(page):
    """A finger (or a palm) resting on the pad while another draws is ignored: no line joins
    the two."""
    x0, y0, scale = pad_box(page)
    cdp = page.context.new_cdp_session(page)
    resting = {"x": x0 + 40 * scale, "y": y0 + 240 * scale, "id": 2}
    for i in range(11):
        drawing = {"x": x0 + 140 * scale, "y": y0 + (45 + 19 * i) * scale, "id": 1}
        kind = "touchStart" if i == 0 else "touchMove"
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [drawing, resting]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()
    expect_prediction(page, "1")
    # the pad is black between the fingers and where the second one rests
    ink = page.evaluate(
        "() => { const ctx = document.getElementById('pad').getContext('2d');"
        " return [[90, 142], [40, 240]].map(([x, y]) => ctx.getImageData(x, y, 1, 1).data[0]); }"
    )
    assert ink == [0, 0]


def test_the_chain_rule_panel_explains_the_drawing(browser, base_url):
    """When a stroke ends, the panel shows the chain rule for the drawing: the loss, a table per
    layer from the output back with the finite-difference checks, and dE/dx as a heat map; the
    selector explains the loss for another class, Clear empties the panel, and a phone shows
    it without scrolling sideways."""
    with open_page(browser, base_url) as page:
        assert page.inner_text("#explain-status") == "Draw a digit to see the chain rule for it."
        assert page.locator("#explain-body").is_hidden()
        requests, answers = [], []
        page.on("request", lambda r: requests.append(r) if r.url.endswith("/explain") else None)
        page.on("response", lambda r: answers.append(r) if r.url.endswith("/explain") else None)
        draw_with_mouse(page, SEVEN)
        expect_prediction(page, "7")
        page.wait_for_selector("#explain-panel[data-label='7']", timeout=10000)
        assert len(requests) == 1, "one explanation per stroke, not one per move"
        answer = answers[-1].json()
        assert "label" not in answers[-1].request.post_data_json  # the default: the prediction
        assert page.inner_text("#explain-loss").startswith(
            f"{answer['loss_formula']} = {js_number(answer['loss_value'])} for label 7 "
            "(the prediction;"
        )
        # the selector is labelled (so keyboard and screen-reader users find it) and says
        # which class the prediction is
        select = page.get_by_label("If the answer should be")
        assert select.evaluate("e => e.id") == "explain-label"
        assert select.locator("option").all_inner_texts() == [
            "the prediction (7)",
            *[str(k) for k in range(10)],
        ]
        # a table per layer from the output back; every check of this network passes
        captions = page.locator(".explain-table caption").all_inner_texts()
        assert captions == [
            "layer 1: output layer, 64 → 10 softmax (net.layers[2])",
            "layer 2: hidden layer, 128 → 64 relu (net.layers[1])",
            "layer 3: hidden layer, 784 → 128 relu (net.layers[0])",
        ]
        output = page.locator(".explain-table").first
        assert "outer(in_1, delta_1)" in output.inner_text()
        assert "(64,) x (10,) → (64, 10), 640" in output.inner_text()
        assert page.locator(".explain-table strong.ok").count() == 6  # dE/dw and dE/db, 3 layers
        assert page.locator(".explain-table strong.fail").count() == 0
        delta_row = output.locator("tr", has_text="delta_1").first
        shown = delta_row.inner_text()
        values = answer["layers"][0]["delta"]["values"]
        assert js_number(values[7]) in shown and js_number(values[0]) in shown
        # dE/dx as a heat map: red where more ink raises the loss, blue where it lowers it
        grad = np.array(answer["input_gradient"])
        red_rc = np.unravel_index(np.argmax(grad), grad.shape)
        blue_rc = np.unravel_index(np.argmin(grad), grad.shape)
        red, blue = page.evaluate(
            "points => points.map(([r, c]) => Array.from(document.getElementById('explain-map')"
            ".getContext('2d').getImageData(c, r, 1, 1).data))",
            [[int(i) for i in red_rc], [int(i) for i in blue_rc]],
        )
        assert red[0] > red[2] + 50 and blue[2] > blue[0] + 50, (red, blue)
        assert "more ink would raise the loss" in page.inner_text("#explain-map-caption")

        # another class: the loss and every table are for that label now
        page.select_option("#explain-label", "3")
        page.wait_for_selector("#explain-panel[data-label='3']", timeout=10000)
        assert answers[-1].request.post_data_json["label"] == 3
        answer3 = answers[-1].json()
        assert answer3["loss_value"] > answer["loss_value"]
        assert "for label 3 (the prediction is 7;" in page.inner_text("#explain-loss")
        assert output.locator("tr", has_text="delta_1").first.inner_text() != shown
        # another stroke is explained for the chosen label too
        with page.expect_response(lambda r: r.url.endswith("/explain")) as more:
            draw_with_mouse(page, [[(150, 150), (170, 150)]])
        assert more.value.request.post_data_json["label"] == 3
        page.wait_for_timeout(300)  # let the last answer settle before the picture
        page.screenshot(path=str(SCREENSHOT.with_name("web-explain.png")), full_page=True)
        page.click("#clear")
        assert page.inner_text("#explain-status") == "Draw a digit to see the chain rule for it."
        assert page.locator("#explain-body").is_hidden()
        assert select.input_value() == ""
        # the local API page lists the endpoint
        page.goto(base_url + "/docs")
        page.get_by_role("heading", name="POST /api/explain").wait_for(timeout=10000)
        assert "ExplainResponse" in page.inner_text("#api")

    phone = {"width": 320, "height": 568}
    with open_page(browser, base_url, viewport=phone, device_scale_factor=2) as page:
        draw_with_finger(page, SEVEN)
        page.wait_for_selector("#explain-panel[data-label='7']", timeout=10000)
        width, scroll_width = page.evaluate(
            "() => [document.documentElement.clientWidth, document.documentElement.scrollWidth]"
        )
        assert scroll_width <= width, "the chain rule panel makes the page scroll sideways"
        heat_map = page.locator("#explain-map").bounding_box()
        assert heat_map["x"] + heat_map["width"] <= width
        assert heat_map["width"] == pytest.approx(heat_map["height"], abs=0.5)
        page.screenshot(path=str(SCREENSHOT.with_name("web-explain-phone.png")), full_page=True)


def test_a_model_that_standardizes_its_inputs_says_so(browser):
    """The model card and the chain-rule panel of a network with a Standardize first layer:
    the bottom layer takes the standardized pixels, and dE/dx is divided by std."""
    images = np.random.default_rng(0).random((40, 784)) ** 3
    net = chainrule.Network.from_sizes([784, 16, 10], hidden="sigmoid", standardize=images)
    with serving(create_app(net, {"name": "standardized.npz"})) as url:
        with open_page(browser, url) as page:
            card = page.inner_text("#model")
            assert "784 → 16 sigmoid → 10 softmax" in card
            assert "standardized: each pixel becomes (x - mean) / std" in card
            with page.expect_response(lambda r: r.url.endswith("/explain")) as explained:
                draw_with_mouse(page, SEVEN)
            answer = explained.value.json()
            page.wait_for_selector("#explain-body:not([hidden])", timeout=10000)
            captions = page.locator(".explain-table caption").all_inner_texts()
            assert captions == [
                "layer 1: output layer, 16 → 10 softmax (net.layers[2])",
                "layer 2: hidden layer, 784 → 16 sigmoid (net.layers[1])",
            ]
            bottom = page.locator(".explain-table").nth(1)
            in_row = bottom.locator("tr", has_text="in_2").first.inner_text()
            assert "(x - mean) / std, the standardized input" in in_row
            caption = page.inner_text("#explain-map-caption")
            assert answer["input_gradient_formula"] == "(w_2 . delta_2) / std"
            assert "dE/dx = (w_2 . delta_2) / std of the bottom layer, through the" in caption


def js_number(value: float) -> str:
    """A number as the panel writes it (``num`` in app.js): 4 significant digits, exponents
    below 1e-3."""
    if value == 0:
        return "0"
    if abs(value) < 1e-3 or abs(value) >= 1e4:
        mantissa, exponent = f"{value:.2e}".split("e")
        return f"{mantissa}e{int(exponent):+d}"
    return f"{float(f'{value:.4g}'):g}"
