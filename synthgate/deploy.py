"""``synthgate deploy export|verify|run``: the command line over :mod:`deploy`.

This module sees every part (it sits above them): it reads a run's checkpoint and config with the
training code, builds the SAC actor, and hands ``deploy`` a plain torch module (``tanh(mean)``).
``deploy`` itself never imports the training code.

Exit codes: 0 done; 2 usage error; 3 export refused by the gate, or a run ended by a safety stop;
4 a bundle refused on load (tampered, incomplete); 130 a run ended by SIGINT (clean shutdown).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch
from torch import nn

import robots
from deploy.bundle import Bundle, BundleError, GateRefusal, check_gate, load_bundle, make_bundle, sha256_file
from deploy.export import ExportError, Normalization, export_policy
from pipeline.runs import Run, RunError, load_run

EXIT_REFUSED, EXIT_BAD_BUNDLE, EXIT_SIGINT = 3, 4, 130


def _fail(message: str, code: int = 2) -> NoReturn:
    print(f"synthgate deploy: error: {message}", file=sys.stderr)
    raise SystemExit(code)


class DeterministicActor(nn.Module):
    """The SAC actor's mode, ``tanh(mean)`` (``pipeline.sac.Actor.deterministic``), as a plain module."""

    def __init__(self, actor: nn.Module) -> None:
        super().__init__()
        self.actor = actor

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.actor.deterministic(obs)  # type: ignore[operator]
        return out


def load_run_policy(run_dir: Path) -> tuple[Run, nn.Module]:
    """A run (``pipeline.runs.load_run``: config, newest good checkpoint) and its deterministic policy."""
    try:
        run = load_run(run_dir, payload=True)
    except RunError as err:
        _fail(f"{err}; nothing to export")
    return run, DeterministicActor(run.actor.cpu().eval()).eval()


def _ledger_summary(run_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    summary = run_dir / "summary.json"
    if summary.is_file():
        data = json.loads(summary.read_text())
        out["summary_json"] = {k: data.get(k) for k in ("robot", "algo", "seed", "steps", "updates",
                                                          "eval_return_mean", "ledger")}  # fmt: skip
    ledger = run_dir / "ledger.jsonl"
    if ledger.is_file():
        events = [json.loads(line) for line in ledger.read_text().splitlines() if line.strip()]
        books = [e for e in events if e.get("kind") in ("window", "final")]
        out["ledger_jsonl_last"] = books[-1] if books else None
    if not out:
        _fail(f"{run_dir} has neither summary.json nor ledger.jsonl: no ledger summary to ship")
    return out


def export_command(args: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="synthgate deploy export",
                                     description="Export a promoted run's policy as a deployable bundle.")  # fmt: skip
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="bundle directory to create")
    parser.add_argument("--override", default=None, metavar="REASON",
                        help="export although the gate did not promote the run; the reason is recorded")  # fmt: skip
    parser.add_argument("--parity-random", type=int, default=1000, help="random observations for the ONNX check")
    opts = parser.parse_args(list(args))
    run, policy = load_run_policy(opts.run_dir)
    cfg, ckpt_path, payload = run.config, run.checkpoint, run.payload
    assert payload is not None  # loaded with payload=True
    robot = cfg.robot
    gate = check_gate(opts.run_dir, robot)
    if not gate.promoted and opts.override is None:
        print(f"synthgate deploy export: refused: {'; '.join(gate.problems)}", file=sys.stderr)
        if gate.failed_rules:
            print(f"failed rules: {', '.join(gate.failed_rules)}", file=sys.stderr)
        print('pass --override "<reason>" to export anyway (recorded in the manifest, printed on every load)',
              file=sys.stderr)  # fmt: skip
        return EXIT_REFUSED
    if opts.out.exists():
        _fail(f"--out {opts.out} already exists; choose a new bundle directory")
    record = robots.get(robot)
    settings = dict(cfg.robot_settings)
    env: Any = robots.make(robot, **settings)
    dt = float(env.unwrapped.control_timestep)
    ctrlrange = np.asarray(env.unwrapped.mj_model.actuator_ctrlrange, dtype=np.float64)
    env.close()
    from deploy.mujoco_backend import zero_command

    buf = payload["buffer"]
    real = buf["obs"][: int(buf["size"])][buf["source"][: int(buf["size"])] == 0].numpy()
    staging = opts.out.with_name(f".{opts.out.name}.staging")
    try:
        result = export_policy(
            policy, record.layout.size, record.action_dim, staging,
            normalization=Normalization("identity", note="synthgate's SAC actor takes raw observations "
                                                         "(no observation normalization in training)"),
            real_observations=real[:5000], n_random=opts.parity_random,
        )  # fmt: skip
        sections = {
            "robot": {
                "name": robot,
                "observation_layout": record.layout.describe(),
                "observation_columns": record.layout.column_names(),
                "obs_dim": record.layout.size,
                "observed_range": {"min": real.min(0).tolist(), "max": real.max(0).tolist(), "n": len(real),
                                   "from": "the run's real replay buffer"} if len(real) else None,
                "action_dim": record.action_dim,
                "action_bounds": {"low": [-1.0] * record.action_dim, "high": [1.0] * record.action_dim,
                                  "units": "normalized: [-1, 1] maps linearly onto the plant's ctrlrange",
                                  "plant_ctrlrange": ctrlrange.tolist()},
                "safe_action": zero_command(ctrlrange).tolist(),
                "failure_predicates": sorted(record.predicates),
            },
            "control": {"rate_hz": 1.0 / dt, "control_timestep_s": dt, "robot_settings": settings},
            "policy": {
                "torchscript": "policy.pt", "onnx": "policy.onnx", "input": "observation [batch, obs_dim] float32",
                "output": "action [batch, act_dim] float32 in [-1, 1]", "obs_dim": result.obs_dim,
                "act_dim": result.act_dim, "form": "deterministic: tanh(mean) of the SAC actor",
                "normalization": result.normalization.as_json(), "parity": result.parity,
                "onnx_exporter": result.onnx_exporter,
            },
            "run": {"run_dir": str(opts.run_dir.resolve()), "checkpoint": ckpt_path.name,
                    "checkpoint_sha256": sha256_file(ckpt_path), "step": int(payload["step"]),
                    "algo": cfg.algo.name, "seed": cfg.seed},
        }  # fmt: skip
        ledger = _ledger_summary(opts.run_dir)
        manifest = make_bundle(opts.out, exported_dir=staging, exported_files=result.files, gate=gate,
                               override=opts.override, ledger=ledger, sections=sections)  # fmt: skip
    except GateRefusal as err:  # unreachable after the check above, kept for a clear message
        print(f"synthgate deploy export: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except (ExportError, BundleError) as err:
        _fail(str(err))
    finally:
        for p in staging.glob("*") if staging.exists() else []:
            p.unlink()
        if staging.exists():
            staging.rmdir()
    bundle = load_bundle(opts.out)
    print(bundle.banner())
    figures = manifest["policy"]["parity"]
    for name, fig in figures.items():
        if isinstance(fig, dict):
            print(
                f"parity on {fig['n']} {name} observations: ONNX max abs diff {fig['onnx_max_abs_diff']:.3g}, "
                f"TorchScript {fig['torchscript_max_abs_diff']:.3g} (tolerance {figures['tolerance']:g})"
            )
    print(f"wrote bundle {opts.out}: {', '.join(sorted(manifest['files']))}")
    return 0


def _load(path: Path) -> Bundle:
    try:
        bundle = load_bundle(path)
    except BundleError as err:
        print(f"synthgate deploy: refused: {err}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_BUNDLE) from None
    print(bundle.banner())
    return bundle


def verify_command(args: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="synthgate deploy verify", description="Verify a bundle's hashes.")
    parser.add_argument("bundle", type=Path)
    opts = parser.parse_args(list(args))
    bundle = _load(opts.bundle)
    print(f"verified {len(bundle.manifest['files'])} files and the manifest (sha256 {bundle.manifest_sha256})")
    return 0


def _backend(opts: argparse.Namespace, bundle: Bundle) -> Any:
    m = bundle.manifest
    if opts.backend == "mujoco":
        from deploy.mujoco_backend import Faults, MujocoStandIn, RealityGap, parse_settings

        try:
            gap = parse_settings(RealityGap, opts.gap)
            faults = parse_settings(Faults, opts.fault)
            return MujocoStandIn(m["robot"]["name"], m["control"]["robot_settings"], gap, faults, seed=opts.seed)
        except ValueError as err:  # robots.gaps.GapError included: the profile's file and field
            _fail(str(err))
    from deploy.lerobot_backend import LeRobotUnavailable, make_lerobot_backend

    try:
        return make_lerobot_backend(m, opts.lerobot_type, opts.lerobot_arg)
    except (LeRobotUnavailable, ValueError) as err:
        _fail(str(err))


def run_command(args: Sequence[str]) -> int:
    from deploy import runtime
    from deploy.logs import write_run

    parser = argparse.ArgumentParser(prog="synthgate deploy run",
                                     description="Run a bundle at a fixed rate on a robot backend.")  # fmt: skip
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--backend", choices=("mujoco", "lerobot"), required=True)
    parser.add_argument("--episodes", type=int, default=1)
    parser.add_argument("--rate", type=float, default=None, help="control rate, Hz (default: the bundle's)")
    parser.add_argument("--max-steps", type=int, default=0, help="steps per episode at most (0: the robot's end)")
    parser.add_argument("--engine", choices=runtime.ENGINES, default="onnx")
    parser.add_argument("--max-delta", type=float, default=1.0, help="largest action change per step (normalized)")
    parser.add_argument("--watchdog-ms", type=float, default=None,
                        help="observations older than this are stale (default: 3 control periods)")  # fmt: skip
    parser.add_argument("--estop", nargs="*", default=None, help="failure predicates that e-stop (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--gap",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="mujoco reality gap: profile=<name|path> (synthgate gaps), transport faults, offsets",
    )
    parser.add_argument("--fault", nargs="*", default=[], metavar="KEY=VALUE", help="mujoco fault injection")
    parser.add_argument("--lerobot-type", default=None, help="LeRobot robot config type (e.g. so101_follower)")
    parser.add_argument("--lerobot-arg", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--log-dir", type=Path, default=None, help="dataset directory (default: deploy_logs/...)")
    parser.add_argument("--no-log", action="store_true", help="write no dataset")
    opts = parser.parse_args(list(args))
    bundle = _load(opts.bundle)
    m = bundle.manifest
    trained_hz = m["control"]["rate_hz"]
    if opts.rate is not None and not (0 < opts.rate < float("inf")):  # checked before anything is printed or run
        _fail(f"--rate {opts.rate:g}: must be a finite number > 0 (Hz); omit it to run at the bundle's rate, "
              f"{trained_hz:g} Hz")  # fmt: skip
    rate = opts.rate if opts.rate is not None else trained_hz
    try:
        config = runtime.RuntimeConfig(
            rate_hz=rate, episodes=opts.episodes, max_steps=opts.max_steps, max_delta=opts.max_delta,
            watchdog_s=(opts.watchdog_ms / 1e3) if opts.watchdog_ms else 3.0 / rate,
            estop_predicates=tuple(opts.estop) if opts.estop is not None else None,
        )  # fmt: skip
    except ValueError as err:
        _fail(str(err))
    if abs(rate - trained_hz) > 1e-6:
        print(f"note: running at {rate:g} Hz; the policy was trained at {trained_hz:g} Hz")
    robot = _backend(opts, bundle)
    policy = runtime.load_policy(bundle, opts.engine)
    print(f"running {opts.episodes} episode(s) on {opts.backend} at {rate:g} Hz (engine {opts.engine}, "
          f"watchdog {config.watchdog_s * 1e3:.0f} ms, max delta {config.max_delta:g})", flush=True)  # fmt: skip
    try:
        report = runtime.run(robot, policy, m["robot"]["name"], config)
    except ValueError as err:
        _fail(str(err))
    finally:
        if hasattr(robot, "close"):
            robot.close()
    t = report.timing
    if t["steps"]:
        print(f"timing over {t['steps']} steps at {rate:g} Hz (period {t['period_ms']:.1f} ms): loop p50 "
              f"{t['loop_ms_p50']:.3f} ms, p99 {t['loop_ms_p99']:.3f} ms, max {t['loop_ms_max']:.3f} ms; "
              f"tick lateness p99 {t['late_ms_p99']:.3f} ms; overruns {t['overruns']} "
              f"({100 * t['overrun_fraction']:.2f}%)")  # fmt: skip
    print("interventions: " + ", ".join(f"{k} {v}" for k, v in report.counts.items()))
    backend_counts = getattr(robot, "counts", None)
    if backend_counts:
        print("backend: " + ", ".join(f"{k} {v}" for k, v in backend_counts.items()))
    for e in [e for e in report.events if e["kind"] not in ("clamp", "rate_limit")]:
        print(f"  episode {e['episode']} step {e['step']}: {e['kind']}: {e['detail']}")
    print(f"status: {report.status}; episodes: {', '.join(f'{len(ep)} steps ({ep.end})' for ep in report.episodes)}")
    if not opts.no_log:
        origin = f"deploy:{bundle.id}:{opts.backend}"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        out = opts.log_dir or Path("deploy_logs") / f"{opts.bundle.resolve().name}-{bundle.id}-{opts.backend}-{stamp}"
        info = {"bundle": str(opts.bundle.resolve()), "bundle_id": bundle.id, "manifest_sha256": bundle.manifest_sha256,
                "override": bundle.override, "backend": opts.backend, "gap": opts.gap, "faults": opts.fault,
                "rate_hz": rate, "engine": opts.engine, "seed": opts.seed}  # fmt: skip
        written = write_run(out, report, robot=m["robot"]["name"], origin=origin, rate_hz=rate, run_info=info)
        if written["path"]:
            print(f"wrote {written['episodes']} episode(s), {written['frames']} real transitions "
                  f"(origin {origin}) to {written['path']}")  # fmt: skip
        else:
            print("no complete transition to log: no dataset written")
    if report.status == "interrupted":
        return EXIT_SIGINT
    return EXIT_REFUSED if report.stop is not None else 0


def main(args: Sequence[str]) -> int:
    """``synthgate deploy <export|verify|run> ...``."""
    commands = {"export": export_command, "verify": verify_command, "run": run_command}
    if not args or args[0] not in commands:
        _fail(f"usage: synthgate deploy {{{'|'.join(commands)}}} ...; got {list(args)[:1] or 'nothing'}")
    return commands[args[0]](args[1:])
