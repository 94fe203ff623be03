"""The lesion sweep over every channel of the demo model's last convolution, batched vs one forward per channel.

  baseline   one forward pass per channel: ``with nbs.lesion(model, layer, c): model(x)`` for each of the 64
             channels (eval mode, no gradients; one clean pass first for the predicted class), the class score
             read from each output
  candidate  ``nbs.lesion_sweep(model, x, layer)``: the batch replicated once per channel, a different
             channel removed in each copy, ``--batch-size`` images per forward pass (plus its clean pass);
             copies made from the layer's output (the default), and, for information, from the input images
             (``replicate="input"``: every copy runs the whole model, so on a CPU it saves only call overhead)

Both are timed alternately so that they see the same machine load; the ratio of the medians is printed per
batch of images, after checking that both give the same scores. Target: batched >= 4x faster.

    python benchmarks/lesion_sweep.py [--threads 2] [--repeats 7] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

import nbsaliency as nbs
from nbsaliency import demo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import alternate  # noqa: E402

LAYER = "block3.conv2"


def one_forward_per_channel(model: torch.nn.Module, x: torch.Tensor, channels: int) -> torch.Tensor:
    rows = []
    with torch.no_grad():
        classes = model(x).argmax(dim=1)  # the clean prediction, pinned as the sweep pins it
        for c in range(channels):
            with nbs.lesion(model, LAYER, [c]):
                scores = model(x)
            rows.append(scores.gather(1, classes[:, None])[:, 0])
    return torch.stack(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = demo.load_model()
    channels = dict(nbs.layers(model, demo.images(1, seed=0).images))[LAYER][1]
    print(f"demo model, lesion sweep over the {channels} channels of {LAYER!r} (64 x 64 images), "
          f"{args.threads} threads, batch size {args.batch_size}\n")
    print(f"{'images':>6s} {'copies made at':>15s} {'one forward per channel':>24s} {'batched sweep':>14s} "
          f"{'speed-up':>9s} {'pairs (min-max)':>16s}")
    for n in (1, 4, 16):
        x = demo.images(n, seed=3).images
        sweep = nbs.lesion_sweep(model, x, LAYER, batch_size=args.batch_size)
        reference = one_forward_per_channel(model, x, channels)
        if not torch.allclose(sweep.lesioned, reference, rtol=1e-4, atol=1e-4):
            raise SystemExit(f"the batched sweep and the loop disagree for {n} images")
        for replicate in ("layer", "input"):
            timing = alternate(lambda i, x=x: one_forward_per_channel(model, x, channels),
                               lambda i, x=x, r=replicate: nbs.lesion_sweep(model, x, LAYER, batch_size=args.batch_size,
                                                                            replicate=r),
                               repeats=args.repeats)
            pairs = [1 / r for r in timing.pair_ratios]
            print(f"{n:6d} {replicate:>15s} {1000 * timing.baseline_s:21.1f} ms {1000 * timing.candidate_s:11.1f} ms "
                  f"{timing.baseline_s / timing.candidate_s:8.1f}x {min(pairs):7.1f}-{max(pairs):.1f}x")

if __name__ == "__main__":
    main()
