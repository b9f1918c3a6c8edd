"""benchmarks/ucr_recipe.py: what it reads from a run and how it counts (fast, no training)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def recipe(load_benchmark):
    return load_benchmark("ucr_recipe")


def test_validation_is_read_at_the_epoch_of_lowest_loss(recipe, tmp_path) -> None:
    logs = tmp_path / "run" / "logs"
    logs.mkdir(parents=True)
    (logs / "metrics.csv").write_text(
        "epoch,step,train/loss,val/acc,val/loss\n"
        "0,1,,0.50,0.90\n0,1,1.0,,\n"
        "1,2,,0.60,0.40\n1,2,0.8,,\n"
        "2,3,,0.90,0.70\n2,3,0.6,,\n"
    )
    # the best accuracy (epoch 2) is not the checkpoint fit tests: the lowest loss is
    assert recipe.validation_of(tmp_path / "run") == {"val_loss": 0.4, "val_acc": 0.6,
                                                      "epoch": 1}
    (logs / "metrics.csv").write_text("epoch,step,train/loss\n0,1,1.0\n")
    with pytest.raises(ValueError, match="no per-epoch val/loss"):
        recipe.validation_of(tmp_path / "run")


def _variant(accs: list[float], losses: list[float]) -> dict:
    return {"per_dataset": {d: {"val_acc": a, "val_loss": lo}
                            for d, a, lo in zip("AB", accs, losses, strict=True)},
            "mean_val_acc": sum(accs) / len(accs)}


def test_table_counts_sets_against_baseline_and_twin(recipe) -> None:
    variants = {"baseline": _variant([0.8, 0.9], [0.5, 0.3]),
                "twin": _variant([0.85, 0.9], [0.4, 0.35]),
                "v": _variant([0.9, 0.9], [0.45, 0.2])}
    recipe.count_wins(variants, ["A", "B"])
    assert (variants["v"]["above_baseline"], variants["v"]["above_twin"],
            variants["v"]["loss_below_twin"]) == (1, 1, 1)
    table = recipe.format_recipe({"datasets": ["A", "B"], "variants": variants, "seeds": [0],
                                  "epochs": 5, "split_seeds": [1, 2]})
    row = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()}
    assert row["v"].endswith("| 0.900 | 1 of 2 | 1 of 2 | 1 of 2 |")
    assert row["baseline"].endswith("| 0.850 |  | 0 of 2 | 1 of 2 |")
    assert "split seeds 1, 2" in table
