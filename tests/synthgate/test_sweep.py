"""``synthgate sweep``: Hydra's sweep expansion, and the same two-job sweep on the local executor and on
a local Ray (num_cpus=2) giving the same runs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from pipeline.executor import ExecutorError, make_executor
from synthgate.sweep import SweepError, expand, job_name, parse_options, sweep

TINY = [
    "robot=cartpole-swingup", "algo=sac", "steps=300", "learning_starts=150", "checkpoint_every=300",
    "eval_every=0", "eval_episodes=2", "log_every=100", "threads=1", "sac.hidden=16",
    "+robot_settings.max_episode_steps=100",
]  # fmt: skip


def test_expand_is_hydras_product_in_order() -> None:
    jobs = expand(["algo=sac,ftfl", "seed=0,1,2", "steps=10"])
    assert len(jobs) == 6
    assert jobs[0] == ["algo=sac", "seed=0", "steps=10"] and jobs[-1] == ["algo=ftfl", "seed=2", "steps=10"]
    assert expand(["seed=range(2)"]) == [["seed=0"], ["seed=1"]]
    assert job_name(["algo=sac", "seed=0", "steps=10"], ["algo", "seed"]) == "algo-sac_seed-0"


def test_bad_options_are_clear_errors() -> None:
    with pytest.raises(SweepError, match="sweep_dir"):
        parse_options(["seed=0,1"])
    with pytest.raises(SweepError, match="workers='x'"):
        parse_options(["sweep_dir=/tmp/x", "workers=x"])
    with pytest.raises(SweepError, match="run_dir is set by the sweep"):
        parse_options(["sweep_dir=/tmp/x", "run_dir=/tmp/y"])
    with pytest.raises(ExecutorError, match="valid: local, ray"):
        make_executor("dask")


def _runs(results: list[dict]) -> dict[str, dict]:
    assert all(r["returncode"] == 0 for r in results), [Path(r["log"]).read_text()[-2000:] for r in results]
    return {r["name"]: r["summary"] for r in results}


def _same(a: dict[str, dict], b: dict[str, dict]) -> None:
    assert a.keys() == b.keys() == {"seed-0", "seed-1"}
    for name in a:
        assert a[name]["eval_returns"] == b[name]["eval_returns"]
        assert a[name]["updates"] == b[name]["updates"] and a[name]["ledger"] == b[name]["ledger"]
    assert a["seed-0"]["eval_returns"] != a["seed-1"]["eval_returns"]  # the seeds really differ


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The reference: the sweep run one job after another in this process's executor."""
    return _runs(sweep([f"sweep_dir={tmp_path_factory.mktemp('local')}/one", "seed=0,1", *TINY]))


def test_two_job_sweep_local_in_process_and_pool_agree(tmp_path: Path, local_runs: dict[str, dict]) -> None:
    one = local_runs
    pool = _runs(sweep([f"sweep_dir={tmp_path}/pool", "workers=2", "seed=0,1", *TINY]))
    _same(one, pool)
    record = json.loads((tmp_path / "pool" / "sweep.json").read_text())
    assert record["options"]["workers"] == "2" and len(record["jobs"]) == 2


@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install 'synthgate[ray]')"
)
def test_two_job_sweep_on_local_ray_matches_local(tmp_path: Path, local_runs: dict[str, dict]) -> None:
    import ray

    local = local_runs
    try:
        on_ray = _runs(sweep([f"sweep_dir={tmp_path}/ray", "executor=ray", "workers=2", "seed=0,1", *TINY]))
        assert ray.cluster_resources().get("CPU") == 2.0
    finally:
        ray.shutdown()
    _same(local, on_ray)
