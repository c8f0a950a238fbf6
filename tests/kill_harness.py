"""Kill harness: SIGKILL a training subprocess at seeded random points, resume it with the same
command until it finishes, and compare everything with an uninterrupted run (issue 8).

Two kinds of kill:

* **internal**: the subprocess runs ``python tests/kill_harness.py <spec> <synthgate args>``, which
  wraps one function of the training code and sends itself SIGKILL at its ``count``-th call in that
  session; some sites first leave what a crash mid-write leaves (half a ledger or metrics line, half
  a checkpoint in its temporary file, a torn checkpoint under its real name, a new hash without its
  data). The points are reproducible from the harness's seed.
* **external**: the harness sends SIGKILL a seeded random delay after the session reports its
  seeded ``count``-th env step, wherever the run then is. The delay is counted from a step, not from
  the process start, so a host that starts Python faster or slower does not move it past the run's
  end; and the subprocess waits, before its last step's updates and checkpoint, for the kill, so the
  kill always lands in the run (a kill that finds the run finished would end the harness early).

The same runner can instead make chosen writes fail (``{"site": "refuse_write", "errno": 28,
"match": "ckpt-000000200"}``): a full disk or a denied permission at a known point of a real run.

Nothing here is imported by the package: the wrappers exist only in the killed subprocess.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

SITES = (
    "env_step",  # after the n-th real env step of the session
    "agent_update",  # before the n-th SAC update
    "model_fit",  # in the middle of a world-model retrain (before its n-th loss)
    "model_rollout",  # in the middle of a model rollout (before its n-th batched model step)
    "ledger_line",  # half of the n-th ledger.jsonl event is written, then the kill
    "metrics_line",  # half of the n-th metrics.jsonl line is written, then the kill
    "checkpoint_tmp",  # half of the n-th checkpoint is in its temporary file, then the kill
    "checkpoint_torn",  # half of the n-th checkpoint is written under its real name, then the kill
    "checkpoint_hash_only",  # the n-th checkpoint's new .sha256 is written, its data is not
)
MODEL_SITES = ("model_fit", "model_rollout")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _install(site: str, count: int, hold: int = 0, fd: int = -1) -> None:
    """Wraps the function behind ``site`` so that its ``count``-th call kills this process; for
    ``external``, the ``count``-th env step writes to ``fd`` (the harness's clock starts) and the
    ``hold``-th waits for the harness's SIGKILL."""
    from pipeline import checkpoint, model_env, train

    calls = [0]

    def due() -> bool:
        calls[0] += 1
        return calls[0] == count

    def before(owner: Any, name: str) -> None:
        inner = getattr(owner, name)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if due():
                _die()
            return inner(*args, **kwargs)

        setattr(owner, name, wrapped)

    if site == "env_step":
        inner_collect = train.collect_real_step

        def collect(*args: Any, **kwargs: Any) -> None:
            inner_collect(*args, **kwargs)
            if due():
                _die()

        train.collect_real_step = collect  # type: ignore[assignment]
    elif site == "external":
        inner_step = train.collect_real_step

        def step_then_report(*args: Any, **kwargs: Any) -> None:
            inner_step(*args, **kwargs)
            if due():
                os.write(fd, b"go")
                os.close(fd)
            if hold and calls[0] >= hold:  # the run's last step (or earlier): never let it finish
                while True:
                    time.sleep(60)

        train.collect_real_step = step_then_report  # type: ignore[assignment]
    elif site == "agent_update":
        before(train, "sac_update")
    elif site == "model_fit":
        import pipeline.world_model as wm

        before(wm, "nll_loss")
    elif site == "model_rollout":
        before(model_env.ModelEnv, "step")
    elif site == "ledger_line":
        inner_append = train.append_event

        def append(path: Path, step: int, kind: str, **values: Any) -> None:
            if due():
                line = json.dumps({"step": step, "kind": kind, **values}) + "\n"
                with open(path, "a") as f:
                    f.write(line[: len(line) // 2])
                _die()
            inner_append(path, step, kind, **values)

        train.append_event = append  # type: ignore[assignment]
    elif site == "metrics_line":
        inner_record = train.RunLog.record

        def record(self: Any, kind: str, step: int, **values: Any) -> None:
            if due():
                line = json.dumps({"kind": kind, "step": step, **values}) + "\n"
                self._file.write(line[: len(line) // 2])
                self._file.flush()
                _die()
            inner_record(self, kind, step, **values)

        train.RunLog.record = record  # type: ignore[method-assign]
    elif site.startswith("checkpoint_"):
        inner_write = checkpoint.atomic_write

        def write(path: Path, data: bytes) -> None:
            is_ckpt = path.name.startswith("ckpt-")
            if is_ckpt and path.suffix == ".pt" and due():
                if site == "checkpoint_tmp":
                    path.with_name(f".{path.name}.tmp-{os.getpid()}").write_bytes(data[: len(data) // 2])
                elif site == "checkpoint_torn":
                    path.write_bytes(data[: len(data) // 2])
                _die()  # checkpoint_hash_only: the hash went first (see checkpoint.save); the data never comes
            inner_write(path, data)

        checkpoint.atomic_write = write  # type: ignore[assignment]
    else:
        raise ValueError(f"unknown kill site {site!r}; valid: {', '.join(SITES)}")


def _refuse_writes(code: int, match: str) -> None:
    """Makes every ``atomic_write`` of a path containing ``match`` fail with ``OSError(code)`` (a full
    disk, a permission the system denies) at the moment it opens its file."""
    from pipeline import checkpoint

    real_open = os.open

    def refusing(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        if match in str(path):
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, mode, **kw)

    checkpoint.os.open = refusing  # type: ignore[assignment]


@dataclass
class Kill:
    """One session's fate: killed internally at ``site`` (call ``count``), or externally ``delay_s``
    after its ``count``-th env step."""

    site: str
    count: int = 0
    delay_s: float = 0.0
    killed: bool = False
    resumed_from: int | None = None


@dataclass
class Report:
    """What the harness did."""

    kills: list[Kill] = field(default_factory=list)
    sessions: int = 0

    @property
    def n_killed(self) -> int:
        return sum(k.killed for k in self.kills)


def _latest_step(run_dir: Path) -> int:
    """The step the next session resumes from: the newest checkpoint whose bytes match its hash (a
    torn one under its real name is not)."""
    from pipeline import checkpoint

    ckpts = checkpoint.list_checkpoints(run_dir / "checkpoints")
    return max((checkpoint.step_of(p) for p in ckpts if checkpoint._hash_ok(p)), default=0)


def _plan(rng: random.Random, site: str, done: int, cfg: dict[str, Any]) -> Kill:
    """A kill point at ``site`` early enough in the session to be reached (the last checkpoint is
    at ``done``); counts are drawn from the first half of what is left, so kills spread over the run.
    An external kill's delay, from its env step on, is at most the time the steps left after it take
    at ``step_s`` seconds each (on a slower host it lands earlier; it never lands after the run's end,
    see :func:`_install`)."""
    remaining = cfg["steps"] - done
    if site == "external":
        count = rng.randint(1, max((remaining - 1) // 2, 1))
        return Kill(site, count=count, delay_s=rng.uniform(0.0, cfg["step_s"] * max(remaining - count, 1)))
    ckpts = max(remaining // cfg["checkpoint_every"], 1)
    upper = {
        "env_step": max(remaining - 1, 1),
        "agent_update": (cfg["steps"] - max(done, cfg["learning_starts"])) * cfg["utd"],
        "model_fit": 6,
        "model_rollout": 1,
        "ledger_line": max(remaining // cfg["log_every"], 1),
        "metrics_line": 2,
        "checkpoint_tmp": ckpts,
        "checkpoint_torn": ckpts,
        "checkpoint_hash_only": ckpts,
    }[site]
    return Kill(site, count=rng.randint(1, max(upper // 2, 1)))


def run_with_kills(
    args: list[str],
    run_dir: Path,
    kills: int,
    seed: int,
    sites: tuple[str, ...],
    cfg: dict[str, Any],
    plan: list[tuple[str, int]] | None = None,
    cover_all: bool = False,
) -> Report:
    """Runs ``synthgate train *args run_dir=...`` killing ``kills`` sessions, then lets it finish.

    Each session's site is drawn from ``sites`` (the first ``len(sites)`` sessions take each site
    in turn when ``cover_all``) and its point from the seed, or both are taken from ``plan``
    (``(site, count)`` per session) when given.

    ``cfg`` gives the run's ``steps``, ``checkpoint_every``, ``log_every``, ``learning_starts``,
    ``utd`` and, for external kills, ``step_s`` (seconds an env step takes, roughly: it sizes the
    delays). A planned kill whose point the session never reaches (the run finished first), or that
    lands after the run wrote ``summary.json``, is recorded as not killed.
    """
    rng = random.Random(seed)
    report = Report()
    command = [*args, f"run_dir={run_dir}"]
    here = str(Path(__file__).resolve())
    while True:
        done = _latest_step(run_dir)
        final = (run_dir / "summary.json").exists()
        if report.n_killed >= kills or final:
            break
        if plan is not None:
            kill = Kill(*plan[report.sessions])
        else:
            site = sites[report.sessions] if cover_all and report.sessions < len(sites) else rng.choice(sites)
            while site == "checkpoint_torn" and not done:  # a torn only checkpoint leaves nothing to fall back to
                site = rng.choice(sites)
            kill = _plan(rng, site, done, cfg)
        kill.resumed_from = done
        report.sessions += 1
        if kill.site == "external":
            read_end, write_end = os.pipe()
            hold = max(cfg["steps"] - done, 1)  # the session's last step, if it resumes from ``done``
            spec = json.dumps({"site": kill.site, "count": kill.count, "hold": hold, "fd": write_end})
            with tempfile.TemporaryFile() as err_file:
                proc = subprocess.Popen([sys.executable, here, spec, "train", *command], stdout=subprocess.DEVNULL,
                                        stderr=err_file, pass_fds=(write_end,))  # fmt: skip
                os.close(write_end)
                with os.fdopen(read_end, "rb") as go:
                    ready, _, _ = select.select([go], [], [], 600)
                    started = bool(ready) and go.read(2) == b"go"  # b"": the session ended before its step
                if started:
                    time.sleep(kill.delay_s)
                    proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=600)
                err_file.seek(0)
                err = err_file.read()
        else:
            spec = json.dumps({"site": kill.site, "count": kill.count})
            proc = subprocess.Popen([sys.executable, here, spec, "train", *command],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
            _, err = proc.communicate(timeout=600)
        kill.killed = proc.returncode == -signal.SIGKILL and not (run_dir / "summary.json").exists()
        if not kill.killed and proc.returncode != 0:
            raise AssertionError(f"session {report.sessions} ({kill}) failed: {err.decode()[-3000:]}")
        report.kills.append(kill)
    if not (run_dir / "summary.json").exists():  # the last, uninterrupted session
        report.sessions += 1
        last = subprocess.run([sys.executable, "-m", "synthgate", "train", *command], capture_output=True, text=True,
                              check=False, timeout=600)  # fmt: skip
        assert last.returncode == 0, last.stderr[-3000:]
    return report


def tiny_config(run_dir: Path, algo: str = "sac", **kw: Any) -> Any:
    """A tiny in-process run (cartpole, 400 steps, 16-unit networks), ``kw`` replacing top-level fields."""
    from pipeline.config import ALGORITHMS, TrainConfig

    cfg = TrainConfig(robot="cartpole-swingup", steps=400, seed=2, learning_starts=100, checkpoint_every=100,
                      eval_every=0, eval_episodes=1, log_every=50, progress=False, threads=1, run_dir=str(run_dir),
                      robot_settings={"max_episode_steps": 100}, kstep=[1, 2])  # fmt: skip
    cfg.sac.hidden, cfg.sac.batch_size = 16, 32
    spec = ALGORITHMS[algo]
    cfg.algo.name, cfg.algo.model_based, cfg.algo.target, cfg.algo.target_norm = (
        algo, spec.model_based, spec.target, spec.target_norm)  # fmt: skip
    cfg.algo.retrain_every, cfg.algo.rollouts_per_step = 100, 2
    m = cfg.algo.model
    m.members, m.elites, m.hidden, m.depth, m.weight_decay, m.max_epochs, m.batch_size = 3, 2, 16, 1, [0, 0], 2, 64
    return dataclasses.replace(cfg, **kw)


# --- comparison ---------------------------------------------------------------------------


def assert_same(a: Any, b: Any, where: str = "payload") -> None:
    """Deep, exact equality of checkpoint payloads (tensors, arrays, dicts, lists, scalars)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.shape == b.shape and a.dtype == b.dtype, where
        assert torch.equal(a, b) or (a.is_floating_point() and torch.equal(a.isnan(), b.isnan())
                                     and torch.equal(a.nan_to_num(), b.nan_to_num())), f"{where} differs"  # fmt: skip
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), f"{where} differs"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys {sorted(set(a) ^ set(b), key=str)}"
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), f"{where}: lengths {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), f"{where}: {a!r} != {b!r}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _log_lines(path: Path) -> list[dict[str, Any]]:
    """A run log's events without wall-clock fields (those differ between any two runs)."""
    events = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in e.items() if not k.endswith("_s")} for e in events]


def assert_same_run(run: Path, reference: Path) -> None:
    """The final checkpoint (every tensor, RNG state and counter), both logs, the final evaluation
    and the ledger summary of ``run`` equal ``reference``'s; no temporary file is left behind."""
    from pipeline import checkpoint

    found, ref = checkpoint.load_latest(run / "checkpoints"), checkpoint.load_latest(reference / "checkpoints")
    assert found is not None and ref is not None
    assert found[0].name == ref[0].name
    assert_same(found[1], ref[1])
    for name in ("ledger.jsonl", "metrics.jsonl"):
        got, want = _log_lines(run / name), _log_lines(reference / name)
        assert len(got) == len(want), f"{name}: {len(got)} lines != {len(want)}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{name} line {i + 1}")
    summary, ref_summary = (json.loads((d / "summary.json").read_text()) for d in (run, reference))
    assert summary["eval_returns"] == ref_summary["eval_returns"]
    assert summary["ledger"] == ref_summary["ledger"]
    leftovers = [p for d in (run, run / "checkpoints") for p in d.iterdir() if ".tmp-" in p.name]
    assert not leftovers, leftovers


if __name__ == "__main__":  # the killed subprocess: install one kill point, then run the command line
    spec = json.loads(sys.argv[1])
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if spec["site"] == "refuse_write":
        _refuse_writes(int(spec["errno"]), spec["match"])
    else:
        _install(spec["site"], int(spec["count"]), int(spec.get("hold", 0)), int(spec.get("fd", -1)))
    from synthgate.cli import main

    raise SystemExit(main(sys.argv[2:]))
