"""Patch index build and batched projections against their baselines, measured in the same run.

  index build   ``PatchIndex.build`` over N demo images (every spatial layer's top-9 of every channel, one
                hooked ``no_grad`` forward pass per batch, fingerprinting included) against a plain
                ``torch.no_grad()`` forward of the same model over the same images in the same batches, for
                both modes (one unit per image, the default, and ``one_per_image=False``). Target: build
                throughput >= 0.75x the plain forward's.
  projections   the nine top units of a channel projected in one batch (one forward of 9 images, one
                backward of a ``Units`` target) against nine separate ``nbs.attribute(model, image[None],
                Neuron(...), method)`` calls.

Passes alternate (baseline, candidate, baseline, ...) so both see the same machine load; the build ratio is the
median over back-to-back pairs (with its range), times are medians.

    python benchmarks/patch_index.py [--images 2000] [--batch-size 64] [--repeats 7] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import nbsaliency as nbs
from nbsaliency import demo
from nbsaliency.patches import PatchIndex, project_units, top_patches
from nbsaliency.receptive_field import ReceptiveFields


def alternate(baseline: Callable[[], object], candidate: Callable[[], object],
              repeats: int) -> tuple[float, float, list[float]]:
    """Median seconds of ``baseline()`` and ``candidate()``, run alternately after one warm-up each, and the
    ratio ``baseline / candidate`` of every back-to-back pair (a pair shares the machine's load of the moment)."""
    baseline(), candidate()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for run, bucket in ((baseline, times[0]), (candidate, times[1])):
            start = time.perf_counter()
            run()
            bucket.append(time.perf_counter() - start)
    ratios = [b / c for b, c in zip(*times, strict=True)]
    return statistics.median(times[0]), statistics.median(times[1]), ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64, help="as PatchIndex.build's default")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--method", default="deconvnet")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = demo.load_model()
    images = demo.images(args.images, seed=0).images
    n, size = args.images, args.batch_size

    def plain() -> None:
        with torch.no_grad():
            for start in range(0, n, size):
                model(images[start:start + size])

    index: PatchIndex | None = None

    def build() -> None:
        nonlocal index
        index = PatchIndex.build(model, images, batch_size=size, progress=False)

    plain_s, build_s, ratios = alternate(plain, build, args.repeats)
    assert index is not None
    units = sum(index.shape(layer)[0] for layer in index.layers)
    print(f"index build, demo model, {n} images of 64x64, batch {size}, {args.threads} threads, "
          f"{len(index.layers)} layers / {units} channels, k={index.k}")
    print(f"  plain no_grad forward   {n / plain_s:8.0f} images/s")
    print(f"  PatchIndex.build        {n / build_s:8.0f} images/s")
    print(f"  ratio                   {statistics.median(ratios):8.2f}x   (target >= 0.75x; median of {len(ratios)} "
          f"back-to-back pairs, range {min(ratios):.2f}-{max(ratios):.2f})")
    plain_s, units_s, ratios = alternate(
        plain, lambda: PatchIndex.build(model, images, batch_size=size, one_per_image=False, progress=False),
        args.repeats)
    print(f"  one_per_image=False     {n / units_s:8.0f} images/s, {statistics.median(ratios):.2f}x the plain forward "
          f"(range {min(ratios):.2f}-{max(ratios):.2f})")

    layer, channel = "block3.conv2", 5
    tops = index.top(layer, channel)
    batch = torch.stack([images[t.image] for t in tops])
    ys, xs = [t.y for t in tops], [t.x for t in tops]

    def separate() -> None:
        for i, t in enumerate(tops):
            nbs.attribute(model, batch[i:i + 1], nbs.Neuron(layer, channel, t.y, t.x), args.method)

    def batched() -> None:
        project_units(model, batch, layer, channel, ys, xs, args.method)

    repeats = max(5, 2 * args.repeats)
    separate_s, batched_s, _ = alternate(separate, batched, repeats)
    fields = ReceptiveFields(model, images[:1])
    fields.prefetch([layer])
    _, full_s, _ = alternate(lambda: None, lambda: top_patches(model, images, index, layer, channel, args.method,
                                                             receptive_fields=fields), repeats)
    print(f"projections of the {len(tops)} top units of {layer}:{channel} ({args.method})")
    print(f"  nine separate attribute calls  {1000 * separate_s:7.1f} ms")
    print(f"  one batched Units pass         {1000 * batched_s:7.1f} ms")
    print(f"  speed-up                       {separate_s / batched_s:7.2f}x")
    print(f"  top_patches (crops included, fields cached)  {1000 * full_s:.1f} ms")


if __name__ == "__main__":
    main()
