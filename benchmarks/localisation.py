"""How well each method localises the object, measured against the demo set's ground-truth masks.

For every method: the pointing game (share of images whose map maximum lies on the object, strictly and within
3 px as Zhang et al. allow 15 px at 224 px) and the share of
the map's energy inside the object mask, explaining the true class's logit of the shipped demo model on
held-out images. The chance level of both is the mean mask area (a map that knows nothing), printed in the
same run, with a random map and a centred Gaussian as further baselines.

    python benchmarks/localisation.py [--n 100] [--seed 777]
"""

from __future__ import annotations

import argparse
import time

import torch

import nbsaliency as nbs
from nbsaliency import demo
from nbsaliency.evaluation import energy_in_mask, evidence_map, pointing_game

OPTIONS = {"smoothgrad": {"n_samples": 16}, "integrated_gradients": {"steps": 32},
           "occlusion": {"window": 8, "stride": 4}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=777, help="image seed (never used in training)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = demo.load_model()
    batch = demo.images(args.n, seed=args.seed)
    session = nbs.Session(model, batch.images)
    accuracy = (session.predicted == batch.labels).float().mean().item()
    chance = batch.masks.flatten(1).float().mean(dim=1).mean().item()
    print(f"demo model, {args.n} held-out images (seed {args.seed}), accuracy {accuracy:.1%}; "
          f"target: the true class's logit\n")
    print(f"{'method':24s} {'pointing game':>14s} {'within 3 px':>12s} {'energy in mask':>15s} {'seconds':>8s}")
    print(f"{'chance (mask area)':24s} {chance:14.1%} {'':>12s} {chance:15.1%}")
    h, w = batch.masks.shape[1:]
    baselines = {
        "random map": torch.rand(args.n, h, w, generator=torch.Generator().manual_seed(0)),
        "centred Gaussian": torch.exp(-((torch.arange(h)[:, None] - h / 2 + 0.5) ** 2
                                        + (torch.arange(w)[None] - w / 2 + 0.5) ** 2) / (2 * (h / 6) ** 2))
        .expand(args.n, h, w),
    }
    def row(name: str, maps: torch.Tensor, seconds: str = "") -> str:
        return (f"{name:24s} {pointing_game(maps, batch.masks).float().mean():14.1%} "
                f"{pointing_game(maps, batch.masks, tolerance=3).float().mean():12.1%} "
                f"{energy_in_mask(maps, batch.masks).mean():15.1%} {seconds:>8s}")

    for name, maps in baselines.items():
        print(row(name, maps))
    for method in nbs.methods():
        start = time.perf_counter()
        attribution = session.attribute(nbs.Logit(batch.labels), method, **OPTIONS.get(method, {}))
        seconds = time.perf_counter() - start
        print(row(method, evidence_map(method, attribution), f"{seconds:.2f}"))


if __name__ == "__main__":
    main()
