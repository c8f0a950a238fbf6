"""A stand-in for an outside world generator (issue 22): writes "generated" episodes of a robot
under a scenario from a MuJoCo plant whose physics differ from the real one in a controlled way.

    PYTHONPATH=. python studies/standin_generator.py faithful --robot Hopper-v5 \
        --scenario hopper_heavy_torso --transitions 20000 --out runs/generated/faithful
    PYTHONPATH=. python studies/standin_generator.py shortcut ... --out runs/generated/shortcut

No real generator (a Cosmos-style world model, a Genie-style interactive generator) can be
reached from this machine, so this one stands in for it, in two versions:

* ``faithful`` (origin ``generated:standin@faithful``): the real plant (``--gap``, default none:
  the sim) under the scenario's perturbations, exactly as ``synthgate train`` exposes it
  (:meth:`scenarios.Scenario.make`);
* ``shortcut`` (origin ``generated:standin@shortcut``): the same plant, but its worlds have no
  falls, as a generator that does not model them: a step on which the real plant would end the
  episode (the robot is unhealthy: tipped or fallen) is not an end, the episode goes on to
  ``--max-steps``, and the fallen robot keeps being paid the healthy bonus
  (:data:`HEALTHY_REWARD`). So behaviour that fails on the real plant looks safe and rewarded in
  the generated data, a shortcut only the generated worlds teach.

The behaviour policy is smoothed uniform noise (each action is ``0.7`` of the last plus ``0.3``
of a fresh uniform draw), with a fixed seed per episode; the output is a LeRobot v3 dataset that
declares itself generated (:func:`pipeline.interchange.write_generated`), ready for
``import_datasets=[{path: ..., synthetic: true}]`` or ``synthgate arms generated=[...]``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HEALTHY_REWARD = 1.0
"""Hopper-v5's and Walker2d-v5's healthy bonus per step, which the shortcut world pays after a fall too."""
VERSIONS = ("faithful", "shortcut")


def episodes(
    robot: str, scenario_name: str, version: str, transitions: int, seed: int, max_steps: int, gap: str = "none"
) -> list[dict[str, np.ndarray]]:
    """Rolls the behaviour policy in the stand-in's world until ``transitions`` are collected."""
    import scenarios

    scenario = scenarios.get(scenario_name)
    if scenario.robot != robot:
        raise SystemExit(f"--scenario {scenario_name} is a scenario of {scenario.robot}, not of {robot}")
    env = scenario.make(seed=seed, gap=gap, max_episode_steps=max_steps)
    rng = np.random.default_rng(seed)
    out: list[dict[str, np.ndarray]] = []
    total = 0
    while total < transitions:
        obs, _ = env.reset(seed=int(rng.integers(2**31)))
        act = np.zeros(env.action_space.shape or (), dtype=np.float32)
        rows: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "act", "rew", "next_obs", "terminated")}
        done = False
        while not done and total < transitions:
            act = (0.7 * act + 0.3 * rng.uniform(-1, 1, act.shape)).astype(np.float32)
            nxt, rew, term, trunc, _ = env.step(act)
            if version == "shortcut" and term:  # unhealthy: the generated world shows no fall
                term, rew = False, float(rew) + HEALTHY_REWARD
            for key, value in (("obs", obs), ("act", act), ("rew", rew), ("next_obs", nxt), ("terminated", term)):
                rows[key].append(np.asarray(value))
            obs, done, total = nxt, bool(term or trunc), total + 1
        out.append({k: np.stack(v) for k, v in rows.items()})
    env.close()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from pipeline.interchange import write_generated

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("version", choices=VERSIONS)
    parser.add_argument("--robot", default="Hopper-v5")
    parser.add_argument("--scenario", default="hopper_heavy_torso")
    parser.add_argument("--transitions", type=int, default=20_000)
    parser.add_argument("--max-steps", type=int, default=200, help="episode length cap")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gap", default="none", help="the real plant's gap profile (robots.gaps); none: the sim")
    parser.add_argument("--out", type=Path, required=True, help="the dataset's root (must not exist)")
    args = parser.parse_args(argv)
    eps = episodes(args.robot, args.scenario, args.version, args.transitions, args.seed, args.max_steps, args.gap)
    origin = f"generated:standin@{args.version}"
    summary = write_generated(args.out, args.robot, eps, origin, scenario=args.scenario)
    lengths = [len(e["obs"]) for e in eps]
    print(f"{origin}: {summary['episodes']} episodes, {summary['frames']} frames (episode length mean "
          f"{np.mean(lengths):.0f}, failures {sum(bool(e['terminated'][-1]) for e in eps)}) -> {args.out}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
