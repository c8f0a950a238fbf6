"""Would stacked seeds pay for the model-based loop? S seeds' ensembles as one batched ensemble,
against S processes (issue 19, item 2).

Usage: PYTHONPATH=. python benchmarks/ab_stacked_model.py [--seeds 2] [--rounds 4] [--epochs 4]
                                                        [--rows 10000] [--out FILE]

The cost measured is the world model's retrain, the model-based loop's largest part besides the
agent's updates (whose stacking section 11 of docs/performance.md measured in the loop: median
1.10x). Both variants do the same arithmetic: ``--epochs`` epochs of the production
:func:`pipeline.world_model.fit` over ``--rows`` transitions at walker-walk's sizes (obs 24, act 6),
the online study's ensemble (4 x 200 SiLU, batch 256 per member, early stopping and the wall-clock
cap off):

* ``processes``: S child processes at once, one torch thread each, each fitting a 7-member
  ensemble (what S runs side by side do, the way ``studies/online.py train --workers S`` runs them);
* ``stacked``: one child process with S torch threads fitting one ensemble of 7 x S members (what
  one stacked run would do: every member's batched matmul over all seeds at once).

A stacked run would keep each seed's standardizers and elites apart; one ensemble of 7 x S members
over one dataset has the same matmul shapes and the same number of steps, which is what the time
depends on. The variants alternate which goes first from round to round. Each child reports its
own fit's wall-clock; a variant's figure is the wall-clock from launching its children to the last
one's end, so process start-up (the same in both) is in both.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

OBS, ACT = 24, 6


def child(members: int, threads: int, epochs: int, rows: int) -> None:
    import torch

    from pipeline.config import AlgoConfig, model_hyper
    from pipeline.world_model import EnsembleDynamics, fit, make_optimizer

    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    obs = torch.randn(rows, OBS, generator=gen)
    act = torch.rand(rows, ACT, generator=gen) * 2 - 1
    nxt = obs + 0.1 * torch.randn(rows, OBS, generator=gen)
    rew = torch.randn(rows, generator=gen)
    per_epoch = math.ceil(rows * 0.8 / 256)
    hp = dataclasses.replace(model_hyper(AlgoConfig()), members=members, elites=min(5, members), patience=10**9,
                             max_epochs=epochs, max_retrain_s=1e9)  # fmt: skip
    model = EnsembleDynamics(OBS, ACT, hp)
    start = time.perf_counter()
    report = fit(model, make_optimizer(model), obs, act, rew, nxt, gen)
    print(json.dumps({"fit_s": time.perf_counter() - start, "steps": report.steps, "per_epoch": per_epoch}))


def launch(members: int, threads: int, count: int, args: argparse.Namespace) -> tuple[float, list[dict]]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, "--child", str(members), str(threads), "--epochs", str(args.epochs),
           "--rows", str(args.rows)]  # fmt: skip
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) for _ in range(count)]
    outs = [json.loads(p.communicate()[0]) for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit("a child failed")
    return time.perf_counter() - start, outs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--child", nargs=2, type=int, metavar=("MEMBERS", "THREADS"), help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.epochs, args.rows)
        return
    s = args.seeds
    rounds = []
    for r in range(args.rounds):
        order = ["processes", "stacked"] if r % 2 == 0 else ["stacked", "processes"]
        row: dict[str, object] = {"round": r + 1, "first": order[0]}
        for variant in order:
            wall, outs = launch(7, 1, s, args) if variant == "processes" else launch(7 * s, s, 1, args)
            row[variant] = {"wall_s": wall, "fit_s": [o["fit_s"] for o in outs], "steps": outs[0]["steps"]}
        row["ratio"] = row["processes"]["wall_s"] / row["stacked"]["wall_s"]  # type: ignore[index]
        print(json.dumps(row), flush=True)
        rounds.append(row)
    ratios = [float(r["ratio"]) for r in rounds]  # type: ignore[arg-type]
    summary = {
        "command": " ".join(["python", "benchmarks/ab_stacked_model.py", *sys.argv[1:]]),
        "seeds": s, "epochs": args.epochs, "rows": args.rows, "rounds": rounds,
        "median_ratio": statistics.median(ratios),
        "note": "ratio = processes' wall-clock / stacked wall-clock for the same fits; above 1 means stacking pays",
    }  # fmt: skip
    print(f"median ratio (processes / stacked): {summary['median_ratio']:.2f}")
    if args.out:
        args.out.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
