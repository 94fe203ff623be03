"""The patch index built on a Dask LocalCluster against one process, measured in the same run.

  one process, 1 thread    ``PatchIndex.build`` with one torch thread (the baseline)
  LocalCluster 2 x 1       ``PatchIndex.build(..., client=client)`` on 2 worker processes with 1 thread each
                           (scatter of the model and the images, shards, merge, all included).
                           Target on a 2-core machine: >= 1.6x the one-process, one-thread build (ideal 2x)
  one process, 2 threads   what a user gets without a cluster
  plain no_grad forward    the model alone over the same batches, one thread

The per-shard overhead is the extra time of a build cut into one-batch shards over one cut into a few large
shards, per extra shard and worker. The one-thread and cluster builds alternate so that both see the same load
(the ratio is the median over back-to-back pairs, with its range).

    python benchmarks/patch_index_cluster.py [--images 4000] [--batch-size 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from distributed import Client, LocalCluster

from nbsaliency import demo
from nbsaliency.patches import PatchIndex

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import alternate  # noqa: E402


def seconds(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n, size = args.images, args.batch_size
    model = demo.load_model()
    images = demo.images(n, seed=0).images
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=40)
    client = Client(cluster)
    try:
        def local(threads: int):
            def run(_: int = 0) -> PatchIndex:
                torch.set_num_threads(threads)
                return PatchIndex.build(model, images, batch_size=size, progress=False)
            return run

        def remote(_: int = 0, **options) -> PatchIndex:
            return PatchIndex.build(model, images, batch_size=size, progress=False, client=client, **options)

        def plain() -> None:
            torch.set_num_threads(1)
            with torch.no_grad():
                for start in range(0, n, size):
                    model(images[start:start + size])

        print(f"patch index, demo model, {n} images of 64x64, batch {size}, {os.cpu_count()} cores, "
              f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        same = remote()  # warm-up (workers import torch and the model) and a check of exactness
        one = local(1)()
        assert all((a == b).all() for name in one.layers for a, b in zip(one.tops(name), same.tops(name),
                                                                         strict=True)), "cluster != one process"
        timed = alternate(local(1), remote, args.repeats)
        speedups = [1 / r for r in timed.pair_ratios]
        two_threads = statistics.median(seconds(local(2)) for _ in range(args.repeats))
        plain_s = statistics.median(seconds(plain) for _ in range(args.repeats))
        batches = -(-n // size)
        few = statistics.median(seconds(lambda: remote(shard_size=-(-batches // 2) * size))
                                for _ in range(args.repeats))
        many = statistics.median(seconds(lambda: remote(shard_size=size)) for _ in range(args.repeats))
        per_shard_ms = 1000 * (many - few) * 2 / (batches - 2)
        print(f"  one process, 1 thread   {n / timed.baseline_s:7.0f} images/s   1.00x")
        print(f"  LocalCluster 2 x 1      {n / timed.candidate_s:7.0f} images/s   "
              f"{statistics.median(speedups):.2f}x (target >= 1.6x; median of {len(speedups)} pairs, "
              f"range {min(speedups):.2f}-{max(speedups):.2f})")
        print(f"  one process, 2 threads  {n / two_threads:7.0f} images/s   {timed.baseline_s / two_threads:.2f}x")
        print(f"  plain no_grad forward   {n / plain_s:7.0f} images/s   {timed.baseline_s / plain_s:.2f}x "
              f"(1 thread, no index)")
        print(f"  per-shard overhead      {per_shard_ms:7.1f} ms per shard and worker ({batches} one-batch shards "
              f"{many:.2f} s vs 2 shards {few:.2f} s)")
        print(f"  load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
