"""Pull throughput of a ~200 MB bundle over loopback HTTP: `avatarzoo pull` (huggingface_hub
into a fresh cache, then the bundle verified) against a plain HTTP client fetching the
same model.safetensors from the same server.

    python benchmarks/hub_pull.py [--mb 200] [--repeat 3] [--workdir DIR]

The Hub-compatible test server (tests/hub_server.py) runs in its own process on
127.0.0.1, so that server and client do not share a GIL. The bundle (random float32
tensors) is pushed once with `avatarzoo.hub.push`; then, each run with an empty cache:

- `pull`: `avatarzoo.hub.pull.pull(user/bench@v1)`: manifest, tree, the bundle's files
  through huggingface_hub, then `read_bundle(verify=True)` (sha256 of every file);
- `hf download`: `huggingface_hub.snapshot_download` of the same files, no verification;
- `plain GET`: `http.client` GET of model.safetensors, 1 MiB reads written to a file;
- `cached pull`: `pull` again with the cache filled (no request; verification only).

MB/s are of the bytes fetched (the whole bundle for pull and hf download, the model
file for plain GET), 1 MB = 10^6 bytes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOKEN = "bench-token"
ROOT = Path(__file__).resolve().parent.parent


def _server(workdir: Path) -> tuple[subprocess.Popen, str]:
    port_file = workdir / "port"
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "hub_server.py"), str(workdir / "srv"),
                             "--port-file", str(port_file), "--token", TOKEN])
    for _ in range(3000):  # up to 30 s to come up
        if port_file.is_file() and port_file.read_text():
            base = port_file.read_text()
            import http.client

            try:
                c = http.client.HTTPConnection(base.removeprefix("http://"), timeout=5)
                c.request("GET", "/api/models/none/none")
                c.getresponse().read()
                return proc, base
            except OSError:
                pass
        time.sleep(0.01)
    proc.kill()
    raise SystemExit("the test Hub server did not start")


def _plain_get(base: str, path: str, out: Path) -> int:
    import http.client

    conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=60)
    conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
    r = conn.getresponse()
    assert r.status == 200, r.status
    n = 0
    with open(out, "wb") as f:
        while chunk := r.read(1 << 20):
            f.write(chunk)
            n += len(chunk)
    conn.close()
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        proc, base = _server(work)
        try:
            os.environ.update(HF_ENDPOINT=base, HF_TOKEN=TOKEN, HF_HUB_DISABLE_XET="1",
                              HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
                              HF_HOME=str(work / "hf"), AVATARZOO_ZOO=str(work / "zoo"))
            os.environ.pop("HF_HUB_OFFLINE", None)
            import torch
            from huggingface_hub import snapshot_download

            from avatarzoo.bundle import read_bundle, write_bundle
            from avatarzoo.bundle.card import CardData, render_card
            from avatarzoo.hub.names import HubName
            from avatarzoo.hub.pull import pull
            from avatarzoo.hub.push import push

            n = int(args.mb * 1e6 / 4 / 14)
            gen = torch.Generator().manual_seed(0)
            tensors = {f"renderer.part{i}": torch.randn(n // 4, 14, generator=gen) for i in range(4)}
            card = render_card(CardData(
                avatar_id="bench-v1", license="cc0-1.0", consent="random tensors", source="", description="",
                tags=(), recipe_sha256="0" * 64, space="none", size=0, fps=25.0, n_frames=0))
            src = write_bundle(work / "bench-v1", tensors=tensors, metadata={"avatarzoo.id": "bench-v1"},
                               config={"id": "bench-v1"}, card=card)
            model_bytes = (src / "model.safetensors").stat().st_size
            bundle_bytes = sum(p.stat().st_size for p in src.iterdir())
            t = time.perf_counter()
            entry, _ = push(read_bundle(src), repo="user/bench")
            push_s = time.perf_counter() - t
            files = sorted(read_bundle(src).manifest["files"]) + ["manifest.json"]

            rows: dict[str, list[float]] = {"pull": [], "hf download": [], "plain GET": [], "cached pull": []}
            for i in range(args.repeat):
                os.environ["HF_HUB_CACHE"] = str(work / f"cache-{i}")
                t = time.perf_counter()
                b = pull(HubName("user/bench", "v1"))
                rows["pull"].append(time.perf_counter() - t)
                t = time.perf_counter()
                pull(HubName("user/bench", entry.revision))
                rows["cached pull"].append(time.perf_counter() - t)
                assert b.id == "bench-v1"
                t = time.perf_counter()
                snapshot_download("user/bench", revision=entry.revision, allow_patterns=files,
                                  cache_dir=work / f"hf-only-{i}", endpoint=base)
                rows["hf download"].append(time.perf_counter() - t)
                t = time.perf_counter()
                got = _plain_get(base, f"/user/bench/resolve/{entry.revision}/model.safetensors", work / "plain.bin")
                rows["plain GET"].append(time.perf_counter() - t)
                assert got == model_bytes
                for d in (work / f"cache-{i}", work / f"hf-only-{i}", work / "plain.bin"):
                    subprocess.run(["rm", "-rf", str(d)], check=True)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print(f"bundle {bundle_bytes / 1e6:.1f} MB (model.safetensors {model_bytes / 1e6:.1f} MB);"
          f" push {push_s:.2f} s = {bundle_bytes / 1e6 / push_s:.0f} MB/s")
    for what, times in rows.items():
        size = model_bytes if what == "plain GET" else bundle_bytes
        med = statistics.median(times)
        rate = "" if what == "cached pull" else f" = {size / 1e6 / med:.0f} MB/s"
        print(f"{what:<12} median {med:.2f} s{rate}  (runs: {', '.join(f'{x:.2f}' for x in times)})")


if __name__ == "__main__":
    main()
