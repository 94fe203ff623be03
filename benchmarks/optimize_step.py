"""Per-step cost of nbsaliency.optimize against a bare optimisation loop, in one run.

  bare       the floor: a leaf image, ``model(x)``, ``autograd.grad`` of the same objective (a logit, or a
             channel grabbed by one hook registered once) to the image, an Adam step
  candidate  the same work through nbsaliency.optimize (evaluation mode, validation, parameterisation,
             projection, objective, history), timed in blocks of ``--steps`` steps alternated with the bare
             loop so both see the same machine load; the ratio of the medians is printed
Rows: ``class_model`` (the logit, as the bare loop), a channel objective (one hooked layer), the same with
``record_forward`` per step (every module hooked plus the attribution TorchFunctionMode: the design this
package avoids), and Lucid's preset (Fourier image, decorrelated colour, five transforms: extra work the method
asks for, shown for information). Target: the first two rows <= 1.15x the bare loop.

    python benchmarks/optimize_step.py [--threads 1] [--repeats 15] [--steps 20] [--skip-resnet]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

import nbsaliency as nbs
from nbsaliency import demo
from nbsaliency.optimize import PixelImage, activation_maximisation, class_model, optimise
from nbsaliency.optimize.capture import OptimisationView
from nbsaliency.recording import record_forward

sys.path.insert(0, str(Path(__file__).resolve().parent))
from architectures import ResNet18  # noqa: E402
from timing import alternate  # noqa: E402


def bare_loop(model: nn.Module, shape: tuple[int, ...], steps: int, layer: str | None = None) -> None:
    """The floor: maximise logit 0 (or channel 1's mean at ``layer``, grabbed by one hook) of a leaf image."""
    x = torch.full(shape, 0.5, requires_grad=True)  # the neutral grey the candidates start from
    adam = torch.optim.Adam([x], lr=0.05)
    grabbed: list[torch.Tensor] = []
    handle = None if layer is None else dict(model.named_modules())[layer].register_forward_hook(
        lambda module, args, output: grabbed.append(output))
    try:
        for _ in range(steps):
            output = model(x)
            value = output[:, 0] if layer is None else grabbed.pop()[:, 1].mean()
            (grad,) = torch.autograd.grad(-value.sum(), [x])
            x.grad = grad
            adam.step()
    finally:
        if handle is not None:
            handle.remove()


def record_forward_loop(model: nn.Module, shape: tuple[int, ...], target: nbs.Target, steps: int) -> None:
    """The channel objective with the engine's full recording each step (for comparison only)."""
    param = PixelImage(shape)
    adam = torch.optim.Adam(param.parameters, lr=0.05)
    for _ in range(steps):
        image = param()
        recording = record_forward(model, image, None)
        view = OptimisationView(recording.output, image, recording.activations)
        (grad,) = torch.autograd.grad(-target.values(view).sum(), param.parameters)
        param.parameters[0].grad = grad
        adam.step()
        param.project()


def bench(name: str, model: nn.Module, size: int, layer: str, steps: int, repeats: int, lucid: bool) -> None:
    model.eval()
    shape = (1, 3, size, size)
    channel = nbs.Channel(layer, 1, reduce="mean")
    rows: dict[str, tuple[Callable[[], object], str | None, float | None]] = {
        "class_model (logit)": (lambda: class_model(model, 0, size=size, steps=steps, l2=0.0), None, 1.15),
        f"channel objective ({layer})": (lambda: optimise(model, channel, PixelImage(shape), steps=steps), layer,
                                         1.15),
        "channel via record_forward per step": (lambda: record_forward_loop(model, shape, channel, steps), layer,
                                                None),
    }
    if lucid:
        rows["lucid preset (fourier + 5 transforms)"] = (
            lambda: activation_maximisation(model, channel, size=size, steps=steps), layer, None)
    print(f"\n{name} ({size} px, batch 1, {torch.get_num_threads()} threads, blocks of {steps} steps)")
    for row, (candidate, bare_layer, target) in rows.items():
        timed = alternate(lambda _, b=bare_layer: bare_loop(model, shape, steps, b), lambda _, c=candidate: c(),
                          repeats)
        bare_s, cand_s = timed.baseline_s, timed.candidate_s
        ratio = cand_s / bare_s
        verdict = "" if target is None else ("ok" if ratio <= target else f"MISSED (target <= {target}x)")
        print(f"  {row:40s} {1000 * cand_s / steps:7.2f} ms/step  bare {1000 * bare_s / steps:7.2f} ms/step  "
              f"{ratio:5.2f}x  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--skip-resnet", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    bench("demo model", demo.load_model(), 64, "block3.conv2", args.steps, args.repeats, lucid=True)
    if not args.skip_resnet:
        bench("ResNet-18-shaped (random weights)", ResNet18(), 128, "layer3.1.conv2", max(2, args.steps // 4),
              max(3, args.repeats // 3), lucid=False)


if __name__ == "__main__":
    main()
