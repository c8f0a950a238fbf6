"""Cheaper world-model retraining: does stopping a warm-started retrain earlier lose accuracy? (issue 10)

    PYTHONPATH=. OMP_NUM_THREADS=1 python studies/retrain_budget.py [--task walker-run] [--seeds 2]
                                                                        [--variants 5:redraw 2:fixed] [--out F.json]

The training loop retrains its world model every ``retrain_every`` env steps, warm-started from the
last weights, on every real transition so far, until no member improved its holdout loss by more
than 1% for more than ``patience`` epochs (MBPO: 5). At steady state that took 36% of the ftfl
loop's wall-clock on cheetah-run (docs/world_model.md). This replays the loop's retrain schedule on
saved data and compares patience values and the holdout kind (``redraw``: MBPO's new random
holdout at every retrain; ``fixed``: rows keep their membership, ``pipeline.world_model.fixed_holdout``),
everything else equal:

* data: the chronological replay buffer of a 20k-step SAC run (``studies/data/model_study/<task>.npz``,
  made by ``studies/model_study.py``); the stream is its first ``--end`` transitions;
* schedule: a first fit on ``--start`` transitions, then a warm retrain after every ``--every`` new
  ones up to ``--end`` (the loop's MBPO settings: 250), with the production
  ``pipeline.world_model.fit`` and the library's ftfl model (7 members, 5 elites, 4 x 200);
* test: ``--test`` transitions that come after the stream (the policy's later data, never trained
  on): after every retrain, the elites' mean prediction's error on them, per output dimension
  divided by that dimension's test variance, averaged (state NMSE) and for the reward (reward NMSE);
* cost: gradient steps and this process's CPU seconds (``time.process_time``) spent in ``fit``.

Every variant starts from the same initial weights and the same generator seed; variants are run
in turn per seed, in this one process. Prints a table and writes JSON.

Issue 33 (the stopping rule) adds fields to a variant, ``patience:holdout[:rule[:max_epochs]]``:
``rule`` is one of ``pipeline.world_model.STOP_RULES`` (``member`` when left out, today's), and
``max_epochs`` with a patience no retrain reaches is a fixed epoch budget per retrain. Options:
``--algo`` (the world model's preset, e.g. ``ftfl``, the loop whose retrains ran to the cap; left
out, ``AlgoConfig()``'s model as before), ``--cap`` (the wall-clock cap per retrain in seconds,
e.g. the loop's 60; ``stopped_by`` says how often it fired; none by default) and ``--resume``
(keep the runs already in ``--out`` and do the rest; the file is rewritten after every run). Two
more test metrics: the elites' mean reward R² and their 10-step open-loop error in percent of the
true state's norm (``pipeline.diagnostics``' definition), from up to 200 start rows of the test
block.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from pipeline.config import ALGORITHMS, AlgoConfig, model_hyper
from pipeline.diagnostics import elite_mean
from pipeline.world_model import STOP_RULES, EnsembleDynamics, fit, make_optimizer

KSTEP = 10
KSTEP_STARTS = 200


def test_errors(
    model: EnsembleDynamics, obs: torch.Tensor, act: torch.Tensor, truth: torch.Tensor
) -> tuple[float, float]:
    """(state NMSE, reward NMSE) of the elites' mean prediction."""
    with torch.no_grad():
        mean, logvar = model.raw(obs, act, None, members=model.elite_idx)
        pred, _ = model.decode(obs, mean, logvar)
        err = (pred.mean(dim=0) - truth).pow(2).mean(dim=0) / truth.var(dim=0).clamp_min(1e-8)
    return float(err[1:].mean()), float(err[0])


def test_quality(model: EnsembleDynamics, t: dict[str, torch.Tensor], lo: int, hi: int) -> dict[str, float]:
    """Reward R² of the elites' mean on the test block, and their open-loop error ``KSTEP`` steps
    ahead (percent of the true state's norm) from start rows whose next ``KSTEP`` rows are one
    unbroken stretch (each stored next state is the following row's state)."""
    obs, act, rew, nxt = t["obs"][lo:hi], t["act"][lo:hi], t["rew"][lo:hi], t["next_obs"][lo:hi]
    with torch.no_grad():
        pred = elite_mean(model, obs, act)[:, 0]
    r2 = 1.0 - float((pred - rew).pow(2).mean()) / float(rew.var(unbiased=False).clamp_min(1e-12))
    joined = (nxt[:-1] == obs[1:]).all(-1)
    windows = joined.unfold(0, KSTEP - 1, 1).all(-1) if KSTEP > 1 else torch.ones(len(obs), dtype=torch.bool)
    starts = torch.nonzero(windows).flatten()
    starts = starts[torch.linspace(0, len(starts) - 1, min(KSTEP_STARTS, len(starts))).long()]
    state = obs[starts]
    for step in range(KSTEP):
        state = elite_mean(model, state, act[starts + step])[:, 1:]
    truth = nxt[starts + KSTEP - 1]
    kstep = 100.0 * float(((state - truth).norm(dim=-1) / truth.norm(dim=-1).clamp_min(1e-8)).mean())
    return {"test_reward_r2": r2, f"test_k{KSTEP}_error_pct": kstep}


def parse_variant(variant: str) -> tuple[int, str, str, int | None]:
    """``patience:holdout[:rule[:max_epochs]]`` (a fixed budget: a patience no retrain reaches and
    ``max_epochs``)."""
    parts = variant.split(":")
    rule = parts[2] if len(parts) > 2 else "member"
    if len(parts) not in (2, 3, 4) or rule not in STOP_RULES:
        raise SystemExit(f"variant {variant!r}: expected patience:holdout[:rule[:max_epochs]], rule one of "
                         f"{', '.join(STOP_RULES)}")  # fmt: skip
    return int(parts[0]), parts[1], rule, int(parts[3]) if len(parts) > 3 else None


def replay(arrays: dict[str, np.ndarray], variant: str, seed: int, args: argparse.Namespace) -> dict[str, object]:
    patience, holdout, rule, max_epochs = parse_variant(variant)
    t = {
        k: torch.as_tensor(v, dtype=torch.float32) for k, v in arrays.items() if k in ("obs", "act", "rew", "next_obs")
    }
    lo, hi = args.end, args.end + args.test
    test_truth = torch.cat([t["rew"][lo:hi].unsqueeze(-1), t["next_obs"][lo:hi]], dim=-1)
    algo = ALGORITHMS[args.algo].model_of(args.algo, AlgoConfig()) if args.algo else AlgoConfig()
    hp = dataclasses.replace(model_hyper(algo), patience=patience, holdout=holdout, max_retrain_s=args.cap,
                             stop_rule=rule)  # fmt: skip
    if max_epochs is not None:
        hp = dataclasses.replace(hp, max_epochs=max_epochs)
    torch.manual_seed(seed)
    model = EnsembleDynamics(t["obs"].shape[1], t["act"].shape[1], hp)
    opt = make_optimizer(model)
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for n in range(args.start, args.end + 1, args.every):
        cpu = time.process_time()
        report = fit(model, opt, t["obs"][:n], t["act"][:n], t["rew"][:n], t["next_obs"][:n], gen)
        cpu = time.process_time() - cpu
        state, reward = test_errors(model, t["obs"][lo:hi], t["act"][lo:hi], test_truth)
        rows.append(
            {
                "n": n,
                "epochs": report.epochs,
                "steps": report.steps,
                "cpu_s": cpu,
                "stopped_by": report.stopped_by,
                "holdout_mse_elites": float(np.mean(sorted(report.holdout_mse)[: hp.elites])),
                "test_state_nmse": state,
                "test_reward_nmse": reward,
                **test_quality(model, t, lo, hi),
            }
        )
    return {"variant": variant, "patience": patience, "holdout": holdout, "rule": rule, "seed": seed, "retrains": rows}


def summary(run: dict[str, object]) -> dict[str, float]:
    rows = run["retrains"]
    assert isinstance(rows, list)
    steady = rows[1:]  # the first fit is from scratch; the rest are the warm retrains
    return {
        "warm_steps": float(sum(r["steps"] for r in steady)),
        "warm_cpu_s": float(sum(r["cpu_s"] for r in steady)),
        "warm_epochs_mean": float(np.mean([r["epochs"] for r in steady])),
        "test_state_nmse_mean": float(np.mean([r["test_state_nmse"] for r in steady])),
        "test_reward_nmse_mean": float(np.mean([r["test_reward_nmse"] for r in steady])),
        "test_state_nmse_final": float(rows[-1]["test_state_nmse"]),
        "test_reward_nmse_final": float(rows[-1]["test_reward_nmse"]),
        "holdout_mse_elites_mean": float(np.mean([r["holdout_mse_elites"] for r in steady])),
        "test_reward_r2_mean": float(np.mean([r.get("test_reward_r2", np.nan) for r in steady])),
        f"test_k{KSTEP}_error_pct_mean": float(np.mean([r.get(f"test_k{KSTEP}_error_pct", np.nan) for r in steady])),
        "capped_share": float(np.mean([r["stopped_by"] == "wall_clock" for r in steady])),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="walker-run")
    p.add_argument("--data", type=Path, default=Path("studies/data/model_study"))
    p.add_argument("--start", type=int, default=5000)
    p.add_argument("--end", type=int, default=10000)
    p.add_argument("--every", type=int, default=250)
    p.add_argument("--test", type=int, default=2000)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument(
        "--variants",
        nargs="+",
        default=["5:redraw", "2:redraw", "1:redraw"],
        help="patience:holdout pairs (holdout: redraw, MBPO's, or fixed)",
    )
    p.add_argument(
        "--algo", choices=sorted(ALGORITHMS), default=None, help="world-model preset (default: AlgoConfig())"
    )
    p.add_argument("--cap", type=float, default=1e9, help="wall-clock cap per retrain, seconds")
    p.add_argument("--resume", action="store_true", help="keep the runs already in --out")
    p.add_argument("--out", type=Path, default=Path("results/retrain_budget/retrain_budget.json"))
    args = p.parse_args()
    torch.set_num_threads(1)
    arrays = dict(np.load(args.data / f"{args.task}.npz"))
    runs: list[dict[str, object]] = []
    if args.resume and args.out.exists():
        runs = json.loads(args.out.read_text())["runs"]
    summaries: dict[str, list[dict[str, float]]] = {}
    for seed in range(args.seeds):
        for variant in args.variants:
            done = [r for r in runs if r["variant"] == variant and r["seed"] == seed]
            if done:
                run = done[0]
            else:
                run = replay(arrays, variant, seed, args)
                run["summary"] = summary(run)
                runs.append(run)
                write(args, runs)
            s: dict[str, float] = run["summary"]  # type: ignore[assignment]
            summaries.setdefault(variant, []).append(s)
            print(
                f"seed {seed} {variant}: warm retrains {s['warm_steps']:.0f} steps, "
                f"{s['warm_cpu_s']:.1f} CPU s, "
                f"{s['warm_epochs_mean']:.1f} epochs each; test state NMSE {s['test_state_nmse_mean']:.4f}, "
                f"reward NMSE {s['test_reward_nmse_mean']:.4f} (mean over retrains)",
                flush=True,
            )
    print(
        "\n| patience:holdout[:rule] | seeds | warm-retrain grad steps | CPU s | epochs per retrain | capped "
        f"| holdout MSE (elites) | test state NMSE | test reward NMSE | test reward R² | test {KSTEP}-step error % |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for variant in args.variants:
        sel = summaries[variant]
        cell = {k: np.mean([s.get(k, np.nan) for s in sel]) for k in sel[0]}
        print(
            f"| {variant} | {len(sel)} | {cell['warm_steps']:.0f} | {cell['warm_cpu_s']:.1f} | "
            f"{cell['warm_epochs_mean']:.1f} | {cell.get('capped_share', np.nan):.2f} | "
            f"{cell.get('holdout_mse_elites_mean', np.nan):.4f} | "
            f"{cell['test_state_nmse_mean']:.4f} | {cell['test_reward_nmse_mean']:.4f} | "
            f"{cell.get('test_reward_r2_mean', np.nan):.4f} | {cell.get(f'test_k{KSTEP}_error_pct_mean', np.nan):.1f} |"
        )
    write(args, runs)
    print(f"wrote {args.out}")


def write(args: argparse.Namespace, runs: list[dict[str, object]]) -> None:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "args": {k: str(v) for k, v in vars(args).items()},
                "machine": platform.node(),
                "load_avg": list(np.round(np.array(__import__("os").getloadavg()), 2)),
                "runs": runs,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
