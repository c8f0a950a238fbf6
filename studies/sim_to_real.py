"""Issue 31's measurements: which predictor of the real plant is best, on held-out real transitions.

    PYTHONPATH=. python studies/sim_to_real.py policies Hopper-v5 --policy <policy.pt>
    PYTHONPATH=. python studies/sim_to_real.py models Hopper-v5 --gap default --policy <policy.pt>
    PYTHONPATH=. python studies/sim_to_real.py gapscan Hopper-v5 --policy <policy.pt>
    PYTHONPATH=. python studies/sim_to_real.py report [--check]

``policies``: a starting policy's deterministic return and fall rate (episodes the plant ended
before the time limit) in the sim and on the real plant under ``default`` and ``hard``, nominal and
under each of the robot's scenarios, on held-out panel seeds (``validation.panels.real_panel``).

``models``: real transitions are collected on the real plant (the robot with the gap profile) by a
starting policy acting stochastically, as a fine-tuning run collects them: nominal episodes, and
10% of episodes under one of the robot's scenarios (real exposure, as in a run). Held-out real
episodes, on other seeds, are collected the same way, nominal and under each scenario. At each
real budget (the first N transitions) every predictor is fitted and scored on the held-out ones:

* ``sim``: the sim (nominal; under a scenario, the scenario's drawn physics);
* ``sim_sysid``: the sim with its parametric fields fitted to the real transitions
  (:func:`pipeline.sim_residual.fit_sysid`);
* ``model``: the pure default world model (the ensemble learns the dynamics; under a scenario it
  is given the scenario's context, as targeted generation gives it);
* ``sim_residual`` (correction target) and ``sim_residual_direct`` (direct target, the sim's step
  as an input), each with independent normalization and β-NLL.

Scores (state part only): the 1-step error and the 10-step open-loop error (the real actions
replayed from a real start, each predictor fed its own predictions), each as the RMS over state
dimensions of the error divided by that dimension's standard deviation on the held-out nominal
episodes. Reward R² of the 1-step prediction is recorded too. Every reduced setting is written in
the log beside its numbers. ``report`` writes the table into docs/sim_to_real.md from the logs in
results/sim_to_real/.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SCENARIOS: dict[str, tuple[str, ...]] = {
    "Hopper-v5": ("hopper_heavy_torso", "hopper_weak_thigh"),
    "Walker2d-v5": ("walker2d_heavy_torso", "walker2d_weak_thigh"),
}
BUDGETS = (2000, 5000, 20000)
HELD_OUT_EPISODES = 20
"""Held-out real episodes per condition (nominal and each scenario)."""
HORIZON = 10
EXPOSURE = 0.1
MAX_STEPS = 1000
LOGS = ROOT / "results" / "sim_to_real"
PAGE = ROOT / "docs" / "sim_to_real.md"
MODEL_SETTINGS: dict[str, Any] = {
    "members": 5, "elites": 3, "hidden": 200, "depth": 3, "max_epochs": 200, "max_retrain_s": 90.0, "patience": 5,
}  # fmt: skip
"""Reduced from MBPO's 7 x 4x200 for this 2-core machine: 5 members (3 elites) of 3 x 200."""


def hyper(target: str) -> Any:
    from pipeline.config import ALGORITHMS, DEFAULT_WORLD_MODEL, AlgoConfig, model_hyper

    algo = ALGORITHMS[DEFAULT_WORLD_MODEL].model_of(DEFAULT_WORLD_MODEL, AlgoConfig())
    hp = model_hyper(algo)
    depth = MODEL_SETTINGS["depth"]
    return dataclasses.replace(hp, target=target, members=MODEL_SETTINGS["members"], elites=MODEL_SETTINGS["elites"],
                               hidden=MODEL_SETTINGS["hidden"], depth=depth, weight_decay=hp.weight_decay[-depth - 1:],
                               max_epochs=MODEL_SETTINGS["max_epochs"], max_retrain_s=MODEL_SETTINGS["max_retrain_s"],
                               patience=MODEL_SETTINGS["patience"])  # fmt: skip


# --- real data ------------------------------------------------------------------------------------


def collect(robot: str, gap: str, policy: dict[str, Any], seeds: Sequence[int], scenario_of: Any) -> dict[str, Any]:
    """Episodes on the real plant under the policy's stochastic actions: arrays of every transition,
    with each one's episode index and the scenario draws of its episode."""
    import torch

    import robots
    import scenarios
    from robots.perturbations import PerturbedEnv

    record = robots.get(robot)
    actor = actor_of(policy, robot)
    base = robots.make(robot, gap=gap, max_episode_steps=MAX_STEPS)
    rows: dict[str, list[Any]] = {k: [] for k in ("obs", "act", "rew", "next_obs", "term", "episode")}
    draws: list[dict[str, Any]] = []
    gen = torch.Generator().manual_seed(int(seeds[0]))
    for e, seed in enumerate(seeds):
        name = scenario_of(e)
        env = PerturbedEnv(base, list(scenarios.get(name).perturbations) if name else [])
        obs, info = env.reset(seed=int(seed))
        draws.append({"scenario": name, "perturbations": info["perturbations"]})
        done = False
        while not done:
            with torch.no_grad():
                eps = torch.randn((1, record.action_dim), generator=gen)
                act = actor.sample(torch.as_tensor(obs, dtype=torch.float32)[None], eps)[0][0].numpy()
            nxt, rew, term, trunc, _ = env.step(act)
            for key, value in zip(rows, (obs, act, rew, nxt, term, e), strict=True):
                rows[key].append(value)
            obs, done = nxt, term or trunc
    out: dict[str, Any] = {k: np.asarray(v) for k, v in rows.items()}
    out["obs"], out["next_obs"], out["act"] = (out[k].astype(np.float32) for k in ("obs", "next_obs", "act"))
    out["draws"] = list(draws)
    return out


def take(data: dict[str, Any], n: int) -> dict[str, Any]:
    return {k: (v[:n] if isinstance(v, np.ndarray) else v) for k, v in data.items()}


# --- predictors -----------------------------------------------------------------------------------


def scenario_models(stepper_model: Any, data: dict[str, Any]) -> list[Any]:
    """One sim model per transition: the base model with its episode's drawn scenario physics."""
    from robots.perturbations import MODEL_FAMILIES, Perturbation
    from robots.sim_step import edited

    per_episode = []
    for d in data["draws"]:
        drawn = [Perturbation(a["family"], {k: v for k, v in a.items() if k not in ("family", "t")})
                 for a in d["perturbations"] if a["family"] in MODEL_FAMILIES]  # fmt: skip
        per_episode.append(edited(stepper_model, drawn))
    return [per_episode[e] for e in data["episode"]]


class Predictor:
    """One-step mean prediction ``(obs, act, rows) -> (next_obs, reward)``; ``rows`` index the held-out data."""

    def __init__(self, name: str, step: Any, seconds: float, info: dict[str, Any]) -> None:
        self.name, self.step, self.seconds, self.info = name, step, seconds, info


def make_predictors(robot: str, train: dict[str, Any], held: dict[str, Any], seed: int) -> list[Predictor]:
    import torch

    from pipeline.config import ALGORITHMS, DEFAULT_WORLD_MODEL
    from pipeline.sim_residual import SimResidual, fit_sysid
    from pipeline.world_model import EnsembleDynamics, fit, make_optimizer
    from robots.context import encode
    from robots.sim_step import SimStepper

    stepper = SimStepper(robot)
    nominal = scenario_models(stepper.model, held)
    out = [Predictor("sim", lambda o, a, r: stepper.step(o, a, [nominal[i] for i in r])[:2], 0.0, {})]

    t0 = time.perf_counter()
    nominal_rows = np.asarray([train["draws"][e]["scenario"] is None for e in train["episode"]])
    sysid = fit_sysid(robot, train["obs"][nominal_rows], train["act"][nominal_rows], train["next_obs"][nominal_rows])
    fitted = scenario_models(sysid.model, held)
    out.append(Predictor("sim_sysid", lambda o, a, r: stepper.step(o, a, [fitted[i] for i in r])[:2],
                         time.perf_counter() - t0, {"scales": sysid.scales, "error_before": sysid.error_before,
                                                    "error_after": sysid.error_after,
                                                    "evaluations": sysid.evaluations}))  # fmt: skip

    import robots as robots_pkg

    layout = robots_pkg.context_layout(robot)
    spec = ALGORITHMS[DEFAULT_WORLD_MODEL]

    def contexts(data: dict[str, Any]) -> np.ndarray:
        per = [encode([a for a in d["perturbations"]], layout) for d in data["draws"]]
        return np.stack([per[e] for e in data["episode"]]).astype(np.float32)

    t0 = time.perf_counter()
    torch.manual_seed(seed)
    net = EnsembleDynamics(train["obs"].shape[1], train["act"].shape[1], hyper(spec.target), layout.size)
    o, a, rw, nx = (torch.as_tensor(train[k], dtype=torch.float32) for k in ("obs", "act", "rew", "next_obs"))
    report = fit(net, make_optimizer(net), o, a, rw, nx, torch.Generator().manual_seed(seed),
                 torch.as_tensor(contexts(train)))  # fmt: skip
    held_ctx = torch.as_tensor(contexts(held))

    def model_step(o: np.ndarray, a: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ot, at = torch.as_tensor(o), torch.as_tensor(a)
        with torch.no_grad():
            mean, logvar = net.raw(ot, at, held_ctx[r], members=net.elite_idx)
            dec, _ = net.decode(ot, mean, logvar)
        m = dec.mean(0)
        return m[:, 1:].numpy(), m[:, 0].numpy()

    out.append(
        Predictor(
            "model",
            model_step,
            time.perf_counter() - t0,
            {"preset": DEFAULT_WORLD_MODEL, "epochs": report.epochs, "stopped_by": report.stopped_by},
        )
    )
    for name, target in (("sim_residual", "residual"), ("sim_residual_direct", "direct")):
        t0 = time.perf_counter()
        torch.manual_seed(seed)
        hybrid = SimResidual(robot, hyper(target))
        rep = hybrid.fit(train["obs"], train["act"], train["rew"], train["next_obs"],
                         torch.Generator().manual_seed(seed), scenario_models(stepper.model, train))  # fmt: skip
        step = (lambda h: lambda o, a, r: h.predict(o, a, [nominal[i] for i in r]))(hybrid)
        info = {"epochs": rep.epochs, "stopped_by": rep.stopped_by}
        out.append(Predictor(name, step, time.perf_counter() - t0, info))
    return out


# --- scores ---------------------------------------------------------------------------------------


def starts(held: dict[str, Any], horizon: int) -> np.ndarray:
    """Rows from which ``horizon`` real steps follow within one episode, none of them terminal before the last."""
    ep, term = held["episode"], held["term"]
    n = len(ep)
    ok = []
    for i in range(n - horizon + 1):
        if ep[i + horizon - 1] == ep[i] and not term[i : i + horizon - 1].any():
            ok.append(i)
    return np.asarray(ok, dtype=np.int64)


def score(p: Predictor, held: dict[str, Any], scale: np.ndarray, rows: np.ndarray) -> dict[str, float]:
    """1-step and open-loop errors (normalized RMS over dimensions, mean over rows) and reward R²."""
    one = rows
    pred, rew = p.step(held["obs"][one], held["act"][one], one)
    e1 = np.sqrt(np.mean(((pred - held["next_obs"][one]) / scale) ** 2, axis=1))
    true_rew = held["rew"][one]
    r2 = 1.0 - float(np.mean((rew - true_rew) ** 2)) / max(float(np.var(true_rew)), 1e-12)
    k_rows = np.intersect1d(starts(held, HORIZON), rows)
    state = held["obs"][k_rows]
    for k in range(HORIZON):
        idx = k_rows + k
        state, _ = p.step(state, held["act"][idx], idx)
        state = np.nan_to_num(np.asarray(state, dtype=np.float32), nan=1e6, posinf=1e6, neginf=-1e6)
    ek = np.sqrt(np.mean(((state - held["next_obs"][k_rows + HORIZON - 1]) / scale) ** 2, axis=1))
    return {"one_step": float(np.mean(e1)), f"{HORIZON}_step": float(np.mean(ek)), "reward_r2": r2,
            "rows": len(one), "k_rows": len(k_rows)}  # fmt: skip


def models_command(opts: argparse.Namespace) -> int:
    import torch

    from pipeline.config import stream_seed
    from robots import gaps

    torch.set_num_threads(1)
    robot = opts.robot
    policy = torch.load(opts.policy, map_location="cpu", weights_only=True)
    profile = gaps.get(opts.gap, robot)
    names = SCENARIOS[robot]
    budget = max(opts.budgets)
    rng = np.random.default_rng(stream_seed(opts.seed, 0, 0))
    train_seeds = [stream_seed(opts.seed, 1, i) for i in range(budget)]  # more than enough episodes
    plan = [names[int(rng.integers(len(names)))] if rng.random() < EXPOSURE else None for _ in range(budget)]
    t0 = time.perf_counter()
    # Collect episodes until the largest budget is reached.
    data = collect_until(robot, opts.gap, policy, train_seeds, lambda e: plan[e], budget)
    held = {}
    for ci, cond in enumerate((None, *names)):
        seeds = [stream_seed(opts.seed, 2 + ci, i) for i in range(opts.held_out)]
        held[cond or "nominal"] = collect(robot, opts.gap, policy, seeds, lambda e, c=cond: c)
    collect_s = time.perf_counter() - t0
    scale = held["nominal"]["next_obs"].std(0) + 1e-6
    merged, offsets = merge(held)
    results = []
    for n in sorted(opts.budgets):
        train = take(data, n)
        predictors = make_predictors(robot, train, merged, opts.seed)
        for p in predictors:
            for cond, (lo, hi) in offsets.items():
                row = {"budget": n, "predictor": p.name, "condition": cond, "fit_s": p.seconds, **p.info,
                       **score(p, merged, scale, np.arange(lo, hi))}  # fmt: skip
                results.append(row)
                print(f"{n:6d} {p.name:20s} {cond:20s} 1-step {row['one_step']:.3f}  {HORIZON}-step "
                      f"{row[f'{HORIZON}_step']:.3f}  reward R2 {row['reward_r2']:.3f}", flush=True)  # fmt: skip
    log = {"robot": robot, "gap": profile.tag, "policy": str(opts.policy), "policy_sha256": sha256(opts.policy),
           "seed": opts.seed, "budgets": sorted(opts.budgets), "held_out_episodes": opts.held_out,
           "exposure": EXPOSURE, "horizon": HORIZON, "model_settings": MODEL_SETTINGS,
           "collect_s": collect_s, "real_transitions": len(data["obs"]),
           "held_out_transitions": {c: len(h["obs"]) for c, h in held.items()}, "results": results}  # fmt: skip
    LOGS.mkdir(parents=True, exist_ok=True)
    out = LOGS / f"models-{robot}-{opts.gap}.json"
    out.write_text(json.dumps(log, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


def collect_until(robot: str, gap: str, policy: dict[str, Any], seeds: Sequence[int], scenario_of: Any,
                  n: int) -> dict[str, Any]:  # fmt: skip
    """Episodes, 10 at a time, until at least ``n`` transitions."""
    parts: list[dict[str, Any]] = []
    total, e = 0, 0
    while total < n:
        part = collect(robot, gap, policy, seeds[e : e + 10], lambda i, e0=e: scenario_of(e0 + i))
        part["episode"] = part["episode"] + e
        parts.append(part)
        total += len(part["obs"])
        e += 10
    out: dict[str, Any] = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "draws"}
    out["draws"] = [d for p in parts for d in p["draws"]]
    return out


def merge(held: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, tuple[int, int]]]:
    """The held-out conditions as one dataset (episode indices made distinct), and each one's row range."""
    out: dict[str, list[Any]] = {}
    offsets, rows, eps = {}, 0, 0
    draws: list[Any] = []
    for cond, h in held.items():
        n = len(h["obs"])
        offsets[cond] = (rows, rows + n)
        for k, v in h.items():
            if k == "draws":
                continue
            out.setdefault(k, []).append(v + eps if k == "episode" else v)
        draws += h["draws"]
        rows, eps = rows + n, eps + len(h["draws"])
    merged: dict[str, Any] = {k: np.concatenate(v) for k, v in out.items()}
    merged["draws"] = draws
    return merged, offsets


def actor_of(policy: dict[str, Any], robot: str) -> Any:
    """The deterministic actor of a policy file."""
    import robots
    from pipeline.sac import Actor

    record, sac = robots.get(robot), policy["sac"]
    actor = Actor(record.layout.size, record.action_dim, sac["hidden"], sac["depth"], sac["log_std_min"],
                  sac["log_std_max"])  # fmt: skip
    actor.load_state_dict(policy["actor"])
    return actor.eval()


def policies_command(opts: argparse.Namespace) -> int:
    import torch

    import scenarios
    from validation.panels import PanelSpec, real_panel

    torch.set_num_threads(1)
    policy = torch.load(opts.policy, map_location="cpu", weights_only=True)
    actor = actor_of(policy, opts.robot)
    scenario_list = tuple(scenarios.get(n) for n in SCENARIOS[opts.robot])
    rows = []
    t0 = time.perf_counter()
    for gap in ("none", "default", "hard"):
        spec = PanelSpec(opts.robot, scenario_list, opts.episodes, MAX_STEPS, opts.seed, 32, {}, gap)
        results, _ = real_panel(spec, {"policy": actor})
        for cond, eps in results["policy"].items():
            falls = eps.length < MAX_STEPS
            rows.append({"gap": gap, "condition": cond, "episodes": len(eps.returns),
                         "return_mean": float(eps.returns.mean()), "return_std": float(eps.returns.std()),
                         "fall_rate": float(falls.mean()), "predicate_rate": float(eps.failed.mean())})  # fmt: skip
            print(f"{gap:8s} {cond:22s} return {rows[-1]['return_mean']:8.1f} ± {rows[-1]['return_std']:6.1f}  "
                  f"falls {rows[-1]['fall_rate']:.2f}", flush=True)  # fmt: skip
    return write_policy_log("policies", opts, rows, time.perf_counter() - t0)


def write_policy_log(kind: str, opts: argparse.Namespace, rows: list[dict[str, Any]], seconds: float) -> int:
    """``results/sim_to_real/<kind>-<robot>.json``: a policy's rows, with the policy and panel that made them."""
    log = {"robot": opts.robot, "policy": str(opts.policy), "policy_sha256": sha256(opts.policy),
           "panel_seed": opts.seed, "max_steps": MAX_STEPS, "seconds": seconds, "rows": rows}  # fmt: skip
    LOGS.mkdir(parents=True, exist_ok=True)
    out = LOGS / f"{kind}-{opts.robot}.json"
    out.write_text(json.dumps(log, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


def gapscan_command(opts: argparse.Namespace) -> int:
    """Each field of the robot's ``default`` profile alone (every other field at nominal), and the whole
    profile: where a starting policy's loss on the real plant comes from."""
    import tempfile

    import torch
    import yaml

    from robots import gaps
    from validation.panels import PanelSpec, real_panel

    torch.set_num_threads(1)
    actor = actor_of(torch.load(opts.policy, map_location="cpu", weights_only=True), opts.robot)
    base = gaps.get("default", opts.robot)
    raw = yaml.safe_load(Path(base.source).read_text())
    fields = [("parametric", f) for f in raw.get("parametric", [])] + [
        ("unmodeled", f) for f in raw.get("unmodeled", [])
    ]
    rows, t0 = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cells: list[tuple[str, str]] = [("none", "none"), ("default (all fields)", "default")]
        for i, (kind, field_) in enumerate(fields):
            path = Path(tmp) / f"only_{i}.yaml"
            profile = {"name": f"only_{i}", "robot": opts.robot, "description": "one field of default",
                       "parametric": [field_] if kind == "parametric" else [],
                       "unmodeled": [field_] if kind == "unmodeled" else []}  # fmt: skip
            path.write_text(yaml.safe_dump(profile))
            what = field_.get("family", field_.get("term"))
            cells.append((f"{what} {json.dumps(field_['params'], sort_keys=True)}", str(path)))
        for label, gap in cells:
            spec = PanelSpec(opts.robot, (), opts.episodes, MAX_STEPS, opts.seed, 32, {}, gap)
            eps = real_panel(spec, {"policy": actor})[0]["policy"]["nominal"]
            falls = float((eps.length < MAX_STEPS).mean())
            rows.append({"field": label, "episodes": len(eps.returns), "return_mean": float(eps.returns.mean()),
                         "return_std": float(eps.returns.std()), "fall_rate": falls})  # fmt: skip
            print(f"{label:70s} return {rows[-1]['return_mean']:8.1f}  falls {rows[-1]['fall_rate']:.2f}", flush=True)
    return write_policy_log("gapscan", opts, rows, time.perf_counter() - t0)


# --- the page -------------------------------------------------------------------------------------

BEGIN, END = "<!-- sim_to_real:begin -->", "<!-- sim_to_real:end -->"


def policies_table(log: dict[str, Any]) -> list[str]:
    lines = [f"**{log['robot']}**: the shipped starting policy (`{Path(log['policy']).name}`, sha256 "
             f"{log['policy_sha256'][:12]}), deterministic, {log['rows'][0]['episodes']} episodes per cell of "
             f"{log['max_steps']} steps at most, panel seed {log['panel_seed']}. Falls: episodes the plant ended "
             "before the time limit.", "",
             "| plant | condition | return (mean ± sd) | falls |", "|---|---|---|---|"]  # fmt: skip
    for r in log["rows"]:
        plant = "sim" if r["gap"] == "none" else f"real, `{r['gap']}`"
        lines.append(f"| {plant} | {r['condition']} | {r['return_mean']:.1f} ± {r['return_std']:.1f} | "
                     f"{r['fall_rate']:.2f} |")  # fmt: skip
    return [*lines, ""]


def gapscan_table(log: dict[str, Any]) -> list[str]:
    lines = [f"**{log['robot']}, the `default` gap one field at a time**: the policy `{Path(log['policy']).name}` "
             f"(sha256 {log['policy_sha256'][:12]}), deterministic, nominal, {log['rows'][0]['episodes']} episodes "
             f"per row of {log['max_steps']} steps at most, panel seed {log['panel_seed']}; every other field at "
             "nominal.", "", "| field of `default` | return (mean ± sd) | falls |", "|---|---|---|"]  # fmt: skip
    for r in log["rows"]:
        lines.append(f"| {r['field']} | {r['return_mean']:.1f} ± {r['return_std']:.1f} | {r['fall_rate']:.2f} |")
    return [*lines, ""]


def models_table(log: dict[str, Any]) -> list[str]:
    k = f"{log['horizon']}_step"
    lines = [f"**{log['robot']}, real plant `{log['gap']}`**: {log['real_transitions']} real transitions collected "
             f"by the policy `{Path(log['policy']).name}` (sha256 {log['policy_sha256'][:12]}) acting stochastically, "
             f"{int(log['exposure'] * 100)}% of episodes under a scenario; held out: {log['held_out_episodes']} "
             f"episodes per condition ({', '.join(f'{c} {n}' for c, n in log['held_out_transitions'].items())} "
             "transitions). Errors: RMS over state dimensions of the error divided by the held-out nominal standard "
             f"deviation, mean over rows; {log['horizon']}-step: open loop on the real actions. World models: "
             f"{log['model_settings']['members']} members ({log['model_settings']['elites']} elites) of "
             f"{log['model_settings']['depth']} x {log['model_settings']['hidden']}, at most "
             f"{log['model_settings']['max_retrain_s']:.0f} s of fitting (reduced for this machine).", "",
             f"| real transitions | predictor | condition | 1-step | {log['horizon']}-step | reward R² | fit s "
             "| epochs |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in log["results"]:
        epochs = f"{r['epochs']} ({r['stopped_by']})" if "epochs" in r else ""
        lines.append(f"| {r['budget']} | `{r['predictor']}` | {r['condition']} | {r['one_step']:.3f} | {r[k]:.3f} | "
                     f"{r['reward_r2']:.3f} | {r['fit_s']:.0f} | {epochs} |")  # fmt: skip
    return [*lines, ""]


def page_section() -> str:
    parts = ["Regenerated by `PYTHONPATH=. python studies/sim_to_real.py report` from `results/sim_to_real/`.", ""]
    for path in sorted(LOGS.glob("policies-*.json")):
        parts += policies_table(json.loads(path.read_text()))
    for path in sorted(LOGS.glob("gapscan-*.json")):
        parts += gapscan_table(json.loads(path.read_text()))
    for path in sorted(LOGS.glob("models-*.json")):
        parts += models_table(json.loads(path.read_text()))
    return "\n".join(parts)


def report_command(opts: argparse.Namespace) -> int:
    from studies.pages import update

    ok = update(
        PAGE, page_section() + "\n", BEGIN, END, opts.check, "PYTHONPATH=. python studies/sim_to_real.py report"
    )
    print(f"{PAGE} {'matches the logs' if opts.check else 'written'}" if ok else "", end="\n" if ok else "")
    return 0 if ok else 1


def sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="studies/sim_to_real.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("models", help="predictors of the real plant on held-out real transitions")
    m.add_argument("robot", choices=sorted(SCENARIOS))
    m.add_argument("--gap", default="default")
    m.add_argument("--policy", type=Path, required=True, help="the starting policy that collects the real data")
    m.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS))
    m.add_argument("--held-out", type=int, default=HELD_OUT_EPISODES)
    m.add_argument("--seed", type=int, default=0)
    q = sub.add_parser("policies", help="a starting policy in the sim and on the real plants")
    q.add_argument("robot", choices=sorted(SCENARIOS))
    q.add_argument("--policy", type=Path, required=True)
    q.add_argument("--episodes", type=int, default=100)
    q.add_argument("--seed", type=int, default=1000)
    g = sub.add_parser("gapscan", help="each field of the default gap alone, and a policy's loss under it")
    g.add_argument("robot", choices=sorted(SCENARIOS))
    g.add_argument("--policy", type=Path, required=True)
    g.add_argument("--episodes", type=int, default=30)
    g.add_argument("--seed", type=int, default=1000)
    r = sub.add_parser("report", help="the tables of docs/sim_to_real.md from the logs")
    r.add_argument("--check", action="store_true")
    opts = parser.parse_args(list(argv) if argv is not None else None)
    commands = {
        "models": models_command,
        "policies": policies_command,
        "gapscan": gapscan_command,
        "report": report_command,
    }
    return commands[opts.command](opts)


if __name__ == "__main__":
    sys.exit(main())
