"""A/B: ``torch.compile`` against eager for the networks the synthetic panel steps, at its sizes.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/ab_compile.py [--rows 205] [--repeats 5]

The synthetic panel (issue 6) routes each row to its drawn elite, so at 2 x 512 episodes and 5
elites each elite's MLP sees about 205 rows per step; the actor sees all 1,024. Both networks are
timed in eager mode and compiled (inductor, ``mode="default"`` and ``"max-autotune"``, static
shapes, which is the most favourable case: the panel's row counts change every step). Timings are
CPU time of this process, variants alternated, medians of ``--repeats`` rounds; outputs are
compared so a speed-up cannot come from computing something else.

A third case is issue 10's: one ensemble train step (7 members, 256 rows each, Gaussian NLL +
decay, backward, Adam) with the loss computed eagerly or by the compiled loss function
(``mode="default"``); the two models start equal, and their parameters are compared afterwards.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import torch
from torch import nn

from pipeline.config import AlgoConfig, ModelConfig, model_hyper
from pipeline.world_model import EnsembleDynamics, decay_loss, make_optimizer, nll_loss

OBS, ACT, CTX = 17, 6, 32  # cheetah-run, and the width of its context encoding


def elite_mlp(cfg: ModelConfig) -> nn.Sequential:
    """One elite at MBPO size: 4 x 200 SiLU, mean and log-variance of reward and state out."""
    sizes = [OBS + ACT + CTX, *([cfg.hidden] * cfg.depth)]
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.SiLU()]
    return nn.Sequential(*layers, nn.Linear(cfg.hidden, 2 * (OBS + 1))).eval()


def actor_mlp() -> nn.Sequential:
    """SAC's 2 x 256 ReLU actor (means and raw log-stds out)."""
    return nn.Sequential(nn.Linear(OBS, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 2 * ACT)).eval()


def flops(net: nn.Sequential, rows: int) -> int:
    return sum(2 * rows * m.in_features * m.out_features for m in net if isinstance(m, nn.Linear))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=205, help="rows per elite (the actor gets 5x as many)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--inner", type=int, default=200)
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    torch.mm(a, b)
    c0 = time.process_time()
    for _ in range(3):
        torch.mm(a, b)
    peak = 3 * 2 * 2048**3 / (time.process_time() - c0) / 1e9
    print(f"matmul peak (torch.mm 2048, 1 thread): {peak:.1f} GFLOP/s")
    cases = {"elite MLP (4 x 200 SiLU)": (elite_mlp(ModelConfig()), args.rows),
             "actor (2 x 256 ReLU)": (actor_mlp(), 5 * args.rows)}  # fmt: skip
    for name, (net, rows) in cases.items():
        x = torch.randn(rows, net[0].in_features)
        variants = {"eager": net}
        for mode in ("default", "max-autotune"):
            variants[mode] = torch.compile(net, mode=mode, dynamic=False)
        with torch.inference_mode():
            ref = net(x)
            for key, f in variants.items():
                diff = float((f(x) - ref).abs().max())
                print(f"{name}, {key}: max |output - eager| = {diff:.1e}")
            times: dict[str, list[float]] = {k: [] for k in variants}
            for _ in range(args.repeats):
                for key, f in variants.items():
                    for _ in range(10):
                        f(x)
                    c0 = time.process_time()
                    for _ in range(args.inner):
                        f(x)
                    times[key].append((time.process_time() - c0) / args.inner)
        base = statistics.median(times["eager"])
        print(f"{name}, {rows} rows | variant | us per call | GFLOP/s | fraction of peak | speed-up")
        for key, ts in times.items():
            t = statistics.median(ts)
            gf = flops(net, rows) / t / 1e9
            print(f"  {key:13s} {t * 1e6:9.0f} {gf:8.1f} {gf / peak:8.2f} {base / t:8.2f}")
    train_step(args.repeats)


def train_step(repeats: int) -> None:
    """Ensemble train step, eager loss against compiled loss."""

    def loss_fn(model: EnsembleDynamics, x: torch.Tensor, a: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        loss, _ = nll_loss(model, x, a, t)
        return loss + decay_loss(model)

    def fresh() -> tuple[EnsembleDynamics, torch.optim.Optimizer]:
        torch.manual_seed(0)
        model = EnsembleDynamics(OBS, ACT, model_hyper(AlgoConfig()))
        return model, make_optimizer(model)

    hp = fresh()[0].hp
    x, a = torch.randn(hp.members, hp.batch_size, OBS), torch.rand(hp.members, hp.batch_size, ACT) * 2 - 1
    target = torch.randn(hp.members, hp.batch_size, 1 + OBS)
    compiled = torch.compile(loss_fn, dynamic=False)
    variants = {"eager": (*fresh(), loss_fn), "default": (*fresh(), compiled)}
    times: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(repeats + 1):
        for key, (model, opt, fn) in variants.items():
            c0 = time.process_time()
            for _ in range(10):
                loss = fn(model, x, a, target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            if r:  # the first round compiles and warms up
                times[key].append((time.process_time() - c0) / 10)
    pairs = zip(variants["eager"][0].parameters(), variants["default"][0].parameters(), strict=True)
    diff = max(float((p - q).detach().abs().max()) for p, q in pairs)
    base = statistics.median(times["eager"])
    print(f"ensemble train step (7 x 4 x 200, 256 rows each): after {10 * (repeats + 1)} identical steps, "
          f"max |parameter difference| = {diff:.1e}")  # fmt: skip
    for key, ts in times.items():
        t = statistics.median(ts)
        print(f"  {key:13s} {t * 1e3:9.2f} ms   speed-up {base / t:5.2f}")


if __name__ == "__main__":
    main()
