"""The model zoo against the paper's own code: the fidelity table of the README.

For every model with a golden fixture (``shared/fixtures``, see
:mod:`wavelet_networks.models.fidelity`): load the fixture's weights in the
paper's layout with ``build(name, ..., weights=path)``, run every input of the
fixture in float64 (one item at a time, one thread) and float32 (one batch, as
the paper's code ran them), and compare the logits with the ones the paper's
code computed in the same dtype: ``max |ours - paper| / max |paper|``. Next to
it: the paper's own float32-vs-float64 spread, and how far the model departs
from the paper with the correction option of its head (``spline_head=False``
for the W-M-nets, ``dense_relu=True`` for the W-1D-CNN), float64.

Usage::

    python benchmarks/golden_table.py [--fixtures DIR] [--models w-m3 ...] [--json out.json]

Prints a Markdown table (the README's) and a longer one (docs/models.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from wavelet_networks.models.fidelity import (
    find_fixtures,
    golden_models,
    load_golden,
    paper_model,
    relative_difference,
)

CORRECTION = {"w-1d-cnn": {"dense_relu": True}}  # W-M-nets: spline_head=False


def correction(name: str) -> dict | None:
    if name in CORRECTION:
        return CORRECTION[name]
    if name.startswith("w-m"):
        return {"spline_head": False}
    return None


def logits(model: torch.nn.Module, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    with torch.no_grad():
        if dtype == torch.float64:  # one item at a time: float64 paths hold large copies
            return torch.cat([model(x[i : i + 1].to(dtype)) for i in range(len(x))])
        return model(x.to(dtype))


def measure(root: Path, name: str) -> dict:
    g = load_golden(root, name)
    x = g.inputs
    row: dict = {"model": name, "weights": "trained" if g.trained else "random",
                 "inputs": f"{x.shape[0]} x {x.shape[-1]}", "paper_spread": g.spread}  # fmt: skip
    threads = torch.get_num_threads()
    for dtype, key in ((torch.float64, "f64"), (torch.float32, "f32")):
        torch.set_num_threads(1 if dtype == torch.float64 else threads)
        start = time.perf_counter()
        out = logits(paper_model(g, dtype), x, dtype)
        row[f"seconds_{key}"] = time.perf_counter() - start
        row[key] = relative_difference(out, g.logits(dtype))
        row[f"argmax_equal_{key}"] = out.argmax(1).tolist() == g.logits(dtype).argmax(1).tolist()
    torch.set_num_threads(1)
    option = correction(name)
    if option is not None:
        out = logits(paper_model(g, torch.float64, **option), x, torch.float64)
        row["correction"] = ", ".join(f"{k}={v}" for k, v in option.items())
        row["correction_f64"] = relative_difference(out, g.logits(torch.float64))
    torch.set_num_threads(threads)
    return row


def markdown(rows: list[dict], long: bool = False) -> str:
    head = ["model", "compared against", "inputs", "float64", "float32"]
    if long:
        head += ["paper f32 vs f64", "option", "option vs paper (f64)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|"]
    for r in rows:
        against = f"paper's code, {r['weights']} weights"
        cells = [f"`{r['model']}`", against, r["inputs"], f"{r['f64']:.1e}", f"{r['f32']:.1e}"]
        if long:
            cells += [f"{r['paper_spread']:.1e}", f"`{r['correction']}`" if "correction" in r else "-",
                      f"{r['correction_f64']:.2f}" if "correction_f64" in r else "-"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fixtures", default=None, help="fixture folder (default: found as the tests do)")
    p.add_argument("--models", nargs="*", default=None, help="subset of the models with fixtures")
    p.add_argument("--json", default=None, help="write the rows and the machine to this file")
    ns = p.parse_args()
    if ns.fixtures:
        root = Path(ns.fixtures)
    else:
        root, looked = find_fixtures(Path(__file__).resolve().parents[1])
        if root is None:
            raise SystemExit(f"error: golden fixtures not found (looked in {looked}); "
                             "pass --fixtures DIR or set WAVELET_NETWORKS_FIXTURES")
    names = ns.models or golden_models(root)
    rows = []
    for name in names:
        rows.append(measure(root, name))
        r = rows[-1]
        print(f"{name}: float64 {r['f64']:.1e} ({r['seconds_f64']:.1f} s), float32 {r['f32']:.1e} "
              f"({r['seconds_f32']:.1f} s)", flush=True)  # fmt: skip
    print()
    print(markdown(rows))
    print()
    print(markdown(rows, long=True))
    if ns.json:
        machine = {"platform": platform.platform(), "processor": platform.processor(),
                   "torch": torch.__version__, "threads": torch.get_num_threads()}  # fmt: skip
        Path(ns.json).write_text(json.dumps({"machine": machine, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
