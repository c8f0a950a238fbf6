"""The probabilistic ensemble world model, with FTFL's two switches (Barkley & Fridovich-Keil, 2025).

The model predicts ``(reward, next state)`` from ``(state, action)`` as a Gaussian per output.
Members are one batched network (:class:`pipeline.nets.EnsembleLinear`, one matmul per layer).

Two independent switches reproduce the paper's ablation:

* ``target``: ``direct`` predicts ``s'``; ``residual`` predicts ``s' - s`` (MBPO).
* ``target_norm``: ``independent`` standardizes the next-state targets per dimension with their
  own statistics and the reward with its own (refit at every retrain on the training split); the
  loss is computed in that normalized space and predictions are de-normalized. ``joint`` is the
  original MBPO: raw targets ``[reward, state part]`` in one loss, so the reward's share of the
  loss is whatever its raw scale makes it.

An optional context vector (``ctx_dim > 0``: a scenario's perturbation parameters as
deviations from nominal, :mod:`robots.context`) is standardized with its own statistics and
appended to the standardized ``[state, action]`` inputs; a missing context means zeros (the
nominal plant). With ``ctx_dim = 0`` (the default) the model is exactly the context-free one:
same parameters, same state dict, same numbers.

Training follows MBPO (REFERENCE.md): inputs standardized, Gaussian NLL with learned log-variance
bounds and their penalty, per-layer weight decay, a holdout split, early stopping when no member
improves its holdout loss by more than 1% for more than ``patience`` epochs (keeping each member's
best snapshot; ``stop_rule`` picks how "improves" is judged, :data:`STOP_RULES`), elites chosen on
holdout loss. Each retrain also stops at ``max_epochs`` and at
``max_retrain_s`` of wall-clock.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from pipeline.nets import EnsembleLinear

STOP_RULES = ("member", "mbrl", "mean")
"""When a retrain has stopped learning (each counts epochs without an improvement of more than
``improvement``, relative, and stops after ``patience`` of them):

* ``member``: a member improved on *its own* best holdout loss, and only improved members' bests
  move. A member that creeps down by less than 1% an epoch still crosses 1% of its stale best every
  few epochs, so with several members one of them nearly always does.
* ``mbrl``: mbrl-lib's ``ModelTrainer.train``: when any member improved, every member's best
  becomes the lower of its best and its current loss, so creeping members reset with it.
* ``mean``: the members' mean holdout loss improved on its best.

Each member keeps the weights of its own lowest holdout loss under every rule."""


@dataclass(frozen=True)
class ModelHyper:
    """Frozen world-model settings read by training and prediction.

    No defaults here: the one place defaults live is :class:`pipeline.config.ModelConfig`, and
    :func:`pipeline.config.model_hyper` derives this from it.
    """

    members: int
    elites: int
    hidden: int
    depth: int
    weight_decay: tuple[float, ...]
    lr: float
    batch_size: int
    holdout_ratio: float
    max_holdout: int
    holdout: str
    patience: int
    max_epochs: int
    max_retrain_s: float
    logvar_penalty: float
    target: str
    target_norm: str
    likelihood: str
    beta: float
    improvement: float = 0.01  # MBPO's early-stopping rule: "improves by more than 1%"
    stop_rule: str = "member"

    def __post_init__(self) -> None:
        if self.target not in ("direct", "residual"):
            raise ValueError(f"target={self.target!r}: valid: direct, residual")
        if self.target_norm not in ("independent", "joint"):
            raise ValueError(f"target_norm={self.target_norm!r}: valid: independent, joint")
        if self.likelihood not in ("gaussian_nll", "beta_nll"):
            raise ValueError(f"likelihood={self.likelihood!r}: valid: gaussian_nll, beta_nll")
        if self.stop_rule not in STOP_RULES:
            raise ValueError(f"stop_rule={self.stop_rule!r}: valid: {', '.join(STOP_RULES)}")
        if not 0 < self.elites <= self.members:
            raise ValueError(f"elites={self.elites}: must be in [1, members={self.members}]")
        if len(self.weight_decay) != self.depth + 1:
            raise ValueError(f"weight_decay has {len(self.weight_decay)} entries; need depth + 1 = {self.depth + 1}")


class Standardizer(nn.Module):
    """Per-dimension ``(x - mean) / std`` with statistics fitted on data.

    A std below 1e-6 is floored at 1e-6, or, with ``constant_as_unit``, replaced by 1: a column
    that never varied in the data (a context slot no real episode perturbed) then passes through
    as ``x - mean`` instead of being multiplied by a million when it finally does vary.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, dim: int, constant_as_unit: bool = False) -> None:
        super().__init__()
        self.constant_as_unit = constant_as_unit
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, x: torch.Tensor) -> None:
        self.mean.copy_(x.mean(0))
        std = x.std(0, unbiased=False)
        if self.constant_as_unit:
            self.std.copy_(torch.where(std < 1e-6, torch.ones_like(std), std))
        else:
            self.std.copy_(std.clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std + self.mean


class EnsembleDynamics(nn.Module):
    """``members`` Gaussian MLPs over standardized ``[state, action(, context)]``; output
    ``[reward, state part]``. ``ctx_dim`` context columns are appended to the inputs when > 0."""

    elite_idx: torch.Tensor
    obs_low: torch.Tensor
    obs_high: torch.Tensor

    def __init__(self, obs_dim: int, act_dim: int, hp: ModelHyper, ctx_dim: int = 0) -> None:
        super().__init__()
        if ctx_dim < 0:
            raise ValueError(f"ctx_dim={ctx_dim}: must be >= 0")
        self.obs_dim, self.act_dim, self.ctx_dim, self.hp = obs_dim, act_dim, ctx_dim, hp
        out = 1 + obs_dim
        sizes = [obs_dim + act_dim + ctx_dim, *([hp.hidden] * hp.depth), 2 * out]
        self.layers = nn.ModuleList(EnsembleLinear(hp.members, a, b) for a, b in pairwise(sizes))
        self.max_logvar = nn.Parameter(torch.full((1, 1, out), 0.5))
        self.min_logvar = nn.Parameter(torch.full((1, 1, out), -10.0))
        self.inputs = Standardizer(obs_dim + act_dim)
        self.targets = Standardizer(out)  # identity (mean 0, std 1) under target_norm=joint
        if ctx_dim:  # registered only when used, so a context-free model's state dict is unchanged
            self.ctx_inputs = Standardizer(ctx_dim, constant_as_unit=True)
        self.register_buffer("elite_idx", torch.arange(hp.elites))
        self.register_buffer("obs_low", torch.full((obs_dim,), -torch.inf))
        self.register_buffer("obs_high", torch.full((obs_dim,), torch.inf))

    def context(self, obs: torch.Tensor, ctx: torch.Tensor | None) -> torch.Tensor | None:
        """``ctx`` checked against ``ctx_dim``; zeros (nominal) when None and the model has a context.

        Raises:
            ValueError: a context of the wrong width, or one given to a context-free model.
        """
        if ctx is None:
            return obs.new_zeros((*obs.shape[:-1], self.ctx_dim)) if self.ctx_dim else None
        if ctx.shape[-1] != self.ctx_dim:
            raise ValueError(f"context has {ctx.shape[-1]} columns; this model takes ctx_dim={self.ctx_dim}")
        return ctx if self.ctx_dim else None

    def features(self, obs: torch.Tensor, act: torch.Tensor, ctx: torch.Tensor | None = None) -> torch.Tensor:
        """The network's input: standardized ``[state, action]``, then the standardized context if any."""
        x = self.inputs(torch.cat([obs, act], dim=-1))
        c = self.context(obs, ctx)
        if c is not None:
            x = torch.cat([x, self.ctx_inputs(c)], dim=-1)
        return x

    def bound_logvar(self, logvar: torch.Tensor) -> torch.Tensor:
        """MBPO's soft log-variance bounds (learned ``max_logvar`` and ``min_logvar``)."""
        logvar = self.max_logvar - F.softplus(self.max_logvar - logvar)
        return self.min_logvar + F.softplus(logvar - self.min_logvar)

    def raw(
        self,
        obs: torch.Tensor,
        act: torch.Tensor,
        ctx: torch.Tensor | None = None,
        members: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance in the model's target space, ``[members, batch, 1 + obs_dim]``.

        ``members`` (indices) computes only those members, in that order (prediction needs only the
        elites); None computes all of them. Each member's numbers are the same either way.
        """
        x = self.features(obs, act, ctx)
        layers = [
            (layer.weight, layer.bias) if members is None else (layer.weight[members], layer.bias[members])
            for layer in self.layers
            if isinstance(layer, EnsembleLinear)
        ]
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(layers[0][0].shape[0], -1, -1)
        for weight, bias in layers[:-1]:
            x = F.silu(torch.baddbmm(bias, x, weight))
        mean, logvar = torch.baddbmm(layers[-1][1], x, layers[-1][0]).chunk(2, dim=-1)
        return mean, self.bound_logvar(logvar)

    def raw_rows(
        self, obs: torch.Tensor, act: torch.Tensor, ctx: torch.Tensor | None, member: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of each row from its own member only, ``[batch, 1 + obs_dim]``.

        ``member[i]`` (an index into all members) is the one member computed for row ``i``: rows are
        sorted by member and each member runs on its own rows, so the network's work is that of one
        member, not of every member. Row ``i``'s numbers are ``raw(...)[member[i], i]`` up to float
        rounding (the matmuls run on other row counts). It runs the layers itself: a subclass that
        replaces :meth:`raw` (a test double) must replace this too.
        """
        x = self.features(obs, act, ctx)
        params = [(layer.weight, layer.bias) for layer in self.layers if isinstance(layer, EnsembleLinear)]
        order = torch.argsort(member, stable=True)
        counts = torch.bincount(member, minlength=self.hp.members).tolist()
        inplace = not torch.is_grad_enabled()  # an in-place activation would break a backward pass
        parts = []
        for m, rows in enumerate(x[order].split(counts)):
            if rows.shape[0] == 0:
                continue
            h = rows
            for weight, bias in params[:-1]:
                h = F.silu(torch.addmm(bias[m, 0], h, weight[m]), inplace=inplace)
            parts.append(torch.addmm(params[-1][1][m, 0], h, params[-1][0][m]))
        out = x.new_empty((x.shape[0], params[-1][0].shape[-1]))
        if parts:
            out[order] = torch.cat(parts)
        mean, logvar = out.chunk(2, dim=-1)
        return mean, self.bound_logvar(logvar.unsqueeze(0)).squeeze(0)

    def encode_targets(self, obs: torch.Tensor, rew: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """Training targets in the model's space: ``[reward, s' or s' - s]``, standardized if independent."""
        state = next_obs - obs if self.hp.target == "residual" else next_obs
        return self.targets(torch.cat([rew.unsqueeze(-1), state], dim=-1))

    def decode(self, obs: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of ``[reward, next state]`` in the plant's units."""
        mean = self.targets.inverse(mean)
        var = logvar.exp() * self.targets.std.pow(2)
        if self.hp.target == "residual":
            mean = torch.cat([mean[..., :1], mean[..., 1:] + obs], dim=-1)
        return mean, var

    def version(self) -> str:
        """A version id: the first 12 hex digits of the SHA-256 of the weights and statistics."""
        buf = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in self.state_dict().items()}, buf)
        return hashlib.sha256(buf.getvalue()).hexdigest()[:12]


def nll_loss(
    model: EnsembleDynamics,
    obs: torch.Tensor,
    act: torch.Tensor,
    target: torch.Tensor,
    ctx: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Gaussian NLL (constant dropped) summed over members, plus the log-variance bound penalty.

    With ``likelihood=beta_nll`` each element's NLL is weighted by its own predicted variance to the
    power ``beta``, held constant (β-NLL, Seitzer et al. 2022), so a target cannot be written off
    as noise by inflating its variance (REFERENCE.md, pitfalls).

    ``obs``/``act``/``target`` (and ``ctx``) are ``[members, batch, ...]``. Returns the loss and metrics: the
    reward's share of the squared error, and the reward and state blocks' NLL.
    """
    mean, logvar = model.raw(obs, act, ctx)
    per_dim = (mean - target).pow(2) * torch.exp(-logvar) + logvar  # [m, b, 1 + obs_dim]
    if model.hp.likelihood == "beta_nll":
        per_dim = per_dim * torch.exp(model.hp.beta * logvar).detach()
    per_dim_mean = per_dim.mean(dim=(0, 1))
    nll = per_dim.mean(dim=(1, 2)).sum()
    penalty = model.hp.logvar_penalty * (model.max_logvar.sum() - model.min_logvar.sum())
    mse_per_dim = (mean - target).pow(2).detach().mean(dim=(0, 1))
    metrics = {
        "model/nll": nll.detach(),
        "model/reward_mse_share": mse_per_dim[0] / mse_per_dim.sum(),
        "model/reward_nll": per_dim_mean[0].detach(),
        "model/state_nll": per_dim_mean[1:].detach().mean(),
    }
    return nll + penalty, metrics


def decay_loss(model: EnsembleDynamics) -> torch.Tensor:
    """MBPO's per-layer weight decay: ``sum_l decay_l * ||W_l||^2 / 2``."""
    total = torch.zeros((), device=model.max_logvar.device)
    for layer, decay in zip(model.layers, model.hp.weight_decay, strict=True):
        assert isinstance(layer, EnsembleLinear)
        total = total + decay * 0.5 * layer.weight.pow(2).sum()
    return total


def holdout_mse(
    model: EnsembleDynamics,
    obs: torch.Tensor,
    act: torch.Tensor,
    target: torch.Tensor,
    ctx: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-member mean squared error on the holdout set, in the model's target space."""
    with torch.no_grad():
        mean, _ = model.raw(obs, act, ctx)
        return (mean - target.unsqueeze(0)).pow(2).mean(dim=(1, 2))


@dataclass
class FitReport:
    """What one retrain did."""

    epochs: int
    steps: int
    seconds: float
    stopped_by: str
    holdout_mse: list[float]
    elites: list[int]
    version: str
    metrics: dict[str, float]
    holdout: torch.Tensor
    """Row indices held out of this retrain (for diagnostics on unseen real data)."""
    skipped_steps: int = 0
    """Gradient steps skipped because their loss was NaN or infinite (issue 8)."""


def fixed_holdout(n: int, ratio: float, cap: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Holdout and training rows of ``n`` transitions where row ``i``'s membership depends on ``i``
    only: its key is the Weyl sequence ``frac(i * 0.618...)``, and the rows whose key is below
    ``ratio`` are held out (at most ``cap``: those with the smallest keys). So a row held out in one
    retrain is held out in every later one until the cap pushes it into training, and a row once
    trained on is never held out again: the early-stopping loss of a warm-started retrain is
    measured on data the model has not been fitted to."""
    key = (torch.arange(n, dtype=torch.float64) * 0.6180339887498949) % 1.0
    candidates = torch.nonzero(key < ratio).squeeze(1)
    hold = candidates[torch.argsort(key[candidates])[:cap]]
    mask = torch.ones(n, dtype=torch.bool)
    mask[hold] = False
    return hold.to(device), torch.nonzero(mask).squeeze(1).to(device)


def fit(
    model: EnsembleDynamics,
    optimizer: torch.optim.Optimizer,
    obs: torch.Tensor,
    act: torch.Tensor,
    rew: torch.Tensor,
    next_obs: torch.Tensor,
    generator: torch.Generator,
    ctx: torch.Tensor | None = None,
) -> FitReport:
    """Retrains the ensemble (warm start) on all given real transitions.

    Refits the input standardizer (and the context's, when the model has one), and under
    ``target_norm=independent`` the target standardizer (state block and reward each with their
    own statistics), on the training split only. ``ctx`` is each transition's context
    (``[n, ctx_dim]``); None means all nominal.
    """
    hp = model.hp
    n = obs.shape[0]
    perm = torch.randperm(n, generator=generator, device=generator.device).to(obs.device)
    if hp.holdout == "fixed":
        hold, train = fixed_holdout(n, hp.holdout_ratio, hp.max_holdout, obs.device)
    else:
        n_hold = min(int(n * hp.holdout_ratio), hp.max_holdout)
        hold, train = perm[:n_hold], perm[n_hold:]
    n_hold = hold.shape[0]
    model.inputs.fit(torch.cat([obs[train], act[train]], dim=-1))
    c = model.context(obs, ctx)
    if c is not None:
        model.ctx_inputs.fit(c[train])
    state = next_obs - obs if hp.target == "residual" else next_obs
    raw_targets = torch.cat([rew.unsqueeze(-1), state], dim=-1)
    if hp.target_norm == "independent":
        model.targets.fit(raw_targets[train])
    model.obs_low.copy_(torch.minimum(obs.min(0).values, next_obs.min(0).values))
    model.obs_high.copy_(torch.maximum(obs.max(0).values, next_obs.max(0).values))
    targets = model.targets(raw_targets)
    n_train = train.shape[0]
    c_hold = c[hold] if c is not None else None
    best = (
        holdout_mse(model, obs[hold], act[hold], targets[hold], c_hold)
        if n_hold
        else torch.full((hp.members,), torch.inf)
    )
    best_mean = float(best.mean())
    snapshot = {k: v.detach().clone() for k, v in model.state_dict().items()}
    since_improved, epochs, steps, stopped_by = 0, 0, 0, "max_epochs"
    skipped = 0
    start = time.perf_counter()
    totals: dict[str, float] = {}
    while epochs < hp.max_epochs:
        # Each member sees its own bootstrap resample of the training split (MBPO).
        idx = train[
            torch.randint(0, n_train, (hp.members, n_train), generator=generator, device=generator.device).to(
                obs.device
            )
        ]
        for b in range(0, n_train, hp.batch_size):
            batch = idx[:, b : b + hp.batch_size]
            loss, metrics = nll_loss(model, obs[batch], act[batch], targets[batch], c[batch] if c is not None else None)
            loss = loss + decay_loss(model)
            if not bool(torch.isfinite(loss)):  # NaN/inf: skip the step, count it (issue 8)
                skipped += 1
                continue
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
        epochs += 1
        totals = {k: float(v) for k, v in metrics.items()}
        if not n_hold:
            continue
        current = holdout_mse(model, obs[hold], act[hold], targets[hold], c_hold)
        keep, learning, best_mean = stop_step(hp, best, current, best_mean)
        if keep.any():
            best = torch.where(keep, current, best)
            for key, value in model.state_dict().items():  # keep each member's best weights
                if key.startswith("layers."):
                    snapshot[key][keep] = value.detach()[keep]
        since_improved = 0 if learning else since_improved + 1
        if since_improved > hp.patience:
            stopped_by = "early_stopping"
            break
        if time.perf_counter() - start > hp.max_retrain_s:
            stopped_by = "wall_clock"
            break
    if n_hold:
        layer_state = {k: v for k, v in snapshot.items() if k.startswith("layers.")}
        model.load_state_dict({**model.state_dict(), **layer_state})
        final = holdout_mse(model, obs[hold], act[hold], targets[hold], c_hold)
        model.elite_idx.copy_(torch.argsort(final)[: hp.elites])
    else:
        final = torch.zeros(hp.members)
    return FitReport(
        epochs=epochs,
        steps=steps,
        seconds=time.perf_counter() - start,
        stopped_by=stopped_by,
        holdout_mse=[float(v) for v in final],
        elites=[int(i) for i in model.elite_idx],
        version=model.version(),
        metrics=totals,
        holdout=hold,
        skipped_steps=skipped,
    )


def stop_step(
    hp: ModelHyper, best: torch.Tensor, current: torch.Tensor, best_mean: float
) -> tuple[torch.Tensor, bool, float]:
    """One epoch of the stopping rule ``hp.stop_rule`` (:data:`STOP_RULES`): which members' bests
    (and weights) to replace by the current ones, whether the retrain is still learning, and the
    best mean loss so far."""
    improved = (best - current) / best.clamp_min(1e-12) > hp.improvement
    if hp.stop_rule == "member":
        return improved, bool(improved.any()), best_mean
    lower = current < best
    if hp.stop_rule == "mbrl":
        learning = bool(improved.any())
        return (lower if learning else torch.zeros_like(lower)), learning, best_mean
    mean = float(current.mean())
    learning = (best_mean - mean) / max(best_mean, 1e-12) > hp.improvement
    return lower, learning, min(best_mean, mean) if learning else best_mean


def make_optimizer(model: EnsembleDynamics) -> torch.optim.Optimizer:
    """Adam over every trainable parameter (decay is in the loss, per layer)."""
    return torch.optim.Adam(model.parameters(), lr=model.hp.lr, fused=True)


def elite_spread(means: torch.Tensor) -> torch.Tensor:
    """The elites' disagreement per row: the std across elites (dim 0, unbiased) of their next-state
    means ``[elites, rows, obs_dim]``, averaged over state dims, ``[rows]``.

    Written out rather than ``means.std(dim=0)``, which took ~16x longer at ``[5, 1024, 17]`` on one
    CPU thread (torch 2.13) and gives the same numbers up to float rounding.
    """
    centred = means - means.mean(dim=0)
    return (centred.square().sum(dim=0) / (means.shape[0] - 1)).sqrt().mean(dim=-1)


@dataclass(frozen=True)
class Draws:
    """The random numbers of one model step for a batch of rows: each row's elite (``pick``, an index
    into ``elite_idx``) and its standard-normal noise, ``[rows, 1 + obs_dim]``."""

    pick: torch.Tensor
    noise: torch.Tensor

    def rows(self, idx: torch.Tensor) -> Draws:
        """The draws of the rows ``idx`` only."""
        return Draws(self.pick[idx], self.noise[idx])


def draw(model: EnsembleDynamics, n: int, generator: torch.Generator, device: torch.device) -> Draws:
    """The draws :func:`predict` makes for ``n`` rows, in its order: the elite picks, then the noise."""
    pick = torch.randint(0, model.hp.elites, (n,), generator=generator, device=generator.device).to(device)
    noise = torch.randn((n, 1 + model.obs_dim), generator=generator, device=generator.device).to(device)
    return Draws(pick, noise)


def predict(
    model: EnsembleDynamics,
    obs: torch.Tensor,
    act: torch.Tensor,
    generator: torch.Generator,
    ctx: torch.Tensor | None = None,
    *,
    disagreement: bool = True,
    draws: Draws | None = None,
) -> dict[str, Any]:
    """One sampled step per row from a randomly drawn elite (MBPO's model-as-environment step).

    ``ctx`` is each row's context (None: nominal). ``draws`` are the step's random numbers, one row
    per row of ``obs`` (None: drawn here from ``generator``, see :func:`draw`; a caller that steps only
    some rows of a larger batch passes that batch's draws of those rows, so each row keeps its own
    random numbers whichever other rows are stepped).

    With ``disagreement`` every elite is computed for every row, as the disagreement needs; without
    it, each row is computed by its drawn elite only (:meth:`EnsembleDynamics.raw_rows`, 1/elites of
    the work). Both give the same step up to float rounding for the same draws.

    Returns ``reward``, ``next_obs`` (sampled from the elite's Gaussian), the elites' mean
    prediction spread (``disagreement``: mean over dims of the std across elites of the next-state
    means; None without ``disagreement``) and the index of the elite each row used (``elite``).

    Raises:
        ValueError: ``draws`` for another number of rows than ``obs`` has.
    """
    if draws is not None and draws.pick.shape[0] != obs.shape[0]:
        raise ValueError(f"draws has {draws.pick.shape[0]} rows for {obs.shape[0]} rows of obs: need one per row")
    with torch.no_grad():
        if draws is None:
            draws = draw(model, obs.shape[0], generator, obs.device)
        pick = draws.pick
        spread = None
        if disagreement:
            mean, logvar = model.raw(obs, act, ctx, members=model.elite_idx)  # only the elites are ever used
            elites, var = model.decode(obs, mean, logvar)  # [elites, b, out]
            rows = torch.arange(obs.shape[0], device=obs.device)
            mu, sd = elites[pick, rows], var[pick, rows].sqrt()
            spread = elite_spread(elites[..., 1:])
        else:
            mean, logvar = model.raw_rows(obs, act, ctx, model.elite_idx[pick])
            mu, var = model.decode(obs, mean, logvar)
            sd = var.sqrt()
        sample = mu + sd * draws.noise
    return {"reward": sample[:, 0], "next_obs": sample[:, 1:], "disagreement": spread, "elite": pick}
