"""``wavelet-networks test`` and ``wavelet-networks predict``: use a saved checkpoint."""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from wavelet_networks.cli import ArgumentParser, CLIError
from wavelet_networks.cli.configs import import_class

__all__ = [
    "load_checkpoint",
    "load_series",
    "load_zoo_model",
    "paper_clip",
    "predict_command",
    "test_command",
]


def load_checkpoint(path: str) -> tuple[Any, dict[str, Any]]:
    """``(WaveformClassifier in eval mode, run info)`` from a ``fit`` checkpoint.

    The file is read with :func:`wavelet_networks._checkpoint.load_checkpoint_file`
    (no code in it runs) and the model is built from its hyperparameters.
    """
    from wavelet_networks._checkpoint import load_checkpoint_file
    from wavelet_networks.training import WaveformClassifier

    p = Path(path).expanduser()
    if not p.is_file():
        raise CLIError(f"checkpoint {str(p)!r} does not exist; pass the .ckpt file of a "
                       "`wavelet-networks fit` run (run_dir/checkpoints/best.ckpt)")
    try:
        ckpt = load_checkpoint_file(p)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    info = ckpt.get("wavelet_networks") if isinstance(ckpt, dict) else None
    if not info or not isinstance(ckpt.get("state_dict"), dict):
        raise CLIError(f"{str(p)!r} is not a checkpoint written by `wavelet-networks fit` "
                       "(no run information inside)")
    hparams = ckpt.get("hyper_parameters") or {}
    accepted = inspect.signature(WaveformClassifier.__init__).parameters
    model = WaveformClassifier(**{k: v for k, v in hparams.items() if k in accepted})
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise CLIError(f"{str(p)!r}: its weights do not fit its model "
                       f"({_first_line(exc)})") from None
    model.eval()
    return model, info


def _split_overrides(extra: list[str], prefix: str = "--data.") -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    it = iter(extra)
    for arg in it:
        if not arg.startswith(prefix):
            raise CLIError(f"unrecognized argument {arg!r} (see `wavelet-networks test --help`)")
        key, eq, value = arg[len(prefix):].partition("=")
        if not eq:
            value = next(it, None)
            if value is None:
                raise CLIError(f"{arg} needs a value")
        out[key] = yaml.safe_load(value)
    return out


TEST_DESCRIPTION = """\
Evaluate a checkpoint of `wavelet-networks fit` on the test split of the data it
was trained on (model, data set and data options are read from the checkpoint).
Prints the test metrics; when the checkpoint lies in a run directory with a
results.json, also says whether they match the saved run's (they must match
exactly for the same checkpoint, data and batch size). Writes nothing.
"""


def test_command(args: list[str]) -> int:
    """``wavelet-networks test --ckpt PATH [--data.KEY VALUE ...]``."""
    p = ArgumentParser(
        "test",
        TEST_DESCRIPTION,
        "wavelet-networks test --ckpt runs/acsf1/w-small-cnn/fold-none/seed-0/checkpoints/best.ckpt"
        "\n  wavelet-networks test --ckpt best.ckpt --data.root /data/UrbanSound8K",
    )
    p.add_argument("--ckpt", "--pretrained", required=True, dest="ckpt",
                   help="checkpoint file (.ckpt) written by `wavelet-networks fit`")
    p.add_argument("--accelerator", default="cpu", help="Lightning accelerator (default: cpu)")
    p.add_argument("--devices", default="1", help="Lightning devices (default: 1)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--data.KEY", metavar="VALUE", dest="_unused",
                   help="override an option of the data module, e.g. --data.root DIR")
    ns, extra = p.parse_known_args(args)
    overrides = _split_overrides(extra)

    import lightning as L

    model, info = load_checkpoint(ns.ckpt)
    cls = import_class(info["data"]["class_path"])
    kwargs = dict(info["data"].get("init_args") or {})
    params = inspect.signature(cls.__init__).parameters
    for key in overrides:
        if key not in params:
            raise CLIError(f"data set {info['dataset']!r} has no option {key!r}; options: "
                           f"{', '.join(k for k in params if k != 'self')}")
    kwargs.update(overrides)
    dm = cls(**kwargs)
    trainer = L.Trainer(accelerator=ns.accelerator, devices=_devices(ns.devices), logger=False,
                        enable_checkpointing=False, enable_model_summary=False)
    out = trainer.test(model, datamodule=dm, verbose=False)
    metrics = dict(model.test_results)
    for key, value in (out[0] if out else {}).items():
        metrics.setdefault(key, value)
    if ns.json:
        print(json.dumps(metrics))
    else:
        for key, value in metrics.items():
            if isinstance(value, float):
                print(f"{key}: {value:.6f}")
    saved = Path(ns.ckpt).expanduser().resolve().parent.parent / "results.json"
    if saved.is_file() and not ns.json:
        old = json.loads(saved.read_text())
        key = "test/acc" if "test/acc" in metrics else "test/roc_auc"
        same_ckpt = old.get("checkpoint") == str(Path(ns.ckpt).expanduser().resolve())
        if key in old.get("metrics", {}) and same_ckpt:
            verdict = "matches" if old["metrics"][key] == metrics.get(key) else "DIFFERS from"
            print(f"{key} {verdict} the saved run ({old['metrics'][key]:.6f} in {saved})")
    return 0


def _devices(value: str) -> int | str:
    return int(value) if value.isdigit() else value


# ----------------------------------------------------------------------------- predict
def load_series(path: str) -> tuple[np.ndarray, float | None]:
    """``(array (channels, time) float32, sample rate or None)`` from .npy or audio."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise CLIError(f"input file {str(p)!r} does not exist")
    if p.suffix.lower() == ".npy":
        try:
            x = np.load(p, allow_pickle=False)
        except Exception as exc:
            raise CLIError(f"cannot read {str(p)!r} as a .npy array: {exc}") from None
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
            raise CLIError(f"{str(p)!r}: expected a real numeric array (time,) or "
                           f"(channels, time), got shape {x.shape} of {x.dtype}")
        return _checked(x.astype(np.float32), p), None
    try:
        import soundfile as sf

        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except ImportError:
        raise CLIError("reading audio needs soundfile: pip install 'wavelet-networks[audio]'"
                       ) from None
    except Exception as exc:
        raise CLIError(f"cannot decode {str(p)!r} as audio ({_first_line(exc)}); give a .npy "
                       "array or an audio file libsndfile reads (wav, flac, ogg, mp3)") from None
    return _checked(np.ascontiguousarray(data.T), p), float(sr)


def _checked(x: np.ndarray, path: Path) -> np.ndarray:
    """``x`` (channels, time) if it holds at least one sample and only finite values."""
    if x.shape[-1] == 0 or x.size == 0:
        raise CLIError(f"{str(path)!r} holds no samples (shape {x.shape}); expected a series "
                       "of at least one sample")
    finite = np.isfinite(x)
    if not finite.all():
        bad = int(x.size - finite.sum())
        raise CLIError(f"{str(path)!r} holds {bad} NaN or infinite value{'s' if bad > 1 else ''} "
                       f"of {x.size}; expected finite numbers")
    return x


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _prepare(x: np.ndarray, sr: float | None, info: dict[str, Any], in_channels: int):
    """Channels, resampling, normalisation and segmenting as in training."""
    import torch

    if x.shape[0] != in_channels:
        if in_channels == 1:
            x = x.mean(axis=0, keepdims=True)
        else:
            raise CLIError(f"the model expects {in_channels} channels, the input has "
                           f"{x.shape[0]}")
    target = info.get("sample_rate")
    if sr is not None and target and abs(sr - target) > 1e-6:
        import soxr

        x = np.ascontiguousarray(soxr.resample(x.T, sr, target).T, dtype=np.float32)
    if info.get("normalization") == "per-series":
        from wavelet_networks.data.acsf1 import standardize_per_series

        x = standardize_per_series(x)
    length = int(info.get("input_length") or x.shape[-1])
    n = max(1, math.ceil(x.shape[-1] / length))
    padded = np.zeros((x.shape[0], n * length), dtype=np.float32)
    padded[:, : x.shape[-1]] = x
    segments = padded.reshape(x.shape[0], n, length).transpose(1, 0, 2)
    return torch.from_numpy(np.ascontiguousarray(segments))[None]  # (1, segments, C, L)


def load_zoo_model(name: str, path: str) -> tuple[Any, dict[str, Any]]:
    """``(WaveformClassifier in eval mode, run info)`` for zoo model ``name`` with the weights
    in ``path``: a state dict, or a checkpoint of the paper's own code (its layout is
    converted, see :mod:`wavelet_networks.models.paper`). The info holds the model card's
    sample rate and input length and the class names of its data set."""
    from wavelet_networks.models import card, load_weights
    from wavelet_networks.training import WaveformClassifier

    try:
        c = card(name)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    num_classes = int(c.extra.get("num_classes", 10))
    model = WaveformClassifier(model_name=name, num_classes=num_classes, task=c.task)
    try:
        load_weights(model.model, Path(path).expanduser(), name=name)
    except (ValueError, FileNotFoundError) as exc:
        raise CLIError(_first_line(exc)) from None
    names = None
    if c.extra.get("dataset") == "UrbanSound8K":
        from wavelet_networks.data.urbansound8k import CLASSES

        names = list(CLASSES)
    info = {"sample_rate": c.sample_rate, "input_length": c.input_length, "class_names": names}
    return model.eval(), info


def paper_clip(x: np.ndarray, sr: float | None, info: dict[str, Any]):
    """The paper's preprocessing of one clip: ``(channels, time)`` -> ``(1, 1, 1, length)``.

    Mono by the mean over channels, resampled to the model's rate (soxr), then
    zero padded or cropped about the centre to the model's input length as the
    paper's UrbanSound8K loader does (``(length - time) // 2`` samples before,
    the rest after; negative counts crop). No normalisation: 16-bit audio
    arrives as ``int16 / 32768``.
    """
    import torch

    from wavelet_networks.data.audio import resample

    x = x.mean(axis=0, keepdims=True, dtype=np.float32) if x.shape[0] > 1 else x
    target = info["sample_rate"]
    if sr is not None and target and sr != target:
        x = resample(x, sr, target)
    length = int(info["input_length"])
    before = (length - x.shape[-1]) // 2
    after = length - x.shape[-1] - before
    if before < 0:
        x = x[:, -before:]
        before = 0
    if after < 0:
        x = x[:, : x.shape[-1] + after]
        after = 0
    x = np.pad(x, [(0, 0), (before, after)]).astype(np.float32, copy=False)
    return torch.from_numpy(np.ascontiguousarray(x))[None, None]


def _positive_int(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


PREDICT_DESCRIPTION = """\
Predict the class (multi-class models) or the tags (multi-label models) of each
input with a checkpoint of `wavelet-networks fit`, and print the probabilities.
Inputs: .npy arrays of shape (time,) or (channels, time), or audio files
(wav, flac, ogg, mp3; resampled to the training sample rate, mixed to mono).
The preprocessing of the training data is applied (e.g. per-series z-score for
ACSF1); inputs longer than the training length are cut into segments whose
logits are averaged, shorter ones are zero-padded.

With --model NAME, --ckpt is a weights file of that zoo model instead: a state
dict or a checkpoint of the paper's own code (e.g. its trained W-1D-CNN,
--model w-1d-cnn), and the paper's preprocessing is applied: mono by the mean,
resampled to the model card's rate, zero padded or cropped about the centre to
its input length, no normalisation (UrbanSound8K class names).
"""


def predict_command(args: list[str]) -> int:
    """``wavelet-networks predict --ckpt PATH FILE [FILE ...]``."""
    import torch

    p = ArgumentParser(
        "predict",
        PREDICT_DESCRIPTION,
        "wavelet-networks predict --ckpt runs/acsf1/w-small-cnn/fold-none/seed-0/checkpoints/"
        "best.ckpt series.npy\n  wavelet-networks predict --ckpt best.ckpt --top_k 5 clip.wav"
        "\n  wavelet-networks predict --ckpt model.pth --model w-1d-cnn clip.wav",
    )
    p.add_argument("--ckpt", "--pretrained", required=True, dest="ckpt",
                   help="checkpoint file (.ckpt) written by `wavelet-networks fit`; with "
                   "--model, a weights file of that model (state dict or the paper's)")
    p.add_argument("--model", default=None, metavar="NAME",
                   help="zoo model the --ckpt weights belong to (e.g. w-1d-cnn); applies the "
                   "paper's preprocessing")
    p.add_argument("files", nargs="+", help=".npy arrays or audio files")
    p.add_argument("--top_k", type=_positive_int, default=3,
                   help="classes/tags to list, at least 1 (default: 3)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="tag probability threshold of multi-label models (default: 0.5)")
    p.add_argument("--json", action="store_true", help="print one JSON object per file")
    ns = p.parse_args(args)
    model, info = load_zoo_model(ns.model, ns.ckpt) if ns.model else load_checkpoint(ns.ckpt)
    names = info.get("class_names") or [str(i) for i in range(model.hparams.num_classes)]
    multilabel = model.hparams.task == "multilabel"
    inputs = [(f, *load_series(f)) for f in ns.files]  # all decoded before any output
    for path, x, sr in inputs:
        if ns.model:
            batch = paper_clip(x, sr, info)
        else:
            batch = _prepare(x, sr, info, model.hparams.in_channels)
        with torch.no_grad():
            probs = model.probabilities(model(batch))[0].tolist()
        order = sorted(range(len(probs)), key=lambda i: -probs[i])
        top = [(names[i], probs[i]) for i in order[: ns.top_k]]
        if multilabel:
            tags = [(names[i], probs[i]) for i in order if probs[i] >= ns.threshold]
            record = {"file": path, "tags": [t for t, _ in tags]}
            text = ", ".join(f"{t} {q:.3f}" for t, q in tags) or "(none)"
            line = f"{path}: tags (p >= {ns.threshold}): {text}"
        else:
            record = {"file": path, "class": top[0][0], "probability": top[0][1]}
            line = f"{path}: {top[0][0]} (p={top[0][1]:.4f})"
        record["probabilities"] = dict(zip(names, probs, strict=True))
        if ns.json:
            print(json.dumps(record))
        else:
            print(f"{line}; top-{len(top)}: " + ", ".join(f"{n} {q:.4f}" for n, q in top))
    return 0
