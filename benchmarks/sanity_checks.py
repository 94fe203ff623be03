"""Sanity checks for saliency maps (Adebayo et al. 2018) on the shipped demo model.

Cascading randomisation: the conv / linear layers are re-initialised from the top, one more per column, and
for each method the table shows the mean Spearman rank correlation between the trained model's maps
(max over channels of |a|) and the randomised model's maps. Values near 1 mean the map barely depends on the
weights that were randomised: the method is reconstructing the input rather than explaining the model.

Two references are measured in the same run, on the same images and randomised copies, and printed under the
methods: an edge detector (Sobel gradient magnitude of the grey image; it ignores the model, so it is the value of
a map that fails the check completely) and random maps drawn afresh for each model (they ignore model and input:
the value of a map that passes it trivially). A second table gives each method's similarity to the edge detector
on the trained and on the fully randomised model (Adebayo et al.'s visual finding, measured).

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


EDGES = "edge detector (no model)"
RANDOM = "random map (no model, no input)"


def edge_map(images: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of the grey image, ``(N, H, W)``: a map that depends on the input only."""
    grey = images.mean(dim=1, keepdim=True)
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=images.dtype)
    kernels = torch.stack([sobel, sobel.T])[:, None]
    gx, gy = torch.nn.functional.conv2d(torch.nn.functional.pad(grey, (1, 1, 1, 1), mode="replicate"),
                                        kernels).unbind(dim=1)
    return torch.sqrt(gx ** 2 + gy ** 2)


def maps_of(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor,
            generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Each method's evidence maps for ``model``, and the two references (the random maps are new per call)."""
    maps = {m: torch.zeros(images.shape[0], *images.shape[2:]) for m in nbs.methods()}
    for c in labels.unique().tolist():  # one class per session: the images of class c
        rows = (labels == c).nonzero()[:, 0]
        session = nbs.Session(model, images[rows])
        for m in maps:
            maps[m][rows] = evidence_map(m, session.attribute(nbs.Logit(c), m, **OPTIONS.get(m, {})))
    maps[EDGES] = edge_map(images)
    maps[RANDOM] = torch.rand(images.shape[0], *images.shape[2:], generator=generator)
    return maps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--seed", type=int, default=778)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = demo.load_model()
    batch = demo.images(args.n, seed=args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    trained = maps_of(model, batch.images, batch.labels, generator)
    columns: list[str] = []
    table: dict[str, list[float]] = {m: [] for m in trained}
    randomised_maps: dict[str, torch.Tensor] = {}
    for layer, randomised in cascading_randomisation(model):
        columns.append(layer)
        randomised_maps = maps_of(randomised, batch.images, batch.labels, generator)
        for method, maps in randomised_maps.items():
            table[method].append(spearman(trained[method], maps).mean().item())
    width = max(len(name) for name in table) + 2
    print(f"demo model, {args.n} images (seed {args.seed}); mean Spearman correlation of |maps| with the trained "
          "model's,\nconv / linear layers randomised cumulatively from the top (left) to the input (right)\n")
    print(f"{'method':{width}s}" + "".join(f"{c:>14s}" for c in columns))
    for method, row in table.items():
        if method == EDGES:
            print("references, measured in this run:")
        print(f"{method:{width}s}" + "".join(f"{v:14.2f}" for v in row))

    edges = trained[EDGES]
    print(f"\nSpearman correlation with the edge detector ({EDGES.split(' (')[0]} = 1.00, random map = "
          f"{spearman(trained[RANDOM], edges).mean().item():.2f})")
    print(f"{'method':{width}s}{'trained':>14s}{'all randomised':>16s}")
    for method in nbs.methods():
        print(f"{method:{width}s}{spearman(trained[method], edges).mean().item():14.2f}"
              f"{spearman(randomised_maps[method], edges).mean().item():16.2f}")


if __name__ == "__main__":
    main()
