"""Measuring attributions instead of only looking at them.

* Localisation against ground-truth object masks: the pointing game (Zhang et al. 2018, "Top-down Neural
  Attention by Excitation Backprop": is the map's maximum on the object?) and the share of the map's
  energy inside the mask (Wang et al. 2020, "Score-CAM", energy-based pointing game). Chance level for both
  is the mask's share of the image.
* The sanity check of Adebayo et al. 2018 ("Sanity Checks for Saliency Maps"): randomise the model's layers
  from the top, cumulatively, and measure how similar (Spearman rank correlation) the maps stay. A method
  that still draws the same picture without the trained weights explains the input, not the model.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from .maps import saliency_map


def evidence_map(method: str, attribution: Tensor) -> Tensor:
    """One non-negative ``(..., H, W)`` map per attribution: max over channels of |a| (Simonyan et al.), except
    occlusion, whose positive part is the evidence (a negative drop means hiding the patch *helped*)."""
    if method == "occlusion":
        return attribution.mean(dim=-3).clamp(min=0)
    return saliency_map(attribution)


def pointing_game(maps: Tensor, masks: Tensor, tolerance: int = 0) -> Tensor:
    """Per image, whether the maximum of ``maps`` ``(N, H, W)`` lies inside ``masks`` ``(N, H, W)`` (bool),
    or within ``tolerance`` pixels of it (Zhang et al. allow 15 px at 224 px). Ties count as a hit only if
    every maximal pixel is on the (dilated) object."""
    if tolerance > 0:
        size = 2 * tolerance + 1
        masks = torch.nn.functional.max_pool2d(masks[:, None].float(), size, stride=1, padding=tolerance)[:, 0] > 0
    flat, inside = maps.flatten(1), masks.flatten(1)
    is_max = flat == flat.amax(dim=1, keepdim=True)
    return (is_max <= inside).all(dim=1)


def energy_in_mask(maps: Tensor, masks: Tensor) -> Tensor:
    """Per image, the share of the non-negative map's total inside the mask (0.0 for an all-zero map)."""
    flat = maps.flatten(1).clamp(min=0)
    total = flat.sum(dim=1)
    inside = (flat * masks.flatten(1)).sum(dim=1)
    return torch.where(total > 0, inside / total.clamp(min=1e-30), torch.zeros_like(total))


def average_ranks(x: Tensor) -> Tensor:
    """Ranks of each row's values, 0-based, with tied values sharing the mean of their ranks (saliency maps
    tie a lot: clamped Grad-CAM and dead-ReLU maps are mostly zero)."""
    rows = x.flatten(1)
    ranks = torch.empty(rows.shape, dtype=torch.float64, device=rows.device)
    for i, row in enumerate(rows):
        _, group, counts = torch.unique(row, return_inverse=True, return_counts=True)  # groups in value order
        first = counts.cumsum(0) - counts
        ranks[i] = (first + (counts - 1) / 2).to(torch.float64)[group]
    return ranks


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Spearman rank correlation between corresponding rows of ``a`` and ``b`` (flattened per row), with
    average ranks for ties; 0 where a row is constant (it has no order to correlate)."""
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(dim=1, keepdim=True), rb - rb.mean(dim=1, keepdim=True)
    denominator = ra.norm(dim=1) * rb.norm(dim=1)
    return torch.where(denominator > 0, (ra * rb).sum(dim=1) / denominator.clamp(min=1e-300),
                       torch.zeros_like(denominator))


def parameterised_layers(model: nn.Module) -> list[str]:
    """Names of the convolution and linear layers, from the output back to the input."""
    names = [name for name, m in model.named_modules() if isinstance(m, nn.modules.conv._ConvNd | nn.Linear)]
    return names[::-1]


def cascading_randomisation(model: nn.Module, seed: int = 0) -> Iterator[tuple[str, nn.Module]]:
    """Copies of ``model`` with its conv / linear layers re-initialised from the top, one more each step:
    yields ``(last randomised layer, randomised copy)``. The given model is not changed."""
    randomised = copy.deepcopy(model)
    modules = dict(randomised.named_modules())
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    state: tuple[Tensor, list[Tensor]] | None = None  # this generator's own RNG states (CPU, CUDA devices)
    for name in parameterised_layers(model):
        # The caller's global RNG is forked around each re-initialisation (also on CUDA), so code run between
        # two steps neither changes this sequence nor sees its generator moved.
        with torch.random.fork_rng(devices=devices):
            if state is None:
                torch.manual_seed(seed)
            else:
                torch.random.set_rng_state(state[0])
                for device, device_state in zip(devices, state[1], strict=True):
                    torch.cuda.set_rng_state(device_state, device)
            modules[name].reset_parameters()
            state = (torch.random.get_rng_state(), [torch.cuda.get_rng_state(d) for d in devices])
        yield name, copy.deepcopy(randomised)
