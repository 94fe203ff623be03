"""What a switch of method / layer / neuron costs on a session, against the floor.

Prints, for a ResNet-18- and a VGG-16-shaped model (random weights, 224 px, batch 1, CPU):
  floor      bare ``torch.autograd.grad`` to the input on a retained graph of the plain model
  stateless  a fresh forward + backward per map (what a library without a kept forward pays)
  switches   nbsaliency ``Session.attribute`` cycling methods, layers and neurons
  batched    nine targets in one ``Session.attribute([...])`` call, against one target
Targets: a switch <= 1.25x the floor; nine batched targets <= 4x one target.

    python benchmarks/session_switch.py [--threads 2] [--repeats 15] [--size 224]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nbsaliency as nbs  # noqa: E402
from architectures import ResNet18, vgg16  # noqa: E402
from timing import median_ms  # noqa: E402


def bench(name: str, model: torch.nn.Module, layers: list[str], size: int, repeats: int) -> None:
    model.eval()
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))

    leaf = x.clone().requires_grad_(True)
    logits = model(leaf)
    floor = median_ms(lambda: torch.autograd.grad(logits[0, 1], leaf, retain_graph=True), repeats)

    def stateless():
        fresh = x.clone().requires_grad_(True)
        torch.autograd.grad(model(fresh)[0, 1], fresh)

    fresh = median_ms(stateless, repeats)
    session = nbs.Session(model, x)
    cycle = {
        "method": itertools.cycle([(nbs.Logit(1), m) for m in ("gradient", "guided", "deconvnet")]),
        "layer": itertools.cycle([(nbs.Channel(layer, 3), "guided") for layer in layers]),
        "neuron": itertools.cycle([(nbs.Neuron(layers[-1], c, 2, 3), "guided") for c in range(8)]),
    }
    switch = {kind: median_ms(lambda it=it: session.attribute(*next(it)), repeats) for kind, it in cycle.items()}
    nine = [nbs.Neuron(layers[-1], c, 2, 3) for c in range(9)]
    one = median_ms(lambda: session.attribute(nine[0], "guided"), repeats)
    batched = median_ms(lambda: session.attribute(nine, "guided"), max(3, repeats // 3))

    print(f"\n{name} ({size} px, batch 1, {torch.get_num_threads()} threads)")
    print(f"  {'floor: autograd.grad on retained graph':46s} {floor:8.1f} ms   1.00x")
    print(f"  {'stateless: fresh forward + backward':46s} {fresh:8.1f} ms   {fresh / floor:.2f}x")
    for kind, ms in switch.items():
        status = "ok" if ms <= 1.25 * floor else "MISSED (target <= 1.25x)"
        print(f"  {'session: switch ' + kind:46s} {ms:8.1f} ms   {ms / floor:.2f}x  {status}")
    print(f"  {'session: one target (guided)':46s} {one:8.1f} ms")
    status = "ok" if batched <= 4 * one else "MISSED (target <= 4x one target)"
    print(f"  {'session: nine batched targets':46s} {batched:8.1f} ms   {batched / one:.2f}x one target  {status}")
    print(f"  {'stateless: nine targets (9 forward + backward)':46s} {9 * fresh:8.1f} ms   "
          f"{9 * fresh / batched:.2f}x slower than the session")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    bench("ResNet-18-shaped", ResNet18(), ["layer1.1", "layer2.1", "layer3.1", "layer4.1"], args.size, args.repeats)
    bench("VGG-16-shaped", vgg16(), ["0.8", "0.15", "0.22", "0.29"], args.size, args.repeats)


if __name__ == "__main__":
    main()
