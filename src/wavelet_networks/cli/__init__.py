"""The ``wavelet-networks`` command line tool.

Subcommands: ``fit``, ``test``, ``predict``, ``cv``, ``models``, ``datasets``, ``plot``,
``scale-study``, ``compare``.
Run ``wavelet-networks SUBCOMMAND --help`` for the options and an example.

Every user error (unknown model or data set, missing data directory, unknown
config key, undecodable file, ...) ends with ONE line on stderr starting with
``error:`` and a non-zero exit code; set ``WAVELET_NETWORKS_DEBUG=1`` to get
the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence

__all__ = ["ArgumentParser", "CLIError", "main"]

USAGE = """\
usage: wavelet-networks SUBCOMMAND [options]

Train and evaluate wavelet networks (Romero et al., arXiv 2006.05259) and their
CNN baselines on raw time series, with PyTorch Lightning.

subcommands:
  fit       train a model (no arguments: train w-small-cnn AND small-cnn on the
            embedded ACSF1 data and print both test accuracies side by side)
  test      evaluate a checkpoint on the test split of the data it was trained on
  predict   class (or tags) and probabilities for .npy arrays or audio files
  cv        run every fold of a k-fold data set and report mean +- std
  models    list the registered models with their cards
  datasets  list the registered data sets and the on-disk layout they expect
  plot      draw a checkpoint's lifting kernels, a scalogram of an input, or
            its training curves (PNG)
  scale-study  train a wavelet network and its baseline at the original time
            scale, test both on the test set resampled by 0.5 .. 2
  compare   wavelet network vs its parameter-matched CNN vs MiniRocket over
            several seeds: accuracy, training time, parameter count
  bench     time the lifting and group convolutions and the W-M11 vs M11
            training step on this machine (table + JSON)

examples:
  wavelet-networks fit
  wavelet-networks fit --config urbansound8k_w-m11 --data.root /data/UrbanSound8K
  wavelet-networks fit --model.model_name small-cnn --trainer.max_epochs 5
  wavelet-networks test --ckpt runs/acsf1/w-small-cnn/fold-none/seed-0/checkpoints/best.ckpt
  wavelet-networks predict --ckpt best.ckpt series.npy clip.wav
  wavelet-networks cv --config urbansound8k_m5 --data.protocol cv --data.root /data/UrbanSound8K --folds 1-10
  wavelet-networks plot kernels --ckpt best.ckpt --out kernels.png
  wavelet-networks scale-study
  wavelet-networks compare --seeds 0-4

Run `wavelet-networks SUBCOMMAND --help` for the options of a subcommand.
"""


class CLIError(Exception):
    """A user error: printed as one line on stderr, exit code 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with raw-text help and one-line errors (raised as :class:`CLIError`)."""

    def __init__(self, prog: str, description: str, example: str, **kwargs) -> None:
        super().__init__(
            prog=f"wavelet-networks {prog}",
            description=description,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            **kwargs,
        )

    def error(self, message: str):  # type: ignore[override]
        raise CLIError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def _one_line(message: str) -> str:
    lines = [ln.strip() for ln in str(message).strip().splitlines() if ln.strip()]
    return " ".join(lines) if len(lines) <= 3 else " ".join(lines[:3]) + " ..."


#: Known harmless warnings of the libraries, hidden from users (regexes of their start).
_NOISE = (
    r"LightningCLI's args parameter",
    r"The number of training batches",
    r"`max_epochs` was not set",
    r"`isinstance\(treespec, LeafSpec\)`",
    r"The '\w+_dataloader' does not have many workers",
    r"Experiment logs directory .* exists and is not empty",
    r"Checkpoint directory .* exists and is not empty",
    r"\s*``?\w+``? (parameter )?was deprecated",
    r"\s*skip_none parameter was deprecated",
)


def _quiet_library_noise() -> None:
    """Hide known harmless warnings; send Lightning's info lines to stdout, not stderr."""
    import logging
    import warnings

    import lightning.pytorch  # noqa: F401  (installs its log handlers, redirected below)

    for pattern in _NOISE:
        warnings.filterwarnings("ignore", message=pattern)
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
                handler.setStream(sys.stdout)


_EXPECTED = re.compile(
    r'Parser key "(?P<key>[^"]+)":\s*Expected an? (?P<type>.+?)\. Got value: (?P<value>.*)', re.S
)


def _typename(text: str) -> str:
    text = re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", text.strip())
    text = re.sub(r"typing\.Literal\[(.*)\]", r"one of \1", text)
    return text.replace("NoneType", "null")


def _explain(message: str, outer_key: str = "") -> str:
    """One line for an error message, unpacking jsonargparse's nested multi-line errors."""
    text = str(message).strip()
    outer = re.match(r'Parser key "([^"]+)":', text)
    outer_key = outer_key or (outer.group(1) if outer else "")
    if "Union subtypes" in text:
        items: list[list[str]] = []
        indent = None
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("- "):
                indent = len(line) - len(line.lstrip())
                items.append([stripped[2:]])
            elif items and indent is not None and len(line) - len(line.lstrip()) > indent:
                items[-1].append(stripped)
            else:
                indent = None
        errors = ["\n".join(i) for i in items]
        specific = [e for e in errors if not e.startswith(("Expected a ", "Not a valid subclass"))]
        if specific:  # e.g. the data module's own error, raised while instantiating it
            inner = re.sub(r"^Problem with given class_path '[^']*':\s*", "", specific[0])
            return _explain(inner, outer_key)
        given = re.search(r"Given value: (.*)", text)
        expected = " or ".join(dict.fromkeys(_typename(e[len("Expected a "):]) for e in errors))
        value = f" {given.group(1).strip()!r}" if given else ""
        return f"--{outer_key}: invalid value{value}; expected {expected or 'another type'}"
    unknown = re.search(r"Option '([^']+)' is not accepted", text)
    if unknown:
        prefix = f"{outer_key}." if outer_key else ""
        return f"unknown option --{prefix}{unknown.group(1)}"
    m = _EXPECTED.search(text)
    if m:
        key = m.group("key")
        if outer_key and not key.startswith(outer_key + "."):
            key = f"{outer_key}.{key}" if key != outer_key else key
        value = m.group("value").strip()
        return f"--{key}: invalid value {value!r}; expected {_typename(m.group('type'))}"
    return _one_line(text)


def _commands() -> dict[str, Callable[[list[str]], int]]:
    from wavelet_networks.cli import evaluate, fit, info, plot, studies

    return {
        "fit": fit.fit_command,
        "test": evaluate.test_command,
        "predict": evaluate.predict_command,
        "cv": fit.cv_command,
        "models": info.models_command,
        "datasets": info.datasets_command,
        "plot": plot.plot_command,
        "scale-study": studies.scale_study_command,
        "compare": studies.compare_command,
        "bench": _bench_command,
    }


def _bench_command(args: list[str]) -> int:
    from wavelet_networks import bench

    return bench.main(args)


# subcommands that train or run networks: they keep freed memory for the next step
# (see wavelet_networks.runtime; WAVELET_NETWORKS_KEEP_MEMORY=0 turns that off)
_RUNS_MODELS = ("fit", "test", "predict", "cv", "scale-study", "compare", "bench")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wavelet-networks`` console script; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if args else 2
    if args[0] == "--version":
        from wavelet_networks import __version__

        print(__version__)
        return 0
    command, rest = args[0], args[1:]
    debug = os.environ.get("WAVELET_NETWORKS_DEBUG", "") not in ("", "0")
    try:
        commands = _commands()
        _quiet_library_noise()
        if command not in commands:
            raise CLIError(
                f"unknown subcommand {command!r}; choose one of {', '.join(commands)} "
                "(see `wavelet-networks --help`)"
            )
        if command in _RUNS_MODELS:
            from wavelet_networks.runtime import keep_freed_memory, keep_freed_memory_requested

            if keep_freed_memory_requested():
                keep_freed_memory()
        return commands[command](rest)
    except SystemExit as exc:  # argparse --help (code 0) or errors already printed
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return code
    except KeyboardInterrupt:
        print("error: interrupted; no results were written (rerun the same command "
              "to resume from the last checkpoint)", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        exit_code = getattr(exc, "exit_code", None)
        if isinstance(exit_code, int):  # e.g. a fit stopped by SIGTERM (143) or SIGINT (130)
            print(f"error: {_one_line(str(exc))}", file=sys.stderr)
            return exit_code
        user_error = (CLIError, ValueError, FileNotFoundError, argparse.ArgumentError)
        name = "" if isinstance(exc, user_error) else f"{type(exc).__name__}: "
        hint = ""
        if isinstance(exc, argparse.ArgumentError) and command in ("fit", "cv"):
            hint = " (see `wavelet-networks fit --help`)"
        print(f"error: {name}{_explain(str(exc))}{hint}", file=sys.stderr)
        return 2
