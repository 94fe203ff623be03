"""A snapshot of everything about a model (and the process state around it) that nbsaliency promises never to change.

``ModelSnapshot.of(model)`` before a call and ``snapshot.assert_unchanged(model)`` after it — also after the call
raised — check:

- the module tree: the same module objects under the same names, the same attribute names on each module, the same
  ``training`` flag per module;
- every hook dict of every module (forward, pre-forward, with kwargs, always-called, backward, state-dict hooks);
- every parameter and buffer, persistent or not (``named_buffers``, not only ``state_dict``): the same tensor
  object, ``requires_grad``, dtype, device, shape and bit-identical values, no ``.grad``, and no tensor hooks
  (``Tensor.register_hook`` -> ``_backward_hooks``, ``register_post_accumulate_grad_hook``);
- process-wide state a library may leak: the global module hook registries of ``torch.nn.modules.module``, the
  ``TorchFunctionMode`` and ``TorchDispatchMode`` stacks, grad mode, inference mode and anomaly detection.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.modules.module as module_globals
from torch import nn
from torch.overrides import _get_current_function_mode_stack
from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

MODULE_HOOK_DICTS = ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
                     "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_backward_hooks", "_backward_pre_hooks",
                     "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
                     "_load_state_dict_post_hooks")
TENSOR_HOOK_DICTS = ("_backward_hooks", "_post_accumulate_grad_hooks")
GLOBAL_HOOK_DICTS = tuple(sorted(name for name in vars(module_globals)
                                 if name.startswith("_global_") and name.endswith("_hooks")))


def _keys(hooks: object) -> tuple:
    """The handles' ids of a hook dict (None and an emptied dict both mean "no hooks")."""
    return tuple(hooks.keys()) if hooks else ()


def _tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    named = dict(model.named_parameters(remove_duplicate=False))
    named.update({f"buffer:{n}": b for n, b in model.named_buffers(remove_duplicate=False) if b is not None})
    return named


def _bits(t: torch.Tensor) -> torch.Tensor | None:
    """The tensor's raw bytes (so -0.0 differs from 0.0 and a NaN equals itself); None for meta tensors."""
    if t.device.type == "meta":
        return None
    return t.detach().cpu().contiguous().clone().view(-1).view(torch.uint8) if t.numel() else t.detach().cpu().clone()


def process_state() -> dict[str, object]:
    """Process-wide state that a call on a model could leak."""
    return {
        **{name: _keys(getattr(module_globals, name)) for name in GLOBAL_HOOK_DICTS},
        "torch function modes": tuple(type(m).__name__ for m in _get_current_function_mode_stack()),
        "torch dispatch modes": tuple(type(m).__name__ for m in _get_current_dispatch_mode_stack()),
        "grad mode": torch.is_grad_enabled(),
        "inference mode": torch.is_inference_mode_enabled(),
        "anomaly detection": torch.is_anomaly_enabled(),
    }


@dataclass
class ModelSnapshot:
    modules: dict[str, int]
    attributes: dict[str, tuple[str, ...]]
    training: dict[str, bool]
    hooks: dict[str, tuple[tuple, ...]]
    tensor_ids: dict[str, int]
    requires_grad: dict[str, bool]
    layout: dict[str, tuple]
    bits: dict[str, torch.Tensor | None]
    tensor_hooks: dict[str, tuple[tuple, ...]]
    process: dict[str, object]

    @classmethod
    def of(cls, model: nn.Module) -> ModelSnapshot:
        modules = dict(model.named_modules(remove_duplicate=False))
        tensors = _tensors(model)
        return cls(
            modules={name: id(m) for name, m in modules.items()},
            attributes={name: tuple(sorted(vars(m))) for name, m in modules.items()},
            training={name: m.training for name, m in modules.items()},
            hooks={name: tuple(_keys(getattr(m, d, None)) for d in MODULE_HOOK_DICTS) for name, m in modules.items()},
            tensor_ids={name: id(t) for name, t in tensors.items()},
            requires_grad={name: t.requires_grad for name, t in tensors.items()},
            layout={name: (t.dtype, t.device, tuple(t.shape), t.stride()) for name, t in tensors.items()},
            bits={name: _bits(t) for name, t in tensors.items()},
            tensor_hooks={name: tuple(_keys(getattr(t, d, None)) for d in TENSOR_HOOK_DICTS)
                          for name, t in tensors.items()},
            process=process_state(),
        )

    def assert_unchanged(self, model: nn.Module) -> None:
        after = ModelSnapshot.of(model)
        assert after.modules == self.modules, "module objects changed"
        assert after.attributes == self.attributes, _diff("module attributes changed", self.attributes,
                                                          after.attributes)
        assert after.training == self.training, _diff("training flags changed", self.training, after.training)
        assert after.hooks == self.hooks, _diff("module hooks left on the model", self.hooks, after.hooks)
        assert after.tensor_ids == self.tensor_ids, "parameter / buffer objects replaced or added"
        assert after.requires_grad == self.requires_grad, _diff("requires_grad flags changed", self.requires_grad,
                                                                after.requires_grad)
        assert after.layout == self.layout, _diff("dtype / device / shape / strides changed", self.layout,
                                                  after.layout)
        assert after.tensor_hooks == self.tensor_hooks, _diff("hooks left on parameters / buffers",
                                                              self.tensor_hooks, after.tensor_hooks)
        for name, bits in self.bits.items():
            if bits is not None:
                assert torch.equal(after.bits[name], bits), f"{name} changed"
        for name, t in _tensors(model).items():
            assert t.grad is None, f".grad of {name} was filled"
        assert after.process == self.process, _diff("process-wide state leaked", self.process, after.process)


def _diff(message: str, before: dict, after: dict) -> str:
    changed = {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    return f"{message}: {changed}"
