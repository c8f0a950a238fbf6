"""Panel throughput on cheetah-run: plant episode-steps per second on the real panel against world-model
episode-steps per second on the synthetic panel, for the same conditions and episode length.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/panel_throughput.py [--model mbpo|small] [--threads 1]

* real panel: ``--real-episodes`` plant episodes per condition (nominal and ``dead_motor``), 1000
  steps each, ``--num-envs`` plants stepped together, the policy batched over them
  (:func:`validation.panels.real_panel`); building a plant costs about as much as a few thousand
  steps, so the default runs four episodes per plant;
* synthetic panel: ``--synthetic-episodes`` world-model episodes per condition, every episode a row
  of one batch (:func:`validation.panels.synthetic_panel`); its time includes the plant resets
  that make the matched initial states and draws (:func:`validation.panels.panel_starts`: one
  reset per episode, and a dm_control cheetah reset runs 200 physics steps to settle). The rate
  of the stepping alone (starts given, which is how ``synthgate validate`` runs it, on the real
  panel's starts) is reported too.

The world model is context-conditioned (as in the mixed arm) and fitted briefly on random plant
transitions, so its prediction bounds are real ones; the share of synthetic steps dropped as out
of range is printed, and only steps that were kept count. The policy is SAC's 2 x 256 actor
(``--actor-hidden`` sets the width), untrained: its weights do not change the cost. ``--model mbpo``
is MBPO's ensemble (7 members, 4 x 200); ``small`` is 5 members of 2 x 64. Figures are medians of ``--repeats`` runs.

Rates are given per second of this process's CPU time (``time.process_time``) as well as per
second of wall-clock: the project's machines are shared, and under contention the wall-clock
figures measure the other tenants as much as the panels. With one thread the CPU-time rate is what
an idle core would do.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

import robots
import scenarios
from pipeline.config import AlgoConfig, ModelConfig, model_hyper
from pipeline.sac import Actor
from pipeline.world_model import EnsembleDynamics, fit, make_optimizer
from robots.context import encode
from robots.perturbations import PerturbedEnv
from validation.panels import PanelSpec, panel_starts, real_panel, synthetic_panel

ROBOT = "cheetah-run"
MODELS = {
    "mbpo": ModelConfig(),
    "small": ModelConfig(members=5, elites=3, hidden=64, depth=2, weight_decay=[2.5e-5, 5e-5, 1e-4]),
}


def fitted_model(kind: str, steps: int) -> EnsembleDynamics:
    """A context-conditioned world model fitted (a few epochs) on random-action plant transitions."""
    record = robots.get(ROBOT)
    layout = robots.context_layout(ROBOT)
    rng = np.random.default_rng(0)
    rows: list[list[np.ndarray]] = [[], [], [], [], []]
    scenario = scenarios.get("dead_motor")
    env = PerturbedEnv(robots.make(ROBOT, max_episode_steps=250), list(scenario.perturbations))
    for episode in range(steps // 250):
        obs, info = env.reset(seed=episode)
        ctx = encode(info["perturbations"], layout)
        for _ in range(250):
            act = rng.uniform(-1, 1, record.action_dim).astype(np.float32)
            nxt, rew, *_ = env.step(act)
            for store, v in zip(rows, (obs, act, rew, nxt, ctx), strict=True):
                store.append(np.asarray(v, dtype=np.float32))
            obs = nxt
    env.close()
    cfg = dataclasses.replace(AlgoConfig(name="ftfl", model_based=True), model=dataclasses.replace(
        MODELS[kind], max_epochs=5))  # fmt: skip
    model = EnsembleDynamics(record.layout.size, record.action_dim, model_hyper(cfg), layout.size)
    obs_t, act_t, rew_t, nxt_t, ctx_t = (torch.as_tensor(np.stack(r)) for r in rows)
    fit(model, make_optimizer(model), obs_t, act_t, rew_t, nxt_t, torch.Generator().manual_seed(0), ctx_t)
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="mbpo")
    parser.add_argument("--real-episodes", type=int, default=128)
    parser.add_argument("--synthetic-episodes", type=int, default=512)
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--actor-hidden", type=int, default=256, help="width of the actor's 2 hidden layers")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="also write the result as JSON here (results/performance/panel_throughput.json)")
    opts = parser.parse_args()
    torch.set_num_threads(opts.threads)
    torch.manual_seed(0)
    record = robots.get(ROBOT)
    actor = Actor(record.layout.size, record.action_dim, opts.actor_hidden, 2, -5.0, 2.0).eval()
    model = fitted_model(opts.model, 5000)
    scenario = (scenarios.get("dead_motor"),)

    def spec(episodes: int) -> PanelSpec:
        return PanelSpec(ROBOT, scenario, episodes=episodes, max_steps=opts.max_steps, num_envs=opts.num_envs)

    keys = ("real_cpu", "real_wall", "syn_cpu", "syn_wall", "syn_step_cpu", "syn_step_wall")
    rates: dict[str, list[float]] = {k: [] for k in keys}
    dropped = []
    for _ in range(opts.repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        real, _ = real_panel(spec(opts.real_episodes), {"policy": actor})
        real_steps = sum(int(e.length.sum()) for e in real["policy"].values())
        rates["real_cpu"].append(real_steps / (time.process_time() - c0))
        rates["real_wall"].append(real_steps / (time.perf_counter() - t0))
        c0, t0 = time.process_time(), time.perf_counter()
        s = spec(opts.synthetic_episodes)
        starts = panel_starts(s)
        c1, t1 = time.process_time(), time.perf_counter()
        synth = synthetic_panel(s, starts, {"policy": actor}, model)
        c2, t2 = time.process_time(), time.perf_counter()
        syn_steps = sum(int(e.length.sum()) for e in synth["policy"].values())
        rates["syn_cpu"].append(syn_steps / (c2 - c0))
        rates["syn_wall"].append(syn_steps / (t2 - t0))
        rates["syn_step_cpu"].append(syn_steps / (c2 - c1))
        rates["syn_step_wall"].append(syn_steps / (t2 - t1))
        dropped.append(float(np.mean([e.invalid.mean() for e in synth["policy"].values()])))
    med = {k: statistics.median(v) for k, v in rates.items()}
    real_rate, syn_rate, step_rate = med["real_cpu"], med["syn_cpu"], med["syn_step_cpu"]
    result = {
        "robot": ROBOT, "model": opts.model, "actor_hidden": opts.actor_hidden, "threads": opts.threads,
        "max_steps": opts.max_steps,
        "real_episodes_per_condition": opts.real_episodes, "synthetic_episodes_per_condition": opts.synthetic_episodes,
        "real_episode_steps_per_cpu_s": round(real_rate), "synthetic_episode_steps_per_cpu_s": round(syn_rate),
        "ratio_cpu": round(syn_rate / real_rate, 2), "real_episode_steps_per_wall_s": round(med["real_wall"]),
        "synthetic_episode_steps_per_wall_s": round(med["syn_wall"]),
        "ratio_wall": round(med["syn_wall"] / med["real_wall"], 2),
        "synthetic_stepping_only_per_cpu_s": round(step_rate),
        "synthetic_stepping_only_per_wall_s": round(med["syn_step_wall"]),
        "ratio_stepping_only_cpu": round(step_rate / real_rate, 2),
        "ratio_stepping_only_wall": round(med["syn_step_wall"] / med["real_wall"], 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "synthetic_dropped_share": round(float(np.median(dropped)), 4),
        "repeats": opts.repeats, "per_repeat": {k: [round(x) for x in v] for k, v in rates.items()},
        "torch": torch.__version__, "machine": platform.machine(), "cpu_count": os.cpu_count(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "command": "PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/panel_throughput.py " + " ".join(sys.argv[1:]),
    }  # fmt: skip
    print(
        f"real panel:      {real_rate:10.0f} episode-steps per CPU-second, {med['real_wall']:8.0f} per wall-second "
        f"({opts.real_episodes} episodes x 2 conditions)"
    )
    print(
        f"synthetic panel: {syn_rate:10.0f} episode-steps per CPU-second, {med['syn_wall']:8.0f} per wall-second "
        f"({opts.synthetic_episodes} episodes x 2 conditions, model {opts.model}, {opts.threads} thread(s); "
        f"dropped {result['synthetic_dropped_share']:.1%}), its starts' plant resets included"
    )
    print(
        f"  stepping only: {step_rate:10.0f} episode-steps per CPU-second, {med['syn_step_wall']:8.0f} per wall-second "
        "(starts given, as synthgate validate gives it the real panel's)"
    )
    print(
        f"ratio:           {syn_rate / real_rate:10.1f}x (CPU time), {med['syn_wall'] / med['real_wall']:.1f}x (wall); "
        f"stepping only {step_rate / real_rate:.1f}x (CPU time), {med['syn_step_wall'] / med['real_wall']:.1f}x (wall)"
    )
    print(json.dumps(result))
    if opts.out:
        Path(opts.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
