"""End to end on tiny settings: scale-study and compare (sharing their runs), plot commands.

One module-scoped tiny scale study (ACSF1 with 3 series per class, 2 epochs,
one seed, narrow networks) trains w-small-cnn and small-cnn; compare re-uses
those runs and adds MiniRocket; the plot commands draw from their checkpoints.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from wavelet_networks.cli import main

PNG = b"\x89PNG\r\n\x1a\n"
TINY = ["--seeds", "0", "--epochs", "2", "--data.limit_per_class", "3",
        "--model.model_overrides", "{channels: [4, 8, 8]}", "--progress_every", "1"]
FACTORS = [0.5, 0.71, 1.0, 1.41, 2.0]


def _run(*args: str) -> tuple[int, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(list(args))
    return code, buf.getvalue()


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("studies")


@pytest.fixture(scope="module")
def scale_study(root: Path) -> tuple[dict, str]:
    code, out = _run("scale-study", *TINY, "--run_root", str(root / "runs"),
                     "--out", str(root / "scale"))
    assert code == 0, out
    return json.loads((root / "scale" / "scale_study.json").read_text()), out


def _run_dir(root: Path, model: str, top: bool = False) -> Path:
    return (root if top else root / "runs") / "acsf1" / model / "fold-none" / "seed-0"


def _ckpt(root: Path, model: str) -> str:
    return str(_run_dir(root, model) / "checkpoints" / "best.ckpt")


def _one_line_error(capsys, code: int, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    for needle in needles:
        assert needle in err, err
    return err


def test_scale_study_writes_json_table_and_plot(root: Path, scale_study) -> None:
    result, out = scale_study
    assert result["study"] == "scale" and result["dataset"] == "acsf1"
    assert result["metric"] == "accuracy"
    assert result["factors"] == FACTORS and result["seeds"] == [0] and result["epochs"] == 2
    assert list(result["models"]) == ["w-small-cnn", "small-cnn", "small-cnn@0.5-2",
                                      "w-small-cnn-robust@0.5-2:0.5"]
    keys = ["0.5", "0.71", "1", "1.41", "2"]
    for spec, r in result["models"].items():
        assert r["family"] == ("wavelet" if spec.startswith("w-") else "baseline")
        assert list(r["mean"]) == keys and list(r["std"]) == keys
        assert all(0.0 <= v <= 1.0 for v in r["mean"].values())
        assert all(v == 0.0 for v in r["std"].values())  # one seed
        assert r["per_seed"]["0"] == r["mean"]
        # How often the prediction is the factor-1 one: always at factor 1 itself.
        assert list(r["agreement_mean"]) == keys and r["agreement_mean"]["1"] == 1.0
        assert all(0.0 <= v <= 1.0 for v in r["agreement_mean"].values())
        name, _, augment = spec.partition("@")  # NAME@LO-HI[:P]: trained with augmentation
        lo_hi_p = ([float(v) for v in augment.replace(":", "-").split("-")] if augment
                   else None)
        assert r["augment_resample"] == lo_hi_p
        folder = (f"augment-{augment.replace(':', '-p')}" if augment else None)
        run_dir = (_run_dir(root / "runs" / folder, name, top=True) if augment
                   else _run_dir(root, spec))
        run = json.loads((run_dir / "results.json").read_text())
        assert r["params"] == run["params"]
        assert run["config"]["data"]["init_args"]["augment_resample"] == (
            augment.replace("-", ",").replace(":", ",") if augment else None)
        # Factor 1 is the plain test set: the study's accuracy is the fit engine's.
        assert r["mean"]["1"] == pytest.approx(run["metrics"]["test/acc"], abs=1e-9)
    assert result["machine"]["cores"] >= 1 and result["command"].startswith("wavelet-networks")
    assert (root / "scale" / "scale_study.png").read_bytes()[:8] == PNG
    md = (root / "scale" / "scale_study.md").read_text()
    assert md.startswith("| factor | w-small-cnn (") and md.count("\n| ") == 5  # 5 factor rows
    assert "predicted as at factor 1" in md
    # Progress and the table on stdout.
    assert "[1/4] w-small-cnn, seed 0: training at factor 1" in out
    assert "[3/4] small-cnn@0.5-2, seed 0: training at factor 1" in out
    assert "epoch 2/2" in out
    table = out[out.index("test accuracy on acsf1"):]
    assert f"{result['models']['small-cnn']['mean']['2']:.3f}" in table.splitlines()[-2]


def test_scale_study_merges_studies_over_other_seeds(root: Path, scale_study, capsys) -> None:
    result, _ = scale_study
    other = json.loads(json.dumps(result))  # the same study as if run with seed 1
    other["seeds"] = [1]
    for r in other["models"].values():
        for label in ("per_seed", "agreement_per_seed"):
            r[label] = {"1": {k: v / 2 for k, v in r[label]["0"].items()}}
    (root / "seed-1").mkdir()
    (root / "seed-1" / "scale_study.json").write_text(json.dumps(other))
    code, _ = _run("scale-study", "--merge", f"{root / 'scale'},{root / 'seed-1'}",
                   "--out", str(root / "merged"))
    assert code == 0
    merged = json.loads((root / "merged" / "scale_study.json").read_text())
    assert merged["seeds"] == [0, 1] and list(merged["models"]) == list(result["models"])
    for spec, r in merged["models"].items():
        acc = result["models"][spec]["per_seed"]["0"]
        for k, v in acc.items():
            assert r["mean"][k] == pytest.approx(0.75 * v)
            assert r["std"][k] == pytest.approx(abs(v - v / 2) / 2**0.5)
        assert r["agreement_per_seed"]["1"]["1"] == 0.5
    assert "± " in (root / "merged" / "scale_study.md").read_text()
    capsys.readouterr()
    code = main(["scale-study", "--merge", f"{root / 'scale'},{root / 'scale'}",
                 "--out", str(root / "merged2")])
    _one_line_error(capsys, code, "--merge", "seed 0 is in more than one study")
    code = main(["scale-study", "--merge", str(root / "missing"), "--out", str(root / "m3")])
    _one_line_error(capsys, code, "--merge", "no scale_study.json", "missing")


def test_compare_reuses_the_runs_and_adds_minirocket(root: Path, scale_study) -> None:
    code, out = _run("compare", *TINY, "--n_kernels", "84", "--run_root", str(root / "runs"),
                     "--out", str(root / "compare"))
    assert code == 0, out
    assert out.count("re-using the finished run") == 2
    result = json.loads((root / "compare" / "compare.json").read_text())
    assert result["study"] == "compare" and result["dataset"] == "acsf1"
    assert list(result["models"]) == ["w-small-cnn", "small-cnn", "minirocket"]
    for name, r in result["models"].items():
        assert set(r) >= {"acc", "fit_time_s", "params", "family", "runs", "params_counted"}
        assert 0.0 <= r["acc"]["mean"] <= 1.0 and r["acc"]["std"] is None  # one seed
        assert len(r["acc"]["values"]) == 1 and r["fit_time_s"]["mean"] > 0
        if name != "minirocket":
            assert r["acc"]["mean"] == scale_study[0]["models"][name]["mean"]["1"]
    mr = result["models"]["minirocket"]
    assert mr["features"] == 84 and mr["params"] == 10 * 84 + 10
    assert mr["runs"][0]["train_series"] == 20  # 3 per class, 1 of them held out for val
    md = (root / "compare" / "compare.md").read_text()
    assert "| minirocket | minirocket | 850 (ridge; 84 features) |" in md
    assert out.splitlines()[-2].startswith("minirocket")
    # one seed: the mean alone, no "± 0.000" that looks like a measured spread
    assert "±" not in md and "±" not in out and "one seed, no spread" in md
    assert result["machine"]["torch_threads"] == 1  # compare's setting, not MiniRocket's


def test_a_moved_run_root_is_reused_where_it_is_now(root: Path, scale_study) -> None:
    """Runs copied to another run root are re-used, and their results name the new folders."""
    import shutil

    shutil.copytree(root / "runs", root / "moved")
    code, out = _run("compare", *TINY, "--n_kernels", "84", "--run_root", str(root / "moved"),
                     "--out", str(root / "compare-moved"))
    assert code == 0, out
    assert out.count("re-using the finished run") == 2
    result = json.loads((root / "compare-moved" / "compare.json").read_text())
    for name in ("w-small-cnn", "small-cnn"):
        [run] = result["models"][name]["runs"]
        assert Path(run["run_dir"]) == _run_dir(root / "moved", name, top=True)


def test_minirocket_fits_every_training_series_and_keeps_torch_threads() -> None:
    """17 training series in batches of 16: the networks' loader drops the last one."""
    import torch

    from wavelet_networks.data.arrays import ArrayDataModule
    from wavelet_networks.studies.compare import fit_minirocket

    rng = np.random.default_rng(0)
    x = rng.normal(size=(34, 1, 60))
    y = np.arange(34) % 2
    x[y == 1] += np.sin(np.arange(60) / 3)
    dm = ArrayDataModule.from_arrays(x[:17], y[:17], x[17:], y[17:], x[17:19], y[17:19],
                                     batch_size=16)
    dm.setup()
    assert sum(len(b) for _, b in dm.train_dataloader()) == 16
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        r = fit_minirocket(dm, seed=0, n_kernels=84)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    assert r["train_series"] == 17 and 0.0 <= r["acc"] <= 1.0


def test_compare_help_states_the_default_configs_epochs(capsys) -> None:
    import yaml

    from wavelet_networks.cli.configs import config_path

    epochs = yaml.safe_load(config_path("default").read_text())["trainer"]["max_epochs"]
    assert main(["compare", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"{epochs} for `default`" in help_text


def test_compare_refuses_a_finished_run_with_other_settings(root: Path, scale_study,
                                                             capsys) -> None:
    code = main(["compare", *TINY, "--epochs", "3", "--no_minirocket",
                 "--run_root", str(root / "runs"), "--out", str(root / "c2")])
    _one_line_error(capsys, code, "other settings", "trainer.max_epochs", "--overwrite")


def test_plot_commands_write_pngs(root: Path, scale_study, tmp_path: Path) -> None:
    ckpt = _ckpt(root, "w-small-cnn")
    from aeon.datasets import load_classification

    x, _ = load_classification("ACSF1", split="test")
    np.save(tmp_path / "series.npy", x[0, 0])
    sf = pytest.importorskip("soundfile")
    t = np.arange(8000) / 8000
    sf.write(tmp_path / "tone.wav", np.sin(2 * np.pi * 440 * t) * np.linspace(0, 1, t.size),
             8000)
    cases = {
        "kernels": ["--channels", "0-1"],
        "scalogram": ["--input", str(tmp_path / "series.npy")],
        "curves": [],
    }
    for what, extra in cases.items():
        out = tmp_path / f"{what}.png"
        code, text = _run("plot", what, "--ckpt", ckpt, "--out", str(out), *extra)
        assert code == 0 and f"wrote {out}" in text
        assert out.read_bytes()[:8] == PNG
    out = tmp_path / "wav.png"
    assert _run("plot", "scalogram", "--ckpt", ckpt, "--input", str(tmp_path / "tone.wav"),
                "--yaxis", "frequency", "--out", str(out))[0] == 0
    assert out.read_bytes()[:8] == PNG


def test_plot_errors_are_one_line(root: Path, scale_study, tmp_path: Path, capsys) -> None:
    ckpt = _ckpt(root, "w-small-cnn")
    code = main(["plot", "kernels", "--ckpt", str(tmp_path / "missing.ckpt")])
    _one_line_error(capsys, code, "does not exist")
    code = main(["plot", "curves", "--ckpt", str(tmp_path / "missing.ckpt")])
    _one_line_error(capsys, code, "does not exist")
    code = main(["plot", "kernels", "--ckpt", _ckpt(root, "small-cnn")])
    _one_line_error(capsys, code, "no lifting layer", "w-small-cnn")
    code = main(["plot", "scalogram", "--ckpt", _ckpt(root, "small-cnn"), "--input", "x.npy"])
    _one_line_error(capsys, code, "no lifting layer")
    (tmp_path / "bad.wav").write_bytes(b"RIFF not really a wave file")
    code = main(["plot", "scalogram", "--ckpt", ckpt, "--input", str(tmp_path / "bad.wav")])
    _one_line_error(capsys, code, "cannot decode", "bad.wav")
    code = main(["plot", "scalogram", "--ckpt", ckpt])
    _one_line_error(capsys, code, "needs --input")
    code = main(["plot", "kernels", "--ckpt", ckpt, "--out", str(tmp_path / "k.pdf")])
    _one_line_error(capsys, code, "PNG")
    code = main(["plot", "kernels", "--ckpt", ckpt, "--channels", "0-99"])
    _one_line_error(capsys, code, "out of range")
    code = main(["plot", "spectrum", "--ckpt", ckpt])
    _one_line_error(capsys, code, "invalid choice")


def test_study_option_errors_are_one_line(capsys, tmp_path: Path) -> None:
    code = main(["scale-study", "--factors", "0,1", "--out", str(tmp_path)])
    _one_line_error(capsys, code, "--factors")
    code = main(["scale-study", "--models", "w-small-cnn,no-such-net", "--out", str(tmp_path)])
    _one_line_error(capsys, code, "unknown model")
    code = main(["scale-study", "--models", "small-cnn@2-0.5", "--out", str(tmp_path)])
    _one_line_error(capsys, code, "--models", "NAME@LO-HI")
    code = main(["scale-study", "--seeds", "a,b"])
    _one_line_error(capsys, code, "--seeds")
    code = main(["compare", "--bogus", "1"])
    _one_line_error(capsys, code, "unrecognized argument '--bogus'")
    code = main(["compare", "--epochs", "0"])
    _one_line_error(capsys, code, "--epochs")
    assert not list(tmp_path.iterdir())


def test_studies_run_on_any_configured_data_set(tmp_path: Path, monkeypatch) -> None:
    """A data set given by a fit config (here a toy one with segmented test batches)."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    config = tmp_path / "toy.yaml"
    config.write_text(
        "seed_everything: 0\n"
        "trainer: {max_epochs: 1, accelerator: cpu, devices: 1}\n"
        "model: {model_name: w-small-cnn, lr: 0.01}\n"
        "data: {class_path: vizdata.ToySines, init_args: {batch_size: 8}}\n"
    )
    common = ["--config", str(config), "--seeds", "0", "--run_root", str(tmp_path / "runs"),
              "--model.model_overrides", "{channels: [4, 4, 4]}", "--progress_every", "0"]
    pair = ["--models", "w-small-cnn,small-cnn"]
    code, out = _run("scale-study", *common, *pair, "--factors", "0.5,1,2", "--out",
                     str(tmp_path / "scale"))
    assert code == 0, out
    result = json.loads((tmp_path / "scale" / "scale_study.json").read_text())
    assert result["dataset"] == "toysines" and result["epochs"] == 1
    for r in result["models"].values():
        assert list(r["mean"]) == ["0.5", "1", "2"]
        assert all(0.0 <= v <= 1.0 for v in r["mean"].values())
    # The same runs, tested at the resampled lengths (no crop or padding).
    code, out = _run("scale-study", *common, *pair, "--factors", "0.5,1,2", "--length",
                     "resampled",
                     "--out", str(tmp_path / "scale2"))
    assert code == 0, out
    assert out.count("re-using the finished run") == 2
    again = json.loads((tmp_path / "scale2" / "scale_study.json").read_text())
    assert again["length"] == "resampled" and "new length" in again["protocol"]
    for name, r in again["models"].items():
        assert r["mean"]["1"] == result["models"][name]["mean"]["1"]
    code, out = _run("compare", *common, "--n_kernels", "84", "--out", str(tmp_path / "cmp"))
    assert code == 0, out
    result = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert result["dataset"] == "toysines"
    assert result["models"]["minirocket"]["params"] == 84 + 1  # binary ridge: one weight row
    assert 0.0 <= result["models"]["minirocket"]["acc"]["mean"] <= 1.0


def test_speeds_are_resampling_factors_at_the_new_length(root: Path, scale_study) -> None:
    from wavelet_networks.studies.scale import evaluate_resampled, speed_accuracies

    ckpt = _ckpt(root, "small-cnn")
    speeds = speed_accuracies(ckpt)
    # Half speed stretches every series to twice its length; double speed compresses it.
    stretched = evaluate_resampled(ckpt, [2.0, 0.5], keep_length=False)
    assert speeds == {"0.5": stretched["2"], "2": stretched["0.5"]}


def test_speeds_can_be_measured_on_the_validation_split(root: Path, scale_study) -> None:
    import torch

    from wavelet_networks.studies.common import data_module_from_checkpoint, iter_split
    from wavelet_networks.studies.scale import evaluate_speeds
    from wavelet_networks.training import WaveformClassifier

    ckpt = _ckpt(root, "small-cnn")
    val = evaluate_speeds(ckpt, [1.0, 2.0], split="val")
    model = WaveformClassifier.load_from_checkpoint(ckpt, map_location="cpu").eval()
    dm, _ = data_module_from_checkpoint(ckpt)
    with torch.no_grad():
        hits = [(model(x).argmax(-1) == y).float() for x, y in iter_split(dm, "val")]
    assert val["metric"]["1"] == pytest.approx(float(torch.cat(hits).mean()))
    assert val["agreement"]["1"] == 1.0
    with pytest.raises(ValueError, match="split"):
        evaluate_speeds(ckpt, [1.0], split="train")


@pytest.mark.parametrize(("spec", "expected", "option"), [
    ("small-cnn", ("small-cnn", None), None),
    ("small-cnn@0.5-2", ("small-cnn", (0.5, 2.0)), ("0.5,2", "augment-0.5-2")),
    ("w-small-cnn-robust@0.71-1.41:0.5", ("w-small-cnn-robust", (0.71, 1.41, 0.5)),
     ("0.71,1.41,0.5", "augment-0.71-1.41-p0.5")),
])
def test_model_specs_name_the_augmentation_and_its_run_folder(spec, expected, option) -> None:
    from wavelet_networks.studies.scale import augment_option, parse_model_spec

    assert parse_model_spec(spec) == expected
    if option is not None:
        assert augment_option(expected[1]) == option


@pytest.mark.parametrize("spec", ["small-cnn@2-0.5", "small-cnn@0.5-2:0", "small-cnn@0.5-2:1.5",
                                  "small-cnn@0.5", "@0.5-2"])
def test_bad_model_specs_name_the_form(spec) -> None:
    from wavelet_networks.studies.scale import parse_model_spec

    with pytest.raises(ValueError, match="NAME@LO-HI"):
        parse_model_spec(spec)


@pytest.mark.parametrize("env, expected", [(None, False), ("1", True), ("0", False)])
def test_accuracy_benchmarks_pin_autotune_unless_the_environment_says(monkeypatch, env,
                                                                      expected) -> None:
    from wavelet_networks import settings
    from wavelet_networks.studies.common import pin_autotune_unless_set

    monkeypatch.delenv("WAVELET_NETWORKS_AUTOTUNE", raising=False)
    if env is not None:
        monkeypatch.setenv("WAVELET_NETWORKS_AUTOTUNE", env)
    with settings.configure(autotune=env != "0"):  # as the environment would have set it
        assert pin_autotune_unless_set() is expected
        assert settings.current().autotune is expected
