"""The "draw a digit" page and the JSON API behind it (FastAPI, served by uvicorn).

Routes
------
``GET /``                 the page (``static/index.html``, with ``/static/app.js``, ``style.css``)
``GET /api/model``        the architecture, test accuracy and training curves
``POST /api/predict``     pixels in; the prediction, one score per class (the class
                          probabilities for a softmax output or one sigmoid output, the raw
                          outputs otherwise), the 28x28 input given to the network and each
                          hidden layer's activations out
``POST /api/explain``     the same pixels (and optionally a class label) in; the chain rule
                          for that input: the loss, per layer from the output back the terms
                          of ``chainrule explain`` (delta, dE/dw, dE/db, their shapes and a
                          finite-difference check), and dE/dx, the loss's gradient with
                          respect to the 28x28 input (the pixels as drawn, before the
                          network's Standardize layer if it has one)
``GET /openapi.json``     the OpenAPI description; ``GET /docs`` renders it (a local page)

Safety: request bodies over :data:`MAX_BODY_BYTES` are refused with 413 (by Content-Length and
by counting the bytes actually received); every input is checked for shape, type and range
(4xx with a message); the page's files are read once from the package, so no route ever opens a
path a client names; :func:`serve` binds 127.0.0.1 unless told otherwise and then also refuses
requests whose ``Host`` is not a loopback name (DNS rebinding).

Needs ``pip install 'chainrule[web]'`` (fastapi, uvicorn, pillow).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np

try:
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, WithJsonSchema
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the web page needs FastAPI and uvicorn: pip install 'chainrule[web]'"
    ) from exc

from chainrule.backend import to_numpy
from chainrule.explain import (
    FD_TOLERANCE,
    LOSS_FORMULA,
    OUTPUT_ERROR_FORMULA,
    Explanation,
    LayerTerms,
    derivative_formula,
    explain_example,
    fd_passed,
)
from chainrule.network import Network
from chainrule.preprocess import BlankImageError, _unit_scale, mnist_image

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_CANVAS_SIDE",
    "EXPLAIN_FD_ENTRIES",
    "ExplainRequest",
    "PredictRequest",
    "create_app",
    "model_info",
    "serve",
]

#: Largest request body accepted, in bytes (a 512x512 canvas as JSON integers fits).
MAX_BODY_BYTES = 2_000_000
#: Largest canvas side accepted by ``POST /api/predict``, in pixels.
MAX_CANVAS_SIDE = 512
#: ``POST /api/explain`` checks at most this many entries of each parameter array by finite
#: differences (an answer takes about 0.13 s for the default 784-400-400-10 network on a 2-core
#: machine, 0.05 s of it in explain_example).
EXPLAIN_FD_ENTRIES = 20
#: ``POST /api/explain`` sends a layer's delta in full up to this many units, else a summary.
EXPLAIN_MAX_VALUES = 32
#: How many of a layer's largest ``|delta|`` the summary names.
EXPLAIN_TOP_UNITS = 5
#: Host names accepted when the server listens on a loopback address.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")

_STATIC_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
}
_SECURITY_HEADERS = {
    # every asset comes from this server; nothing may load from anywhere else
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


# -- request and response models -------------------------------------------------------------

_PIXELS_SCHEMA = {
    "description": (
        "Gray levels in [0, 1] or [0, 255] (divided by 255 when any value exceeds 1.001; "
        "values up to 1.001 are a [0, 1] image's rounding, taken as 1). Either "
        "784 numbers (a 28x28 image, row-major), 28 rows of 28 numbers, or - with width and "
        "height - a flat row-major canvas of width*height numbers."
    ),
    "anyOf": [
        {"type": "array", "items": {"type": "number"}},
        {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
    ],
}


class PredictRequest(BaseModel):
    """The body of ``POST /api/predict``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"width": 3, "height": 3, "pixels": [0, 255, 0, 0, 255, 0, 0, 255, 0]},
                {"pixels": [0.0] * 8 + [1.0] + [0.0] * 775},
            ]
        },
    )

    pixels: Annotated[list[Any], WithJsonSchema(_PIXELS_SCHEMA)]
    width: StrictInt | None = Field(
        None, ge=1, le=MAX_CANVAS_SIDE, description="canvas width; give with height"
    )
    height: StrictInt | None = Field(
        None, ge=1, le=MAX_CANVAS_SIDE, description="canvas height; give with width"
    )
    preprocess: StrictBool | None = Field(
        None,
        description=(
            "run the MNIST-style preprocessing of `chainrule predict` (crop, scale into "
            "20x20, centre by mass in 28x28). Default: yes for a canvas, no for a 28x28 input."
        ),
    )
    background: Literal["dark", "light"] | None = Field(
        None,
        description=(
            'with preprocessing: "dark" for a light digit on a dark background (as MNIST\'s '
            'and this page\'s pad), "light" for a dark digit on paper (inverted). Default: '
            "decided by the image's border, which much ink along the edges can mislead."
        ),
    )


class LayerActivations(BaseModel):
    layer: int = Field(
        description=(
            "the Dense layer's position in the network's layers, from 0 (a Standardize or "
            "Dropout layer has a position too)"
        )
    )
    activation: str
    values: list[float] = Field(description="one value per unit")


class PredictResponse(BaseModel):
    prediction: int = Field(
        description=(
            "the class with the highest score, as Network.predict (for one sigmoid output p: "
            "1 where p >= 0.5)"
        )
    )
    label: str = Field(description="that class's name (the digit, for MNIST)")
    output: str = Field(
        description='the output layer\'s activation: "softmax", "sigmoid", "identity", ...'
    )
    normalized: bool = Field(
        description=(
            "whether `scores` are class probabilities summing to 1: true for a softmax output "
            "and for one sigmoid output, false otherwise"
        )
    )
    scores: list[float] = Field(
        description=(
            "one per class: the network's outputs ([1 - p, p] for one sigmoid output p). "
            "Probabilities summing to 1 when `normalized`; otherwise not normalized: each in "
            "[0, 1] for several sigmoid outputs (they need not sum to 1), any real number for "
            "an identity output"
        )
    )
    probabilities: list[float] | None = Field(
        None,
        description=(
            "the same as `scores`, present only when they are class probabilities summing "
            "to 1 (`normalized`: a softmax output or one sigmoid output)"
        ),
    )
    input: list[list[float]] = Field(
        description=(
            "the 28x28 input given to the network (before its Standardize layer, if it has "
            "one: the pixels, not the standardized values)"
        )
    )
    activations: list[LayerActivations] = Field(description="each hidden layer's outputs")


class ExplainRequest(PredictRequest):
    """The body of ``POST /api/explain``: that of ``POST /api/predict``, and a class label."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"width": 3, "height": 3, "pixels": [0, 255, 0, 0, 255, 0, 0, 255, 0]},
                {"width": 3, "height": 3, "pixels": [0, 255, 0, 0, 255, 0, 0, 255, 0], "label": 7},
            ]
        },
    )

    label: StrictInt | None = Field(
        None,
        ge=0,
        description=(
            "the class the answer should be: the loss E is computed for this label (a class "
            "index, 0 to the number of classes - 1). Default: the predicted class"
        ),
    )


class GradientCheck(BaseModel):
    shape: list[int] = Field(description="the gradient's shape, that of the parameters")
    size: int = Field(description="its number of entries")
    norm: float = Field(description="its Euclidean (Frobenius) norm")
    max_abs: float = Field(description="its largest |entry|")
    checked: int = Field(description="how many entries were checked by finite differences")
    rel_error: float = Field(
        description=(
            "max |chain rule - finite difference| / max(|chain rule|, |finite difference|) over "
            "the checked entries"
        )
    )
    max_diff: float = Field(description="max |chain rule - finite difference| over them")
    ok: bool = Field(
        description=(
            "as `chainrule explain` decides it: rel_error at most `fd_tolerance`, or every "
            "difference within `fd_noise`, the rounding noise of the finite differences"
        )
    )
    within_noise: bool = Field(
        description="ok only because every difference is within the rounding noise"
    )


class UnitValue(BaseModel):
    unit: int = Field(description="the unit's index in the layer, from 0")
    value: float


class DeltaSummary(BaseModel):
    size: int = Field(description="the number of units (n_out)")
    values: list[float] | None = Field(
        None,
        description=f"every value, present only for layers of at most {EXPLAIN_MAX_VALUES} units",
    )
    norm: float
    min: float
    max: float
    top: list[UnitValue] = Field(
        description=f"the {EXPLAIN_TOP_UNITS} units with the largest |delta|, largest first"
    )


class LayerShapes(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    in_: list[int] = Field(alias="in", description="in_x: (n_in,)")
    net: list[int] = Field(description="net_x = in_x . w_x + b_x: (n_out,)")
    out: list[int] = Field(description="out_x = s(net_x): (n_out,)")
    weights: list[int] = Field(description="w_x: (n_in, n_out)")
    biases: list[int] = Field(description="b_x: (n_out,)")
    ds_dnet: list[int] = Field(description="(n_out,), or (n_out, n_out) for a softmax")


class LayerFormulas(BaseModel):
    dE_ds: str = Field(description="the loss's derivative at the output; w . delta below it")
    ds_dnet: str = Field(description="the activation's derivative")
    delta: str = Field(description="dE/dnet_x: dE/ds * ds/dnet (out - label for a fused loss)")
    dE_dw: str
    dE_db: str


class ExplainLayer(BaseModel):
    number: int = Field(description="the notes' layer number: 1 is the output layer")
    index: int = Field(
        description="the Dense layer's position in the network's layers, from 0 (as in predict)"
    )
    activation: str
    n_in: int
    n_out: int
    shapes: LayerShapes
    formulas: LayerFormulas = Field(description="each term as the notes write it")
    delta: DeltaSummary = Field(description="delta_x = dE/dnet_x, shape (n_out,)")
    dE_dw: GradientCheck = Field(description="dE/dw_x = outer(in_x, delta_x)")
    dE_db: GradientCheck = Field(description="dE/db_x = delta_x")
    network_max_diff: float = Field(
        description="max |these gradients - Network.gradients| (the network's own dtype)"
    )


class ExplainResponse(BaseModel):
    loss: str = Field(description='the loss\'s name: "cross_entropy", "sse", ...')
    loss_formula: str = Field(description='its formula: "E = -sum label log(out)"')
    loss_value: float = Field(description="E for this input and label")
    label: int = Field(description="the class the loss was computed for")
    label_name: str = Field(description="that class's name")
    prediction: int = Field(description="the predicted class, as POST /api/predict")
    layers: list[ExplainLayer] = Field(
        description="one per Dense layer, from the output back: layers[0] is the notes' layer 1"
    )
    standardized: bool = Field(
        description=(
            "whether the network standardizes its inputs (a Standardize first layer): the "
            "bottom layer then takes (x - mean) / std, and dE/dx is divided by std"
        )
    )
    input_gradient: list[list[float]] = Field(
        description=(
            "dE/dx with respect to the 28x28 input pixels, as 28 rows of 28: w_n . delta_n of "
            "the layer that takes the input (divided by std, pixel by pixel, for a network that "
            "standardizes its inputs); where more ink would raise the loss (> 0) or lower it "
            "(< 0)"
        )
    )
    input_gradient_formula: str = Field(
        description='how it was computed: "w_3 . delta_3", or "(w_3 . delta_3) / std"'
    )
    input_gradient_max_abs: float = Field(description="its largest |entry|")
    fd_eps: float = Field(description="the finite-difference step h of (E(p+h) - E(p-h)) / 2h")
    fd_max_entries: int = Field(description="at most this many entries checked per array")
    fd_tolerance: float = Field(description="a relative error at most this is ok")
    fd_noise: float = Field(description="differences below this are rounding noise, and ok")
    fd_ok: bool = Field(description="whether every checked array is ok")
    kink: bool = Field(
        description=(
            "a ReLU unit sits at its kink net = 0, where E has no slope: a failed finite-"
            "difference check there says nothing about the chain rule"
        )
    )
    network_max_diff: float = Field(
        description="max |chain rule - Network.gradients| over every parameter"
    )


class FieldProblem(BaseModel):
    loc: str = Field(description='the field, e.g. "width" (empty for the body as a whole)')
    msg: str
    type: str


class Problem(BaseModel):
    detail: str = Field(description="what was wrong, in words")
    errors: list[FieldProblem] | None = Field(
        None,
        description=(
            "for errors in the fields of a JSON object only: each one (at most ten), with "
            "`loc`, `msg` and `type`"
        ),
    )


class LayerInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    index: int = Field(description="position in the network's layers")
    type: str = Field(
        description='"dense", "dropout", or "standardize" (first only: the inputs are standardized)'
    )
    n_in: int | None = None
    n_out: int | None = None
    activation: str | None = None


class EpochMetrics(BaseModel):
    epoch: int | float | None = None
    loss: float | None = None
    accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    learning_rate: float | None = None


class Limits(BaseModel):
    max_body_bytes: int
    max_canvas_side: int


class ModelResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str | None = Field(description="the model file's name (not its path)")
    sizes: list[int] = Field(description="layer widths, input first: [784, 128, 10]")
    layers: list[LayerInfo]
    standardized: bool = Field(
        False,
        description=(
            "whether the network standardizes its inputs first (a Standardize layer: each "
            "pixel becomes (x - mean) / std, with statistics of the training images)"
        ),
    )
    loss: str
    n_parameters: int
    classes: list[str] = Field(
        description="one name per class (two, 0 and 1, for one sigmoid output)"
    )
    output: str = Field(description="the output layer's activation, as in predict's answers")
    normalized: bool = Field(
        description="whether predict's `scores` are class probabilities summing to 1"
    )
    test_accuracy: float | None = Field(description="accuracy on the test set, when known")
    training_config: dict[str, Any] | None = Field(description="as `chainrule train` saved it")
    curves: list[EpochMetrics] = Field(description="one entry per epoch of training")
    limits: Limits


# -- what the page shows about the model --------------------------------------------------------


def _architecture(net: Network) -> dict:
    layers = []
    for i, layer in enumerate(net.layers):
        config = layer.config()
        if config.get("type") == "dense":
            layers.append(
                {
                    "index": i,
                    "type": "dense",
                    "n_in": layer.n_in,
                    "n_out": layer.n_out,
                    "activation": layer.activation.name,
                }
            )
        elif config.get("type") == "standardize":  # (x - mean) / std: as wide as the input
            layers.append({"index": i, **config, "n_in": layer.n_in, "n_out": layer.n_out})
        else:
            layers.append({"index": i, **config})
    return {
        "sizes": list(net.sizes),
        "layers": layers,
        "standardized": any(layer["type"] == "standardize" for layer in layers),
        "loss": net.loss_function.name,
        "n_parameters": net.n_parameters,
    }


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _finite_or_none(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


_CURVE_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")


def read_curves(lines: Iterable[str]) -> list[dict]:
    """Per-epoch training metrics from the lines of a ``metrics.jsonl``.

    Keeps the numeric keys the page plots (epoch, loss, accuracy, val_loss, val_accuracy,
    learning_rate); a line that is not a JSON object is skipped.
    """
    curves = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            curves.append({k: _finite_or_none(record.get(k)) for k in _CURVE_KEYS})
    return curves


def model_info(
    net: Network,
    model_path: str | Path | None = None,
    run_dir: str | Path | None = None,
) -> dict:
    """What the page shows about a model: architecture, test accuracy, training curves.

    ``run_dir`` is the directory written by ``chainrule train`` (``metrics.jsonl``,
    ``test_metrics.json``); by default the model file's directory, when it holds a
    ``metrics.jsonl``. The test accuracy comes from the model's metadata
    (``final_metrics.test_accuracy``) or else the run's ``test_metrics.json``. Missing pieces
    are ``None`` / empty: a model made any other way still gets a page. A ``classes`` list in
    the metadata (one name per class, as docs/sklearn.md saves a classifier's ``classes_``)
    becomes ``info["classes"]``, the labels of the predictions.
    """
    info: dict[str, Any] = {
        "name": None,
        "test_accuracy": None,
        "training_config": None,
        "curves": [],
    }
    if model_path is not None:
        model_path = Path(model_path)
        info["name"] = model_path.name
        try:
            from chainrule.serialization import class_names, load_metadata

            meta = load_metadata(model_path)
        except Exception:  # no metadata is not a reason to refuse to serve the model
            meta = {}
        meta = meta if isinstance(meta, dict) else {}
        nested = meta.get("metadata") if isinstance(meta.get("metadata"), dict) else {}
        final = meta.get("final_metrics") or nested.get("final_metrics") or {}
        if isinstance(final, dict):
            info["test_accuracy"] = _finite_or_none(final.get("test_accuracy"))
        config = meta.get("training_config") or nested.get("training_config")
        if isinstance(config, dict):
            info["training_config"] = config
        classes = class_names(meta, net)  # e.g. an sklearn classifier's classes_
        if classes is not None:
            info["classes"] = classes
        if run_dir is None and (model_path.parent / "metrics.jsonl").is_file():
            run_dir = model_path.parent
    if run_dir is not None:
        run_dir = Path(run_dir)
        try:
            with open(run_dir / "metrics.jsonl", encoding="utf-8") as fh:
                info["curves"] = read_curves(fh)
        except OSError:
            pass
        if info["test_accuracy"] is None:
            summary = _read_json(run_dir / "test_metrics.json")
            if isinstance(summary, dict):
                info["test_accuracy"] = _finite_or_none(
                    summary.get("test_accuracy", summary.get("accuracy"))
                )
    return info


# -- input checks ---------------------------------------------------------------------------------


class InputError(ValueError):
    """A request's pixels are malformed; the message says how (answered with 422)."""


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float  # not bool, not str


def _check_numbers(values: Sequence[Any], where: str) -> None:
    for i, v in enumerate(values):
        if not _is_number(v):
            raise InputError(
                f"{where}[{i}] must be a number, got {type(v).__name__} {str(v)[:20]!r}"
            )


def _as_float_array(flat: Sequence[int | float], shape: tuple[int, int]) -> np.ndarray:
    """``flat`` (numbers only) as a float64 array of ``shape``; an :class:`InputError` for an
    integer past float64's range (JSON integers may have any number of digits)."""
    try:
        return np.asarray(flat, dtype=np.float64).reshape(shape)
    except OverflowError:
        for i, v in enumerate(flat):
            try:
                float(v)
            except OverflowError:
                r, c = divmod(i, shape[1])
                raise InputError(
                    f"pixels must lie in [0, 1] or [0, 255], got an integer beyond 1e308 "
                    f"at row {r}, column {c}"
                ) from None
        raise


def parse_pixels(request: PredictRequest) -> tuple[np.ndarray, bool]:
    """The request's image as a float32 array in [0, 1], and whether to preprocess it.

    Returns an array of shape (28, 28) or (height, width). Raises :class:`InputError` naming
    the problem: wrong shape, a value that is not a number, NaN/inf, out of [0, 255], or a
    canvas other than 28x28 with preprocessing switched off.
    """
    pixels = request.pixels
    canvas = request.width is not None or request.height is not None
    if canvas:
        if request.width is None or request.height is None:
            raise InputError("give both width and height, or neither (for a 28x28 input)")
        expected = request.width * request.height
        if len(pixels) != expected:
            raise InputError(
                f"pixels must be a flat list of width*height = {request.width}*"
                f"{request.height} = {expected} numbers, got {len(pixels)} items"
            )
        _check_numbers(pixels, "pixels")
        shape = (request.height, request.width)
        flat = pixels
    elif any(rows := [isinstance(row, list) for row in pixels]) and (
        all(rows) or len(pixels) != 784  # 784 items with a list among them: flat, one wrong
    ):
        for r, row in enumerate(pixels):
            if not isinstance(row, list):
                raise InputError(
                    f"pixels given as rows must be 28 rows of 28 numbers, but pixels[{r}] is "
                    f"not a row: {type(row).__name__} {str(row)[:20]!r}"
                )
        if len(pixels) != 28:
            raise InputError(f"pixels given as rows must be 28 rows of 28, got {len(pixels)} rows")
        for r, row in enumerate(pixels):
            if len(row) != 28:
                raise InputError(f"pixels[{r}] must have 28 numbers, got {len(row)} items")
            _check_numbers(row, f"pixels[{r}]")
        shape, flat = (28, 28), [v for row in pixels for v in row]
    elif len(pixels) == 784:
        _check_numbers(pixels, "pixels")
        shape, flat = (28, 28), pixels
    else:
        raise InputError(
            "pixels must be 784 numbers or 28 rows of 28 (a 28x28 image), or a flat canvas "
            f"with width and height; got a list of {len(pixels)} items"
        )
    preprocess = canvas if request.preprocess is None else request.preprocess
    if not preprocess and request.background is not None:
        raise InputError(
            "background is for the preprocessing, which a 28x28 input gets only with "
            "preprocess=true: without it the pixels are the network's input as they are (a "
            "light digit on black, as MNIST's)"
        )
    if not preprocess and shape != (28, 28):
        raise InputError(
            "preprocess=false needs exactly the network's input, a 28x28 image (784 values); "
            f"got a {request.width}x{request.height} canvas: send 28x28, or leave preprocess "
            "out to scale the canvas to 28x28"
        )
    array = _as_float_array(flat, shape)
    if not np.isfinite(array).all():
        r, c = np.argwhere(~np.isfinite(array))[0]
        raise InputError(f"pixels must be finite, got {array[r, c]} at row {r}, column {c}")
    if array.min() < 0 or array.max() > 255:
        bad = array[(array < 0) | (array > 255)][0]
        shown = f"{bad:.15g}"  # 300, 255.0000001, 1e+30
        raise InputError(f"pixels must lie in [0, 1] or [0, 255], got {shown}")
    array = np.minimum(_unit_scale(array), 1.0)  # [0, 1], rounding errors above 1 clipped
    return array.astype(np.float32), preprocess


def network_input(request: PredictRequest) -> np.ndarray:
    """The (784,) float32 input the network sees for ``request``: its pixels, checked by
    :func:`parse_pixels` and preprocessed where asked. An ``HTTPException`` (422) naming the
    problem otherwise, a blank canvas included; ``POST /api/predict`` and ``POST /api/explain``
    answer the same for the same pixels."""
    try:
        image, preprocess = parse_pixels(request)
        if not preprocess:
            return image.reshape(784)
        return mnist_image(image, background=request.background)
    except BlankImageError as exc:
        raise HTTPException(422, f"{exc}: draw something first") from exc
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


# -- middleware -----------------------------------------------------------------------------------


class BodySizeLimit:
    """ASGI middleware: answer 413 to a body over ``max_bytes``.

    Checks the Content-Length header first, then counts the bytes actually received (a
    chunked body has no Content-Length), so the limit holds however the body is sent.
    """

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _send_problem(send, 400, "invalid Content-Length header")
                return
            if declared > self.max_bytes:
                await _send_problem(send, 413, self._message())
                return
        received = 0
        started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._message())
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except HTTPException as exc:
            if exc.status_code != 413 or started:
                raise
            await _send_problem(send, 413, self._message())

    def _message(self) -> str:
        return f"request body too large: the limit is {self.max_bytes} bytes"


class HostCheck:
    """ASGI middleware: refuse (400) requests whose Host header is not in ``hosts``."""

    def __init__(self, app, hosts: Sequence[str]):
        self.app = app
        self.hosts = {h.lower() for h in hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").lower()
            name = host.rsplit(":", 1)[0] if host.count(":") == 1 or "]:" in host else host
            if name not in self.hosts:
                await _send_problem(send, 400, f"unexpected Host header {host!r}")
                return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """ASGI middleware: add :data:`_SECURITY_HEADERS` to every response."""

    def __init__(self, app):
        self.app = app
        self.headers = [(k.encode(), v.encode()) for k, v in _SECURITY_HEADERS.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _send_problem(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    headers += [(k.encode(), v.encode()) for k, v in _SECURITY_HEADERS.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# -- the app ---------------------------------------------------------------------------------------


def _static_text(name: str) -> str:
    return resources.files("chainrule.web").joinpath("static", name).read_text(encoding="utf-8")


_EMPTY_BODY = (
    "the body is empty: send a JSON object with pixels (and width and height for a canvas)"
)


def _describe_validation(exc: RequestValidationError) -> tuple[int, str, list[dict]]:
    """The status, the ``detail`` message and the listed errors for a request FastAPI refused.

    A body that is empty or not JSON at all is a 400 (no errors listed); a JSON body of the
    wrong form is a 422.
    """
    raw = exc.errors()
    if raw and raw[0].get("type") == "json_invalid":
        # FastAPI puts the offset where parsing stopped in loc and json's reason in ctx
        first = raw[0]
        reason = str((first.get("ctx") or {}).get("error") or "parse error")
        offset = [part for part in first.get("loc", ()) if part != "body"]
        where = f" at character {offset[0]}" if offset else ""
        return 400, f"the body is not valid JSON ({reason[:1].lower()}{reason[1:]}{where})", []
    errors = []
    for err in raw[:10]:
        loc = ".".join(str(part) for part in err.get("loc", ()) if part != "body")
        errors.append({"loc": loc, "msg": err.get("msg", ""), "type": err.get("type", "")})
    if not errors:
        return 422, "invalid request", []
    first = errors[0]
    if not first["loc"] and first["type"] == "missing":  # no body: no field to miss
        return 400, _EMPTY_BODY, []
    if not first["loc"] and first["type"] in ("model_attributes_type", "dict_type"):
        detail = "the body must be a JSON object (Content-Type: application/json)"
    elif first["type"] == "missing":
        detail = f"missing field {first['loc']!r}"
    else:
        detail = f"{first['loc']}: {first['msg']}" if first["loc"] else first["msg"]
    more = len(raw) - 1
    if more:
        detail += f" (and {more} more problem{'s' if more > 1 else ''})"
    return 422, detail, errors


def _describe_parse_failure(cause: RecursionError | ValueError) -> str:
    """The ``detail`` for a body FastAPI's JSON parser gave up on with an exception other than
    a syntax error (FastAPI's own message is "There was an error parsing the body")."""
    if isinstance(cause, RecursionError):
        return "the body is not valid JSON (it is nested too deeply)"
    if isinstance(cause, UnicodeDecodeError):
        return "the body is not valid JSON (it is not UTF-8 text)"
    # the one other ValueError json.loads raises: Python's limit on an integer's digits
    return "the body is not valid JSON (a number in it has too many digits)"


def create_app(
    net: Network,
    info: dict | None = None,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    allowed_hosts: Sequence[str] | None = None,
) -> FastAPI:
    """The web app for ``net``: the page, ``GET /api/model``, ``POST /api/predict`` and
    ``POST /api/explain``.

    ``POST /api/predict`` answers one score per class and the argmax, as
    :meth:`Network.predict`. The scores are class probabilities (``probabilities``, summing
    to 1, and ``normalized`` true) only for a softmax output and for one sigmoid output;
    otherwise they are the network's raw outputs (several sigmoid outputs, e.g. the notes'
    784-30-10 network trained with sse: each in [0, 1], not summing to 1; an identity output:
    any real number), ``normalized`` is false and ``probabilities`` is left out.

    ``POST /api/explain`` runs :func:`chainrule.explain.explain_example` on the same input, for
    a class label (default: the predicted class), on a copy of ``net``: every layer's chain-rule
    terms from the output back, checked against finite differences (:data:`EXPLAIN_FD_ENTRIES`
    entries per array), and dE/dx, the loss's gradient with respect to the 28x28 input.

    Parameters
    ----------
    net : Network
        A classifier with 784 inputs (28x28 images), e.g. trained by ``chainrule train``. One
        sigmoid output is served as two classes (0 and 1, with probabilities 1-p and p); a
        network with one output of any other activation (a regression model) is refused.
    info : dict, optional
        What the page shows besides the architecture, as made by :func:`model_info`: ``name``,
        ``test_accuracy``, ``training_config``, ``curves`` (a list of per-epoch dicts), and
        optionally ``classes`` (one name per class; default the digits).
    max_body_bytes : int
        Larger request bodies are refused with 413.
    allowed_hosts : sequence of str, optional
        If given, requests whose Host header names another host are refused (400).
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a chainrule Network, got {type(net).__name__}")
    if net.n_in != 784:
        raise ValueError(
            f"the draw-a-digit page needs a network with 784 inputs (28x28), got n_in={net.n_in}"
        )
    output = net.dense_layers[-1].activation.name
    # one sigmoid output is P(class 1): two classes, as Network.predict reads it
    binary = net.n_out == 1
    if binary and output != "sigmoid":
        raise ValueError(
            f"the draw-a-digit page needs a classifier, but this network has one {output} "
            "output (a regression model); serve a network with a softmax output, or one "
            "sigmoid output for two classes"
        )
    n_classes = 2 if binary else net.n_out
    # probabilities only where the outputs are: softmax, or P(class 1) of one sigmoid
    normalized = binary or output == "softmax"
    info = dict(info or {})
    classes = [str(c) for c in info.pop("classes", range(n_classes))]
    if len(classes) != n_classes:
        outputs = "one sigmoid output (two classes)" if binary else f"{net.n_out} outputs"
        raise ValueError(f"got {len(classes)} class names for a network with {outputs}")
    model = {
        "name": info.pop("name", None),
        "test_accuracy": info.pop("test_accuracy", None),
        "training_config": info.pop("training_config", None),
        "curves": info.pop("curves", []),
        **info,
        **_architecture(net),
        "classes": classes,
        "output": output,
        "normalized": normalized,
        "limits": {"max_body_bytes": max_body_bytes, "max_canvas_side": MAX_CANVAS_SIDE},
    }
    # checked once here, so a malformed info dict fails now, not on every page load
    model = ModelResponse.model_validate(model).model_dump()
    dense = net.dense_layers
    hidden = dense[:-1]
    lock = threading.Lock()  # the layers reuse their buffers: one forward pass at a time
    page = _static_text("index.html")
    api_page = _static_text("api.html")
    assets = {name: (_static_text(name), kind) for name, kind in _STATIC_FILES.items()}

    app = FastAPI(
        title="chainrule: draw a digit",
        version=_version(),
        description=(
            "The JSON API behind the draw-a-digit page: send pixels, get the predicted class, "
            "one score per class (`scores`: class probabilities summing to 1 for a softmax "
            "output or one sigmoid output, also given as `probabilities` and flagged by "
            "`normalized`; the raw, not normalized outputs otherwise, e.g. for several sigmoid "
            "outputs or an identity output; `output` names the activation), the 28x28 input "
            "it saw and its hidden layers' activations. `POST /api/explain` takes the same "
            "pixels and answers the chain rule for them: the loss for a class label, each "
            "layer's delta, dE/dw and dE/db (checked against finite differences) and dE/dx, "
            "the loss's gradient with respect to the input pixels."
        ),
        docs_url=None,  # FastAPI's Swagger page loads from a CDN; /docs is served locally below
        redoc_url=None,
    )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        status, detail, errors = _describe_validation(exc)
        body = {"detail": detail, "errors": errors} if errors else {"detail": detail}
        return JSONResponse(body, status_code=status)

    @app.exception_handler(StarletteHTTPException)  # FastAPI's own are Starlette's
    async def _http_error(request: Request, exc: StarletteHTTPException):
        # FastAPI answers 400 with a vague message when its JSON parser raises anything but a
        # syntax error (deep nesting, bytes that are not UTF-8); say which
        if exc.status_code == 400 and isinstance(exc.__cause__, (RecursionError, ValueError)):
            detail = _describe_parse_failure(exc.__cause__)
            return JSONResponse({"detail": detail}, status_code=400)
        return await http_exception_handler(request, exc)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(api_page)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        # only the page's own files, read at start-up: the name is a key, never a path
        if name not in assets:
            raise HTTPException(404, f"no such file: {name[:40]!r}")
        text, kind = assets[name]
        return Response(text, media_type=kind, headers={"cache-control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get(
        "/api/model",
        summary="The model: architecture, test accuracy, training curves",
        response_model=ModelResponse,
    )
    def get_model() -> dict:
        """The layer widths and activations, the number of parameters, the class names, the
        test accuracy and training configuration (null when unknown), the training curves
        (one entry per epoch; empty when unknown) and the request size limits."""
        return model

    @app.post(
        "/api/predict",
        summary="Classify a drawing",
        response_model=PredictResponse,
        response_model_exclude_none=True,  # no `probabilities` where there are none
        responses={
            400: {"model": Problem, "description": "the body is empty or not valid JSON"},
            413: {"model": Problem, "description": "body over the size limit"},
            422: {"model": Problem, "description": "bad shape, type or range, or a blank canvas"},
        },
    )
    def predict(request: PredictRequest) -> PredictResponse:
        """Send a 28x28 image (784 numbers, or 28 rows of 28) or a canvas of up to 512x512
        (`width`, `height` and `width*height` numbers, row-major). Gray levels are in [0, 1]
        or [0, 255]; the digit may be light on dark or dark on light. A canvas is preprocessed
        as `chainrule predict` does (crop, scale into 20x20, centre by mass); a 28x28 image is
        used as it is unless `preprocess` is true. Bad input gets a 422 whose `detail` says
        what is wrong. The answer's `scores` are class probabilities (`normalized` true, also
        given as `probabilities`) only for a softmax output or one sigmoid output; otherwise
        they are the network's raw outputs and `probabilities` is left out."""
        x = network_input(request)
        with lock:  # to the host (a copy) if the network is on a GPU
            outputs = to_numpy(net.forward(x[None, :])[0], copy=True)
            activations = [to_numpy(layer.out[0], copy=True) for layer in hidden]
        if binary:
            p = float(outputs[0])
            scores, top = np.array([1.0 - p, p]), int(p >= 0.5)
        else:
            scores, top = outputs, int(np.argmax(outputs))
        rounded = _rounded(scores, 6)
        return PredictResponse(
            prediction=top,
            label=classes[top],
            output=output,
            normalized=normalized,
            scores=rounded,
            probabilities=rounded if normalized else None,
            input=[_rounded(row, 4) for row in x.reshape(28, 28)],
            activations=[
                LayerActivations(
                    layer=net.layers.index(layer),
                    activation=layer.activation.name,
                    values=_rounded(values, 5),
                )
                for layer, values in zip(hidden, activations)
            ],
        )

    @app.post(
        "/api/explain",
        summary="The chain rule for a drawing: every layer's gradient terms, and dE/dx",
        response_model=ExplainResponse,
        response_model_exclude_none=True,  # no delta `values` for a layer of many units
        responses={
            400: {"model": Problem, "description": "the body is empty or not valid JSON"},
            413: {"model": Problem, "description": "body over the size limit"},
            422: {
                "model": Problem,
                "description": "bad shape, type or range, a blank canvas, or a label out of range",
            },
        },
    )
    def explain(request: ExplainRequest) -> dict:
        """The same pixels as `POST /api/predict` (checked and preprocessed the same way, with
        the same errors), and optionally `label`, the class the answer should be (default: the
        predicted one). Answers what `chainrule explain` prints for this input: the loss E for
        that label and, per Dense layer from the output back (the notes' numbering: 1 is the
        output layer), the shapes, delta = dE/ds * ds/dnet, dE/dw = outer(in, delta) and
        dE/db = delta with their norms and a finite-difference check of 20 sampled entries per
        array; and dE/dx, the gradient of E with respect to the 28x28 input: where more ink
        would raise (> 0) or lower (< 0) the loss. Computed in float64 on a copy of the
        network, which the request never changes."""
        x = network_input(request)
        if request.label is not None and request.label >= n_classes:
            raise HTTPException(
                422,
                f"label must be a class index from 0 to {n_classes - 1} (the network has "
                f"{n_classes} classes), got label={request.label}",
            )
        with lock:  # a private copy: explaining never touches the served network's buffers
            snapshot = net.copy()
        snapshot.to("cpu")  # NumPy arithmetic: a GPU network's host copy
        prediction = int(snapshot.predict(x[None, :])[0])
        label = prediction if request.label is None else request.label
        explanation = explain_example(snapshot, x, label, fd_max_entries=EXPLAIN_FD_ENTRIES)
        return explanation_answer(explanation, classes, prediction)

    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(SecurityHeaders)
    if allowed_hosts is not None:
        app.add_middleware(HostCheck, hosts=allowed_hosts)
    return app


def _significant(value: float, digits: int = 6) -> float:
    """``value`` to ``digits`` significant digits (gradients span many orders of magnitude)."""
    return float(f"{float(value):.{digits}g}")


def _gradient_check(
    grad: np.ndarray, checked: int, error: float, diff: float, noise: float
) -> dict:
    ok = fd_passed(error, diff, noise)
    return {
        "shape": list(grad.shape),
        "size": int(grad.size),
        "norm": _significant(np.linalg.norm(grad)),
        "max_abs": _significant(np.max(np.abs(grad), initial=0.0)),
        "checked": checked,
        "rel_error": _significant(error, 3),
        "max_diff": _significant(diff, 3),
        "ok": bool(ok),
        "within_noise": bool(ok and error > FD_TOLERANCE),
    }


def _delta_summary(delta: np.ndarray) -> dict:
    top = np.argsort(-np.abs(delta), kind="stable")[:EXPLAIN_TOP_UNITS]
    return {
        "size": int(delta.size),
        "values": [_significant(v) for v in delta] if delta.size <= EXPLAIN_MAX_VALUES else None,
        "norm": _significant(np.linalg.norm(delta)),
        "min": _significant(delta.min()),
        "max": _significant(delta.max()),
        "top": [{"unit": int(k), "value": _significant(delta[k])} for k in top],
    }


def _layer_answer(e: Explanation, t: LayerTerms) -> dict:
    x = t.number
    if x == 1:
        error = OUTPUT_ERROR_FORMULA.get(e.loss, "dE/dout")
    else:
        error = f"w_{x - 1} . delta_{x - 1}"
    if t.chain_delta is not None:  # a fused loss: the activation's derivative cancels
        delta = "dE/ds . ds/dnet = out - label"
    else:
        delta = "dE/ds . ds/dnet" if t.ds_dnet.ndim == 2 else "dE/ds * ds/dnet"
    noise = e.fd_noise
    return {
        "number": x,
        "index": t.index,
        "activation": t.activation,
        "n_in": t.n_in,
        "n_out": t.n_out,
        "shapes": {
            "in": list(t.in_x.shape),
            "net": list(t.net.shape),
            "out": list(t.out.shape),
            "weights": list(t.weights.shape),
            "biases": list(t.biases.shape),
            "ds_dnet": list(t.ds_dnet.shape),
        },
        "formulas": {
            "dE_ds": error,
            "ds_dnet": derivative_formula(t.activation_function, x),
            "delta": delta,
            "dE_dw": f"outer(in_{x}, delta_{x})",
            "dE_db": f"delta_{x}",
        },
        "delta": _delta_summary(t.delta),
        "dE_dw": _gradient_check(t.dE_dw, t.fd_checked_w, t.fd_error_w, t.fd_diff_w, noise),
        "dE_db": _gradient_check(t.dE_db, t.fd_checked_b, t.fd_error_b, t.fd_diff_b, noise),
        "network_max_diff": _significant(t.network_max_diff, 3),
    }


def input_gradient(e: Explanation) -> np.ndarray:
    """dE/dx of shape (n_in,) with respect to the input as given: the error handed down past
    the layer that takes the input, ``w_n . delta_n`` (float64), as every other layer hands it
    to the one below, and through a Standardize first layer (divided by ``std``)."""
    return e.input_gradient


def _input_gradient_formula(e: Explanation) -> str:
    n = len(e.layers)
    handed_down = f"w_{n} . delta_{n}"
    return f"({handed_down}) / std" if e.standardized else handed_down


def explanation_answer(e: Explanation, classes: Sequence[str], prediction: int) -> dict:
    """The JSON of ``POST /api/explain`` for an :func:`~chainrule.explain.explain_example`
    result of a 784-input network: numbers to 6 significant digits, layers from the output
    back (the notes' order)."""
    grad = input_gradient(e)
    kink = e.at_kink
    return {
        "loss": e.loss,
        "loss_formula": LOSS_FORMULA.get(e.loss, "E"),
        "loss_value": _significant(e.loss_value),
        "label": e.label,
        "label_name": classes[e.label],
        "prediction": prediction,
        "layers": [_layer_answer(e, t) for t in e.layers],
        "standardized": e.standardized,
        "input_gradient": [[_significant(v) for v in row] for row in grad.reshape(28, 28)],
        "input_gradient_formula": _input_gradient_formula(e),
        "input_gradient_max_abs": _significant(np.max(np.abs(grad))),
        "fd_eps": e.fd_eps,
        "fd_max_entries": e.fd_max_entries,
        "fd_tolerance": FD_TOLERANCE,
        "fd_noise": _significant(e.fd_noise, 3),
        "fd_ok": e.fd_ok,
        "kink": kink,
        "network_max_diff": _significant(e.network_max_diff, 3),
    }


def _rounded(values: np.ndarray, digits: int) -> list[float]:
    return [round(float(v), digits) for v in np.asarray(values, dtype=np.float64)]


def _version() -> str:
    from chainrule import __version__

    return __version__


def _is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback one (``127.0.0.1``, ``::1``, this
    machine's name where /etc/hosts maps it to 127.0.1.1, ``2130706433``, ...): a page that
    only this machine reaches, which DNS rebinding could still reach through another name."""
    import ipaddress
    import socket

    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0].split("%")[0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def serve(
    model_path: str | Path | None,
    host: str = "127.0.0.1",
    port: int = 8000,
    run_dir: str | Path | None = None,
    log_level: str = "info",
) -> None:
    """Serve the page for the model at ``model_path`` until interrupted (blocking).

    ``model_path`` None means the model of the latest ``chainrule train``; a
    ``FileNotFoundError`` says how to get one if there is none. ``run_dir`` holds the training
    curves (default: the model's directory, if it is a run directory). Binds ``host``
    (127.0.0.1 by default: this machine only); on a loopback address, requests naming another
    host are refused. Prints nothing itself; uvicorn logs at ``log_level``.
    """
    import uvicorn

    from chainrule.serialization import load

    if model_path is None:
        from chainrule.cli import latest_model

        model_path = latest_model()
        if model_path is None:
            raise FileNotFoundError(
                "no model to serve: train one with `chainrule train` (or name a model file)"
            )
    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"model file not found: {model_path}")
    net = load(model_path)
    hosts = [*LOOPBACK_HOSTS, host, f"[{host}]" if ":" in host else host]
    app = create_app(
        net,
        model_info(net, model_path, run_dir),
        allowed_hosts=hosts if _is_loopback(host) else None,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level)
