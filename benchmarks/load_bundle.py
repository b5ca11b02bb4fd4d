"""How long `read_bundle` + tensors take for a bundle with ~100 MB of tensors.

    python benchmarks/load_bundle.py [--mb 100] [--repeat 5]

Writes a bundle of random float32 tensors into a temp dir, then times opening it
(manifest sha256 verification of every file + safetensors load) from a warm page cache.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from avatarzoo.bundle import read_bundle, write_bundle


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    n = int(args.mb * 1e6 / 4 / 14)  # 14 floats per Gaussian-ish row
    tensors = {f"renderer.part{i}": torch.randn(n // 4, 14) for i in range(4)}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_bundle(Path(tmp) / "b", tensors=tensors, metadata={"avatarzoo.id": "bench-v1"},
                            config={"id": "bench-v1"}, card="---\n---\n")
        size = (path / "model.safetensors").stat().st_size
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            b = read_bundle(path)
            loaded = b.tensors()
            float(sum(v.sum() for v in loaded.values()))  # touch every byte
            assert sum(v.numel() for v in loaded.values()) * 4 == sum(v.numel() * 4 for v in tensors.values())
            times.append(time.perf_counter() - t)
    print(f"model.safetensors {size / 1e6:.1f} MB: read_bundle + tensors median {statistics.median(times):.3f} s"
          f" (min {min(times):.3f}, max {max(times):.3f}, {args.repeat} runs)")


if __name__ == "__main__":
    main()
