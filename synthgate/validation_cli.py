"""``synthgate validate``, ``synthgate report`` and ``synthgate arms``: argument parsing and printing only;
the work is in :mod:`validation`."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import scenarios


def _fail(command: str, message: str) -> NoReturn:
    print(f"synthgate {command}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def gate_overrides(items: Sequence[str], command: str) -> Any:
    """A :class:`validation.gate.GateConfig` with ``key=value`` overrides (types from its fields)."""
    from validation.gate import GateConfig

    fields = {f.name: f for f in dataclasses.fields(GateConfig)}
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or key not in fields:
            _fail(command, f"--gate {item!r}: want key=value with key one of {', '.join(fields)}")
        kind = type(getattr(GateConfig(), key))
        try:
            values[key] = kind(raw)
        except ValueError:
            _fail(command, f"--gate {key}={raw!r}: must be a {kind.__name__}")
    try:
        return GateConfig(**values)
    except ValueError as err:
        _fail(command, str(err))


def load_scenarios(names: Sequence[str], robot: str, command: str) -> list[scenarios.Scenario]:
    """The named scenarios (names or paths), each checked to be one of ``robot``'s; a problem ends
    ``synthgate <command>`` with one line."""
    out = []
    for name in names:
        try:
            scenario = scenarios.get(name)
        except scenarios.ScenarioError as err:
            _fail(command, f"--scenarios: {err}")
        if scenario.robot != robot:
            _fail(command, f"--scenarios: {name} is a scenario of {scenario.robot}, not of {robot}")
        out.append(scenario)
    return out


def validate_main(args: Sequence[str]) -> int:
    """``synthgate validate``: exit 0 on PROMOTE, 1 on REJECT, 2 on a usage error."""
    from pipeline.executor import ExecutorError, make_executor
    from pipeline.runs import RunError, load_run
    from validation.validate import PanelOptions, run_gate, write_all

    parser = argparse.ArgumentParser(
        prog="synthgate validate",
        description="Evaluate a candidate run against a baseline on matched real, synthetic and mixed panels, "
        "apply the gate, and write gate_report.json, report.html and TensorBoard summaries.",
    )
    parser.add_argument("candidate", nargs="+", type=Path, help="candidate run directory (several: seeds, pooled)")
    parser.add_argument("--baseline", nargs="+", type=Path, required=True, help="baseline run(s), one per candidate")
    parser.add_argument("--reference", nargs="*", type=Path, default=[], help="more runs for the ranking rule")
    parser.add_argument("--scenarios", default=None, help="comma-separated scenarios (default: the candidate's)")
    parser.add_argument("--model", type=Path, default=None, help="run whose world model makes the synthetic panel")
    parser.add_argument("--episodes", type=int, default=20, help="episodes per condition (default 20)")
    parser.add_argument("--max-steps", type=int, default=0, help="steps per episode (default: the runs' setting)")
    parser.add_argument("--seed", type=int, default=0, help="panel seed (default 0)")
    parser.add_argument("--num-envs", type=int, default=32, help="plants stepped together (default 32)")
    parser.add_argument("--gap", default="", help="the real plant's gap profile, name or path (default: the runs')")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1; 0: torch's default)")
    parser.add_argument("--gate", action="append", default=[], metavar="KEY=VALUE", help="gate threshold override")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default <candidate>/validation)")
    parser.add_argument("--note", default="", help="a sentence shown at the top of the HTML report")
    parser.add_argument("--frames", type=int, default=4, help="frames of each arm's first real-panel failure per "
                        "condition in the HTML report (default 4; 0: none)")  # fmt: skip
    parser.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="where the real panel's chunks run: local (this process, or --workers processes) or ray",
    )
    parser.add_argument("--workers", type=int, default=1, help="processes (local) or CPUs of a local Ray")
    parser.add_argument("--ray-address", default=None, help="a Ray cluster to join (default: a local Ray)")
    opts = parser.parse_args(list(args))
    config = gate_overrides(opts.gate, "validate")
    if opts.threads:
        import torch

        torch.set_num_threads(opts.threads)
    try:
        cands = [load_run(p) for p in opts.candidate]
        bases = [load_run(p) for p in opts.baseline]
        refs = [load_run(p) for p in opts.reference]
        model = load_run(opts.model) if opts.model else None
    except RunError as err:
        _fail("validate", str(err))
    names = opts.scenarios.split(",") if opts.scenarios else list(cands[0].config.scenarios)
    if not names:
        _fail("validate", f"{cands[0].path} was trained without scenarios: name the panel's with --scenarios a,b")
    scenario_list = load_scenarios(names, cands[0].config.robot, "validate")
    if opts.gap:
        from robots import gaps

        try:
            gaps.get(opts.gap, cands[0].config.robot)
        except gaps.GapError as err:
            _fail("validate", f"--gap: {err}")
    try:
        panel = PanelOptions(opts.episodes, opts.max_steps, opts.seed, opts.num_envs, opts.gap)
        executor = None
        if opts.executor == "ray" or opts.workers > 1:
            executor = make_executor(opts.executor, opts.workers, opts.ray_address)
        report = run_gate(cands, bases, scenario_list, references=refs, model_run=model, options=panel,
                          config=config, note=opts.note, executor=executor, frames=opts.frames,
                          progress=lambda line: print(f"  {line}", flush=True))  # fmt: skip
    except (RunError, ValueError, ExecutorError) as err:
        _fail("validate", str(err))
    out = opts.out or (opts.candidate[0] / "validation")
    path, page = write_all(report, out)
    print_decision(report)
    print(f"wrote {path}, {page} and TensorBoard summaries in {out / 'tb'}")
    return 0 if report["decision"] == "PROMOTE" else 1


def print_decision(report: dict[str, Any]) -> None:
    print(f"{report['decision']}: {report['robot']}, scenarios {', '.join(report['scenarios'])}")
    for rule in report["rules"]:
        where = f" [{rule['scenario']}]" if rule.get("scenario") else ""
        print(f"  {'PASS' if rule['passed'] else 'FAIL'} {rule['name']}{where}: {rule['detail']}")
    if report["failed_rules"]:
        print(f"failed rules: {', '.join(report['failed_rules'])}")


def report_main(args: Sequence[str]) -> int:
    """``synthgate report <run_dir>``: re-checks the gate report and rewrites report.html from it."""
    from validation.report import ReportError, find_report, read_report, write_html

    if len(args) != 1:
        _fail("report", "usage: synthgate report <run_dir>")
    try:
        path = find_report(Path(args[0]))
        report = read_report(path)
    except ReportError as err:
        _fail("report", str(err))
    page = write_html(report, path.parent)
    print_decision(report)
    print(f"wrote {page}")
    return 0


def compose_arms(cfg: Any, arms: Sequence[str], extra: Sequence[str], command: str) -> dict[tuple[str, int], Any]:
    """The ``synthgate train`` config of every ``(arm, seed)`` of an :class:`validation.arms.ArmsConfig`:
    the arm's preset, the shared real budget and exposure, then ``extra`` overrides (the user's last).
    Each passes every check of ``synthgate train`` (:func:`synthgate.preflight.check_train`); the
    first problem stops ``command`` with train's one-line error (exit 2), naming the arm when the
    other arms do not share it."""
    from synthgate import preflight
    from validation.arms import arm_overrides, run_dir

    def check(arm: str, seed: int) -> Any:
        return preflight.check_train([
            *arm_overrides(cfg, arm), f"robot={cfg.robot}", f"steps={cfg.steps}", f"seed={seed}",
            f"run_dir={run_dir(cfg, arm, seed)}", f"scenarios=[{','.join(cfg.scenarios)}]",
            f"exposure={cfg.exposure}", f"threads={cfg.threads}", *extra,
        ])  # fmt: skip

    def problem(arm: str, seed: int) -> str | None:
        try:
            check(arm, seed)
        except preflight.UsageError as err:
            return str(err)
        return None

    configs: dict[tuple[str, int], Any] = {}
    for arm in arms:
        for seed in cfg.seeds:
            try:
                configs[(arm, seed)] = check(arm, seed)
            except preflight.UsageError as err:
                if all(problem(other, seed) == str(err) for other in arms if other != arm):
                    _fail(command, str(err))
                _fail(command, f"{err} (in the {arm} arm, which trains with {' '.join(arm_overrides(cfg, arm))})")
    return configs


def arms_main(args: Sequence[str]) -> int:
    """``synthgate arms key=value ...``: train the arms, then evaluate them on the panels."""
    from omegaconf import OmegaConf

    from pipeline.config import ConfigError, TrainConfig
    from synthgate import preflight
    from validation.arms import ArmsConfig, check_arms, evaluate_arms, train_arms

    if args and args[0] in ("-h", "--help"):
        from synthgate.keyhelp import render

        print(arms_main.__doc__)
        print(render(ArmsConfig))
        print("any other key=value is a `synthgate train` override applied to every arm (e.g. algo.utd=5)")
        return 0
    own = {f.name for f in dataclasses.fields(ArmsConfig)}
    args = [preflight.seed_list(a) for a in args]
    mine = [a for a in args if a.split("=", 1)[0] in own]
    passed = [a for a in args if a.split("=", 1)[0] not in own]
    gate_items = [a[len("gate.") :] for a in passed if a.startswith("gate.")]
    passed = [a for a in passed if not a.startswith("gate.")]
    preset = [a for a in passed if a.lstrip("+~").split("=", 1)[0] == "algo"]
    if preset:  # applied to every arm it would make real_only model-based too
        _fail("arms", f"{preset[0]}: the arms choose their own presets (real_only is SAC); name the model arms' "
                      f"preset with world_model=<preset>")  # fmt: skip
    try:
        merged = OmegaConf.merge(OmegaConf.structured(ArmsConfig), OmegaConf.from_dotlist(mine))
    except Exception as err:  # noqa: BLE001 - OmegaConf raises several types for a bad key=value
        _fail("arms", str(err))
    cfg = OmegaConf.to_object(merged)
    assert isinstance(cfg, ArmsConfig)
    if not cfg.scenarios:
        _fail("arms", "scenarios=[...] is required (synthgate scenarios lists them)")
    problem = check_arms(cfg)
    if problem:
        _fail("arms", problem)
    gate = gate_overrides(gate_items, "arms")
    configs: dict[tuple[str, int], TrainConfig] = {}
    configs = compose_arms(cfg, cfg.arms, ["progress=false", *passed], "arms")  # train's checks: the robot first
    scenario_list = load_scenarios(cfg.scenarios, cfg.robot, "arms")
    try:
        train_arms(configs, scenario_list)
    except ConfigError as err:
        _fail("arms", str(err))
    report = evaluate_arms(cfg, scenario_list, gate)
    print_decision(report)
    from validation.arms import markdown

    print(markdown(report["arms_table"]))
    print(f"wrote {cfg.out}/validation/gate_report.json, report.html, {cfg.out}/arms.json and arms.md")
    return 0
