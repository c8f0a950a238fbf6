"""A/B timing of the synthetic panel in one process: the loop and prediction before issue 6's
throughput work against each lever added in turn, on cheetah-run with MBPO's ensemble.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/ab_panel.py [--repeats 3] [--episodes 512] [--max-steps 1000]

Variants (cumulative):

* ``before``: every row of the batch stepped to the end (ended rows too), every elite computed for
  every row, then one drawn elite kept per row, and the elites' disagreement computed with
  ``Tensor.std`` (the code as it was, copied here);
* ``no disagreement``: the same without the disagreement (lever 2);
* ``routed``: each row computed by its drawn elite only (``predict(disagreement=False)``, lever 1);
* ``routed + compacted``: ended rows leave the batch (:func:`validation.panels.synthetic_panel`
  as it is now, lever 3).

All variants make the same generator draws, so they compute the same episodes up to float
rounding; the script prints how far each variant's episodes are from ``before`` (max |return
difference|, episodes whose length or failure differs). Variants run alternately (round-robin)
so load changes on a shared machine hit all alike; rates are episode-steps per CPU-second and per
wall-second (medians), as in ``benchmarks/panel_throughput.py``, whose model and actor this uses.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import panel_throughput

import pipeline.model_env as model_env
import robots
import scenarios
from pipeline.model_env import ModelEnv
from pipeline.sac import Actor
from pipeline.world_model import EnsembleDynamics, predict
from validation.panels import (
    SYNTHETIC_STREAM,
    Episodes,
    PanelSpec,
    Starts,
    _contexts,
    failure_fn,
    panel_starts,
    synthetic_panel,
)

Predict = Callable[..., dict[str, Any]]


def predict_before(
    model: EnsembleDynamics,
    obs: torch.Tensor,
    act: torch.Tensor,
    generator: torch.Generator,
    ctx: torch.Tensor | None = None,
    *,
    disagreement: bool = True,
    draws: None = None,
) -> dict[str, Any]:
    """``predict`` as it was before: every elite for every row, then the drawn one kept per row
    (``draws`` is accepted for :class:`ModelEnv`'s call, and must be None)."""
    assert draws is None
    with torch.no_grad():
        mean, logvar = model.raw(obs, act, ctx, members=model.elite_idx)
        elites, var = model.decode(obs, mean, logvar)
        n = obs.shape[0]
        pick = torch.randint(0, model.hp.elites, (n,), generator=generator, device=generator.device).to(obs.device)
        rows = torch.arange(n, device=obs.device)
        mu, sd = elites[pick, rows], var[pick, rows].sqrt()
        noise = torch.randn(mu.shape, generator=generator, device=generator.device).to(obs.device)
        sample = mu + sd * noise
        spread = elites[..., 1:].std(dim=0).mean(dim=-1) if disagreement else None
    return {"reward": sample[:, 0], "next_obs": sample[:, 1:], "disagreement": spread, "elite": pick}


def panel_uncompacted(
    spec: PanelSpec, starts: Starts, actor: Actor, model: EnsembleDynamics, pred: Predict
) -> dict[str, Episodes]:
    """``validation.panels.synthetic_panel``'s loop as it was before (one policy): the whole batch is
    stepped until every row has ended, through ``ModelEnv`` with ``pred`` as its prediction."""
    record = robots.get(spec.robot)
    conds = spec.conditions()
    obs0 = torch.as_tensor(np.concatenate([starts.obs[c.name] for c in conds]))
    sizes = [starts.obs[c.name].shape[0] for c in conds]
    ctx = _contexts(spec, starts, model, None, torch.device("cpu"))
    row_cond = torch.repeat_interleave(torch.arange(len(conds)), torch.as_tensor(sizes))
    fail_fns = [failure_fn(record, c.predicates) for c in conds]
    env = ModelEnv(model, record.termination, 1.0)
    n = obs0.shape[0]
    gen = torch.Generator().manual_seed(int(np.random.SeedSequence([spec.seed, SYNTHETIC_STREAM]).generate_state(1)[0]))
    obs = obs0.clone()
    ret = torch.zeros(n, dtype=torch.float64)
    length, fstep = torch.zeros(n, dtype=torch.int64), torch.zeros(n, dtype=torch.int64)
    failed, invalid = torch.zeros(n, dtype=torch.bool), torch.zeros(n, dtype=torch.bool)
    alive = torch.ones(n, dtype=torch.bool)
    saved = model_env.predict
    model_env.predict = pred
    try:
        with torch.inference_mode():
            for t in range(spec.max_steps):
                act = actor.deterministic(obs)
                res = env.step(obs, act, gen, ctx)
                ok = alive & res.valid
                ret += torch.where(ok, res.reward, 0.0).double()
                length += ok.long()
                invalid |= alive & ~res.valid
                now = res.terminated.clone()  # an early end fails the episode (issue 32), as in synthetic_panel
                for ci, fn in enumerate(fail_fns):
                    now |= (row_cond == ci) & torch.as_tensor(fn(res.next_obs), dtype=torch.bool)
                now &= ok
                fstep = torch.where(now & ~failed, t + 1, fstep)
                failed |= now
                alive = ok & ~res.terminated
                obs = torch.where(alive.unsqueeze(-1), res.next_obs, obs)
                if not bool(alive.any()):
                    break
    finally:
        model_env.predict = saved
    out, begin = {}, 0
    for c, size in zip(conds, sizes, strict=True):
        ret_c, failed_c, fstep_c, length_c, invalid_c = (x[begin : begin + size].numpy() for x in
                                                         (ret, failed, fstep, length, invalid))  # fmt: skip
        out[c.name] = Episodes(ret_c, failed_c, fstep_c, length_c, invalid_c, np.ones(size, dtype=bool))
        begin += size
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=512, help="synthetic episodes per condition")
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--model", choices=sorted(panel_throughput.MODELS), default="mbpo")
    opts = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    record = robots.get(panel_throughput.ROBOT)
    actor = Actor(record.layout.size, record.action_dim, 256, 2, -5.0, 2.0).eval()
    model = panel_throughput.fitted_model(opts.model, 5000)
    spec = PanelSpec(panel_throughput.ROBOT, (scenarios.get("dead_motor"),), episodes=opts.episodes,
                     max_steps=opts.max_steps)  # fmt: skip
    starts = panel_starts(spec)

    def routed(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return predict(*args, **{**kwargs, "disagreement": False})

    def no_disagreement(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return predict_before(*args, **{**kwargs, "disagreement": False})

    variants: dict[str, Callable[[], dict[str, Episodes]]] = {
        "before": lambda: panel_uncompacted(spec, starts, actor, model, predict_before),
        "no disagreement": lambda: panel_uncompacted(spec, starts, actor, model, no_disagreement),
        "routed": lambda: panel_uncompacted(spec, starts, actor, model, routed),
        "routed + compacted": lambda: synthetic_panel(spec, starts, {"policy": actor}, model)["policy"],
    }
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    wall: dict[str, list[float]] = {k: [] for k in variants}
    results: dict[str, dict[str, Episodes]] = {}
    for _ in range(opts.repeats):
        for name, run in variants.items():
            c0, t0 = time.process_time(), time.perf_counter()
            results[name] = run()
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - t0)
    base = results["before"]
    steps = {k: sum(int(e.length.sum()) for e in r.values()) for k, r in results.items()}
    base_cpu = statistics.median(cpu["before"])
    print(f"{len(spec.conditions())} conditions x {opts.episodes} episodes, {opts.max_steps} steps, model "
          f"{opts.model}, 1 thread, {opts.repeats} repeats")  # fmt: skip
    print(f"{'variant':20s} {'steps/CPU-s':>12s} {'steps/wall-s':>13s} {'speed-up (CPU)':>15s}   vs before")
    for name in variants:
        c, w = statistics.median(cpu[name]), statistics.median(wall[name])
        diff = max(float(np.abs(results[name][k].returns - base[k].returns).max()) for k in base)
        other = 0
        for k, ref in base.items():
            mine = results[name][k]
            other += int(((mine.length != ref.length) | (mine.failed != ref.failed)).sum())
        print(f"{name:20s} {steps[name] / c:12,.0f} {steps[name] / w:13,.0f} {base_cpu / c:15.2f}   "
              f"max |return diff| {diff:.3g}, episodes with other length/failure: {other}")  # fmt: skip


if __name__ == "__main__":
    main()
