"""Perturbation methods at ImageNet size, against bare PyTorch doing the same work, in one run.

On a ResNet-50-shaped model (torchvision's layout, random weights), one 224-px image, CPU:
  occlusion memory   peak resident memory above the loaded model while ``nbs.attribute(..., "occlusion")`` runs,
                     against a bare ``torch.no_grad`` forward of one chunk of the same occluded copies (each
                     measured in a fresh subprocess; ``resource.ru_maxrss``)                target <= 1.5x
  occlusion time     against a bare loop: the clean forward + the same occluded batches under no_grad
                                                                                            target <= 1.2x
  SmoothGrad / IG    against a bare loop of forward + backward to the input over the same noisy / interpolated
                     batches                                                                target <= 1.2x
Both sides do the same work: the same windows, samples, steps and chunks (fewer than the defaults, to keep the
run to a few minutes on two cores).

    python benchmarks/perturbation.py [--threads 2] [--size 224] [--window 112] [--samples 4] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
from pathlib import Path

import torch

import nbsaliency as nbs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from architectures import ResNet50  # noqa: E402
from timing import Alternated, alternate  # noqa: E402

CLASS = 7


def _model_and_input(size: int) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = ResNet50().eval()
    return model, torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))


def _starts(size: int, window: int, stride: int) -> list[int]:
    starts = list(range(0, size - window + 1, stride))
    return starts + [size - window] if starts[-1] + window < size else starts


def occluded_batches(x: torch.Tensor, window: int, chunk: int):
    """The occluded copies occlusion makes (stride = window // 2 as its default), ``chunk`` at a time."""
    size = x.shape[-1]
    boxes = [(y, x0) for y in _starts(size, window, window // 2) for x0 in _starts(size, window, window // 2)]
    for start in range(0, len(boxes), chunk):
        batch = x.repeat(len(boxes[start:start + chunk]), 1, 1, 1)
        for k, (y, x0) in enumerate(boxes[start:start + chunk]):
            batch[k, :, y:y + window, x0:x0 + window] = 0.0
        yield batch


def _rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() // 1024


def child(kind: str, size: int, window: int, chunk: int) -> None:
    """Measure one side's peak memory above the loaded model, in this fresh process; print it as JSON."""
    model, x = _model_and_input(size)
    with torch.no_grad():
        model(x)  # warm the allocator and the kernels on one image
    base = _rss_kib()
    if kind == "bare":
        with torch.no_grad():
            model(next(occluded_batches(x, window, chunk)))
    else:
        nbs.attribute(model, x, CLASS, "occlusion", window=window, batch_size=chunk)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"peak_above_model_mib": (peak - base) / 1024}))


def _measure(kind: str, args: argparse.Namespace, chunk: int) -> float:
    command = [sys.executable, __file__, "--child", kind, "--size", str(args.size), "--window", str(args.window),
               "--chunk", str(chunk), "--threads", str(args.threads)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_above_model_mib"]


def _bare_gradients(model: torch.nn.Module, batches: list[torch.Tensor]) -> None:
    for batch in batches:
        leaf = batch.clone().requires_grad_(True)
        torch.autograd.grad(model(leaf)[:, CLASS].sum(), leaf)


def _ratios(timed: Alternated) -> str:
    """The median of back-to-back pair ratios (each pair shares the machine's load) and their spread."""
    pairs = sorted(timed.pair_ratios)
    return (f"ratio {statistics.median(pairs):5.2f}x (pairs {pairs[0]:.2f}-{pairs[-1]:.2f}; target <= 1.2x)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--window", type=int, default=112, help="occlusion window (stride = half of it)")
    parser.add_argument("--samples", type=int, default=4, help="SmoothGrad samples = IG steps")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", choices=["bare", "occlusion"])
    parser.add_argument("--chunk", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        child(args.child, args.size, args.window, args.chunk)
        return

    model, x = _model_and_input(args.size)
    copies = sum(1 for _ in occluded_batches(x, args.window, 1))
    chunk = copies  # one chunk: the bare side's peak is that of the whole occlusion's work
    print(f"ResNet-50-shaped model, {args.size} px, 1 image, {args.threads} threads; occlusion window {args.window} "
          f"(stride {args.window // 2}): {copies} copies in chunks of {chunk}; SmoothGrad {args.samples} samples, "
          f"IG {args.samples} steps")

    bare_mib, occlusion_mib = _measure("bare", args, chunk), _measure("occlusion", args, chunk)
    print(f"  occlusion peak memory above the model   {occlusion_mib:8.0f} MiB   bare no_grad forward of one chunk "
          f"{bare_mib:6.0f} MiB   ratio {occlusion_mib / bare_mib:5.2f}x (target <= 1.5x)")

    def bare_occlusion(_: int) -> None:
        with torch.no_grad():
            model(x)
            for batch in occluded_batches(x, args.window, chunk):
                model(batch)

    timed = alternate(bare_occlusion, lambda _: nbs.attribute(model, x, CLASS, "occlusion", window=args.window,
                                                             batch_size=chunk), args.repeats)
    print(f"  occlusion time  {timed.candidate_s:7.2f} s   bare loop {timed.baseline_s:7.2f} s   {_ratios(timed)}")

    x_detached = x.detach()
    spread = float(x_detached.max() - x_detached.min())
    noise = torch.randn((args.samples, *x.shape), generator=torch.Generator().manual_seed(0))
    noisy = [(x + n * 0.15 * spread) for n in noise]
    noisy_batches = [torch.cat(noisy)]
    alphas = (torch.arange(args.samples) + 0.5) / args.samples
    path_batches = [torch.cat([a * x for a in alphas])]
    for name, batches, options in (
        ("SmoothGrad", noisy_batches, {"n_samples": args.samples}),
        ("integrated gradients", path_batches, {"steps": args.samples}),
    ):
        method = "smoothgrad" if name == "SmoothGrad" else "integrated_gradients"
        timed = alternate(lambda _, b=batches: _bare_gradients(model, b),
                          lambda _, m=method, o=options: nbs.attribute(model, x, CLASS, m, batch_size=args.samples,
                                                                     **o), args.repeats)
        print(f"  {name + ' time':27s} {timed.candidate_s:7.2f} s   bare forward + backward loop "
              f"{timed.baseline_s:7.2f} s   {_ratios(timed)}")


if __name__ == "__main__":
    main()
