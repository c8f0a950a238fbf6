"""The registry's robots as Gymnasium environments, so the plants drop into other libraries' code.

    import gymnasium as gym
    import synthgate.gymnasium_envs  # registers synthgate/<robot> for every registered robot

    env = gym.make("synthgate/walker-walk")                                  # the nominal plant
    env = gym.make("synthgate/walker-walk", scenario="push_recovery")        # under a scenario
    env = gym.make("synthgate/walker-walk", perturbations=[Perturbation(...)], max_episode_steps=500)
    env = gym.make("synthgate.gymnasium_envs:synthgate/Hopper-v5")           # no import needed

The environment is exactly ``robots.make`` (flat float32 observations, actions in [-1, 1], the
robot's own episode cap), wrapped in ``robots.perturbations.PerturbedEnv`` when a scenario (a name,
a path, or a name from ``$SYNTHGATE_SCENARIO_PATH``, as everywhere in synthgate) or perturbations
are given. Keyword arguments other than those are the robot's settings (``synthgate robots``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym

import robots
import scenarios
from robots.perturbations import Perturbation, PerturbedEnv

NAMESPACE = "synthgate"


def make_env(
    robot: str,
    scenario: str | None = None,
    perturbations: Sequence[Perturbation] = (),
    seed: int | None = None,
    render_mode: str | None = None,
    **settings: Any,
) -> gym.Env[Any, Any]:
    """The plant of ``robot``, under ``scenario``'s perturbations and ``perturbations`` if given."""
    if render_mode not in (None, "rgb_array"):
        raise ValueError(f"render_mode={render_mode!r}: synthgate's plants render rgb_array only")
    env = robots.make(robot, seed=seed, **settings)
    chosen = list(perturbations)
    if scenario is not None:
        spec = scenarios.get(scenario)
        if spec.robot != robot:
            env.close()
            raise ValueError(f"scenario {spec.name} is a scenario of {spec.robot}, not of {robot}")
        chosen = [*spec.perturbations, *chosen]
    return PerturbedEnv(env, chosen, seed=seed) if chosen else env


def register() -> list[str]:
    """Registers ``synthgate/<robot>`` for every registered robot (again: a no-op); returns the ids."""
    ids = []
    for name in robots.names():
        env_id = f"{NAMESPACE}/{name}"
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=f"{__name__}:make_env", kwargs={"robot": name})
        ids.append(env_id)
    return ids


IDS = register()
