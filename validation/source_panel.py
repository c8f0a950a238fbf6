"""The synthetic panel through a sim-stepping source (``sim``, ``sim_sysid``, ``sim_residual``):
the candidate's own source as its checkpoint left it (:func:`pipeline.sources.saved_env`), not a
world model it does not have.

Each episode starts from the real panel's initial observation; a scenario episode's physics is the
source's sim edited by the parameters the real plant drew for it on reset (a payload is a mass, a
weak actuator a gear), so the same draws and starts are matched across policies and panels. The
policies act deterministically and the sim has no noise, so the panel needs no random numbers. A
scenario whose perturbations are not model edits fired on reset (a push mid-episode, latency,
sensor noise) cannot be replayed in a one-step sim: it is refused, naming the scenario.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

import robots
from pipeline.sac import Actor
from pipeline.sim_env import SimEnv
from robots.perturbations import MODEL_FAMILIES
from validation.panels import Episodes, PanelSpec, Results, Starts, book_failures, condition_fns


class SourcePanelError(ValueError):
    """A condition the source cannot replay."""


def _physics(spec: PanelSpec, starts: Starts, env: SimEnv) -> torch.Tensor:
    """Each episode's index into the models :meth:`SimEnv.use` builds (nominal episodes: the base sim)."""
    draws: list[list[dict]] = [[]]  # index 0: the base sim
    index: list[int] = []
    for cond in spec.conditions():
        if cond.scenario is not None:
            other = sorted({p.family for p in cond.scenario.perturbations
                            if p.family not in MODEL_FAMILIES or p.trigger.hook != "on_reset"})  # fmt: skip
            if other:
                raise SourcePanelError(f"{cond.name}: the synthetic panel through a sim source replays model edits "
                                       f"drawn on reset only, not {other}")  # fmt: skip
        for drawn in starts.draws[cond.name]:
            index.append(0 if cond.scenario is None else len(draws))
            if cond.scenario is not None:
                draws.append(list(drawn))
    env.use(draws)
    return torch.as_tensor(np.asarray(index, dtype=np.float32))[:, None]


def source_panel(spec: PanelSpec, starts: Starts, policies: Mapping[str, Actor], env: SimEnv) -> Results:
    """Episodes of every policy through ``env`` from the real panel's starts and draws.

    Raises:
        SourcePanelError: a scenario the source cannot replay.
    """
    record = robots.get(spec.robot)
    conds = spec.conditions()
    obs0 = torch.as_tensor(np.concatenate([starts.obs[c.name] for c in conds]))
    sizes = [starts.obs[c.name].shape[0] for c in conds]
    physics = _physics(spec, starts, env)
    row_cond = torch.repeat_interleave(torch.arange(len(conds)), torch.as_tensor(sizes))
    fail_fns = [condition_fns(record, c) for c in conds]
    n = obs0.shape[0]
    gen = torch.Generator()  # SimEnv draws nothing
    results: Results = {}
    for name, actor in policies.items():
        ret = torch.zeros(n, dtype=torch.float64)
        length, fstep = torch.zeros(n, dtype=torch.int64), torch.zeros(n, dtype=torch.int64)
        failed, invalid = torch.zeros(n, dtype=torch.bool), torch.zeros(n, dtype=torch.bool)
        named = torch.zeros(n, dtype=torch.bool)
        live, obs, live_phys, live_cond = torch.arange(n), obs0.clone(), physics, row_cond
        with torch.inference_mode():
            for t in range(spec.max_steps):
                res = env.step(obs, actor.deterministic(obs), gen, live_phys)
                ok = res.valid
                ret[live] += torch.where(ok, res.reward, 0.0).double()
                length[live] += ok.long()
                invalid[live] |= ~ok
                book_failures(fail_fns, live, live_cond, res.next_obs, res.terminated & ok, ok, t, failed, fstep, named)
                going = ok & ~res.terminated
                live, obs, live_phys, live_cond = live[going], res.next_obs[going], live_phys[going], live_cond[going]
                if live.shape[0] == 0:
                    break
        per: dict[str, Episodes] = {}
        begin = 0
        for c, size in zip(conds, sizes, strict=True):
            sl = slice(begin, begin + size)
            per[c.name] = Episodes(ret[sl].numpy(), failed[sl].numpy(), fstep[sl].numpy(), length[sl].numpy(),
                                   invalid[sl].numpy(), np.ones(size, dtype=bool), named[sl].numpy())  # fmt: skip
            begin += size
        results[name] = per
    return results
