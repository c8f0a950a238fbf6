"""Batched network building blocks: ensembles computed as one matmul per layer.

SAC's twin critics and the world model's ensemble members share this: ``m`` independent MLPs
whose layer ``l`` is a single ``torch.baddbmm`` over a ``[m, in, out]`` weight tensor.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from torch import nn


class EnsembleLinear(nn.Module):
    """``members`` independent linear layers applied as one batched matmul.

    Input ``[members, batch, in]``, output ``[members, batch, out]``. Each member is initialised
    like ``nn.Linear`` (uniform in ±1/sqrt(in) for weight and bias).
    """

    def __init__(self, members: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.members, self.in_features, self.out_features = members, in_features, out_features
        self.weight = nn.Parameter(torch.empty(members, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(members, 1, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class InplaceReLU(nn.ReLU):
    """ReLU written over its input. Used after a linear layer, whose backward keeps its inputs and
    not its output, so overwriting the output is safe for autograd; it saves one allocation and one
    pass over memory per layer: 1.01-1.21x (eight runs, median 1.05x) on the SAC update and
    1.07-1.14x on a stacked four-seed update (same process, CPU time, alternated, bitwise equal
    weights; benchmarks/ab_relu.py, docs/performance.md sections 6-7)."""

    def __init__(self) -> None:
        super().__init__(inplace=True)


class EnsembleMLP(nn.Module):
    """``members`` MLPs of equal shape, each layer one batched matmul.

    ``forward`` accepts ``[batch, in]`` (shared by every member) or ``[members, batch, in]``.
    """

    def __init__(
        self,
        members: int,
        in_features: int,
        out_features: int,
        hidden: int,
        depth: int,
        activation: type[nn.Module] = InplaceReLU,
    ) -> None:
        super().__init__()
        sizes = [in_features, *([hidden] * depth), out_features]
        self.members = members
        self.layers = nn.ModuleList(EnsembleLinear(members, a, b) for a, b in pairwise(sizes))
        self.activation = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.members, -1, -1)
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        out: torch.Tensor = self.layers[-1](x)
        return out


def mlp(in_features: int, out_features: int, hidden: int, depth: int) -> nn.Sequential:
    """A plain ReLU MLP with ``depth`` hidden layers of width ``hidden`` (ReLU in place, see
    :class:`InplaceReLU`)."""
    sizes = [in_features, *([hidden] * depth)]
    layers: list[nn.Module] = []
    for a, b in pairwise(sizes):
        layers += [nn.Linear(a, b), InplaceReLU()]
    layers.append(nn.Linear(sizes[-1], out_features))
    return nn.Sequential(*layers)
