"""Soak test of interrupted training: fits killed with SIGKILL at random times, resumed to the end.

One uninterrupted reference fit, then ``--fits`` fits of the same command (the
default model and config on a small ACSF1 subset), each killed with SIGKILL at
1 to ``--max-kills`` random moments and then run once more to the end. A kill
lands, with probability ``--startup-share``, at a uniform time during start-up
(before the process writes its ``config.yaml``; the reference's start-up
time), else at a uniform time after that, over the reference's time from that
point to its ``results.json`` (training and testing); every fit is killed at
least once before its result exists (a fit whose kills all missed is started
again from scratch). After every kill the run directory is inspected: every
checkpoint, ``results.json``, ``config.yaml`` and ``metrics.csv`` present must
read whole, and the folder is classified: no run directory (at most the
staging folder ``.seed-0.incoming`` a new run starts in), a result, a
resumable ``last.ckpt`` (its step recorded), or a run directory with neither,
which must never occur. Each finished fit must equal
the reference exactly: test metrics, best epoch and validation loss, every
weight of ``best.ckpt`` and ``last.ckpt``, and the per-epoch validation loss in
its logs; and nothing may be left behind (temporary files, the lock, an
incoming replacement).

Not collected by pytest (it takes tens of minutes); run it with::

    nice -n 10 python benchmarks/soak_resume.py --fits 20 \\
        --out benchmarks/results/soak-resume-cpu-2core.json

Every process runs with one thread (``OMP_NUM_THREADS=1``), the setting in
which a resumed run is bit-identical (docs/reliability.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
sys.path.insert(0, str(SRC))


def fit_command(run_root: Path, args: argparse.Namespace) -> list[str]:
    return [sys.executable, "-m", "wavelet_networks", "fit", "--config", "default",
            "--model.model_name", args.model, "--data.limit_per_class", str(args.limit_per_class),
            "--data.batch_size", str(args.batch_size), "--trainer.max_epochs", str(args.epochs),
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
            "--run_root", str(run_root)]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(SRC), e.get("PYTHONPATH", "")])
    e["OMP_NUM_THREADS"] = "1"
    e.pop("WAVELET_NETWORKS_DEBUG", None)
    return e


def run_dir_of(run_root: Path, model: str) -> Path:
    return run_root / "acsf1" / model / "fold-none" / "seed-0"


def inspect(rd: Path) -> dict[str, Any]:
    """Whole-file checks of a run directory and its state after a kill."""
    import yaml

    from wavelet_networks._checkpoint import load_checkpoint_file

    report: dict[str, Any] = {"broken": []}
    if not rd.exists():
        staged = staging_of(rd).exists()
        report["state"] = "no run directory yet" + (" (staging folder only)" if staged else "")
        return report
    steps: dict[str, int] = {}
    for ckpt in rd.rglob("*.ckpt"):
        try:
            steps[ckpt.name] = int(load_checkpoint_file(ckpt).get("global_step", -1))
        except Exception as exc:  # a half-written checkpoint
            report["broken"].append(f"{ckpt.name}: {exc}")
    results = rd / "results.json"
    if results.is_file():
        try:
            json.loads(results.read_text(), parse_constant=_reject)
        except ValueError as exc:
            report["broken"].append(f"results.json: {exc}")
    if (rd / "config.yaml").is_file():
        try:
            yaml.safe_load((rd / "config.yaml").read_text())
        except yaml.YAMLError as exc:
            report["broken"].append(f"config.yaml: {exc}")
    for csv_file in (rd / "logs").glob("metrics*.csv") if (rd / "logs").is_dir() else []:
        lines = csv_file.read_text().splitlines()
        widths = {len(line.split(",")) for line in lines}
        if len(widths) > 1:
            report["broken"].append(f"{csv_file.name}: rows of {sorted(widths)} fields")
    report["temp_files"] = sorted(p.name for p in rd.rglob(".*.tmp*"))
    if results.is_file():
        report["state"] = "finished"
    elif "last.ckpt" in steps:
        report["state"] = "resumable (last.ckpt)"
        report["last_ckpt_step"] = steps["last.ckpt"]
    else:
        report["state"] = NEITHER
        report["files"] = sorted(p.relative_to(rd).as_posix() for p in rd.rglob("*")
                                 if p.is_file())
    return report


#: The state of a run directory that the CLI must never leave.
NEITHER = "run directory without result or checkpoint"


def staging_of(rd: Path) -> Path:
    return rd.parent / f".{rd.name}.incoming"


def _reject(constant: str):
    raise ValueError(f"non-JSON constant {constant}")


def final_check(rd: Path, ref: Path) -> dict[str, Any]:
    """Exact comparison of a finished fit with the reference, and what it left behind."""
    import torch

    from wavelet_networks.training.run import read_epoch_metrics

    got = json.loads((rd / "results.json").read_text(), parse_constant=_reject)
    want = json.loads((ref / "results.json").read_text())
    checks = {
        "metrics": got["metrics"] == want["metrics"],
        "best_epoch": got["best_epoch"] == want["best_epoch"],
        "best_val_loss": got["best_val_loss"] == want["best_val_loss"],
    }
    for name in ("best.ckpt", "last.ckpt"):
        a = torch.load(rd / "checkpoints" / name, weights_only=True)["state_dict"]
        b = torch.load(ref / "checkpoints" / name, weights_only=True)["state_dict"]
        checks[f"weights {name}"] = a.keys() == b.keys() and all(torch.equal(a[k], b[k])
                                                                 for k in a)
    checks["val/loss per epoch"] = (read_epoch_metrics(rd / "logs")["val/loss"]
                                    == read_epoch_metrics(ref / "logs")["val/loss"])
    leftovers = sorted(p.name for p in rd.rglob(".*.tmp*"))
    leftovers += sorted(p.name for p in rd.parent.iterdir() if p.name != rd.name)
    checks["nothing left behind"] = not leftovers
    return {"checks": checks, "leftovers": leftovers, "test_acc": got["metrics"].get("test/acc")}


def config_inode(rd: Path) -> int | None:
    """The inode of the newest ``config.yaml``: the staging folder's, else the run directory's.

    A new run writes it in its staging folder, which keeps the inode when it is
    renamed to the run directory; a resumed run rewrites it in the run directory.
    """
    for folder in (staging_of(rd), rd):
        try:
            return (folder / "config.yaml").stat().st_ino
        except FileNotFoundError:
            continue
    return None


def wait_for_start(child: subprocess.Popen, rd: Path, before: int | None) -> float:
    """The time at which ``child`` wrote a new ``config.yaml`` (its run has begun), or exited."""
    while child.poll() is None:
        inode = config_inode(rd)
        if inode is not None and inode != before:
            break
        time.sleep(0.02)
    return time.perf_counter()


def kill_repeatedly(root: Path, rd: Path, times: int, startup_s: float, run_s: float,
                    rng: np.random.Generator, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Start the fit and SIGKILL it at a random moment, up to ``times`` times; what each kill left."""
    kills: list[dict[str, Any]] = []
    for _ in range(times):
        during_startup = bool(rng.random() < args.startup_share)
        delay = float(rng.uniform(0.0, startup_s if during_startup else run_s))
        before = config_inode(rd)
        start = time.perf_counter()
        log = tempfile.TemporaryFile("w+")  # a file, not a pipe: a full pipe would stall it
        child = subprocess.Popen(fit_command(root, args), stdout=subprocess.DEVNULL,
                                 stderr=log, text=True, env=env())
        began = start if during_startup else wait_for_start(child, rd, before)
        remaining = max(0.0, began + delay - time.perf_counter())
        try:
            child.wait(timeout=remaining)
            finished = True
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            child.wait()
            finished = False
        log.seek(0)
        err = log.read()
        log.close()
        at = round(time.perf_counter() - start, 2)
        phase = "start-up" if during_startup else "run"
        if finished:
            kills.append({"phase": phase, "at_s": at, "killed": False, "rc": child.returncode,
                          "error": err.strip().splitlines()[-1:] if child.returncode else []})
            break
        kills.append({"phase": phase, "at_s": at, "killed": True, **inspect(rd)})
    return kills


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fits", type=int, default=20)
    p.add_argument("--max-kills", type=int, default=3, help="kills per fit: 1 .. this")
    p.add_argument("--startup-share", type=float, default=0.2,
                   help="share of kills during start-up (default 0.2)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--limit-per-class", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--model", default="w-small-cnn")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    p.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    p.add_argument("--out", type=Path, default=None, help="write the report as JSON here")
    args = p.parse_args(argv)
    from wavelet_networks.studies.common import machine_info

    rng = np.random.default_rng(args.seed)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="soak-resume-"))
    work.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    ref_root = work / "reference"
    shutil.rmtree(ref_root, ignore_errors=True)
    ref = run_dir_of(ref_root, args.model)
    log = tempfile.TemporaryFile("w+")
    child = subprocess.Popen(fit_command(ref_root, args), stdout=subprocess.DEVNULL,
                             stderr=log, text=True, env=env())
    startup_s = wait_for_start(child, ref, None) - t0
    while child.poll() is None and not (ref / "results.json").exists():
        time.sleep(0.02)
    run_s = time.perf_counter() - t0 - startup_s  # from the run's start to its result
    child.wait()
    log.seek(0)
    err = log.read()
    ref_s = time.perf_counter() - t0
    if child.returncode != 0:
        print(err[-3000:], file=sys.stderr)
        return 1
    print(f"reference: {ref_s:.1f} s ({startup_s:.1f} s start-up), test acc "
          f"{json.loads((ref / 'results.json').read_text())['metrics']['test/acc']:.4f}",
          flush=True)

    fits = []
    for i in range(args.fits):
        root = work / f"fit-{i:02d}"
        rd = run_dir_of(root, args.model)
        kills: list[dict[str, Any]] = []
        restarts = 0
        # Every fit is killed at least once before its result exists.
        while not any(k["killed"] and k["state"] != "finished" for k in kills):
            shutil.rmtree(root, ignore_errors=True)
            restarts += bool(kills)
            kills = kill_repeatedly(root, rd, int(rng.integers(1, args.max_kills + 1)),
                                    startup_s, run_s, rng, args)

        t1 = time.perf_counter()
        last = subprocess.run(fit_command(root, args), capture_output=True, text=True, env=env())
        done = last.returncode == 0 or "already holds a finished run" in last.stderr
        record: dict[str, Any] = {"fit": i, "kills": kills, "restarts": restarts,
                                  "final_rc": last.returncode,
                                  "final_s": round(time.perf_counter() - t1, 1),
                                  "resumed": "resuming from" in last.stdout}
        record.update(final_check(rd, ref) if done else {"checks": {"finished": False},
                                                         "error": last.stderr[-2000:]})
        fits.append(record)
        ok = all(record["checks"].values())
        states = ", ".join(k.get("state", "finished before the kill") for k in kills)
        print(f"fit {i:2d}: {sum(k['killed'] for k in kills)} kill(s) [{states}] -> "
              f"{'identical' if ok else 'DIFFERENT: ' + str(record['checks'])}", flush=True)

    all_kills = [k for f in fits for k in f["kills"] if k["killed"]]
    states: dict[str, int] = {}
    for k in all_kills:
        states[k["state"]] = states.get(k["state"], 0) + 1
    summary = {
        "fits": len(fits),
        "kills": len(all_kills),
        "kills_by_state": states,
        "run_dirs_without_result_or_checkpoint": states.get(NEITHER, 0),
        "kills_leaving_a_step_0_checkpoint": sum(k.get("last_ckpt_step") == 0
                                                 for k in all_kills),
        "fits_identical_to_reference": sum(all(f["checks"].values()) for f in fits),
        "broken_files_after_kills": sum(len(k.get("broken", [])) for k in all_kills),
        "temp_files_after_kills": sum(len(k.get("temp_files", [])) for k in all_kills),
        "kills_by_phase": {ph: sum(k["phase"] == ph for k in all_kills)
                           for ph in ("start-up", "run")},
        "reference_s": round(ref_s, 1),
        "reference_startup_s": round(startup_s, 1),
        "reference_run_s": round(run_s, 1),
        "fits_started_again": sum(f["restarts"] for f in fits),
        "total_s": round(time.perf_counter() - t0, 1),
    }
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=REPO).stdout.strip()
    report = {
        "commit": commit,
        "command": " ".join(fit_command(Path("RUN_ROOT"), args)[1:]),
        "settings": vars(args) | {"workdir": str(work), "out": str(args.out)},
        "machine": machine_info() | {"omp_num_threads": 1},
        "summary": summary,
        "fits": fits,
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        from wavelet_networks.training.run import write_json_atomic

        write_json_atomic(args.out, report)
        print(f"-> {args.out}")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    ok = (summary["fits_identical_to_reference"] == len(fits)
          and not summary["broken_files_after_kills"]
          and not summary["run_dirs_without_result_or_checkpoint"])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
