"""Can pocketsphinx phones stream? For each recording and delay D, the phones that the
stream emits D ms after each frame (Phones(lookahead=D / 10)) against the decoder's
final segmentation (an unbounded lookahead), and the CPU time per 40 ms of audio.

    .venv/bin/python benchmarks/phones_stream.py data/obama-address-20s.mp4 /work/extdata/clips/*.mp4

Also prints the live CMN the first recording adapts the model's default start to
(phones.CMN_INIT)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from avatarzoo.drivers.audio import read_audio
from avatarzoo.drivers.features import phones

DELAYS_MS = (50, 100, 200, 300, 500)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+", type=Path)
    args = ap.parse_args()
    changed = {d: 0 for d in DELAYS_MS}
    total = 0
    blocks = seconds = 0.0
    for i, path in enumerate(args.files):
        audio = read_audio(path)
        if i == 0:
            print(f"live CMN after {path.name}: {_adapted_cmn(audio)}")
        t = time.perf_counter()
        final = phones.Phones(lookahead=10**9).labels(audio)
        seconds += time.perf_counter() - t
        blocks += len(audio) / 640  # 40 ms of audio
        row = []
        for d in DELAYS_MS:
            lab = phones.Phones(lookahead=d // 10).labels(audio)
            n = int((lab != final).sum())
            changed[d] += n
            row.append(f"{d} ms {100 * n / len(lab):5.2f} %")
        total += len(final)
        print(f"{path.name:24s} {len(audio) / 16000:6.1f} s  " + "  ".join(row), flush=True)
    print(f"all {total / 100:.0f} s: " + "  ".join(f"{d} ms {100 * changed[d] / total:.2f} %" for d in DELAYS_MS))
    print(f"CPU per 40 ms of audio (offline, all recordings): {1e3 * seconds / blocks:.2f} ms")
    s = phones.Phones().stream()
    audio = read_audio(args.files[0])[:10 * 16000]
    costs = []
    for k in range(0, len(audio), 640):
        t = time.perf_counter()
        s.push(audio[k:k + 640])
        costs.append(time.perf_counter() - t)
    print(f"stream push of 40 ms: mean {1e3 * np.mean(costs):.2f} ms, max {1e3 * np.max(costs):.2f} ms")


def _adapted_cmn(audio: np.ndarray) -> str:
    d = phones.new_decoder()
    d.set_cmn("40,3,-1,0,0,0,0,0,0,0,0,0,0")  # the model's default start
    d.start_utt()
    pcm = (np.clip(audio + np.random.default_rng(0).normal(0, phones.DITHER, len(audio)), -1, 1) * 32767)
    d.process_raw(pcm.astype(np.int16).tobytes(), False, False)
    d.end_utt()
    return ",".join(f"{float(v):.2f}" for v in d.get_cmn().split(","))


if __name__ == "__main__":
    main()
