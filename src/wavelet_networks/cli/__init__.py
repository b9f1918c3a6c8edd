"""The ``wavelet-networks`` command line tool.

Subcommands: ``fit``, ``test``, ``predict``, ``cv``, ``models``, ``datasets``.
Run ``wavelet-networks SUBCOMMAND --help`` for the options and an example.

Every user error (unknown model or data set, missing data directory, unknown
config key, undecodable file, ...) ends with ONE line on stderr starting with
``error:`` and a non-zero exit code; set ``WAVELET_NETWORKS_DEBUG=1`` to get
the traceback instead.
"""

from __future__ import annotations

import argparse
import os
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

examples:
  wavelet-networks fit
  wavelet-networks fit --config urbansound8k_w-m11 --data.root /data/UrbanSound8K
  wavelet-networks fit --model.model_name small-cnn --trainer.max_epochs 5
  wavelet-networks test --ckpt runs/acsf1/w-small-cnn/fold-none/seed-0/checkpoints/best.ckpt
  wavelet-networks predict --ckpt best.ckpt series.npy clip.wav
  wavelet-networks cv --config urbansound8k_m5 --data.root /data/UrbanSound8K --folds 1-10

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


def _commands() -> dict[str, Callable[[list[str]], int]]:
    from wavelet_networks.cli import evaluate, fit, info

    return {
        "fit": fit.fit_command,
        "test": evaluate.test_command,
        "predict": evaluate.predict_command,
        "cv": fit.cv_command,
        "models": info.models_command,
        "datasets": info.datasets_command,
    }


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
        if command not in commands:
            raise CLIError(
                f"unknown subcommand {command!r}; choose one of {', '.join(commands)} "
                "(see `wavelet-networks --help`)"
            )
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
        name = "" if isinstance(exc, (CLIError, ValueError, FileNotFoundError)) else (
            f"{type(exc).__name__}: "
        )
        print(f"error: {name}{_one_line(str(exc))}", file=sys.stderr)
        return 2
