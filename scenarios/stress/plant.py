"""Plant episodes at given perturbation parameters: the ground truth every phase is checked on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import robots
from pipeline.sac import Actor
from robots.context import EVENT_FAMILIES, encode
from robots.perturbations import Perturbation, PerturbedEnv
from scenarios.library import Scenario


@dataclass
class PlantEpisodes:
    """Outcomes of plant episodes, in the order they were asked for."""

    failed: np.ndarray
    t_fail: np.ndarray
    """Control step of the first failure (−1: none)."""
    steps: int
    least_margin: np.ndarray | None = None
    """The least margin of the predicate over each episode's observations (None: no margin asked for)."""


def plant_episodes(
    scenario: Scenario,
    settings: dict[str, Any],
    actor: Actor,
    points: Sequence[list[Perturbation]],
    seeds: Sequence[int],
    horizon: int,
    lockstep: int = 16,
    on_step: Callable[[int, np.ndarray, np.ndarray, np.ndarray, float, np.ndarray], None] | None = None,
    explore: Callable[[int], bool] | None = None,
    generator: torch.Generator | None = None,
    margin: Callable[[np.ndarray], Any] | None = None,
) -> PlantEpisodes:
    """Runs one plant episode per point (reset with its seed) under the policy's deterministic
    action, ``lockstep`` episodes at a time so the policy runs batched. An episode fails when the
    scenario's predicate fires on an observation; it ends at failure, termination or ``horizon``.

    ``on_step(episode, obs, act, next_obs, reward, ctx)`` sees every transition (model data);
    episodes for which ``explore(episode)`` is true sample the stochastic policy from ``generator``;
    with ``margin``, each episode's least margin of the predicate is recorded too.
    """
    record = robots.get(scenario.robot)
    predicate = record.predicate(scenario.predicate)
    layout = robots.context_layout(scenario.robot)
    n = len(points)
    failed, t_fail = np.zeros(n, dtype=bool), np.full(n, -1, dtype=np.int64)
    least = np.full(n, np.inf)
    envs = [PerturbedEnv(robots.make(scenario.robot, **{**settings, "max_episode_steps": horizon}),
                         list(scenario.perturbations)) for _ in range(min(lockstep, n))]  # fmt: skip
    slots: list[int | None] = [None] * len(envs)
    obs: list[np.ndarray] = [np.zeros(0)] * len(envs)
    ctx: list[np.ndarray] = [np.zeros(0)] * len(envs)
    t: list[int] = [0] * len(envs)
    nxt, steps = 0, 0

    def start(s: int) -> None:
        nonlocal nxt
        if nxt >= n:
            slots[s] = None
            return
        env = envs[s]
        env.perturbations = list(points[nxt])
        o, info = env.reset(seed=int(seeds[nxt]))
        slots[s], obs[s], t[s] = nxt, o, 0
        ctx[s] = encode([a for a in info["perturbations"] if a["family"] not in EVENT_FAMILIES], layout)
        nxt += 1

    for s in range(len(envs)):
        start(s)
    try:
        while any(x is not None for x in slots):
            live = [s for s in range(len(envs)) if slots[s] is not None]
            batch = torch.as_tensor(np.stack([obs[s] for s in live]), dtype=torch.float32)
            with torch.no_grad():
                act = actor.deterministic(batch)
                if explore is not None and generator is not None:
                    eps = torch.randn(act.shape, generator=generator)
                    sampled, _ = actor.sample(batch, eps)
                    pick = torch.tensor([explore(int(slots[s])) for s in live])  # type: ignore[arg-type]
                    act = torch.where(pick.unsqueeze(-1), sampled, act)
            acts = act.numpy()
            for row, s in enumerate(live):
                episode = int(slots[s])  # type: ignore[arg-type]
                o2, r, terminated, truncated, _ = envs[s].step(acts[row])
                steps += 1
                if on_step is not None:
                    on_step(episode, obs[s], acts[row], o2, float(r), ctx[s])
                t[s] += 1
                if margin is not None:
                    least[episode] = min(least[episode], float(margin(o2[None])[0]))
                if bool(predicate(o2[None])[0]):
                    failed[episode], t_fail[episode] = True, t[s]
                    start(s)
                elif terminated or truncated:
                    start(s)
                else:
                    obs[s] = o2
    finally:
        for env in envs:
            env.close()
    return PlantEpisodes(failed, t_fail, steps, least if margin is not None else None)
