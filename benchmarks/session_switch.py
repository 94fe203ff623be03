"""What a switch of method / layer / neuron costs on a session, against the floor, in one run.

For a ResNet-18- and a VGG-16-shaped model (random weights, 224 px, batch 1, CPU) and the demo model:
  floor      bare ``torch.autograd.grad`` of the same target to the input, on a retained graph of the plain
             model (hooks grab the layer outputs): the least any implementation pays per map
  stateless  a fresh forward + backward per map (what a library without a kept forward pays)
  switch     ``Session.attribute`` cycling methods, layers or neurons; measured interleaved with the floor
  batched    nine targets in one ``Session.attribute([...])`` call, against one target; then both batched
             strategies (one vectorised backward pass / a loop of backward passes) against nine single calls,
             marking the one ``batched_backward="auto"`` chooses
Targets: a switch <= 1.25x the floor; nine batched targets <= 4x one target; the auto strategy never slower than
nine single calls.

    python benchmarks/session_switch.py [--threads 2] [--repeats 15] [--size 224]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

import nbsaliency as nbs
from nbsaliency import demo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from architectures import ResNet18, vgg16  # noqa: E402
from timing import alternate, median_ms  # noqa: E402


class PlainForward:
    """The plain model's forward with its layer outputs grabbed by hooks: what the floor differentiates."""

    def __init__(self, model: nn.Module, x: torch.Tensor, layers: list[str]):
        self.leaf = x.clone().requires_grad_(True)
        self.outputs: dict[str, torch.Tensor] = {}
        modules = dict(model.named_modules())
        handles = [modules[name].register_forward_hook(self._grab(name)) for name in layers]
        try:
            self.output = model(self.leaf)
        finally:
            for handle in handles:
                handle.remove()

    def _grab(self, name: str):
        def hook(module, args, output):
            self.outputs[name] = output

        return hook

    def activation(self, layer: str) -> torch.Tensor:
        return self.outputs[layer]

    def grad(self, target: nbs.Target) -> torch.Tensor:
        return torch.autograd.grad(target.values(self).sum(), self.leaf, retain_graph=True)[0]


def bench(name: str, model: nn.Module, layers: list[str], size: int, repeats: int) -> None:
    model.eval()
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    plain = PlainForward(model, x, layers)
    session = nbs.Session(model, x)
    deepest = layers[-1]
    switches = {
        "method (gradient/guided/deconvnet)": [(nbs.Logit(1), m) for m in ("gradient", "guided", "deconvnet")],
        "layer (channel of each layer, guided)": [(nbs.Channel(layer, 3), "guided") for layer in layers],
        "neuron (guided)": [(nbs.Neuron(deepest, c, 1, 1), "guided") for c in range(8)],
    }

    def stateless():
        fresh = x.clone().requires_grad_(True)
        torch.autograd.grad(model(fresh)[0, 1], fresh)

    floor_logit = median_ms(lambda: plain.grad(nbs.Logit(1)), repeats)
    fresh = median_ms(stateless, repeats)
    print(f"\n{name} ({size} px, batch 1, {torch.get_num_threads()} threads)")
    print(f"  {'floor: autograd.grad of a logit, retained graph':52s} {floor_logit:8.1f} ms")
    print(f"  {'stateless: fresh forward + backward':52s} {fresh:8.1f} ms   {fresh / floor_logit:5.2f}x floor")
    for kind, cycle in switches.items():
        timed = alternate(lambda i, c=cycle: plain.grad(c[i % len(c)][0]),
                          lambda i, c=cycle: session.attribute(*c[i % len(c)]), repeats, warmup=3)
        floor_ms, session_ms = 1000 * timed.baseline_s, 1000 * timed.candidate_s
        ratio = session_ms / floor_ms
        verdict = "ok" if ratio <= 1.25 else "MISSED (target <= 1.25x)"
        print(f"  {'switch ' + kind:52s} {session_ms:8.1f} ms   {ratio:5.2f}x its floor ({floor_ms:.1f} ms)  {verdict}")
    nine = [nbs.Neuron(deepest, c, 1, 1) for c in range(9)]
    timed = alternate(lambda i: session.attribute(nine[0], "guided"), lambda i: session.attribute(nine, "guided"),
                      max(3, repeats // 3), warmup=3)
    one_ms, nine_ms = 1000 * timed.baseline_s, 1000 * timed.candidate_s
    verdict = "ok" if nine_ms <= 4 * one_ms else "MISSED (target <= 4x)"
    print(f"  {'nine batched targets (guided)':52s} {nine_ms:8.1f} ms   {nine_ms / one_ms:5.2f}x one target "
          f"({one_ms:.1f} ms)  {verdict}")
    print(f"  {'  vs nine fresh forward + backward':52s} {9 * fresh:8.1f} ms   {9 * fresh / nine_ms:5.2f}x slower")
    auto = "vectorised" if session._vectorise(session.x, session.recording) else "loop"
    for strategy in ("vectorised", "loop"):
        chosen = nbs.Session(model, x, batched_backward=strategy)
        timed = alternate(lambda i: [session.attribute(t, "guided") for t in nine],
                          lambda i, c=chosen: c.attribute(nine, "guided"), max(3, repeats // 3), warmup=2)
        loop_ms, batched_ms = 1000 * timed.baseline_s, 1000 * timed.candidate_s
        mark = " <- auto" if strategy == auto else ""
        print(f"  {'nine batched, ' + strategy + ' backward':52s} {batched_ms:8.1f} ms   {batched_ms / loop_ms:5.2f}x "
              f"nine single calls ({loop_ms:.1f} ms){mark}")
    print(f"  {'  auto chose ' + auto + ' (target: never slower than nine single calls)':52s}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # random weights leave some units dead: their blank maps would warn on every call and time the printing
    warnings.simplefilter("ignore", nbs.ZeroAttributionWarning)
    torch.manual_seed(0)
    bench("ResNet-18-shaped", ResNet18(), ["layer1.1", "layer2.1", "layer3.1", "layer4.1"], args.size, args.repeats)
    bench("VGG-16-shaped", vgg16(), ["0.8", "0.15", "0.22", "0.29"], args.size, args.repeats)
    bench("demo model", demo.load_model(), ["block1", "block2", "block3.relu2"], 64, 5 * args.repeats)


if __name__ == "__main__":
    main()
