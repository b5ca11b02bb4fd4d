"""A synthetic subject for tests and benchmarks of the renderer alone: writes an
`ingest` and a `track` directory that follow docs/ARCHITECTURE.md, rendered from a known
Gaussian scene (head with hair, mouth that opens, eyes that blink, brows that rise,
a torso that sways with its own shoulder motion, a static background).

Shapes: N frames, S side, L = 478 landmarks.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from avatarzoo.renderers.gaussian.init import EYE_A, EYE_B, LIPS
from avatarzoo.spaces.space import ExpressionSpace

SPACE = ExpressionSpace(
    name="synthetic-4", dim=4, channels=("jaw_open", "blink", "brow_up", "residual_0"),
    regions={"mouth": (0,), "eyes": (1,), "brows": (2,), "residual": (3,)},
    description="Test space of renderers.gaussian.synthetic",
)
BODY_NAMES = ["left_shoulder", "right_shoulder", "nose"]
HEAD = np.array([0.075, 0.1, 0.085])  # ellipsoid half-axes, metres
DEPTH = 0.75


def _rot(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ rx @ ry


def _surface(xy: np.ndarray) -> np.ndarray:
    """Front surface point (towards the camera, -z) of the head ellipsoid at x, y."""
    r = 1 - (xy[:, 0] / HEAD[0]) ** 2 - (xy[:, 1] / HEAD[1]) ** 2
    return np.stack([xy[:, 0], xy[:, 1], -HEAD[2] * np.sqrt(np.clip(r, 0, 1))], -1)


def _features(rng) -> dict[str, np.ndarray]:
    """Head-space feature points: landmarks and the expressive parts."""
    lm = _surface(rng.uniform(-1, 1, (478, 2)) * HEAD[:2] * 0.8)
    t = np.linspace(0, 2 * np.pi, len(LIPS), endpoint=False)
    lm[list(LIPS)] = _surface(np.stack([0.025 * np.cos(t), 0.05 + 0.006 * np.sin(t)], -1))
    for idx, cx in ((EYE_A, -0.03), (EYE_B, 0.03)):
        k = len(idx)
        t = np.linspace(0, 2 * np.pi, k, endpoint=False)
        pts = np.stack([cx + 0.013 * np.cos(t), -0.02 + 0.006 * np.sin(t)], -1)
        pts[16:26] = np.stack([cx + np.linspace(-0.016, 0.016, 10), np.full(10, -0.04)], -1)  # brows
        lm[list(idx)] = _surface(pts)
    return {"landmarks": lm}


def _scene(e: np.ndarray, rng_seed: int = 1, detail: float = 1.0) -> dict[str, np.ndarray]:
    """Gaussians in head space (`head`) and torso space (`torso`) for expression e [4];
    `detail` scales the number of skin and torso Gaussians (their size follows)."""
    rng = np.random.default_rng(rng_seed)
    parts = []
    grow = 1 / np.sqrt(detail)
    # skin with a texture, hair cap on top and behind
    xy = rng.uniform(-1, 1, (int(2500 * detail), 2)) * HEAD[:2]
    xy = xy[(xy[:, 0] / HEAD[0]) ** 2 + (xy[:, 1] / HEAD[1]) ** 2 < 1]
    p = _surface(xy)
    tex = 0.08 * np.sin(xy[:, 0] * 200)[:, None] + 0.05 * np.cos(xy[:, 1] * 150)[:, None]
    col = np.array([0.85, 0.62, 0.5]) + tex
    hair = xy[:, 1] < -0.055
    col[hair] = [0.2, 0.13, 0.08]
    parts.append((p, np.full(len(p), 0.004 * grow), col, np.full(len(p), 0.95)))
    # mouth: dark ellipse, opens with jaw_open
    t = rng.uniform(0, 2 * np.pi, 150)
    rad = np.sqrt(rng.uniform(0, 1, 150))
    h = 0.004 + 0.012 * np.clip(e[0], 0, 1.5)
    m = _surface(np.stack([0.022 * rad * np.cos(t), 0.05 + h * rad * np.sin(t)], -1)) - [0, 0, 0.003]
    parts.append((m, np.full(150, 0.0025), np.tile([0.35, 0.05, 0.08], (150, 1)), np.full(150, 0.98)))
    # eyes: white + iris, hidden by the blink
    for cx in (-0.03, 0.03):
        t = rng.uniform(0, 2 * np.pi, 60)
        rad = np.sqrt(rng.uniform(0, 1, 60))
        q = _surface(np.stack([cx + 0.012 * rad * np.cos(t), -0.02 + 0.006 * rad * np.sin(t)], -1)) - [0, 0, 0.003]
        c = np.where((rad < 0.5)[:, None], [0.15, 0.25, 0.4], [0.95, 0.95, 0.95])
        parts.append((q, np.full(60, 0.0022), c, np.full(60, 0.98 * (1 - np.clip(e[1], 0, 1)))))
        # brows: rise with brow_up
        bx = np.linspace(cx - 0.016, cx + 0.016, 25)
        b = _surface(np.stack([bx, np.full(25, -0.04 - 0.01 * e[2])], -1)) - [0, 0, 0.003]
        parts.append((b, np.full(25, 0.0025), np.tile([0.15, 0.1, 0.05], (25, 1)), np.full(25, 0.98)))
    # residual channel: a cheek colour shift
    ck = _surface(np.array([[-0.045, 0.02], [0.045, 0.02]])) - [0, 0, 0.003]
    parts.append((ck, np.full(2, 0.01), np.tile([0.9, 0.4 + 0.3 * e[3], 0.4], (2, 1)), np.full(2, 0.6)))
    head = [np.concatenate(x) for x in zip(*parts)]
    # torso (camera space at rest): shirt + neck
    nt = int(3000 * detail)
    tx = rng.uniform(-0.2, 0.2, nt)
    ty = rng.uniform(0.09, 0.4, nt)
    keep = (ty > 0.16) | (np.abs(tx) < 0.04)
    tx, ty = tx[keep], ty[keep]
    tz = np.full(len(tx), DEPTH + 0.06)
    tcol = np.where((ty > 0.16)[:, None], [0.15, 0.2, 0.45], [0.8, 0.58, 0.47])
    tcol = tcol + 0.05 * np.sin(tx * 60)[:, None]
    torso = (np.stack([tx, ty, tz], -1), np.full(len(tx), 0.01 * grow), tcol, np.full(len(tx), 0.95))
    return {"head": head, "torso": torso}


def make_recording(root: Path, *, n: int = 40, size: int = 96, holdout: float = 0.1,
                   seed: int = 0, detail: float = 1.0) -> tuple[Path, Path]:
    """Write `root/ingest` and `root/track`; returns the two directories."""
    import cv2
    from safetensors.numpy import save_file

    from avatarzoo.renderers.gaussian.rasterize import rasterize

    rng = np.random.default_rng(seed)
    ingest, track = root / "ingest", root / "track"
    ingest.mkdir(parents=True, exist_ok=True)
    track.mkdir(parents=True, exist_ok=True)
    f = 1.6 * size
    K = np.array([[f, 0, size / 2], [0, f, size / 2 - 0.1 * size], [0, 0, 1]])
    canonical = _features(rng)["landmarks"]
    tt = np.arange(n) / 25.0
    expr = np.stack([
        np.clip(0.6 + 0.6 * np.sin(tt * 7.0), 0, 1.2),
        (np.sin(tt * 3.1) > 0.8).astype(float),
        0.5 + 0.5 * np.sin(tt * 1.7),
        np.sin(tt * 2.3),
    ], -1)
    poses = np.zeros((n, 4, 4))
    torso_m = np.zeros((n, 4, 4))
    yy, xx = np.mgrid[0:size, 0:size] / size
    bg = np.stack([0.3 + 0.4 * xx, 0.5 + 0.2 * np.sin(yy * 9), 0.6 - 0.3 * yy], -1)
    frames = np.lib.format.open_memmap(ingest / "frames.npy", "w+", np.uint8, (n, size, size, 3))
    masks = np.lib.format.open_memmap(ingest / "masks.npy", "w+", np.uint8, (n, size, size))
    lms = np.zeros((n, 478, 3))
    body = np.zeros((n, 3, 2))
    shoulders = np.array([[-0.17, 0.17, DEPTH + 0.06], [0.17, 0.17, DEPTH + 0.06]])
    for i in range(n):
        sway = 0.015 * np.sin(tt[i] * 1.3)
        r = _rot(0.15 * np.sin(tt[i] * 0.9), 0.08 * np.sin(tt[i] * 1.4), 0.05 * np.sin(tt[i] * 0.7))
        poses[i] = np.eye(4)
        poses[i, :3, :3] = r
        poses[i, :3, 3] = [sway, 0.0, DEPTH]
        ang = 0.04 * np.sin(tt[i] * 1.1)
        torso_m[i] = np.eye(4)
        torso_m[i, :3, :3] = _rot(0, 0, ang)
        pivot = np.array([0, 0.25, DEPTH + 0.06])
        torso_m[i, :3, 3] = pivot - torso_m[i, :3, :3] @ pivot + [0.7 * sway, 0, 0]
        sc = _scene(expr[i], detail=detail)
        hm, hs, hc, ho = sc["head"]
        tm, ts, tc, to = sc["torso"]
        means = np.concatenate([hm @ r.T + poses[i, :3, 3], tm @ torso_m[i, :3, :3].T + torso_m[i, :3, 3]])
        scales = np.concatenate([hs, ts])[:, None].repeat(3, 1)
        cols = np.clip(np.concatenate([hc, tc]), 0, 1)
        ops = np.concatenate([ho, to])
        tt_ = lambda a: torch.as_tensor(a, dtype=torch.float32)[None]  # noqa: E731
        quats = np.tile([1.0, 0, 0, 0], (len(means), 1))
        img, alpha, _ = rasterize(tt_(means), tt_(quats), tt_(scales), tt_(ops), tt_(cols),
                                  torch.eye(4)[None], tt_(K), size, size, backend="torch")
        img, alpha = img[0].numpy(), alpha[0].numpy()
        frames[i] = np.clip((img + (1 - alpha) * bg) * 255 + 0.5, 0, 255).astype(np.uint8)
        masks[i] = (alpha[..., 0] > 0.5) * 255
        lm = canonical.copy()
        lm[list(LIPS[:10]), 1] += 0.006 * expr[i, 0]  # lower lip follows the jaw (roughly)
        cam = lm @ r.T + poses[i, :3, 3]
        uv = cam @ K.T
        lms[i, :, :2] = uv[:, :2] / uv[:, 2:]
        lms[i, :, 2] = cam[:, 2]
        sh = shoulders @ torso_m[i, :3, :3].T + torso_m[i, :3, 3]
        nose = np.array([[0, 0.0, -HEAD[2]]]) @ r.T + poses[i, :3, 3]
        pts = np.concatenate([sh, nose]) @ K.T
        body[i] = pts[:, :2] / pts[:, 2:]
    frames.flush()
    masks.flush()
    cv2.imwrite(str(ingest / "background.png"),
                cv2.cvtColor((bg * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR))
    np.save(ingest / "time.npy", tt)
    (ingest / "ingest.json").write_text(json.dumps({
        "fps": 25.0, "n_frames": n, "size": size, "holdout_start": int(round(n * (1 - holdout))),
        "crop_box": [0, 0, size, size], "source": {"synthetic": True}, "audio": None}))
    noisy = expr + rng.normal(0, 0.02, expr.shape)
    save_file({
        "expression": noisy.astype(np.float32), "pose": poses.astype(np.float32),
        "landmarks": lms.astype(np.float32), "body": body.astype(np.float32),
        "valid": np.ones(n, bool), "time": tt, "K": K.astype(np.float32),
        "canonical": canonical.astype(np.float32),
    }, str(track / "tracking.safetensors"),
        metadata={"avatarzoo.space": SPACE.to_json(), "avatarzoo.body_names": json.dumps(BODY_NAMES)})
    return ingest, track
