"""``synthgate export``: a run's real, synthetic or real-panel transitions as a LeRobot v3.0 dataset."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import robots
import scenarios
from pipeline.checkpoint import CheckpointError
from robots import gaps
from synthgate.preflight import fail


def main(args: Sequence[str]) -> int:
    import argparse
    from pathlib import Path

    import numpy as np
    import yaml

    from pipeline import checkpoint, sources
    from pipeline.buffer import ReplayBuffer
    from pipeline.interchange import export_buffer
    from robots.lerobot_format import DatasetError

    parser = argparse.ArgumentParser(prog="synthgate export", description="Write a run's data as a LeRobot dataset.")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--what", choices=("real", "synthetic", "panels"), required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--episodes", type=int, default=None, help="export at most this many episodes")
    parser.add_argument("--video", action="store_true", help="render real episodes (plant replayed) as mp4; "
                        "--what real only")  # fmt: skip
    parser.add_argument("--source", default="model", help="--what synthetic: the source whose pool to export: "
                        "'model' (the world model's rollouts), 'sim', 'sim_sysid', 'sim_residual' or an imported "
                        "'generated:<generator>@<version>'")  # fmt: skip
    opts = parser.parse_args(list(args))
    if opts.source != "model" and opts.what != "synthetic":
        fail("export", f"--source {opts.source}: only --what synthetic has sources")
    if opts.video and opts.what != "real":  # issue 21: it used to write no video and say nothing
        fail("export", f"--video: --what {opts.what} writes no video; only --what real is rendered (the run's real "
                        "episodes, replayed on the plant from their seeds): drop --video")  # fmt: skip
    if opts.what == "panels":
        return export_panels(opts.run_dir, opts.out, opts.episodes)
    config_path = opts.run_dir / "config.yaml"
    if not config_path.is_file():
        fail("export", f"{config_path} does not exist: is {opts.run_dir} a synthgate run directory?")
    cfg = yaml.safe_load(config_path.read_text())
    try:
        found = checkpoint.load_latest(opts.run_dir / "checkpoints")
    except CheckpointError as err:
        fail("export", str(err))
    if found is None:
        fail("export", f"{opts.run_dir} has no checkpoint yet")
        return 2
    payload = found[1]
    pools = sources.pools(payload)
    if opts.what == "real":
        state = payload["buffer"]
    else:
        if opts.source not in pools:
            held = f"its synthetic pools: {', '.join(pools)} (--source NAME)" if pools else "it has no synthetic pool"
            why = "no model pool: it is not model-based" if opts.source == "model" else "no such source"
            fail("export", f"--source {opts.source}: {opts.run_dir} ({cfg['algo']['name']}) has {why}; {held}")
        state = pools[opts.source]
    buffer = ReplayBuffer(state["obs"].shape[1], state["act"].shape[1], state["capacity"])
    buffer.load_state_dict(state)
    robot = cfg["robot"]
    settings = cfg.get("robot_settings", {})

    def render(seed: np.ndarray, actions: np.ndarray) -> np.ndarray:
        env = robots.make(robot, **settings)
        env.reset(seed=int(seed))
        frames = [np.asarray(env.render())]
        for act in actions[:-1]:
            env.step(act)
            frames.append(np.asarray(env.render()))
        env.close()
        return np.stack(frames)

    try:
        summary = export_buffer(buffer, robot, opts.out, opts.what, max_episodes=opts.episodes,
                                render=render if opts.video else None,
                                generated=opts.source if opts.source.startswith("generated:") else None)  # fmt: skip
    except DatasetError as err:
        fail("export", str(err))
        return 2
    what = opts.what if opts.what == "real" else f"{opts.what} ({opts.source})"
    print(f"wrote {summary['episodes']} episodes, {summary['frames']} frames of {what} data to {summary['path']}")
    return 0


def export_panels(run_dir: Path, out: Path, max_episodes: int | None) -> int:
    """The run's real-panel episodes (as its gate report's panel specified them) as a LeRobot dataset.

    The panel is deterministic under its seed, so its episodes are recorded by running the run's
    policy on the same plants, seeds and chunks again; each exported episode's return is the one
    the gate scored. Origins name the plant and the condition (``<robot>/plant``, with a gap
    ``<robot>[<gap>@<hash8>]/plant``, then ``:<scenario>`` for a scenario's episodes),
    seeds are the panel's episode seeds.
    """
    import numpy as np

    from pipeline.buffer import ReplayBuffer, Source
    from pipeline.interchange import export_buffer
    from pipeline.runs import RunError, load_run
    from robots.lerobot_format import DatasetError
    from validation.panels import PanelSpec, record_real_panel
    from validation.report import ReportError, find_report, read_report

    try:
        report = read_report(find_report(run_dir))
        run = load_run(run_dir)
    except (ReportError, RunError) as err:
        fail("export", f"--what panels needs a validated run: {err}")
    ps = report.get("panel_spec")
    if not isinstance(ps, dict):
        fail("export", f"{run_dir}: the gate report has no panel_spec")
    try:
        chosen = [scenarios.get(name) for name in ps["scenarios"]]
    except scenarios.ScenarioError as err:
        fail("export", f"the gate report's scenarios: {err}")
    spec = PanelSpec(ps["robot"], tuple(chosen), ps["episodes"], ps["max_steps"], ps["seed"], ps["num_envs"],
                     dict(ps["robot_settings"]), ps.get("gap", "none"))  # fmt: skip  # reports before gaps: none
    episodes = record_real_panel(spec, run.actor)
    record = robots.get(spec.robot)
    total = sum(len(e["rew"]) for e in episodes)
    buffer = ReplayBuffer(record.layout.size, record.action_dim, max(total, 1))
    gap = gaps.get(spec.gap, spec.robot)
    plant = f"{spec.robot}/plant" if spec.gap == "none" else f"{spec.robot}[{gap.tag}]/plant"  # as training names it
    for e in episodes:
        origin = plant + ("" if e["condition"] == "nominal" else f":{e['condition']}")
        buffer.add(e["obs"], e["act"], e["rew"], e["next_obs"], e["terminated"], source=Source.REAL, origin=origin,
                   seed=np.full(len(e["rew"]), e["seed"], dtype=np.int64))  # fmt: skip
    try:
        summary = export_buffer(buffer, spec.robot, out, "real", max_episodes=max_episodes,
                                task=f"{spec.robot}: real panel of {run.name}")  # fmt: skip
    except DatasetError as err:
        fail("export", str(err))
    print(
        f"wrote {summary['episodes']} real-panel episodes ({summary['frames']} frames) of {run.name} to "
        f"{summary['path']} (panel seed {spec.seed}; conditions {', '.join(c.name for c in spec.conditions())})"
    )
    return 0
