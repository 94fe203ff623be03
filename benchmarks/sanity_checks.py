"""Sanity checks for saliency maps (Adebayo et al. 2018) on the shipped demo model.

Cascading randomisation: the conv / linear layers are re-initialised from the top, one more per column, and
for each method the table shows the mean Spearman rank correlation between the trained model's maps
(max over channels of |a|) and the randomised model's maps. Values near 1 mean the map barely depends on the
weights that were randomised: the method is reconstructing the input rather than explaining the model.

    python benchmarks/sanity_checks.py [--n 50] [--seed 778]
"""

from __future__ import annotations

import argparse

import torch

import nbsaliency as nbs
from nbsaliency import demo
from nbsaliency.evaluation import cascading_randomisation, evidence_map, spearman

OPTIONS = {"smoothgrad": {"n_samples": 8}, "integrated_gradients": {"steps": 16},
           "occlusion": {"window": 16, "stride": 8}}


def maps_of(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    session = nbs.Session(model, images)
    return {m: evidence_map(m, session.attribute(nbs.Logit(labels), m, **OPTIONS.get(m, {})))
            for m in nbs.methods()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--seed", type=int, default=778)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = demo.load_model()
    batch = demo.images(args.n, seed=args.seed)
    trained = maps_of(model, batch.images, batch.labels)
    columns: list[str] = []
    table: dict[str, list[float]] = {m: [] for m in nbs.methods()}
    for layer, randomised in cascading_randomisation(model):
        columns.append(layer)
        for method, maps in maps_of(randomised, batch.images, batch.labels).items():
            table[method].append(spearman(trained[method], maps).mean().item())
    print(f"demo model, {args.n} images (seed {args.seed}); mean Spearman correlation of |maps| with the trained "
          "model's,\nconv / linear layers randomised cumulatively from the top (left) to the input (right)\n")
    print(f"{'method':22s}" + "".join(f"{c:>14s}" for c in columns))
    for method, row in table.items():
        print(f"{method:22s}" + "".join(f"{v:14.2f}" for v in row))


if __name__ == "__main__":
    main()
