"""The JSON API behind the draw-a-digit page: good requests, and every kind of bad one.

Skipped when the ``web`` extra (fastapi, httpx for the test client) is missing, except in CI
(``CI`` set), where a missing dependency is a failure.
"""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

if not os.environ.get("CI"):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

import chainrule  # noqa: E402
from chainrule.explain import explain_example  # noqa: E402
from chainrule.preprocess import mnist_image  # noqa: E402
from chainrule.serialization import class_names, save  # noqa: E402
from chainrule.web import app as web_app  # noqa: E402
from chainrule.web import create_app, model_info  # noqa: E402

STATIC = Path(web_app.__file__).parent / "static"


@pytest.fixture(scope="module")
def net():
    return chainrule.Network.from_sizes([784, 32, 16, 10], hidden=["relu", "tanh"], seed=0)


@pytest.fixture(scope="module")
def client(net):
    info = {
        "name": "model.npz",
        "test_accuracy": 0.5,
        "curves": [{"epoch": 1, "loss": 1.0, "accuracy": 0.5}],
    }
    with TestClient(create_app(net, info)) as client:
        yield client


def digit_one(height: int = 100, width: int = 80, light_on_dark: bool = True) -> np.ndarray:
    """A canvas with a thick vertical bar, gray levels 0-255."""
    image = np.zeros((height, width))
    image[height // 6 : -height // 6, width // 2 - 4 : width // 2 + 4] = 255
    return image if light_on_dark else 255 - image


def post(client, body, **kwargs):
    return client.post("/api/predict", json=body, **kwargs)


def assert_problem(response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    for fragment in fragments:
        assert fragment in detail, detail


# -- good requests ---------------------------------------------------------------------------------


def test_predict_flat_28x28_input_is_used_as_it_is(client, net):
    x = np.random.default_rng(0).random(784).astype(np.float32)
    response = post(client, {"pixels": x.tolist()})
    assert response.status_code == 200, response.text
    answer = response.json()
    expected = net.forward(x[None])[0]
    np.testing.assert_allclose(answer["probabilities"], expected, atol=1e-5)
    assert answer["prediction"] == int(np.argmax(expected))
    assert answer["label"] == str(answer["prediction"])
    # a softmax output: the scores are probabilities, and say so
    assert (answer["output"], answer["normalized"]) == ("softmax", True)
    assert answer["scores"] == answer["probabilities"]
    assert sum(answer["probabilities"]) == pytest.approx(1, abs=1e-4)
    np.testing.assert_allclose(np.array(answer["input"]).ravel(), x, atol=1e-4)
    layers = answer["activations"]
    assert [(a["layer"], a["activation"], len(a["values"])) for a in layers] == [
        (0, "relu", 32),
        (1, "tanh", 16),
    ]
    hidden = np.maximum(x @ net.layers[0].weights + net.layers[0].biases, 0)
    np.testing.assert_allclose(layers[0]["values"], hidden, atol=1e-4)


def test_predict_nested_rows_and_0_255_scale_match_flat(client):
    x = np.random.default_rng(1).integers(0, 256, 784)
    flat = post(client, {"pixels": x.tolist()}).json()
    nested = post(client, {"pixels": x.reshape(28, 28).tolist()}).json()
    scaled = post(client, {"pixels": (x / 255).tolist()}).json()
    assert flat["probabilities"] == nested["probabilities"]
    np.testing.assert_allclose(flat["probabilities"], scaled["probabilities"], atol=1e-5)


def test_predict_canvas_is_preprocessed_like_chainrule_predict(client, net):
    canvas = digit_one()
    body = {"width": 80, "height": 100, "pixels": canvas.ravel().astype(int).tolist()}
    answer = post(client, body).json()
    x = mnist_image(canvas)
    np.testing.assert_allclose(np.array(answer["input"]).ravel(), x, atol=1e-4)
    np.testing.assert_allclose(answer["probabilities"], net.forward(x[None])[0], atol=1e-5)
    # dark ink on white paper gives the same input
    paper = digit_one(light_on_dark=False)
    answer2 = post(client, {**body, "pixels": paper.ravel().astype(int).tolist()}).json()
    np.testing.assert_allclose(answer2["input"], answer["input"], atol=1e-4)


def test_preprocess_flag_applies_to_a_28x28_input(client):
    x = np.zeros((28, 28))
    x[2:10, 3:5] = 1.0  # a short bar in a corner: preprocessing scales and centres it
    raw = post(client, {"pixels": x.tolist()}).json()
    done = post(client, {"pixels": x.tolist(), "preprocess": True}).json()
    np.testing.assert_allclose(np.array(raw["input"]), x, atol=1e-6)
    np.testing.assert_allclose(np.array(done["input"]).ravel(), mnist_image(x), atol=1e-4)


def test_preprocess_false_needs_a_28x28_canvas(client):
    body = {"width": 40, "height": 40, "pixels": [0] * 1600, "preprocess": False}
    response = post(client, body)
    assert_problem(response, 422, "preprocess=false needs", "28x28", "784 values", "40x40")
    assert "reshape" not in response.json()["detail"]
    # a 28x28 canvas is the network's input as it is
    x = np.random.default_rng(3).random(784).round(3)
    body = {"width": 28, "height": 28, "pixels": x.tolist(), "preprocess": False}
    answer = post(client, body).json()
    np.testing.assert_allclose(np.array(answer["input"]).ravel(), x, atol=1e-4)


def test_largest_canvas_is_accepted(client):
    side = web_app.MAX_CANVAS_SIDE
    canvas = np.zeros((side, side), np.int64)
    canvas[100:400, 250:262] = 255
    response = post(client, {"width": side, "height": side, "pixels": canvas.ravel().tolist()})
    assert response.status_code == 200, response.text


def test_concurrent_requests_get_their_own_answers(client):
    """The layers reuse their buffers: requests must not see each other's activations."""
    rng = np.random.default_rng(2)
    inputs = [rng.random(784).round(3).tolist() for _ in range(12)]
    alone = [post(client, {"pixels": x}).json() for x in inputs]
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(lambda x: post(client, {"pixels": x}).json(), inputs))
    assert together == alone


def test_model_endpoint_describes_the_network(client, net):
    model = client.get("/api/model").json()
    assert model["sizes"] == [784, 32, 16, 10]
    assert model["n_parameters"] == net.n_parameters
    assert [layer["activation"] for layer in model["layers"]] == ["relu", "tanh", "softmax"]
    assert model["classes"] == [str(k) for k in range(10)]
    assert (model["output"], model["normalized"]) == ("softmax", True)
    assert model["test_accuracy"] == 0.5
    assert model["curves"][0] == {
        "epoch": 1,
        "loss": 1.0,
        "accuracy": 0.5,
        "val_loss": None,
        "val_accuracy": None,
        "learning_rate": None,
    }
    assert model["limits"]["max_body_bytes"] == web_app.MAX_BODY_BYTES


# -- wrong shape -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"pixels": [0.0] * 783}, "got a list of 783 items"),
        ({"pixels": []}, "got a list of 0 items"),
        ({"pixels": [[0.0] * 28] * 27}, "28 rows of 28, got 27 rows"),
        ({"pixels": [[0.0] * 28] * 27 + [[0.0] * 27]}, "pixels[27] must have 28 numbers"),
        ({"pixels": [[[0.0] * 28] * 28] * 28}, "pixels[0][0] must be a number, got list"),
        ({"pixels": [[0.0] * 28] * 27 + [0.0]}, "pixels[27] is not a row: float"),
        ({"pixels": [0.0] + [[0.0] * 28] * 27}, "pixels[0] is not a row: float"),
        ({"pixels": [[0.0] * 28] * 27 + ["x" * 28]}, "pixels[27] is not a row: str"),
        ({"pixels": [0.0] * 783 + [[0.0]]}, "pixels[783] must be a number, got list"),
        ({"width": 10, "pixels": [0] * 100}, "both width and height"),
        ({"width": 10, "height": 10, "pixels": [0] * 99}, "10*10 = 100 numbers, got 99"),
        ({"width": 0, "height": 10, "pixels": []}, "width"),
        ({"width": 513, "height": 1, "pixels": [0] * 513}, "width"),
    ],
)
def test_wrong_shape_is_422_with_a_message(client, body, fragment):
    assert_problem(post(client, body), 422, fragment)


# -- wrong type ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"pixels": ["0.5"] + [0.0] * 783}, "pixels[0] must be a number, got str"),
        ({"pixels": [0.0] * 783 + [True]}, "pixels[783] must be a number, got bool"),
        ({"pixels": [0.0] * 10 + [None] + [0.0] * 773}, "pixels[10] must be a number"),
        ({"pixels": [[0.0] * 28] * 27 + [["x"] * 28]}, "pixels[27][0] must be a number"),
        ({"pixels": "0" * 784}, "pixels: Input should be a valid list"),
        ({"pixels": {"0": 1}}, "pixels: Input should be a valid list"),
        ({"width": "10", "height": 10, "pixels": [0] * 100}, "width: Input should be"),
        ({"width": 10.5, "height": 10, "pixels": [0] * 105}, "width"),
        ({"pixels": [0.0] * 784, "preprocess": "yes"}, "preprocess"),
        ({"pixels": [0.0] * 784, "path": "/etc/passwd"}, "path: Extra inputs are not permitted"),
        ({}, "missing field 'pixels'"),
        ({"width": 1, "height": 1}, "missing field 'pixels'"),
    ],
)
def test_wrong_type_is_422_with_a_message(client, body, fragment):
    assert_problem(post(client, body), 422, fragment)


def post_raw(client, content: bytes, content_type: str = "application/json"):
    return client.post("/api/predict", content=content, headers={"content-type": content_type})


@pytest.mark.parametrize("content", [b"[1, 2, 3]", b"null", b'"pixels"', b"784"])
def test_json_that_is_not_an_object_is_422(client, content):
    assert_problem(post_raw(client, content), 422, "the body must be a JSON object")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        pytest.param(
            b'{"pixels": [0,',
            "the body is not valid JSON (expecting value at character 14)",
            id="truncated",
        ),
        pytest.param(
            b"eyJwaXhlbHMiOiBbMF19",
            "the body is not valid JSON (expecting value at character 0)",
            id="base64",
        ),
        pytest.param(b"not json", "not valid JSON", id="text"),
        pytest.param(
            b'{"pixels": [0]} {}', "not valid JSON (extra data at character 16)", id="two"
        ),
        pytest.param(b"", "the body is empty: send a JSON object with pixels", id="empty"),
        pytest.param(b'{"pixels": [\xff]}', "not valid JSON (it is not UTF-8 text)", id="bytes"),
        pytest.param(
            b'{"pixels": [1' + b"0" * 5000 + b"]}",
            "not valid JSON (a number in it has too many digits)",
            id="digits",
        ),
    ],
)
def test_body_that_is_not_json_is_400_with_a_message(client, content, fragment):
    response = post_raw(client, content)
    assert_problem(response, 400, fragment)
    assert "errors" not in response.json()


def test_body_that_is_not_json_typed_says_so(client):
    response = post_raw(client, b'{"pixels": [0]}', content_type="text/plain")
    assert_problem(response, 422, "JSON object")
    assert_problem(post_raw(client, b"", content_type="text/plain"), 400, "the body is empty")


def test_absurdly_nested_body_is_400(client):
    body = "[" * 100_000 + "]" * 100_000
    assert_problem(post_raw(client, body.encode()), 400, "not valid JSON (it is nested too deeply)")


# -- NaN, infinity, range ----------------------------------------------------------------------


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_422(client, token):
    text = '{"pixels": [' + ", ".join(["0.5"] * 300 + [token] + ["0.5"] * 483) + "]}"
    response = client.post(
        "/api/predict", content=text.encode(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, "finite", "row 10, column 20")


def test_nan_in_a_canvas_is_422(client):
    text = json.dumps({"width": 2, "height": 2, "pixels": [0, float("nan"), 0, 0]})
    response = client.post(
        "/api/predict", content=text.encode(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, "finite")


@pytest.mark.parametrize(
    ("value", "shown"), [(-0.5, "got -0.5"), (256, "got 256"), (1e30, "got 1e+30")]
)
def test_values_out_of_range_are_422(client, value, shown):
    assert_problem(post(client, {"pixels": [0.0] * 783 + [value]}), 422, "[0, 255]", shown)


def test_values_just_above_1_are_rounding_of_a_0_1_image(client):
    """1.0000001 is float rounding in a [0, 1] image (taken as 1), not the 0-255 scale, which
    would divide the whole image by 255; just above 255 is out of range, shown in full."""
    x = np.random.default_rng(2).random(784)
    x[5] = 1.0000001
    answer = post(client, {"pixels": x.tolist()}).json()
    np.testing.assert_allclose(np.array(answer["input"]).ravel(), np.minimum(x, 1), atol=1e-4)
    drawn = digit_one() / 255
    drawn[50, 40] = 1.0000001
    body = {"width": 80, "height": 100, "pixels": drawn.ravel().tolist()}
    answer = post(client, body).json()
    np.testing.assert_allclose(np.ravel(answer["input"]), mnist_image(digit_one()), atol=1e-4)
    x[5] = 1.5  # beyond the rounding slack: the 0-255 scale, as any value above 1.001
    answer = post(client, {"pixels": x.tolist()}).json()
    np.testing.assert_allclose(np.array(answer["input"]).ravel(), x / 255, atol=1e-4)
    too_big = post(client, {"pixels": [255.0000001] + [0.0] * 783})
    assert_problem(too_big, 422, "[0, 255]", "255.0000001")


def test_background_dark_keeps_ink_along_the_edges(client):
    """The page's pad is a light digit on black; a frame of ink along its edges makes the
    border guess take it for paper (inverted). background="dark" says so; "light" inverts."""
    canvas = digit_one()
    canvas[:8], canvas[-8:], canvas[:, :8], canvas[:, -8:] = 255, 255, 255, 255
    body = {"width": 80, "height": 100, "pixels": canvas.ravel().astype(int).tolist()}
    guessed = np.array(post(client, body).json()["input"])
    kept = np.array(post(client, {**body, "background": "dark"}).json()["input"])
    np.testing.assert_allclose(guessed.ravel(), mnist_image(canvas), atol=1e-4)  # inverted
    np.testing.assert_allclose(kept.ravel(), mnist_image(canvas, background="dark"), atol=1e-4)
    assert np.abs(guessed - kept).max() > 0.9  # the frame: background in one, ink in the other
    paper = {**body, "pixels": (255 - canvas).ravel().astype(int).tolist(), "background": "light"}
    np.testing.assert_allclose(post(client, paper).json()["input"], kept, atol=1e-4)
    explained = explain(client, {**body, "background": "dark", "label": 3}).json()
    direct = explain(
        client, {"pixels": mnist_image(canvas, background="dark").tolist(), "label": 3}
    )
    np.testing.assert_allclose(
        explained["input_gradient"], direct.json()["input_gradient"], rtol=1e-4, atol=1e-9
    )
    raw = {"pixels": [0.0] * 784, "background": "dark"}
    assert_problem(post(client, raw), 422, "background is for the preprocessing", "preprocess=true")
    assert post(client, {**body, "background": "white"}).status_code == 422


BIG = 10**400  # a valid JSON integer that no float64 holds


@pytest.mark.parametrize(
    ("body", "where"),
    [
        pytest.param({"pixels": [0, BIG] + [0] * 782}, "row 0, column 1", id="flat"),
        pytest.param({"pixels": [-BIG] + [0] * 783}, "row 0, column 0", id="negative"),
        pytest.param(
            {"pixels": [[0, 0, 0, BIG] + [0] * 24] + [[0] * 28] * 27}, "row 0, column 3", id="rows"
        ),
        pytest.param(
            {"width": 3, "height": 2, "pixels": [0, 0, 0, 0, BIG, 0]},
            "row 1, column 1",
            id="canvas",
        ),
    ],
)
def test_integer_too_large_for_a_float_is_422(client, body, where):
    assert_problem(post(client, body), 422, "[0, 1] or [0, 255]", "beyond 1e308", where)


def test_blank_canvas_is_422(client):
    body = {"width": 50, "height": 50, "pixels": [0] * 2500}
    assert_problem(post(client, body), 422, "blank")


# -- body size -------------------------------------------------------------------------------------


def test_oversized_body_is_413(client):
    side = web_app.MAX_CANVAS_SIDE
    body = json.dumps({"width": side, "height": side, "pixels": [255.125] * side * side})
    assert len(body) > web_app.MAX_BODY_BYTES
    response = client.post(
        "/api/predict", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 413, f"limit is {web_app.MAX_BODY_BYTES} bytes")


def test_oversized_body_without_content_length_is_413(net):
    """A chunked body has no Content-Length: the bytes received are counted."""
    app = create_app(net, max_body_bytes=1000)

    def chunks():
        yield b'{"pixels": ['
        for _ in range(100):
            yield b"0.0, " * 10

    with TestClient(app) as small:
        response = small.post(
            "/api/predict", content=chunks(), headers={"content-type": "application/json"}
        )
        assert "content-length" not in response.request.headers
        assert_problem(response, 413, "limit is 1000 bytes")


def test_small_body_passes_a_small_limit(net):
    with TestClient(create_app(net, max_body_bytes=4000)) as small:
        assert small.post("/api/predict", json={"pixels": [0] * 784}).status_code == 200


# -- the page, its files, safety -----------------------------------------------------------------


def test_page_and_assets_are_served_locally(client):
    page = client.get("/")
    assert page.status_code == 200
    assert 'id="prediction"' in page.text
    for name in ("app.js", "style.css"):
        assert f"/static/{name}" in page.text
        assert client.get(f"/static/{name}").status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"


def test_no_asset_loads_from_another_host():
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text), path.name
        assert not re.search(r"(fetch|import)\s*\(\s*[\"'`](https?:)?//", text), path.name


@pytest.mark.parametrize(
    "url",
    [
        "/static/../app.py",
        "/static/..%2Fapp.py",
        "/static/%2E%2E%2F%2E%2E%2Fpyproject.toml",
        "/static/index.html/../../__init__.py",
        "/static/%2Fetc%2Fpasswd",
        "/static/api.html",
        "/../../../etc/passwd",
    ],
)
def test_no_route_opens_a_path_named_by_the_client(client, url):
    response = client.get(url)
    assert response.status_code == 404
    assert "root:" not in response.text and "import" not in response.text


def test_openapi_and_local_docs(client):
    spec = client.get("/openapi.json").json()
    assert {"/api/predict", "/api/model"} <= set(spec["paths"])
    predict = spec["paths"]["/api/predict"]["post"]
    assert {"200", "413", "422"} <= set(predict["responses"])
    # the answer's schema says when the scores are probabilities, and that they may not be
    answer = spec["components"]["schemas"]["PredictResponse"]
    assert {"output", "normalized", "scores"} <= set(answer["required"])
    assert "probabilities" not in answer["required"]
    assert "not normalized" in answer["properties"]["scores"]["description"]
    assert "present only when" in answer["properties"]["probabilities"]["description"]
    assert "not normalized" in spec["info"]["description"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/static/api.js" in docs.text
    assert client.get("/static/api.js").status_code == 200
    assert client.get("/redoc").status_code == 404


def test_the_documented_error_schema_matches_the_errors_answered(client):
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    predict = spec["paths"]["/api/predict"]["post"]["responses"]
    ref = predict["422"]["content"]["application/json"]["schema"]["$ref"]
    documented = schemas[ref.rsplit("/", 1)[-1]]
    # a field error answers detail and errors (loc, msg, type): both are in the schema
    answer = post(client, {"pixels": [0] * 4, "width": "2", "height": 2}).json()
    assert set(answer) == {"detail", "errors"}
    assert set(answer) <= set(documented["properties"])
    assert documented["required"] == ["detail"]
    item = schemas[documented["properties"]["errors"]["anyOf"][0]["items"]["$ref"].split("/")[-1]]
    assert set(answer["errors"][0]) == set(item["properties"])


def test_host_check_refuses_other_hosts(net):
    app = create_app(net, allowed_hosts=web_app.LOOPBACK_HOSTS)
    with TestClient(app, base_url="http://127.0.0.1:8000") as local:
        assert local.get("/api/model").status_code == 200
        assert local.get("/", headers={"host": "localhost:8000"}).status_code == 200
        assert local.get("/", headers={"host": "[::1]:8000"}).status_code == 200
        evil = local.get("/", headers={"host": "evil.example:8000"})
        assert_problem(evil, 400, "evil.example")


def test_create_app_refuses_a_network_that_is_not_for_28x28_images():
    small = chainrule.Network.from_sizes([4, 3], seed=0)
    with pytest.raises(ValueError, match="784 inputs"):
        create_app(small)
    with pytest.raises(ValueError, match="2 class names"):
        create_app(chainrule.Network.from_sizes([784, 10], seed=0), {"classes": ["a", "b"]})


def test_one_sigmoid_output_is_served_as_two_classes():
    """Like Network.predict: the output p is P(class 1), and class 1 wins where p >= 0.5."""
    net = chainrule.Network.from_sizes([784, 8, 1], loss="binary_cross_entropy", seed=0)
    with TestClient(create_app(net)) as binary:
        assert binary.get("/api/model").json()["classes"] == ["0", "1"]
        rng = np.random.default_rng(4)
        for x in [rng.random(784).round(3), np.zeros(784), np.ones(784)]:
            answer = post(binary, {"pixels": x.tolist()}).json()
            p = float(net.forward(x[None])[0, 0])
            np.testing.assert_allclose(answer["probabilities"], [1 - p, p], atol=1e-5)
            assert (answer["output"], answer["normalized"]) == ("sigmoid", True)
            assert answer["scores"] == answer["probabilities"]
            assert answer["prediction"] == net.predict(x[None])[0]
            assert answer["label"] == str(answer["prediction"])
    with TestClient(create_app(net, {"classes": ["cat", "dog"]})) as named:
        assert named.get("/api/model").json()["classes"] == ["cat", "dog"]
    with pytest.raises(ValueError, match="1 class names for a network with one sigmoid output"):
        create_app(net, {"classes": ["dog"]})


@pytest.mark.parametrize(("loss", "output"), [("mse", None), ("mse", "tanh"), ("sse", "relu")])
def test_create_app_refuses_a_regression_network(loss, output):
    net = chainrule.Network.from_sizes([784, 1], loss=loss, output=output, seed=0)
    with pytest.raises(ValueError, match=r"one \w+ output \(a regression model\)"):
        create_app(net)


def test_the_notes_sigmoid_sse_network_is_served_with_its_outputs_not_probabilities():
    """784-30-10 with ten sigmoid outputs and sse (`chainrule train --preset seed`): each output
    is in [0, 1] but they need not sum to 1, so they are scores, not probabilities."""
    net = chainrule.Network.from_sizes([784, 30, 10], hidden="sigmoid", loss="sse", seed=0)
    assert net.dense_layers[-1].activation.name == "sigmoid"
    with TestClient(create_app(net)) as notes:
        model = notes.get("/api/model").json()
        assert (model["output"], model["normalized"]) == ("sigmoid", False)
        assert model["classes"] == [str(k) for k in range(10)]
        rng = np.random.default_rng(5)
        sums = []
        for x in [rng.random(784).round(3), np.zeros(784), np.ones(784)]:
            answer = post(notes, {"pixels": x.tolist()}).json()
            assert (answer["output"], answer["normalized"]) == ("sigmoid", False)
            assert "probabilities" not in answer
            scores = np.array(answer["scores"])
            assert scores.shape == (10,) and ((scores >= 0) & (scores <= 1)).all()
            np.testing.assert_allclose(scores, net.forward(x[None])[0], atol=1e-5)
            assert answer["prediction"] == int(np.argmax(scores)) == net.predict(x[None])[0]
            assert answer["label"] == str(answer["prediction"])
            sums.append(scores.sum())
        assert max(abs(total - 1) for total in sums) > 0.1  # so not labelled probabilities


def test_three_sigmoid_outputs_are_scores_not_probabilities():
    net = chainrule.Network.from_sizes([784, 3], loss="sse", seed=0)
    net.dense_layers[-1].weights[...] = 0  # every output sigmoid(0) = 0.5: sums to 1.5
    net.dense_layers[-1].biases[...] = 0
    with TestClient(create_app(net, {"classes": ["a", "b", "c"]})) as three:
        answer = post(three, {"pixels": [0.5] * 784}).json()
        assert answer["scores"] == [0.5, 0.5, 0.5]
        assert answer["normalized"] is False and "probabilities" not in answer
        assert (answer["prediction"], answer["label"]) == (0, "a")  # argmax: the first tie


def test_an_identity_network_with_several_outputs_answers_raw_scores():
    """mse with an identity output: served (a classifier trained on one-hot targets), its
    outputs reported as they are, below 0 or above 1 included, never as probabilities."""
    net = chainrule.Network.from_sizes([784, 16, 4], loss="mse", seed=0)
    net.dense_layers[-1].biases[...] = [-2.0, 0.5, 3.0, 0.0]
    with TestClient(create_app(net)) as scores:
        model = scores.get("/api/model").json()
        assert (model["output"], model["normalized"]) == ("identity", False)
        x = np.random.default_rng(6).random(784)
        answer = post(scores, {"pixels": x.tolist()}).json()
        assert (answer["output"], answer["normalized"]) == ("identity", False)
        assert "probabilities" not in answer
        expected = net.forward(x[None])[0]
        np.testing.assert_allclose(answer["scores"], expected, atol=1e-5)
        assert min(answer["scores"]) < 0 and max(answer["scores"]) > 1
        assert answer["prediction"] == int(np.argmax(expected)) == net.predict(x[None])[0]


def test_the_page_labels_the_bars_by_what_they_show():
    script = (STATIC / "app.js").read_text()
    assert "answer.normalized" in script and "Output (not normalized)" in script
    assert 'id="bars-caption"' in (STATIC / "index.html").read_text()


def test_class_names_label_the_prediction():
    net = chainrule.Network.from_sizes([784, 3], seed=0)
    with TestClient(create_app(net, {"classes": ["cat", "dog", "eel"]})) as named:
        answer = post(named, {"pixels": [0.5] * 784}).json()
        assert answer["label"] == ["cat", "dog", "eel"][answer["prediction"]]
        assert answer["activations"] == []


def use_fake_cupy(monkeypatch) -> None:
    """The stand-in CuPy of tests/fake_cupy as ``cupy`` (refuses implicit NumPy conversion, as
    CuPy does), for this test only."""
    import importlib.util
    import sys

    fake = Path(__file__).resolve().parent / "fake_cupy" / "cupy" / "__init__.py"
    spec = importlib.util.spec_from_file_location("cupy", fake)
    cupy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cupy)
    monkeypatch.setitem(sys.modules, "cupy", cupy)


def test_a_gpu_network_answers_from_host_copies(monkeypatch):
    """A network on a GPU (the stand-in CuPy of tests/fake_cupy, which refuses implicit
    conversion to NumPy as CuPy does) answers as its CPU copy."""
    use_fake_cupy(monkeypatch)
    cpu = chainrule.Network.from_sizes([784, 16, 10], seed=0)
    x = mnist_image(digit_one())
    with TestClient(create_app(cpu.copy().to("gpu"))) as on_gpu:
        response = post(on_gpu, {"pixels": x.tolist()})
    assert response.status_code == 200, response.text
    answer = response.json()
    expected = cpu.forward(x[None, :])[0]
    np.testing.assert_allclose(answer["scores"], expected, atol=1e-6)
    np.testing.assert_allclose(answer["activations"][0]["values"], cpu.layers[0].out[0], atol=1e-5)


# -- POST /api/explain ----------------------------------------------------------------------------


def explain(client, body, **kwargs):
    return client.post("/api/explain", json=body, **kwargs)


def canvas_body(image: np.ndarray, **fields) -> dict:
    height, width = image.shape
    return {
        "width": width,
        "height": height,
        "pixels": image.ravel().astype(int).tolist(),
        **fields,
    }


def parameters(net) -> list[np.ndarray]:
    return [p.copy() for layer in net.dense_layers for p in (layer.weights, layer.biases)]


def test_explain_answers_the_terms_of_explain_example(client, net):
    canvas = digit_one()
    answer = explain(client, canvas_body(canvas)).json()
    x = mnist_image(canvas)
    label = int(net.predict(x[None])[0])
    expected = explain_example(net, x, label, fd_max_entries=web_app.EXPLAIN_FD_ENTRIES)
    assert (answer["label"], answer["prediction"], answer["label_name"]) == (
        label,
        label,
        str(label),
    )
    assert answer["loss"] == "cross_entropy"
    assert answer["loss_formula"] == "E = -sum label log(out)"
    assert answer["loss_value"] == pytest.approx(expected.loss_value, rel=1e-5)
    # from the output back, the notes' numbering, with explain's shapes
    assert [(t["number"], t["index"], t["activation"]) for t in answer["layers"]] == [
        (1, 2, "softmax"),
        (2, 1, "tanh"),
        (3, 0, "relu"),
    ]
    assert answer["layers"][0]["shapes"] == {
        "in": [16],
        "net": [10],
        "out": [10],
        "weights": [16, 10],
        "biases": [10],
        "ds_dnet": [10, 10],
    }
    assert answer["layers"][0]["formulas"]["delta"] == "dE/ds . ds/dnet = out - label"
    assert answer["layers"][2]["formulas"]["dE_dw"] == "outer(in_3, delta_3)"
    for sent, terms in zip(answer["layers"], expected.layers):
        np.testing.assert_allclose(sent["delta"]["values"], terms.delta, rtol=1e-5, atol=1e-9)
        assert sent["dE_dw"]["norm"] == pytest.approx(np.linalg.norm(terms.dE_dw), rel=1e-5)
        assert sent["dE_dw"]["max_abs"] == pytest.approx(np.abs(terms.dE_dw).max(), rel=1e-5)
        assert sent["dE_db"]["norm"] == pytest.approx(np.linalg.norm(terms.dE_db), rel=1e-5)
        assert sent["dE_dw"]["shape"] == list(terms.dE_dw.shape)
        assert sent["dE_dw"]["checked"] == terms.fd_checked_w == web_app.EXPLAIN_FD_ENTRIES
        assert sent["dE_db"]["checked"] == terms.fd_checked_b == min(20, terms.dE_db.size)
        assert sent["dE_dw"]["rel_error"] == pytest.approx(terms.fd_error_w, rel=1e-2, abs=1e-15)
        assert sent["dE_dw"]["ok"] and sent["dE_db"]["ok"]
    assert answer["fd_ok"] is expected.fd_ok is True
    assert answer["fd_max_entries"] == web_app.EXPLAIN_FD_ENTRIES


def test_explain_gradients_equal_network_gradients(client, net):
    """Independently of explain: dE/dw, dE/db from Network.gradients on the same input, and
    dE/dx = w . delta of the bottom layer against finite differences of the loss in x."""
    x = np.random.default_rng(5).random(784).round(3)
    for label in (None, 4):
        body = {"pixels": x.tolist()} if label is None else {"pixels": x.tolist(), "label": 4}
        answer = explain(client, body).json()
        label = answer["label"] if label is None else label
        grads = net.gradients(x[None].astype(np.float32), [label])
        for sent, (dw, db) in zip(answer["layers"], reversed(grads)):
            assert sent["dE_dw"]["norm"] == pytest.approx(np.linalg.norm(dw), rel=1e-4)
            np.testing.assert_allclose(sent["delta"]["values"], db, rtol=1e-3, atol=1e-6)
        dE_dx = np.array(answer["input_gradient"])
        assert dE_dx.shape == (28, 28)
        np.testing.assert_allclose(
            dE_dx.ravel(), net.layers[0].weights @ grads[0][1], rtol=1e-3, atol=1e-6
        )
        assert answer["input_gradient_max_abs"] == pytest.approx(np.abs(dE_dx).max(), rel=1e-5)
        net64, h = net.astype(np.float64), 1e-6
        for i in np.argsort(-np.abs(dE_dx.ravel()))[:10]:
            step = np.zeros(784)
            step[i] = h
            numeric = (net64.loss([x + step], [label]) - net64.loss([x - step], [label])) / (2 * h)
            assert dE_dx.ravel()[i] == pytest.approx(numeric, rel=1e-4, abs=1e-8)


def test_explain_label_defaults_to_the_prediction_and_can_be_chosen(client, net):
    x = mnist_image(digit_one())
    probabilities = net.forward(x[None])[0]
    default = explain(client, {"pixels": x.tolist()}).json()
    assert default["label"] == default["prediction"] == int(np.argmax(probabilities))
    other = (default["prediction"] + 3) % 10
    chosen = explain(client, {"pixels": x.tolist(), "label": other}).json()
    assert (chosen["label"], chosen["prediction"]) == (other, default["prediction"])
    # cross-entropy of a one-hot label: -log p_label
    assert default["loss_value"] == pytest.approx(-np.log(probabilities.max()), rel=1e-4)
    assert chosen["loss_value"] == pytest.approx(-np.log(probabilities[other]), rel=1e-4)
    # at the output delta = out - label: the chosen class's entry is p - 1, the others p
    delta = chosen["layers"][0]["delta"]["values"]
    np.testing.assert_allclose(delta, probabilities - np.eye(10)[other], atol=1e-5)


@pytest.mark.parametrize(
    ("label", "fragments"),
    [
        (10, ["label", "0 to 9", "got label=10"]),
        (10**30, ["label", "0 to 9"]),
        (-1, ["label", "greater than or equal to 0"]),
        (True, ["label", "integer"]),
        ("3", ["label", "integer"]),
        (2.5, ["label", "integer"]),
    ],
)
def test_explain_label_out_of_range_is_422_naming_it(client, label, fragments):
    body = {"pixels": mnist_image(digit_one()).tolist(), "label": label}
    assert_problem(explain(client, body), 422, *fragments)


@pytest.mark.parametrize(
    "body",
    [
        {"width": 50, "height": 50, "pixels": [0] * 2500},  # blank
        {"width": 50, "height": 50, "pixels": [0] * 2500, "label": 3},
        {"pixels": [0.0] * 783},
        {"pixels": [0.5] * 783 + [300]},
        {"width": 10, "pixels": [0] * 100},
        {"pixels": [0.0] * 784, "colour": "red"},
        {"label": 3},
    ],
)
def test_explain_refuses_bad_pixels_as_predict_does(client, body):
    expected = post(client, {k: v for k, v in body.items() if k != "label"})
    response = explain(client, body)
    assert response.status_code == expected.status_code == 422
    assert response.json() == expected.json()
    if body.get("width") == 50:
        assert "blank" in response.json()["detail"]


def test_explain_leaves_the_network_unchanged(client, net):
    before = parameters(net)
    x = mnist_image(digit_one())
    predicted = post(client, {"pixels": x.tolist()}).json()
    assert explain(client, {"pixels": x.tolist(), "label": 2}).json()["label"] == 2
    for a, b in zip(before, parameters(net)):
        np.testing.assert_array_equal(a, b)
    assert post(client, {"pixels": x.tolist()}).json() == predicted


def test_explain_leaves_a_float64_network_unchanged():
    """explain_example's finite differences perturb the weights of its float64 copy: a float64
    network must not be that copy."""
    net64 = chainrule.Network.from_sizes([784, 12, 10], seed=1, dtype="float64")
    before = parameters(net64)
    with TestClient(create_app(net64)) as client64:
        answer = explain(client64, canvas_body(digit_one())).json()
    assert answer["fd_ok"] is True
    for a, b in zip(before, parameters(net64)):
        np.testing.assert_array_equal(a, b)


def test_explain_and_predict_together_get_their_own_answers(client):
    rng = np.random.default_rng(6)
    inputs = [rng.random(784).round(3).tolist() for _ in range(6)]

    def both(x):
        return post(client, {"pixels": x}).json(), explain(client, {"pixels": x}).json()

    alone = [both(x) for x in inputs]
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(both, inputs))
    assert all(len(explained["layers"]) == 3 for _, explained in alone)
    assert together == alone


def test_explain_summarizes_a_layer_of_many_units():
    net = chainrule.Network.from_sizes([784, 40, 10], seed=2)
    with TestClient(create_app(net)) as wide:
        answer = explain(wide, canvas_body(digit_one())).json()
    x = mnist_image(digit_one())
    expected = explain_example(net, x, answer["label"], fd_max_entries=20)
    output, hidden = answer["layers"]
    assert len(output["delta"]["values"]) == 10
    summary = hidden["delta"]
    delta = expected.layers[1].delta
    assert "values" not in summary and summary["size"] == 40
    assert summary["norm"] == pytest.approx(np.linalg.norm(delta), rel=1e-5)
    assert (summary["min"], summary["max"]) == pytest.approx((delta.min(), delta.max()), rel=1e-5)
    top = [u["unit"] for u in summary["top"]]
    assert top == list(np.argsort(-np.abs(delta))[: web_app.EXPLAIN_TOP_UNITS])
    assert hidden["formulas"]["ds_dnet"] == "1 if net_2 > 0 else 0"  # ReLU, as explain writes it


def test_explain_one_sigmoid_output_has_two_classes():
    net = chainrule.Network.from_sizes([784, 8, 1], output="sigmoid", loss="binary_cross_entropy")
    with TestClient(create_app(net)) as binary:
        body = {"pixels": mnist_image(digit_one()).tolist()}
        answer = explain(binary, {**body, "label": 1}).json()
        assert answer["label"] == 1 and answer["loss"] == "binary_cross_entropy"
        p = float(net.forward(mnist_image(digit_one())[None])[0, 0])
        assert answer["loss_value"] == pytest.approx(-np.log(p), rel=1e-4)
        assert_problem(explain(binary, {**body, "label": 2}), 422, "label", "0 to 1")


def test_explain_of_a_gpu_network_answers_as_its_cpu_copy(monkeypatch):
    use_fake_cupy(monkeypatch)
    cpu = chainrule.Network.from_sizes([784, 16, 10], seed=0)
    on_gpu = cpu.copy().to("gpu")
    body = {"pixels": mnist_image(digit_one()).tolist(), "label": 3}
    with TestClient(create_app(on_gpu)) as gpu_client:
        response = explain(gpu_client, body)
        assert on_gpu.device == "gpu"  # the served network stays where it is
    assert response.status_code == 200, response.text
    with TestClient(create_app(cpu)) as cpu_client:
        expected = explain(cpu_client, body).json()
    assert response.json() == expected


def test_openapi_lists_explain_with_its_schema(client):
    spec = client.get("/openapi.json").json()
    route = spec["paths"]["/api/explain"]["post"]
    assert {"200", "400", "413", "422"} <= set(route["responses"])
    schemas = spec["components"]["schemas"]
    request = schemas["ExplainRequest"]
    assert {"pixels", "width", "height", "preprocess", "label"} <= set(request["properties"])
    assert request["additionalProperties"] is False
    answer = schemas["ExplainResponse"]
    assert {"loss_value", "label", "layers", "input_gradient", "fd_ok"} <= set(answer["required"])
    assert "more ink" in answer["properties"]["input_gradient"]["description"]
    assert {"delta", "dE_dw", "dE_db", "shapes"} <= set(schemas["ExplainLayer"]["properties"])
    assert "/api/explain" in spec["info"]["description"]


# -- model_info and serve ------------------------------------------------------------------------


def test_model_info_reads_a_run_directory(tmp_path, net):
    records = [
        {"epoch": 1, "loss": 0.5, "accuracy": 0.8, "val_loss": 0.4, "val_accuracy": 0.85},
        {"epoch": 2, "loss": 0.3, "accuracy": 0.9, "val_loss": None, "seconds": 1.5},
    ]
    lines = [json.dumps(r) for r in records] + ["not json", "[1, 2]", ""]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines))
    (tmp_path / "test_metrics.json").write_text(json.dumps({"accuracy": 0.91}))
    info = model_info(net, run_dir=tmp_path)
    assert info["test_accuracy"] == 0.91
    assert [r["epoch"] for r in info["curves"]] == [1, 2]
    assert info["curves"][1]["val_loss"] is None and "seconds" not in info["curves"][1]
    assert model_info(net) == {
        "name": None,
        "test_accuracy": None,
        "training_config": None,
        "curves": [],
    }


def test_model_info_reads_the_model_metadata(tmp_path, net):
    path = tmp_path / "model.npz"
    metadata = {"training_config": {"optimizer": "adam"}, "final_metrics": {"test_accuracy": 0.9}}
    save(net, path, metadata=metadata)
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "loss": 0.5}) + "\n")
    info = model_info(net, path)
    assert info["name"] == "model.npz"
    assert info["test_accuracy"] == 0.9
    assert info["training_config"]["optimizer"] == "adam"
    assert info["curves"][0]["loss"] == 0.5


def test_model_info_reads_class_names_saved_with_the_model(tmp_path):
    """docs/sklearn.md saves a classifier's classes_ in the metadata; the page labels by them."""
    net = chainrule.Network.from_sizes([784, 8, 3], seed=0)
    path = tmp_path / "model.npz"
    save(net, path, metadata={"classes": ["cat", "dog", 7]})
    info = model_info(net, path)
    assert info["classes"] == ["cat", "dog", "7"]  # as `chainrule predict` names them
    with TestClient(create_app(net, info)) as named:
        assert named.get("/api/model").json()["classes"] == ["cat", "dog", "7"]
        answer = post(named, {"pixels": [0.5] * 784}).json()
        assert answer["label"] == ["cat", "dog", "7"][answer["prediction"]]
    # not one distinct name per class: the page, like the command line, numbers the classes
    wrong_ones = (["cat", "dog"], "cat", [["cat"], "dog", "eel"], [False, True, 2], ["a", "a", "b"])
    for wrong in wrong_ones:
        save(net, path, metadata={"classes": wrong})
        assert "classes" not in model_info(net, path)
        assert class_names({"classes": wrong}, net) is None


def test_serve_loads_the_model_and_binds_localhost(tmp_path, net, monkeypatch):
    import uvicorn

    path = tmp_path / "model.npz"
    save(net, path)
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append((app, kwargs)))
    chainrule.web.serve(str(path), port=8123, log_level="warning")
    (app, kwargs) = calls[0]
    assert kwargs == {"host": "127.0.0.1", "port": 8123, "log_level": "warning"}
    with TestClient(app, base_url="http://127.0.0.1:8123") as served:
        assert served.get("/api/model").json()["name"] == "model.npz"
        assert served.get("/", headers={"host": "evil.example"}).status_code == 400


def test_serve_checks_the_host_header_on_every_loopback_name(tmp_path, net, monkeypatch):
    """A name or spelling of a loopback address (this machine's name in /etc/hosts,
    2130706433, the long form of ::1) gets the Host check as 127.0.0.1 does; 0.0.0.0, for
    other machines too, does not."""
    import uvicorn

    path = tmp_path / "model.npz"
    save(net, path)
    apps = {}
    for host in ("127.0.0.1", "2130706433", "0:0:0:0:0:0:0:1", "localhost", "0.0.0.0"):
        monkeypatch.setattr(uvicorn, "run", lambda app, host, **kwargs: apps.setdefault(host, app))
        chainrule.web.serve(str(path), host=host, port=8123)
    assert web_app._is_loopback("2130706433") and not web_app._is_loopback("0.0.0.0")
    assert not web_app._is_loopback("no-such-host.invalid")
    for host, app in apps.items():
        with TestClient(app, base_url="http://127.0.0.1:8123") as served:
            evil = served.get("/api/model", headers={"host": "evil.example:8123"}).status_code
            named = served.get("/api/model", headers={"host": f"{host}:8123"}).status_code
        assert evil == (200 if host == "0.0.0.0" else 400), host
        assert named == 200 or ":" in host, host  # an IPv6 name comes in brackets
    with TestClient(apps["0:0:0:0:0:0:0:1"], base_url="http://127.0.0.1:8123") as served:
        bracketed = {"host": "[0:0:0:0:0:0:0:1]:8123"}
        assert served.get("/api/model", headers=bracketed).status_code == 200


def test_serve_without_a_model_says_how_to_get_one(tmp_path, monkeypatch):
    import chainrule.cli

    monkeypatch.setattr(chainrule.cli, "latest_model", lambda: None)
    with pytest.raises(FileNotFoundError, match="chainrule train"):
        chainrule.web.serve(None)
    with pytest.raises(FileNotFoundError, match="model file not found"):
        chainrule.web.serve(str(tmp_path / "missing.npz"))


# -- a model that standardizes its inputs --------------------------------------------------------


@pytest.fixture(scope="module")
def standardized(tmp_path_factory):
    """``(net, client)``: a 784-16-10 network with a Standardize first layer, saved, served by
    ``serve`` from the file and reloaded. The statistics come from skewed random "images" whose
    border pixels are always 0 (std 0, kept 1), so standardizing changes every number."""
    import uvicorn

    rng = np.random.default_rng(11)
    images = rng.random((60, 28, 28)) ** 3
    images[:, :3, :] = 0.0
    net = chainrule.Network.from_sizes(
        [784, 16, 10],
        hidden="sigmoid",
        loss="cross_entropy",
        standardize=images.reshape(60, 784),
        seed=2,
    )
    path = tmp_path_factory.mktemp("standardized") / "model.npz"
    save(net, path)
    calls = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(app))
        chainrule.web.serve(str(path))
    with TestClient(calls[0], base_url="http://127.0.0.1:8000") as client:
        yield net, client


def test_a_standardized_model_card_and_predict(standardized, client):
    """The card says the inputs are standardized; predict answers as the network does."""
    net, served = standardized
    model = served.get("/api/model").json()
    assert model["standardized"] is True
    assert model["sizes"] == [784, 16, 10]
    card = model["layers"][0]
    assert (card["index"], card["type"], card["n_units"]) == (0, "standardize", 784)
    assert card["n_in"] == card["n_out"] == 784
    dense = [(layer["index"], layer["n_in"], layer["n_out"]) for layer in model["layers"][1:]]
    assert dense == [(1, 784, 16), (2, 16, 10)]
    assert model["n_parameters"] == net.n_parameters == 784 * 16 + 16 + 16 * 10 + 10
    assert client.get("/api/model").json()["standardized"] is False  # a network without one
    # the page names the Standardize layer in the model card and in the chain-rule panel
    script = served.get("/static/app.js").text
    assert "model.standardized" in script and "answer.standardized" in script
    assert "(x - mean) / std, the standardized input" in script
    # predict: the network's own answer for the pixels as drawn
    x = np.random.default_rng(12).random(784).astype(np.float32)
    answer = post(served, {"pixels": x.tolist()}).json()
    np.testing.assert_allclose(answer["probabilities"], net.predict_proba(x[None])[0], atol=1e-6)
    assert answer["prediction"] == int(net.predict(x[None])[0])
    # the input as drawn; the hidden layer's values are those of the standardized pixels
    np.testing.assert_allclose(np.array(answer["input"]).ravel(), x, atol=1e-4)
    first, dense = net.layers[0], net.layers[1]
    z = (x.astype(np.float64) - first.mean) / first.std
    hidden = 1 / (1 + np.exp(-(z @ dense.weights + dense.biases)))
    ((layer,),) = [answer["activations"]]
    assert (layer["layer"], layer["activation"]) == (1, "sigmoid")
    np.testing.assert_allclose(layer["values"], hidden, atol=1e-5)
    unstandardized = 1 / (1 + np.exp(-(x @ dense.weights + dense.biases)))
    assert np.abs(unstandardized - hidden).max() > 0.05  # the standardization shows


def test_explain_starts_from_the_standardized_pixels_and_dE_dx_is_in_the_raw_ones(standardized):
    from chainrule.gradcheck import input_gradient

    net, served = standardized
    x = np.random.default_rng(13).random(784).astype(np.float32)
    for label in (None, 3):
        body = {"pixels": x.tolist()} if label is None else {"pixels": x.tolist(), "label": label}
        answer = explain(served, body).json()
        label = answer["label"]
        assert answer["fd_ok"] is True and answer["network_max_diff"] < 1e-4
        assert [(t["number"], t["index"]) for t in answer["layers"]] == [(1, 2), (2, 1)]
        assert answer["layers"][1]["shapes"]["in"] == [784]
        grads = net.gradients(x[None], [label])
        for sent, (dw, db) in zip(answer["layers"], reversed(grads)):
            assert sent["dE_dw"]["norm"] == pytest.approx(np.linalg.norm(dw), rel=1e-4)
            np.testing.assert_allclose(sent["delta"]["values"], db, rtol=1e-3, atol=1e-7)
        assert answer["loss_value"] == pytest.approx(net.loss(x[None], [label]), rel=1e-5)
        # dE/dx is with respect to the pixels: the bottom layer's w . delta, divided by std
        dE_dx = np.array(answer["input_gradient"]).ravel()
        np.testing.assert_allclose(
            dE_dx, input_gradient(net, x[None], [label])[0], rtol=1e-5, atol=1e-12
        )
        below = net.layers[1].weights.astype(np.float64) @ grads[0][1]  # dE/d(standardized x)
        np.testing.assert_allclose(dE_dx, below / net.layers[0].std, rtol=1e-3, atol=1e-7)
        assert answer["input_gradient_max_abs"] == pytest.approx(np.abs(dE_dx).max(), rel=1e-5)
        net64, h = net.astype(np.float64), 1e-5
        x64 = x.astype(np.float64)
        largest = np.argsort(-np.abs(dE_dx))[:10]
        for i in [*largest, *np.random.default_rng(14).choice(784, 10, replace=False)]:
            step = np.zeros(784)
            step[i] = h
            plus, minus = net64.loss([x64 + step], [label]), net64.loss([x64 - step], [label])
            assert dE_dx[i] == pytest.approx((plus - minus) / (2 * h), rel=1e-4, abs=1e-9)
        assert answer["standardized"] is True
        assert answer["input_gradient_formula"] == "(w_2 . delta_2) / std"


def test_explain_of_a_network_without_standardize_says_so(client):
    x = np.random.default_rng(15).random(784).round(3)
    answer = explain(client, {"pixels": x.tolist()}).json()
    assert answer["standardized"] is False
    assert answer["input_gradient_formula"] == "w_3 . delta_3"
