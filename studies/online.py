"""Issue 19's online comparison: which world model makes synthetic data help, in the low-data regime
this machine can afford?

    PYTHONPATH=. python studies/online.py plan                       # tasks, arms, settings, what exists
    PYTHONPATH=. python studies/online.py train cartpole-swingup     # train a task's runs (resumes them)
    PYTHONPATH=. python studies/online.py train quadruped-walk --seeds 0,1 --workers 2
    PYTHONPATH=. python studies/online.py collect cartpole-swingup   # runs -> results/online/<task>.json
    PYTHONPATH=. python studies/online.py report [--check]           # docs/results.md's online part + plots

Every arm of a task trains for the same :data:`STEPS` env steps under the same reduced settings
(:data:`SCALES`), so the arms differ only in what their names say (:data:`ARMS`). Runs are ordinary
``synthgate train`` run directories under ``runs/study/online/<task>/<arm>-s<seed>`` (never
committed; an interrupted run resumes from its checkpoint). ``collect`` keeps what the report needs
in one compact JSON log per task: each run's evaluation curve, the critic's mean Q against the
Monte-Carlo return at each evaluation, and the world model's diagnostics at each retrain. ``report``
rebuilds the tables and plots from those logs only (:mod:`studies.online_report`).

The paper's settings (UTD 20, 400 rollouts per env step, 100k env steps) are ``--scale paper``;
the GPU command is in ``docs/results.md``. Collect and report read the reduced scale's runs only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TASKS = ("cartpole-swingup", "quadruped-walk", "walker-walk")
"""cartpole-swingup (every method learns it), quadruped-walk (the paper: MBPO fails where SAC learns),
walker-walk (locomotion that SAC starts to learn within 10k steps). Not hopper-stand: SAC's return
was 0.0 at all ten evaluations of a 10k-step run (seed 0), so no arm could differ from it there."""
SEEDS = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class Scale:
    """The settings every arm of a study shares; the arms differ only in what their names say."""

    steps: int
    learning_starts: int
    eval_every: int
    utd: int
    """Agent updates per env step of the model-based arms and of the ``sac_utd`` arm."""
    rollouts_per_step: int
    """World-model rollout starts per env step (model-based arms)."""

    def common(self) -> tuple[str, ...]:
        return (
            f"steps={self.steps}", f"learning_starts={self.learning_starts}", f"eval_every={self.eval_every}",
            "eval_episodes=5", "checkpoint_every=2500", "threads=1", "progress=false",
        )  # fmt: skip


SCALES = {
    "reduced": Scale(steps=10_000, learning_starts=1000, eval_every=1000, utd=5, rollouts_per_step=100),
    "paper": Scale(steps=100_000, learning_starts=5000, eval_every=5000, utd=20, rollouts_per_step=400),
}
"""``reduced``: what this 2-core machine can afford (each task's block about 2 h with two processes);
``paper``: the paper's UTD 20 and 400 rollouts per env step, for a GPU. Both keep MBPO's ensemble
(7 members, 5 elites, 4 x 200) retrained every 250 env steps, and SAC's 2 x 256 networks."""
REDUCED = SCALES["reduced"]
STEPS = REDUCED.steps


@dataclass(frozen=True)
class Arm:
    key: str
    algo: str
    utd: bool
    """Runs at the scale's UTD (else at UTD 1)."""
    description: str

    def overrides(self, scale: Scale) -> tuple[str, ...]:
        out = [f"algo={self.algo}", f"algo.utd={scale.utd if self.utd else 1}"]
        if self.algo != "sac":
            out.append(f"algo.rollouts_per_step={scale.rollouts_per_step}")
        return tuple(out)


ARMS = (
    Arm("sac", "sac", False, "SAC at UTD 1 on real data (the usual baseline)"),
    Arm("sac_utd", "sac", True, "SAC at the model-based arms' UTD: the gain from updates, apart from data"),
    Arm("mbpo", "mbpo", True, "MBPO's model: residual targets, joint raw scaling"),
    Arm("ftfl", "ftfl", True, "FTFL: direct targets, independent normalization"),
    Arm("ftfl_beta_nll", "ftfl_beta_nll", True, "FTFL with a beta-NLL likelihood (beta 0.5)"),
)  # fmt: skip
RUNS = ROOT / "runs" / "study" / "online"
LOGS = ROOT / "results" / "online"
RETRAIN_KEYS = (
    "diag/reward_r2", "model/reward_mse_share", "diag/reward_nrmse", "diag/model_error_pct_k1",
    "diag/no_change_error_pct_k1", "model/holdout_mse_elites", "model/epochs",
)  # fmt: skip
"""What ``collect`` keeps of each retrain event in a run's ledger."""


def arm(key: str) -> Arm:
    for a in ARMS:
        if a.key == key:
            return a
    raise SystemExit(f"arm {key!r}: valid: {', '.join(a.key for a in ARMS)}")


def run_path(task: str, arm_key: str, seed: int, root: Path = RUNS) -> Path:
    return root / task / f"{arm_key}-s{seed}"


def command(
    task: str, arm_key: str, seed: int, root: Path = RUNS, device: str = "cpu", scale: Scale = REDUCED
) -> list[str]:
    """The ``synthgate train`` command line of one run."""
    return [
        sys.executable, "-m", "synthgate", "train", f"robot={task}", f"seed={seed}",
        f"run_dir={run_path(task, arm_key, seed, root)}", *scale.common(), f"device={device}",
        *arm(arm_key).overrides(scale),
    ]  # fmt: skip


def finished(path: Path) -> bool:
    return (path / "summary.json").is_file()


def train(
    task: str,
    arms: Sequence[str],
    seeds: Sequence[int],
    workers: int,
    root: Path,
    timeout_s: float,
    device: str,
    scale: Scale = REDUCED,
) -> int:
    """Trains every (arm, seed) run not finished yet, ``workers`` at a time (one torch thread each);
    a run's output goes to ``<run_dir>.log``. At the reduced scale a run already in the task's log
    (``results/online/<task>.json``) counts as finished, so a machine without the run directories
    trains only what the log lacks. Returns how many runs failed or ran out of time."""
    log_path = LOGS / f"{task}.json"
    logged = set(json.loads(log_path.read_text())["runs"]) if scale is REDUCED and log_path.is_file() else set()
    todo = [(a, s) for s in seeds for a in arms
            if not finished(run_path(task, a, s, root)) and f"{a}-s{s}" not in logged]  # fmt: skip
    skipped = sum(f"{a}-s{s}" in logged for s in seeds for a in arms)
    print(f"{task}: {len(todo)} runs to train ({len(arms)} arms x {len(seeds)} seeds; {skipped} already in "
          f"{log_path})", flush=True)  # fmt: skip
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    t_start = time.perf_counter()
    running: set[subprocess.Popen[bytes]] = set()
    lock = threading.Lock()
    stop: list[int] = []  # the stop signal, once one came

    def forward(signum: int, frame: Any) -> None:
        """A SIGTERM or Ctrl-C to this process reaches every run (each checkpoints and exits); no
        run starts after it. The runs lead sessions of their own, so a terminal's Ctrl-C reaches
        them only through here, once."""
        stop.append(signum)
        with lock:
            for p in running:
                p.send_signal(signum)

    def one(item: tuple[str, int]) -> tuple[str, int, int | None, float]:
        a, s = item
        path = run_path(task, a, s, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        with open(f"{path}.log", "a") as out:
            with lock:
                if stop:
                    return a, s, None, 0.0
                cmd = command(task, a, s, root, device, scale)
                p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                     start_new_session=True)  # fmt: skip
                running.add(p)
            try:
                rc: int | None = p.wait(timeout=max(timeout_s - (t0 - t_start), 1))
            except subprocess.TimeoutExpired:
                p.terminate()  # a run checkpoints on SIGTERM, so a later call resumes it
                p.wait()
                rc = -1
            finally:
                with lock:
                    running.discard(p)
        return a, s, rc, time.perf_counter() - t0

    from pipeline.executor import STOP_SIGNALS, Stopped

    failed = started = 0
    previous = {sig: signal.signal(sig, forward) for sig in STOP_SIGNALS}
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for a, s, rc, seconds in pool.map(one, todo):
                if rc is None:
                    continue
                started += 1
                failed += rc != 0 and not stop
                state = "done" if rc == 0 else ("timed out" if rc == -1 else f"ended (rc {rc})")
                print(f"  {a} seed {s}: {state} in {seconds / 60:.1f} min", flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stop:
        raise Stopped(stop[0], f"{signal.Signals(stop[0]).name} passed to the running runs: {started} of "
                               f"{len(todo)} ran (each checkpointed), {len(todo) - started} never started; "
                               "run the same command to resume")  # fmt: skip
    print(f"{task}: {len(todo) - failed} of {len(todo)} trained in {(time.perf_counter() - t_start) / 60:.1f} min")
    return failed


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_record(path: Path) -> dict[str, Any]:
    """What the report needs of one finished run directory."""
    summary = json.loads((path / "summary.json").read_text())
    evals = [
        {k: e[k] for k in ("step", "return_mean", "q_mean", "mc_return_mean", "q_over_mc") if k in e}
        for e in read_jsonl(path / "metrics.jsonl") if e.get("kind") == "eval"
    ]  # fmt: skip
    retrains = [
        {"step": e["step"], **{k: e[k] for k in RETRAIN_KEYS if k in e}}
        for e in read_jsonl(path / "ledger.jsonl") if e.get("kind") == "retrain"
    ]  # fmt: skip
    config = (path / "config.yaml").read_text()
    device = next((line.split(":", 1)[1].strip() for line in config.splitlines() if line.startswith("device:")), "?")
    return {
        "device": device,
        "final_return": evals[-1]["return_mean"] if evals else summary["eval_return_mean"],
        "steps": summary.get("steps"),
        "updates": summary.get("updates"),
        "wall_s": summary.get("wall_s_this_session"),
        "evals": evals,
        "retrains": retrains,
    }


def collect(task: str, root: Path = RUNS, host: str = "") -> Path:
    """Writes (or extends) ``results/online/<task>.json`` with every finished run of the task."""
    from pipeline.checkpoint import atomic_write

    log_path = LOGS / f"{task}.json"
    log: dict[str, Any] = json.loads(log_path.read_text()) if log_path.is_file() else {"task": task, "runs": {}}
    arms = {a.key: {"overrides": list(a.overrides(REDUCED)), "description": a.description} for a in ARMS}
    log.update(scale=asdict(REDUCED), common=list(REDUCED.common()), arms=arms)
    added = 0
    for a in ARMS:
        for s in SEEDS:
            path = run_path(task, a.key, s, root)
            if finished(path):
                record = run_record(path)
                record["host"] = host or log["runs"].get(f"{a.key}-s{s}", {}).get("host", "this machine")
                log["runs"][f"{a.key}-s{s}"] = record
                added += 1
    LOGS.mkdir(parents=True, exist_ok=True)
    atomic_write(log_path, (json.dumps(log, indent=1, sort_keys=True) + "\n").encode())
    print(f"{log_path}: {added} finished runs from {root}; {len(log['runs'])} in the log")
    return log_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("plan", "train", "collect", "report"))
    parser.add_argument("task", nargs="?", help="one of TASKS (train, collect)")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="comma-separated seeds (train)")
    parser.add_argument("--arms", default=",".join(a.key for a in ARMS), help="comma-separated arms (train)")
    parser.add_argument("--workers", type=int, default=2, help="runs at a time, one torch thread each (train)")
    parser.add_argument("--root", type=Path, default=RUNS, help="where the run directories live")
    parser.add_argument("--timeout-min", type=float, default=600.0, help="train: stop runs still going after this")
    parser.add_argument("--device", default="cpu", help="train: the runs' torch device (cpu, cuda)")
    parser.add_argument("--scale", choices=SCALES, default="reduced", help="train: the settings (see SCALES)")
    parser.add_argument("--host", default="", help="collect: the machine the runs trained on, for the log")
    parser.add_argument("--check", action="store_true", help="report: fail when the docs differ from the logs")
    args = parser.parse_args(argv)
    if args.command == "plan":
        for a in ARMS:
            print(f"{a.key:14s} {' '.join(a.overrides(REDUCED)):60s} {a.description}")
        print(f"every run: {' '.join(REDUCED.common())}")
        for task in TASKS:
            done = sum(finished(run_path(task, a.key, s, args.root)) for a in ARMS for s in SEEDS)
            log = LOGS / f"{task}.json"
            n = len(json.loads(log.read_text())["runs"]) if log.is_file() else 0
            print(f"{task}: {done} of {len(ARMS) * len(SEEDS)} runs finished here; {n} in its log")
        return 0
    if args.command == "report":
        from studies.online_report import report

        return report(check=args.check)
    if args.task not in TASKS:
        raise SystemExit(f"task {args.task!r}: valid: {', '.join(TASKS)}")
    if args.command == "train":
        from pipeline.executor import Stopped

        arms = [arm(k).key for k in args.arms.split(",")]
        seeds = [int(s) for s in args.seeds.split(",")]
        try:
            failed = train(args.task, arms, seeds, args.workers, args.root, args.timeout_min * 60, args.device,
                           SCALES[args.scale])  # fmt: skip
        except Stopped as stopped:
            print(f"online.py train: stopped: {stopped}", file=sys.stderr)
            return 128 + stopped.signum
        return 1 if failed else 0
    collect(args.task, args.root, args.host)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
