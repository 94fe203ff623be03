"""A snapshot of everything about a model that nbsaliency promises never to change."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
               "_state_dict_hooks", "_load_state_dict_pre_hooks")


@dataclass
class ModelSnapshot:
    modules: dict[str, int]
    training: dict[str, bool]
    requires_grad: dict[str, bool]
    tensors: dict[str, torch.Tensor]
    hooks: dict[str, tuple[int, ...]]

    @classmethod
    def of(cls, model: nn.Module) -> ModelSnapshot:
        return cls(
            modules={name: id(m) for name, m in model.named_modules()},
            training={name: m.training for name, m in model.named_modules()},
            requires_grad={name: p.requires_grad for name, p in model.named_parameters()},
            tensors={name: t.detach().clone() for name, t in model.state_dict(keep_vars=True).items()},
            hooks={name: tuple(len(getattr(m, d, {})) for d in _HOOK_DICTS) for name, m in model.named_modules()},
        )

    def assert_unchanged(self, model: nn.Module) -> None:
        after = ModelSnapshot.of(model)
        assert after.modules == self.modules, "module objects changed"
        assert after.training == self.training, "training flags changed"
        assert after.requires_grad == self.requires_grad, "requires_grad flags changed"
        assert after.hooks == self.hooks, "hooks left on the model"
        assert after.tensors.keys() == self.tensors.keys()
        for name, tensor in self.tensors.items():
            assert torch.equal(after.tensors[name], tensor), f"{name} changed"
        for name, p in model.named_parameters():
            assert p.grad is None, f".grad of {name} was filled"
