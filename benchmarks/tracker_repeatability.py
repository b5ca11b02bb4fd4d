"""How well does the tracker agree with itself on the held-out frames under small perturbations
(1 px shift, JPEG 80, blur σ 0.8 px, 1% scale)? `python benchmarks/tracker_repeatability.py INGEST_DIR TRACK_DIR ...`"""
import sys
from pathlib import Path
import numpy as np, cv2
from avatarzoo.contracts.ingest import IngestOutput
from avatarzoo.contracts.tracking import Tracking
from avatarzoo.trackers.mediapipe import track_frames
from avatarzoo.evaluate import fidelity as fid

def shift(f):
    return np.ascontiguousarray(np.pad(f, ((1, 0), (1, 0), (0, 0)), mode="edge")[:-1, :-1])
def jpeg(f):
    ok, b = cv2.imencode(".jpg", f[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 80]); return cv2.imdecode(b, 1)[..., ::-1].copy()
def blur(f):
    return cv2.GaussianBlur(f, (0, 0), 0.8)
def scale(f):
    s = f.shape[0]; M = cv2.getRotationMatrix2D((s/2, s/2), 0.0, 1.01); return cv2.warpAffine(f, M, (s, s), borderMode=cv2.BORDER_REPLICATE)

for ingest, track in zip(sys.argv[1::2], sys.argv[2::2]):
    up = IngestOutput.open(Path(ingest)); hold = up.info.holdout_start
    tr = Tracking.load(Path(track) / "tracking.safetensors")
    frames = np.asarray(up.frames[hold:])
    fps = float(up.info.fps) if hasattr(up.info, 'fps') else 25.0
    heads = fid.headline_channels(tr.space)
    base = track_frames((np.array(f) for f in frames), fps=fps, reference=tr)
    print(up.info.source.get('file', ingest), len(frames), "held-out frames")
    for name, p in (("shift1px", shift), ("jpeg80", jpeg), ("blur0.8", blur), ("scale1%", scale)):
        other = track_frames((p(np.array(f)) for f in frames), fps=fps, reference=tr)
        mask = base.valid & other.valid
        row = []
        for region, idx in heads.items():
            ag = [fid.agreement(base.expression[:, i], other.expression[:, i], mask) for i in idx]
            std = np.mean([base.expression[mask, i].std() for i in idx])
            row.append(f"{region} {np.mean([a.corr for a in ag]):.3f}/{np.mean([a.amplitude for a in ag]):.2f} (std {std:.3f})")
        print(f"  {name:9s}", " | ".join(row), flush=True)
