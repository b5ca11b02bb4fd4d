"""The `carry` list of a device call running benchmarks/gpu_*.sh, as JSON.

    python benchmarks/gpu_carry.py [--serve] [CLIP ...]

The working tree and all of `.gpu/` (made by ../shared/device/wheelhouse.sh) passed the
64 MiB one call may carry, so a call carries only the parts it needs: mediapipe + PyAV
(mpav.tar.xz) and `.gpu/wheels.tar`, which this writes: the wheels every script
installs (gsplat, pydantic and its parts, protobuf), with `--serve` also the server's
(starlette, uvicorn, websockets: gpu_live.sh, gpu_speech.sh's serve rows; jsonschema
is left out, no GPU script validates a schema); gpu_env.sh installs from it. Each CLIP
adds `.gpu/clips/CLIP.mp4`. Prints the list, and the total size on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GPU = ROOT / ".gpu"
MAX_PATHS = 8
BASE = ("gsplat-", "pydantic-", "pydantic_core-", "annotated_types-", "typing_inspection-", "protobuf-")
SERVE = ("starlette-", "uvicorn-", "websockets-")


def wheels(prefixes: tuple[str, ...]) -> list[Path]:
    found = []
    for prefix in prefixes:
        hits = sorted(GPU.glob(f"{prefix}*.whl"))
        if not hits:
            raise SystemExit(f"{GPU}: no {prefix}*.whl (run ../shared/device/wheelhouse.sh in the repo root)")
        found.append(hits[-1])
    return found


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="*")
    ap.add_argument("--serve", action="store_true")
    args = ap.parse_args(argv)
    pack = GPU / "wheels.tar"
    tmp = pack.with_suffix(".tar.part")
    with tarfile.open(tmp, "w") as tar:
        for w in wheels(BASE + (SERVE if args.serve else ())):
            tar.add(w, arcname=w.name)
    tmp.replace(pack)
    clips = [GPU / "clips" / f"{c}.mp4" for c in args.clips]
    for c in clips:
        if not c.is_file():
            raise SystemExit(f"{c}: missing (the clips live in .gpu/clips)")
    paths = [GPU / "mpav.tar.xz", pack]
    paths += clips if len(paths) + len(clips) <= MAX_PATHS else [GPU / "clips"]
    size = sum(p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*")) for p in paths)
    print(f"{len(paths)} paths, {size / 2**20:.1f} MiB (+ the tree)", file=sys.stderr)
    print(json.dumps([str(p.relative_to(ROOT)) for p in paths]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
