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
import sys
from pathlib import Path

import torch

import nbsaliency as nbs
from nbsaliency import demo
from nbsaliency.patches import PatchIndex, project_units, top_patches
from nbsaliency.receptive_field import ReceptiveFields

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import Alternated, alternate, median_ms  # noqa: E402


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

    def plain(_: int) -> None:
        with torch.no_grad():
            for start in range(0, n, size):
                model(images[start:start + size])

    def build(one_per_image: bool) -> Alternated:
        return alternate(plain, lambda _: PatchIndex.build(model, images, batch_size=size, progress=False,
                                                           one_per_image=one_per_image), args.repeats)

    index = PatchIndex.build(model, images, batch_size=size, progress=False)
    units = sum(index.shape(layer)[0] for layer in index.layers)
    print(f"index build, demo model, {n} images of 64x64, batch {size}, {args.threads} threads, "
          f"{len(index.layers)} layers / {units} channels, k={index.k}")
    for label, one_per_image in (("PatchIndex.build", True), ("one_per_image=False", False)):
        timed = build(one_per_image)
        throughput = [1 / r for r in timed.pair_ratios]  # build images/s over the plain forward's, per pair
        print(f"  {label:22s} {n / timed.candidate_s:6.0f} images/s, plain no_grad forward "
              f"{n / timed.baseline_s:6.0f} images/s: {statistics.median(throughput):.2f}x (target >= 0.75x; "
              f"median of {len(throughput)} back-to-back pairs, range {min(throughput):.2f}-{max(throughput):.2f})")

    layer, channel = "block3.conv2", 5
    tops = index.top(layer, channel)
    batch = torch.stack([images[t.image] for t in tops])
    ys, xs = [t.y for t in tops], [t.x for t in tops]

    def separate(_: int) -> None:
        for i, t in enumerate(tops):
            nbs.attribute(model, batch[i:i + 1], nbs.Neuron(layer, channel, t.y, t.x), args.method)

    def batched(_: int) -> None:
        project_units(model, batch, layer, channel, ys, xs, args.method)

    repeats = max(5, 2 * args.repeats)
    timed = alternate(separate, batched, repeats)
    fields = ReceptiveFields(model, images[:1])
    fields.prefetch([layer])
    full_ms = median_ms(lambda: top_patches(model, images, index, layer, channel, args.method,
                                            receptive_fields=fields), repeats)
    print(f"projections of the {len(tops)} top units of {layer}:{channel} ({args.method})")
    print(f"  nine separate attribute calls  {1000 * timed.baseline_s:7.1f} ms")
    print(f"  one batched Units pass         {1000 * timed.candidate_s:7.1f} ms")
    print(f"  speed-up                       {timed.baseline_s / timed.candidate_s:7.2f}x")
    print(f"  top_patches (crops included, fields cached)  {full_ms:.1f} ms")

if __name__ == "__main__":
    main()
