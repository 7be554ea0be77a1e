"""The ``chainrule`` command: the only place that parses arguments and prints.

Results go to stdout; progress and logs go to stderr (the progress bar only when stderr is a
terminal and ``--quiet`` is not given). A user mistake prints one line, ``chainrule: error:
...``, and exits with status 2 (1 for other failures); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["main", "TrainConfig"]

EXIT_USAGE = 2
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """A user mistake: printed as one line, exit status 2."""


# -- configuration -------------------------------------------------------------------------


@dataclasses.dataclass
class TrainConfig:
    """Everything ``chainrule train`` needs; TOML keys and flags share these names."""

    dataset: str = "mnist"
    layers: list[int] = dataclasses.field(default_factory=lambda: [784, 400, 400, 10])
    activation: list[str] = dataclasses.field(default_factory=lambda: ["relu"])
    loss: str = "cross_entropy"
    optimizer: str = "adam"
    lr: float | None = 3e-3
    schedule: str = "one_cycle"
    batch_size: int = 256
    epochs: int = 4
    seed: int = 0
    dtype: str = "float32"
    weight_decay: float | None = None
    dropout: float = 0.0
    val_split: float = 0.0
    early_stopping: int = 0
    checkpoint_every: int = 1
    subset: int | None = None

    def hidden_and_output(self) -> tuple[list[str], str | None]:
        n_dense = len(self.layers) - 1
        acts = list(self.activation)
        if len(acts) == 1:
            return acts * (n_dense - 1), None
        if len(acts) == n_dense:
            return acts[:-1], acts[-1]
        if len(acts) == n_dense - 1:
            return acts, None
        raise CLIError(
            f"--activation takes one name or one per layer ({n_dense - 1} hidden, or "
            f"{n_dense} with the output), got {len(acts)}: {','.join(acts)}"
        )


PRESETS = {
    # The network of the notes: 784-30-10 sigmoid, sum of squared errors, plain SGD.
    "seed": {
        "layers": [784, 30, 10],
        "activation": ["sigmoid"],
        "loss": "sse",
        "optimizer": "sgd",
        "lr": 3.0,
        "schedule": "constant",
        "batch_size": 10,
        "epochs": 30,
    },
}


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in str(text).replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if len(values) < 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected at least two positive sizes such as 784,100,10, got {text!r}"
        )
    return values


def _name_list(text: str) -> list[str]:
    return [v for v in str(text).replace(" ", "").split(",") if v]


def _checked(convert, ok, expected: str):
    """An argparse type: ``convert`` the text, then require ``ok(value)``."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_int = _checked(int, lambda v: v >= 1, "a positive integer")
_fraction = _checked(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
_nonnegative_float = _checked(float, lambda v: np.isfinite(v) and v >= 0, "a finite number >= 0")


_CONVERTERS = {
    "layers": _int_list,
    "activation": _name_list,
    "batch_size": _positive_int,
    "epochs": _positive_int,
    "val_split": _fraction,
    "dropout": _fraction,
    "weight_decay": _nonnegative_float,
    "lr": _nonnegative_float,
}


def _load_toml(path: str) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise CLIError(f"config file not found: {path}")
    except tomllib.TOMLDecodeError as exc:
        raise CLIError(f"{path}: not valid TOML ({exc})")
    data = data.get("train", data)
    known = {f.name for f in dataclasses.fields(TrainConfig)} | {"preset", "output", "plot"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise CLIError(
            f"{path}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}"
        )
    return data


def resolve_train_config(args: argparse.Namespace) -> tuple[TrainConfig, dict]:
    """Defaults, then the preset, then the TOML file, then flags: later ones win."""
    values: dict = {}
    extras: dict = {}
    file_values = _load_toml(args.config) if args.config else {}
    preset = args.preset or file_values.pop("preset", None)
    if preset:
        if preset not in PRESETS:
            raise CLIError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
        values.update(PRESETS[preset])
    for key, value in file_values.items():
        if key in ("output", "plot"):
            extras[key] = value
            continue
        convert = _CONVERTERS.get(key)
        if convert is not None and not isinstance(value, list):
            try:
                value = convert(str(value))
            except argparse.ArgumentTypeError as exc:
                raise CLIError(f"{args.config}: {key}: {exc}")
        elif key in ("layers",) and isinstance(value, list):
            value = _int_list(",".join(map(str, value)))
        elif key == "activation" and isinstance(value, str):
            value = _name_list(value)
        values[key] = value
    for field in dataclasses.fields(TrainConfig):
        flag = getattr(args, field.name, None)
        if flag is not None:
            values[field.name] = flag
    config = TrainConfig(**values)
    return config, extras


# -- data ------------------------------------------------------------------------------------


def load_train_test(config: TrainConfig):
    """``(x_train, y_train, x_test, y_test, input_scale)`` for the configured dataset.

    MNIST-like image sets keep their training images as uint8 (a quarter of the memory;
    ``fit`` scales each batch by ``input_scale = 1/255``); test images come as float32 in
    [0, 1], as ``evaluate`` and ``predict`` give them to the network. Files: float32, no scale.
    """
    from chainrule import datasets

    name = config.dataset
    if os.path.splitext(name)[1].lower() in (".csv", ".npz"):
        if not os.path.exists(name):
            raise CLIError(f"dataset file not found: {name}")
        loader = datasets.load_npz if name.lower().endswith(".npz") else datasets.load_csv
        x, y = loader(name)
        # a held-out test split (10%, stratified, seeded) for the reported test accuracy
        x_train, y_train, x_test, y_test = datasets.train_val_split(
            x, y, val_fraction=0.1, seed=config.seed
        )
        input_scale = None
    else:
        x_train, y_train = datasets.load_dataset(name, "train", dtype=np.uint8)
        x_test, y_test = datasets.load_dataset(name, "test")
        input_scale = 1 / 255
    if config.subset:
        x_train, y_train = x_train[: config.subset], y_train[: config.subset]
    return x_train, y_train, x_test, y_test, input_scale


# -- output helpers ----------------------------------------------------------------------------


def _log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


def _fmt(value, spec: str) -> str:
    width = int("".join(c for c in spec.split(".")[0] if c.isdigit()) or 0)
    return f"{'-':>{width}}" if value is None else format(value, spec)


class _EpochTable:
    """Per-epoch lines on stderr; a tqdm bar per epoch when stderr is a terminal."""

    header = (
        f"{'epoch':>5}  {'loss':>8}  {'acc':>7}  {'val_loss':>8}  {'val_acc':>7}  "
        f"{'lr':>9}  {'sec':>6}"
    )

    def __init__(self, show_bar: bool, quiet: bool):
        self.show_bar = show_bar and not quiet
        self.quiet = quiet
        self.bar = None
        self.running = None

    def on_train_begin(self, info=None):
        self.running = (info or {}).get("running_metrics")
        if not self.quiet:
            _log(self.header)

    def on_epoch_begin(self, epoch, n_batches):
        if self.show_bar:
            try:
                from tqdm import tqdm
            except ImportError:  # the bar is optional: pip install 'chainrule[cli]'
                self.show_bar = False
                return
            self.bar = tqdm(
                total=n_batches,
                desc=f"epoch {epoch}",
                unit="batch",
                leave=False,
                file=sys.stderr,
                mininterval=0.25,
            )

    def on_batch_end(self, epoch, batch_index, n_batches, loss):
        if self.bar is not None:
            self.bar.update(1)
            if batch_index % 50 == 0 and self.running is not None:
                metrics = self.running()
                postfix = {"loss": f"{metrics['loss']:.4f}"}
                if metrics.get("accuracy") is not None:
                    postfix["acc"] = f"{metrics['accuracy']:.4f}"
                self.bar.set_postfix(postfix, refresh=False)

    def on_epoch_end(self, epoch, record):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if not self.quiet:
            _log(
                f"{epoch:>5}  {_fmt(record.get('loss'), '8.4f')}  "
                f"{_fmt(record.get('accuracy'), '7.4f')}  {_fmt(record.get('val_loss'), '8.4f')}  "
                f"{_fmt(record.get('val_accuracy'), '7.4f')}  "
                f"{_fmt(record.get('learning_rate'), '9.3g')}  "
                f"{_fmt(record.get('seconds'), '6.2f')}"
            )

    def on_train_end(self, history=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _latest_pointer() -> Path:
    from chainrule.datasets import cache_dir

    return Path(cache_dir()) / "latest-model.txt"


def _remember_latest(model_path: Path) -> None:
    from chainrule._atomic import atomic_write_bytes

    try:
        pointer = _latest_pointer()
        pointer.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(pointer, str(model_path.resolve()).encode())
    except OSError:
        pass  # remembering the latest model is a convenience, never a failure


def latest_model() -> Path | None:
    """The model written by the most recent ``chainrule train``, if it still exists."""
    try:
        path = Path(_latest_pointer().read_text().strip())
    except OSError:
        return None
    return path if path.is_file() else None


def _write_json(path: Path, data) -> None:
    from chainrule._atomic import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())


def _load_model(path: str):
    import chainrule

    if not os.path.exists(path):
        raise CLIError(f"model file not found: {path}")
    return chainrule.load(path)


def _check_fits(net, x, what: str) -> None:
    if x.shape[1] != net.n_in:
        raise CLIError(
            f"the model takes {net.n_in} inputs but {what} has {x.shape[1]} features per example"
        )


# -- commands --------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    import chainrule
    from chainrule import training
    from chainrule.metrics import classification_summary

    comm = None
    if args.distributed:
        try:
            from mpi4py import MPI
        except ImportError:
            raise CLIError("--distributed needs mpi4py: pip install 'chainrule[mpi]'")
        comm = MPI.COMM_WORLD
    rank = 0 if comm is None else comm.Get_rank()
    log = _log if rank == 0 else (lambda *parts: None)
    config, extras = resolve_train_config(args)
    hidden, output = config.hidden_and_output()
    x_train, y_train, x_test, y_test, input_scale = load_train_test(config)
    if config.layers[0] != x_train.shape[1]:
        raise CLIError(
            f"--layers starts with {config.layers[0]} inputs but the dataset has "
            f"{x_train.shape[1]} features"
        )
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    if config.layers[-1] != n_classes and not (config.layers[-1] == 1 and n_classes == 2):
        raise CLIError(
            f"--layers ends with {config.layers[-1]} outputs but the dataset has "
            f"{n_classes} classes"
        )
    if args.resume:
        if not os.path.exists(args.resume):
            raise CLIError(f"checkpoint not found: {args.resume}")
        net = chainrule.serialization.load_checkpoint(args.resume).net
    else:
        try:
            net = chainrule.Network.from_sizes(
                config.layers,
                hidden=hidden,
                output=output,
                loss=config.loss,
                seed=config.seed,
                dtype=config.dtype,
                dropout=config.dropout,
            )
        except ValueError as exc:
            raise CLIError(str(exc))
    if args.device != "cpu":
        try:
            net.to(args.device)
        except chainrule.backend.DeviceError as exc:
            raise CLIError(str(exc))
    # every setting is checked before anything is written or printed
    optimizer = _make_optimizer(config)
    try:
        schedule = chainrule.schedules.get_schedule(config.schedule)
    except ValueError as exc:
        raise CLIError(str(exc))
    early = (
        training.EarlyStopping(monitor="val_loss", patience=config.early_stopping)
        if config.early_stopping
        else None
    )
    if early is not None and not config.val_split:
        raise CLIError("--early-stopping needs a validation set: give --val-split too")
    run_dir = Path(args.output or extras.get("output") or _default_run_dir())
    if comm is not None:  # every rank uses rank 0's run directory
        run_dir = Path(comm.bcast(str(run_dir), root=0))
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "checkpoints").mkdir(exist_ok=True)
        _write_json(run_dir / "config.json", dataclasses.asdict(config))

    log(f"run directory: {run_dir}")
    log(
        f"network: {'-'.join(map(str, net.sizes))} "
        f"({', '.join(layer.activation.name for layer in net.dense_layers)}), "
        f"loss {config.loss}, {config.optimizer} lr={config.lr} {config.schedule}, "
        f"batch {config.batch_size}, {config.epochs} epochs, {net.n_parameters:,} parameters"
        + ("" if net.device == "cpu" else f", on {net.device}")
    )
    table = _EpochTable(show_bar=sys.stderr.isatty() and rank == 0, quiet=args.quiet or rank > 0)
    metrics_log = _MetricsLog(run_dir / "metrics.jsonl")
    callbacks = [table, metrics_log] if rank == 0 else []
    started = time.perf_counter()
    try:
        history = chainrule.fit(
            net,
            x_train,
            y_train,
            epochs=config.epochs,
            batch_size=config.batch_size,
            optimizer=optimizer,
            schedule=schedule,
            weight_decay=config.weight_decay,
            validation_split=config.val_split,
            seed=config.seed,
            callbacks=callbacks,
            comm=comm,
            checkpoint=training.Checkpoint(run_dir / "checkpoints", every=config.checkpoint_every),
            early_stopping=early,
            resume=args.resume,
            input_scale=input_scale,
        )
    except training.TrainingInterrupted as exc:
        if rank:
            return EXIT_INTERRUPTED
        table.on_train_end()
        log(f"interrupted: checkpoint saved to {exc.checkpoint_path}")
        log(f"resume with: chainrule train --resume {exc.checkpoint_path} ...")
        return EXIT_INTERRUPTED
    seconds = time.perf_counter() - started
    if rank:
        return 0  # only rank 0 evaluates, saves the model, writes metrics and prints
    predicted = net.predict(x_test)
    summary = classification_summary(y_test, predicted, max(net.n_out, 2))
    final = {
        "test_accuracy": summary["accuracy"],
        "train_seconds": round(seconds, 2),
        "epochs": len(history.epochs),
    }
    if history.epochs:
        last = history.epochs[-1]
        final.update({k: last.get(k) for k in ("loss", "accuracy", "val_loss", "val_accuracy")})
    model_path = run_dir / "model.npz"
    chainrule.save(
        net,
        model_path,
        metadata={"training_config": dataclasses.asdict(config), "final_metrics": final},
    )
    _write_json(run_dir / "test_metrics.json", summary)
    _remember_latest(model_path)
    if args.plot or extras.get("plot"):
        _plot_run(run_dir, net, history.epochs, summary["confusion_matrix"])
    print(f"test accuracy: {summary['accuracy']:.4f} ({len(y_test)} examples)")
    print(f"training time: {seconds:.1f} s")
    print(f"model: {model_path}")
    print(f"run directory: {run_dir}")
    return 0


def _default_run_dir() -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path("runs") / stamp
    n = 1
    while path.exists():
        n += 1
        path = Path("runs") / f"{stamp}-{n}"
    return str(path)


def _make_optimizer(config: TrainConfig):
    from chainrule import optimizers

    try:
        return optimizers.get_optimizer(config.optimizer, learning_rate=config.lr)
    except ValueError as exc:
        raise CLIError(str(exc))


class _MetricsLog:
    """Appends one JSON line per epoch to ``metrics.jsonl``."""

    def __init__(self, path: Path):
        self.path = path

    def on_train_begin(self, info=None):
        pass

    def on_epoch_begin(self, epoch, n_batches):
        pass

    def on_batch_end(self, *args, **kwargs):
        pass

    def on_epoch_end(self, epoch, record):
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def on_train_end(self, history=None):
        pass


def _read_metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        raise CLIError(f"{run_dir} has no metrics.jsonl: is it a run directory of chainrule train?")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise CLIError(f"{path}: line {number} is not valid JSON")
    return records


def _plot_run(run_dir: Path, net, records, cm) -> None:
    from chainrule import plots

    try:
        written = plots.plot_run(
            run_dir,
            records,
            cm=np.asarray(cm) if cm is not None else None,
            first_weights=net.dense_layers[0].weights,
        )
    except ImportError as exc:
        raise CLIError(str(exc))
    for path in written:
        print(f"wrote {path}")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from chainrule import datasets
    from chainrule.metrics import classification_summary

    net = _load_model(args.model)
    if os.path.splitext(args.dataset)[1].lower() in (".csv", ".npz"):
        if not os.path.exists(args.dataset):
            raise CLIError(f"dataset file not found: {args.dataset}")
        loader = datasets.load_npz if args.dataset.lower().endswith(".npz") else datasets.load_csv
        x, y = loader(args.dataset)
    else:
        x, y = datasets.load_dataset(args.dataset, args.split)
    _check_fits(net, x, args.dataset)
    summary = classification_summary(y, net.predict(x), max(net.n_out, 2))
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"accuracy: {summary['accuracy']:.4f} on {summary['n_examples']} examples")
    print(f"{'class':>5}  {'precision':>9}  {'recall':>7}")
    for k, (p, r) in enumerate(zip(summary["precision"], summary["recall"])):
        print(f"{k:>5}  {p:9.4f}  {r:7.4f}")
    cm = summary["confusion_matrix"]
    print("confusion matrix (rows: true class, columns: predicted):")
    width = max(len(str(v)) for row in cm for v in row)
    print("      " + " ".join(f"{j:>{width}}" for j in range(len(cm))))
    for i, row in enumerate(cm):
        print(f"{i:>5} " + " ".join(f"{v:>{width}}" for v in row))
    return 0


def _read_inputs(net, paths: list[str]) -> tuple[list[str], np.ndarray]:
    from chainrule.preprocess import mnist_image

    names, rows = [], []
    for path in paths:
        if not os.path.exists(path):
            raise CLIError(f"input file not found: {path}")
        if path.lower().endswith(".npy"):
            try:
                array = np.load(path, allow_pickle=False)
            except ValueError as exc:
                raise CLIError(f"{path}: not a plain .npy array ({exc})")
            array = np.asarray(array, dtype=np.float32)
            if array.ndim == 1 or array.shape == (28, 28):
                array = array.reshape(1, -1)
            elif array.ndim == 3:
                array = array.reshape(len(array), -1)
            if array.ndim != 2 or array.shape[1] != net.n_in:
                raise CLIError(
                    f"{path}: expected arrays of {net.n_in} values, got shape {array.shape}"
                )
            if array.max(initial=0) > 1.0:
                array = array / 255.0
            names += [path] if len(array) == 1 else [f"{path}[{i}]" for i in range(len(array))]
            rows.append(array)
        else:
            try:
                rows.append(mnist_image(path)[None, :])
            except ImportError as exc:
                raise CLIError(str(exc))
            names.append(path)
    x = np.concatenate(rows)
    _check_fits(net, x, "the input")
    return names, x


def cmd_predict(args: argparse.Namespace) -> int:
    net = _load_model(args.model)
    names, x = _read_inputs(net, args.inputs)
    probs = net.predict_proba(x)
    if net.n_out == 1:
        probs = np.concatenate([1 - probs, probs], axis=1)
    results = []
    for name, p in zip(names, probs):
        order = np.argsort(-p)[: args.top]
        results.append(
            {
                "input": name,
                "prediction": int(order[0]),
                "top": [{"class": int(k), "probability": round(float(p[k]), 6)} for k in order],
            }
        )
    if args.json:
        print(json.dumps(results if len(results) > 1 else results[0]))
        return 0
    for r in results:
        tops = ", ".join(f"{t['class']} ({t['probability']:.3f})" for t in r["top"])
        print(f"{r['input']}: {r['prediction']}   top: {tops}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from chainrule.serialization import load_metadata

    net = _load_model(args.model)
    meta = load_metadata(args.model)
    if args.json:
        print(
            json.dumps({"config": net.config(), "n_parameters": net.n_parameters, "metadata": meta})
        )
        return 0
    print(f"model: {args.model}")
    print(f"loss: {net.loss_function.name}   dtype: {net.dtype}   parameters: {net.n_parameters:,}")
    print(
        f"{'#':>2}  {'layer':<8}  {'activation':<11}  {'weights':>12}  {'biases':>7}  {'params':>9}"
    )
    for i, layer in enumerate(net.layers):
        if hasattr(layer, "weights"):
            shape_w = "x".join(map(str, layer.weights.shape))
            n = layer.weights.size + layer.biases.size
            print(
                f"{i:>2}  {'dense':<8}  {layer.activation.name:<11}  {shape_w:>12}  "
                f"{layer.biases.shape[0]:>7}  {n:>9,}"
            )
        else:
            print(f"{i:>2}  {type(layer).__name__.lower():<8}  rate={getattr(layer, 'rate', '-')}")
    for key in ("training_config", "final_metrics"):
        value = meta.get(key) or meta.get("metadata", {}).get(key)
        if value:
            print(f"{key.replace('_', ' ')}:")
            for k, v in value.items():
                print(f"  {k}: {v}")
    print(
        f"chainrule version: {meta.get('chainrule_version', '?')}   "
        f"format: {meta.get('format_version', '?')}"
    )
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise CLIError(f"run directory not found: {run_dir}")
    records = _read_metrics(run_dir)
    cm = None
    metrics_file = run_dir / "test_metrics.json"
    if metrics_file.exists():
        try:
            cm = json.loads(metrics_file.read_text()).get("confusion_matrix")
        except json.JSONDecodeError:
            raise CLIError(f"{metrics_file}: not valid JSON")
    model_file = run_dir / "model.npz"
    net = _load_model(str(model_file)) if model_file.exists() else None
    if net is None:
        from chainrule import plots

        written = plots.plot_run(run_dir, records, cm=np.asarray(cm) if cm else None)
        for path in written:
            print(f"wrote {path}")
        return 0
    _plot_run(run_dir, net, records, cm)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from chainrule.export import export_onnx

    net = _load_model(args.model)
    try:
        export_onnx(net, args.output)
    except ImportError as exc:
        raise CLIError(str(exc))
    print(f"wrote {args.output}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from chainrule import datasets

    bars: dict = {}

    def progress(filename, done, total):
        if args.quiet or not sys.stderr.isatty():
            return
        try:
            from tqdm import tqdm
        except ImportError:
            return

        bar = bars.get(filename)
        if bar is None:
            bar = bars[filename] = tqdm(
                total=total, desc=filename, unit="B", unit_scale=True, file=sys.stderr, leave=False
            )
        bar.update(done - bar.n)

    try:
        paths = datasets.download(
            args.name, data_dir=args.data_dir, progress=progress, timeout=args.timeout
        )
    finally:
        for bar in bars.values():
            bar.close()
    for path in paths if isinstance(paths, (list, tuple)) else [paths]:
        print(path)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from chainrule import explain

    kwargs = dict(
        sizes=args.sizes,
        activation=args.activation,
        loss=args.loss,
        seed=args.seed,
        batch=args.batch,
        shapes=args.shapes or args.command == "trace",
        format=args.format,
        color=args.format == "text" and sys.stdout.isatty() and not args.no_color,
    )
    if args.model:
        from chainrule import datasets

        net = _load_model(args.model)
        x_test, y_test = datasets.load_dataset(args.dataset, "test")
        _check_fits(net, x_test, args.dataset)
        i, n = args.index, args.batch or 1
        if not 0 <= i <= len(x_test) - n:
            raise CLIError(f"--index must be in [0, {len(x_test) - n}], got {i}")
        if args.batch:
            kwargs.update(net=net, x=x_test[i : i + n], label=y_test[i : i + n])
            what = f"{args.dataset} test images {i}..{i + n - 1}"
        else:
            kwargs.update(net=net, x=x_test[i], label=int(y_test[i]))
            what = f"{args.dataset} test image {i} (label {int(y_test[i])})"
        kwargs["description"] = f"Model {args.model}, {what}."
    try:
        text = explain.explain_command(**kwargs)
    except ValueError as exc:
        raise CLIError(str(exc))
    print(text)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    model = args.model or latest_model()
    if model is None:
        raise CLIError(
            "no model to serve yet: train one with `chainrule train` (about a minute), "
            "or pass a model file: chainrule serve MODEL"
        )
    if not os.path.exists(model):
        raise CLIError(f"model file not found: {model}")
    try:
        from chainrule import web

        print(f"serving {model} at http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
        web.serve(str(model), host=args.host, port=args.port, log_level="warning")
    except ImportError as exc:
        raise CLIError(f"{exc} (the web page needs: pip install 'chainrule[web]')")
    return 0


# -- the parser ------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (with a pointer to --help), exit status 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from chainrule import __version__

    parser = _Parser(
        prog="chainrule",
        description="Neural networks from scratch on NumPy, every gradient by the chain rule.",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    common = _Parser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add = sub.add_parser

    def add_parser(name, **kwargs):
        return _add(name, parents=[common], **kwargs)

    sub.add_parser = add_parser
    sub.required = True

    train = sub.add_parser(
        "train",
        help="train a network (default: MNIST) and report test accuracy",
        description="Train a network. With no flags: the default network on the bundled MNIST.",
    )
    train.add_argument(
        "--config",
        metavar="FILE.toml",
        help="TOML file with the same keys as the flags (flags win)",
    )
    train.add_argument(
        "--preset",
        help=f"a named configuration: {', '.join(PRESETS)} (the notes' 784-30-10 sigmoid network)",
    )
    train.add_argument(
        "--dataset", help="mnist, fashion-mnist, or a .csv/.npz file (default mnist)"
    )
    train.add_argument("--layers", type=_int_list, help="layer sizes, e.g. 784,256,10")
    train.add_argument(
        "--activation",
        type=_name_list,
        help="one activation for the hidden layers, or one per layer (comma-separated)",
    )
    train.add_argument("--loss", help="sse, mse, cross_entropy, binary_cross_entropy")
    train.add_argument("--optimizer", help="sgd, momentum, nesterov, adam, adamw, rmsprop")
    train.add_argument("--lr", type=_nonnegative_float, help="learning rate")
    train.add_argument("--schedule", help="constant, step, cosine, inverse_time, one_cycle")
    train.add_argument("--batch-size", dest="batch_size", type=_positive_int)
    train.add_argument("--epochs", type=_positive_int)
    train.add_argument("--seed", type=int)
    train.add_argument("--dtype", choices=["float32", "float64"])
    train.add_argument(
        "--device",
        choices=["cpu", "gpu"],
        default="cpu",
        help="where to train: cpu (NumPy, default) or gpu (CuPy: pip install 'chainrule[gpu]')",
    )
    train.add_argument("--weight-decay", dest="weight_decay", type=_nonnegative_float)
    train.add_argument("--dropout", type=_fraction, help="dropout rate after each hidden layer")
    train.add_argument(
        "--val-split", dest="val_split", type=_fraction, help="fraction held out for validation"
    )
    train.add_argument(
        "--early-stopping",
        dest="early_stopping",
        type=_positive_int,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without a better validation loss; keep the best weights",
    )
    train.add_argument(
        "--checkpoint-every", dest="checkpoint_every", type=_positive_int, metavar="N"
    )
    train.add_argument(
        "--subset",
        type=_positive_int,
        metavar="N",
        help="train on the first N examples only (quick tries)",
    )
    train.add_argument(
        "--output", "-o", metavar="DIR", help="the run directory (default runs/DATE-TIME)"
    )
    train.add_argument("--resume", metavar="CHECKPOINT", help="continue from a checkpoint file")
    train.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel over MPI: mpiexec -n N chainrule train --distributed ...",
    )
    train.add_argument(
        "--plot", action="store_true", help="write PNG figures at the end (needs matplotlib)"
    )
    train.add_argument("--quiet", "-q", action="store_true", help="no progress bar or epoch table")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser(
        "evaluate", help="accuracy, per-class precision/recall, confusion matrix"
    )
    evaluate.add_argument("model", help="a model file written by chainrule train")
    evaluate.add_argument(
        "--dataset", default="mnist", help="mnist, fashion-mnist or a .csv/.npz file"
    )
    evaluate.add_argument("--split", default="test", choices=["train", "test"])
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(func=cmd_evaluate)

    predict = sub.add_parser("predict", help="classify images of digits (PNG/JPEG) or .npy arrays")
    predict.add_argument("model")
    predict.add_argument("inputs", nargs="+", metavar="INPUT")
    predict.add_argument("--top", type=_positive_int, default=3, help="how many classes to show")
    predict.add_argument("--json", action="store_true")
    predict.set_defaults(func=cmd_predict)

    info = sub.add_parser("info", help="architecture, training config and final metrics of a model")
    info.add_argument("model")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_info)

    plot = sub.add_parser("plot", help="PNG figures of a run: curves, confusion matrix, weights")
    plot.add_argument("run_dir", metavar="RUN_DIR")
    plot.set_defaults(func=cmd_plot)

    export = sub.add_parser("export", help="export a model (ONNX)")
    export.add_argument("model")
    export.add_argument("--format", choices=["onnx"], default="onnx")
    export.add_argument("--output", "-o", required=True, metavar="FILE.onnx")
    export.set_defaults(func=cmd_export)

    download = sub.add_parser(
        "download", help="download a dataset from its public mirrors, verified"
    )
    download.add_argument("name", choices=["mnist", "fashion-mnist"])
    download.add_argument(
        "--data-dir", metavar="DIR", help="where to put the files (default: the user cache)"
    )
    download.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    download.add_argument("--quiet", "-q", action="store_true")
    download.set_defaults(func=cmd_download)

    serve = sub.add_parser("serve", help="a local web page: draw a digit, watch the network answer")
    serve.add_argument("model", nargs="?", help="model file (default: the latest chainrule train)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_positive_int, default=8000)
    serve.set_defaults(func=cmd_serve)

    for name, helptext in (
        ("explain", "show the chain rule at work, layer by layer, with numbers"),
        ("trace", "the shape of every array in the forward and backward pass"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--sizes", type=_int_list, help="layer sizes, e.g. 8,2 or 784,30,10")
        p.add_argument("--activation", help="hidden activation (default sigmoid)")
        p.add_argument("--loss", help="sse, mse, cross_entropy, binary_cross_entropy")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument(
            "--batch",
            type=_positive_int,
            metavar="N",
            help="compare per-example gradients, their mean and the averaged-inputs shortcut",
        )
        p.add_argument("--shapes", action="store_true", help="only the shapes of every array")
        p.add_argument("--model", metavar="FILE", help="explain a trained model on one test image")
        p.add_argument("--dataset", default="mnist")
        p.add_argument("--index", type=int, default=0, help="which test image (with --model)")
        p.add_argument("--format", choices=["text", "markdown"], default="text")
        p.add_argument("--no-color", action="store_true")
        p.set_defaults(func=cmd_explain)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # every failure is one line unless --debug
        if args.debug:
            raise
        usage = isinstance(exc, (CLIError, ValueError, FileNotFoundError, ImportError))
        message = str(exc) or type(exc).__name__
        print(f"chainrule: error: {message}", file=sys.stderr)
        if getattr(args, "distributed", False):  # don't leave the other ranks waiting
            from mpi4py import MPI

            if MPI.COMM_WORLD.Get_size() > 1:
                MPI.COMM_WORLD.Abort(EXIT_USAGE if usage else EXIT_FAILURE)
        return EXIT_USAGE if usage else EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
