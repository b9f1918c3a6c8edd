"""Does anti-aliased pooling bring the deep scale-robust W-M-nets under 0.1 at the readout?

A study, not a library feature: the pools of a robust model (random weights,
``C = 8`` channels, 9 lifting scales, every head scale read out:
``num_scales=9, skip_finest=0``) are swapped for prototypes defined here, and the dilation
error is measured layer by layer as in ``scale_robust_equivariance.py``
(its ``profile``: scale ``j`` of ``x`` against scale ``j + 1`` of ``x``
stretched by 2, band-limited periodic noise, batch-norm statistics calibrated
on noise). Variants of every ``ScaleProportionalMaxPool(k)`` (stride ``k``):

- ``base``: as built;
- ``overlap``: window ``2 k * 2**j``, stride ``k`` (overlapping windows);
- ``maxblur``: the max over the window ``2 k * 2**j`` at every sample (stride 1),
  then a Kaiser-windowed sinc low-pass at the Nyquist frequency of the stride
  ``k`` (:func:`wavelet_networks.functional.lowpass_filter`), then every
  ``k``-th sample: the "max, blur, subsample" of anti-aliased CNNs, with the
  window still proportional to the scale;
- ``maxblur+aa``: ``maxblur`` with every ReLU an ``AntiAliasedReLU(2)``.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/scale_robust_antialias.py \\
        --models w-m11-robust w-m18-robust w-m34-res-robust --length 32000 \\
        --json benchmarks/results/scale-robust-antialias-random.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).parent))
from scale_robust_equivariance import calibrate_batch_norm, profile
from wavelet_networks.functional import lowpass_filter, scale_proportional_max_pool
from wavelet_networks.models import build
from wavelet_networks.nn import AntiAliasedReLU, ScaleProportionalMaxPool
from wavelet_networks.testing import bandlimited_noise

VARIANTS = ("base", "overlap", "maxblur", "maxblur+aa")


class MaxBlurPool(nn.Module):
    """``(B, C, S, T) -> (B, C, S, ceil(T / stride))``: dense scale-proportional max, low-pass,
    subsample (replicate padding at the ends for the low-pass)."""

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride
        self.register_buffer("lowpass", lowpass_filter(stride, 8 * stride + 1,
                                                       dtype=torch.float32)[1])

    def forward(self, x: Tensor) -> Tensor:
        y = scale_proportional_max_pool(x, self.kernel_size, 1)
        b, c, s, t = y.shape
        half = self.lowpass.numel() // 2
        z = F.conv1d(F.pad(y.reshape(-1, 1, t), (half, half), mode="replicate"),
                     self.lowpass.view(1, 1, -1))
        return z[..., :: self.stride].reshape(b, c, s, -1)


def with_variant(model: nn.Module, variant: str) -> nn.Module:
    """``model`` with its pools (and for ``maxblur+aa`` its ReLUs) replaced, in place."""
    for name, mod in list(model.features.named_children()):
        if isinstance(mod, ScaleProportionalMaxPool) and variant == "overlap":
            model.features._modules[name] = ScaleProportionalMaxPool(2 * mod.kernel_size,
                                                                     mod.stride)
        elif isinstance(mod, ScaleProportionalMaxPool) and variant.startswith("maxblur"):
            model.features._modules[name] = MaxBlurPool(2 * mod.kernel_size, mod.stride)
        elif isinstance(mod, nn.ReLU) and variant == "maxblur+aa":
            model.features._modules[name] = AntiAliasedReLU(2)
    return model


def measure(name: str, variant: str, length: int, batch: int, seed: int) -> dict:
    torch.manual_seed(seed)
    model = with_variant(build(name, 10, channels=8, num_scales=9, skip_finest=0), variant)
    calibrate_batch_norm(model, length, 0.25, 2)
    g = torch.Generator().manual_seed(1000 + seed)
    x = bandlimited_noise((batch, 1, length), 0.25, g, dtype=torch.float32)
    other = bandlimited_noise((batch, 1, length), 0.25, g, dtype=torch.float32)
    t0 = time.perf_counter()
    run = profile(model, x, other)
    return {"model": name, "variant": variant, "length": length, "batch": batch, "seed": seed,
            "layers_worst": [row["max"] for row in run["layers"]],
            "last_layer_worst": run["layers"][-1]["max"],
            "readout_at_scales": run["readout_at_scales"],
            "readout": run["readout"], "logits": run["logits"],
            "prediction_kept": run["prediction_kept"],
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["w-m11-robust", "w-m18-robust",
                                                   "w-m34-res-robust"])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--length", type=int, default=32000)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for name in a.models:
        for variant in a.variants:
            r = measure(name, variant, a.length, a.batch, a.seed)
            rows.append(r)
            print(f"{name:>17} {variant:>10}: last layer {r['last_layer_worst']:.3f}, readout "
                  "per matching scale " + " ".join(f"{e:.3f}" for e in r["readout_at_scales"])
                  + f", prediction kept {r['prediction_kept']:.2f}", flush=True)
    if a.json:
        a.json.write_text(json.dumps({
            "command": "python benchmarks/scale_robust_antialias.py "
                       + " ".join(sys.argv[1:] if argv is None else argv),
            "results": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
