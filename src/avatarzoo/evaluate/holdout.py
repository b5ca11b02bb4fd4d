"""Evaluate an avatar on its held-out frames: the work of the `evaluate` stage, on
objects already loaded (so tests drive it with small stand-ins).

Shapes: N clip frames, M = N - holdout_start held-out frames, S frame side (the ingest
crop), R the renderer's side, D expression channels, B body points, L landmarks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from avatarzoo.errors import SpaceError, StageError
from avatarzoo.evaluate import fidelity as fid
from avatarzoo.evaluate.baseline import mean_frame
from avatarzoo.evaluate.config import EvalConfig
from avatarzoo.evaluate.coverage import coverage
from avatarzoo.evaluate.facebox import face_boxes
from avatarzoo.evaluate.plot import FROZEN, GT, LIVE, Panel, Series, draw_panels
from avatarzoo.evaluate.report import (
    ChannelCurves,
    EvalReport,
    ExpressionGain,
    Fidelity,
    FrameScores,
    ImageMetrics,
    Images,
    Needles,
    Speed,
)
from avatarzoo.evaluate.scores import KEYS, score_frames
from avatarzoo.evaluate.sheet import contact_sheet, expressiveness, pick_frames, write_png
from avatarzoo.evaluate.speed import render_speed
from avatarzoo.evaluate.video import SideBySideWriter


class Renderer(Protocol):
    """What evaluation needs of a renderer (GaussianRenderer has it)."""

    size: int
    space: Any  # ExpressionSpace

    def render(self, expression: Any, pose: Any, body: Any) -> Any: ...  # uint8 [B, R, R, 3]
    def render_float(self, expression: Any, pose: Any, body: Any) -> Any: ...  # float [B, 3, R, R]
    # optional: needles(expression, pose, body) -> [B] counts and needle_definition
    # {ratio, min_opacity, min_length} (GaussianRenderer has them); without, no count


#: track(frames, *, fps, reference) -> Tracking; `avatarzoo.trackers.mediapipe.track_frames`
#: with the recipe's tracker config bound.
TrackFn = Callable[..., Any]
Progress = Callable[..., Iterator[Any]]


def _no_progress(iterable: Iterable[Any], **_: Any) -> Iterator[Any]:
    yield from iterable


def to_numpy(x: Any) -> np.ndarray:
    """A torch tensor (any device) or array-like as a numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


@dataclass(frozen=True)
class Speech:
    """What lip sync needs: the audio driver (`drive(audio) -> Motion`, `lead_s`), the
    held-out speech (float32 16 kHz from the first held-out frame's time) and the speech
    activity [J] of the training audio (100/s)."""

    driver: Any
    audio: np.ndarray
    train_activity: np.ndarray


@dataclass(frozen=True)
class Outputs:
    """File names the stage writes into its output directory."""

    metrics: str = "metrics.json"
    sheet: str = "contact_sheet.png"
    video: str = "holdout.mp4"
    fidelity: str = "fidelity.png"


OUTPUTS = Outputs()


def _tracking_arrays(tracking: Any, n: int, source: str) -> dict[str, np.ndarray]:
    out = {k: to_numpy(getattr(tracking, k)) for k in ("expression", "pose", "landmarks", "body", "valid")}
    for k, v in out.items():
        if v.shape[0] != n:
            raise StageError(
                f"{source}: tracking has {v.shape[0]} frames of '{k}', the ingest has {n};"
                " rebuild the track stage from this ingest"
            )
    out["valid"] = out["valid"].astype(bool)
    return out


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    if images.shape[1] == size:
        return images
    import cv2

    interp = cv2.INTER_AREA if images.shape[1] > size else cv2.INTER_LINEAR
    return np.stack([cv2.resize(np.ascontiguousarray(im), (size, size), interpolation=interp) for im in images])


def evaluate_holdout(
    *,
    frames: np.ndarray,
    holdout_start: int,
    fps: float,
    tracking: Any,
    renderer: Renderer,
    track: TrackFn | None,
    out: Path,
    scratch: Path,
    device: str = "cpu",
    avatar: str = "",
    config: EvalConfig = EvalConfig(),
    progress: Progress = _no_progress,
    log: logging.Logger | None = None,
    source: str = "tracking",
    time_render: bool = True,
    speech: "Speech | None" = None,
) -> EvalReport:
    """Score renders of frames[holdout_start:] and write the previews into `out`.

    Args:
        frames: [N, S, S, 3] uint8 recording frames (a memmap: read in batches).
        tracking: the ground-truth Tracking of all N frames (expression [N, D], pose
            [N, 4, 4], landmarks [N, L, 3] in S-pixels, body [N, B, 2], valid [N], space).
        renderer: renders [B, R, R, 3] uint8 from expression, pose, body; R != S is
            resized to S for scoring and re-tracking.
        track: re-tracks frames into the ground truth's channels; None skips fidelity.
        scratch: room for the renders of the window (memmaps), so RAM stays bounded.
        source: names the tracking file in errors.
        time_render: measure render fps (off in tests: timing is not their business).
        speech: the audio driver and the held-out speech, for lip sync (lipsync.py).
    Returns:
        The report (not yet saved).
    """
    import torch

    log = log or logging.getLogger("avatarzoo")
    if frames.ndim != 4 or frames.shape[1] != frames.shape[2] or frames.shape[3] != 3:
        raise StageError(f"frames: expected [N, S, S, 3], got {frames.shape}")
    n, s = frames.shape[0], frames.shape[1]
    m = n - holdout_start
    if holdout_start < 1 or m < 1:
        raise StageError(
            f"held-out window [{holdout_start}, {n}) is empty or leaves no training frame;"
            " set recording.holdout in the recipe (e.g. 0.1)"
        )
    tr = _tracking_arrays(tracking, n, source)
    space = tracking.space
    if renderer.space.name != space.name:
        raise SpaceError(
            f"the renderer consumes space '{renderer.space.name}' but {source} is in '{space.name}'"
        )
    notes: list[str] = []
    if renderer.size != s:
        notes.append(f"renders are {renderer.size}² and were resized to the recording's {s}² for scoring")

    window = slice(holdout_start, n)
    boxes = face_boxes(tr["landmarks"][window], s, pad=config.face_pad)  # [M, 4]
    baseline = mean_frame(frames, holdout_start)  # [S, S, 3] float in [0, 1]
    train_valid = tr["valid"][:holdout_start]
    train_expr = tr["expression"][:holdout_start]
    neutral = (train_expr[train_valid] if train_valid.any() else train_expr).mean(axis=0)  # [D]

    dev = torch.device(device)

    def tensor(x: np.ndarray) -> "torch.Tensor":
        return torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32, device=dev)

    expr_w = tensor(tr["expression"][window])  # [M, D]
    pose_w = tensor(tr["pose"][window])  # [M, 4, 4]
    body_w = tensor(tr["body"][window])  # [M, B, 2]
    frozen_w = tensor(np.broadcast_to(neutral, (m, neutral.shape[0])))  # [M, D]

    scratch.mkdir(parents=True, exist_ok=True)
    live_mm = np.lib.format.open_memmap(scratch / "live.npy", mode="w+", dtype=np.uint8, shape=(m, s, s, 3))
    frozen_mm = np.lib.format.open_memmap(scratch / "frozen.npy", mode="w+", dtype=np.uint8, shape=(m, s, s, 3))
    scores: dict[str, dict[str, list[float]]] = {k: {key: [] for key in KEYS} for k in ("render", "frozen", "baseline")}
    count_needles = getattr(renderer, "needles", None)
    needles: dict[str, list[int]] = {"live": [], "frozen": []}

    starts = range(0, m, config.batch)
    with SideBySideWriter(out / OUTPUTS.video, size=s, fps=fps, heat_max=config.heat_max) as video, torch.inference_mode():
        for a in progress(starts, total=len(starts), desc="evaluate: render held-out", unit="batch"):
            b = min(a + config.batch, m)
            gt = np.asarray(frames[holdout_start + a : holdout_start + b])  # [b-a, S, S, 3]
            live = _resize(to_numpy(renderer.render(expr_w[a:b], pose_w[a:b], body_w[a:b])), s)
            frozen = _resize(to_numpy(renderer.render(frozen_w[a:b], pose_w[a:b], body_w[a:b])), s)
            if live.shape != gt.shape or live.dtype != np.uint8:
                raise StageError(f"renderer returned {live.dtype} {live.shape}, expected uint8 {gt.shape}")
            live_mm[a:b], frozen_mm[a:b] = live, frozen
            for name, pred in (("render", live), ("frozen", frozen), ("baseline", baseline)):
                for key, v in score_frames(pred, gt, boxes[a:b]).items():
                    scores[name][key].extend(float(x) if np.isfinite(x) else None for x in v)
            if count_needles is not None:
                needles["live"] += [int(x) for x in to_numpy(count_needles(expr_w[a:b], pose_w[a:b], body_w[a:b]))]
                needles["frozen"] += [int(x) for x in to_numpy(count_needles(frozen_w[a:b], pose_w[a:b], body_w[a:b]))]
            labels = [(f"#{holdout_start + j}", f"{scores['render']['psnr_full'][j]:.1f} dB") for j in range(a, b)]
            video.write(gt, live, labels)
    live_mm.flush()
    frozen_mm.flush()

    metrics = {k: ImageMetrics.from_frames(FrameScores(**v)) for k, v in scores.items()}
    images = Images(
        render=metrics["render"],
        frozen=metrics["frozen"],
        baseline=metrics["baseline"],
        face_pad=config.face_pad,
        face_boxes=[tuple(int(x) for x in box) for box in boxes],
        live_minus_frozen=ExpressionGain.of(metrics["render"], metrics["frozen"]),
    )
    needle_report = None
    if count_needles is not None:
        needle_report = Needles(
            **getattr(renderer, "needle_definition", {"ratio": float("nan"), "min_opacity": float("nan"),
                                                        "min_length": float("nan")}),
            live_mean=float(np.mean(needles["live"])), live_max=max(needles["live"]),
            frozen_mean=float(np.mean(needles["frozen"])), frozen_max=max(needles["frozen"]),
            per_frame_live=needles["live"],
        )

    # Contact sheet: the most expressive held-out frames (headline channels) + even spacing.
    head = sorted({i for idx in fid.headline_channels(space).values() for i in idx}) or list(range(space.dim))
    clip_expr = tr["expression"][tr["valid"]] if tr["valid"].any() else tr["expression"]
    score = expressiveness(
        tr["expression"][window][:, head], clip_expr[:, head].mean(0), clip_expr[:, head].std(0)
    )
    picked = pick_frames(score, config.sheet_frames)
    psnr_live = metrics["render"].per_frame.psnr_full
    sheet = contact_sheet(
        np.asarray(frames[[holdout_start + int(i) for i in picked]]),
        np.asarray(live_mm[picked]),
        [f"#{holdout_start + int(i)} {psnr_live[int(i)]:.1f} dB" for i in picked],
        tile=config.sheet_tile,
    )
    write_png(out / OUTPUTS.sheet, sheet)

    fidelity = None
    if track is None:
        notes.append("expression fidelity not measured: no re-tracker for this recipe's tracker")
    elif m < config.rule.min_frames:
        notes.append(f"expression fidelity not measured: {m} held-out frames < {config.rule.min_frames}")
    else:
        fidelity, gt_retracked = _fidelity(
            frames=frames, window=window, fps=fps, tracking=tracking, tr=tr, live=live_mm,
            frozen=frozen_mm, track=track, config=config, progress=progress, out=out,
        )
        for region in fidelity.regions:
            if not region.measurable:
                log.info("evaluate: %s not measurable: %s", region.region, region.reason)

    lipsync = None
    if speech is not None and fidelity is not None:
        from avatarzoo.evaluate.lipsync import evaluate_lipsync

        def render_motion(expression, pose, body) -> np.ndarray:
            parts = []
            with torch.inference_mode():
                for a in range(0, len(expression), config.batch):
                    b = a + config.batch
                    parts.append(_resize(to_numpy(renderer.render(
                        tensor(expression[a:b]), tensor(pose[a:b]), tensor(body[a:b]))), s))
            return np.concatenate(parts)

        lipsync = evaluate_lipsync(
            driver=speech.driver, render=render_motion, track=track, tracking=tracking, gt=gt_retracked,
            audio=speech.audio, holdout_start=holdout_start, fps=fps, size=s,
            train_audio_activity=speech.train_activity, progress=progress)
    elif speech is not None:
        notes.append("lip sync not measured: it needs the re-tracker and a held-out window long enough to track")

    speed = None
    if time_render:
        log.info("evaluate: timing renders at batch 1 (%s)", device)
        t = render_speed(
            renderer, expr_w, pose_w, body_w, device=device,
            warmup=config.timing.warmup, repeats=config.timing.repeats, max_seconds=config.timing.max_seconds,
        )
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
        speed = Speed(device=f"{dev.type}: {name}" if dev.type == "cuda" else name, size=renderer.size, **t)

    del live_mm, frozen_mm
    for f in ("live.npy", "frozen.npy"):
        (scratch / f).unlink(missing_ok=True)

    return EvalReport(
        avatar=avatar,
        size=s,
        fps=fps,
        n_frames=n,
        holdout_start=holdout_start,
        frames=list(range(holdout_start, n)),
        images=images,
        fidelity=fidelity,
        speed=speed,
        lipsync=lipsync,
        needles=needle_report,
        coverage=coverage(space, pose=tr["pose"], expression=tr["expression"], valid=tr["valid"],
                          holdout_start=holdout_start),
        notes=notes,
    ).with_headline()


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def _fidelity(
    *,
    frames: np.ndarray,
    window: slice,
    fps: float,
    tracking: Any,
    tr: dict[str, np.ndarray],
    live: np.ndarray,
    frozen: np.ndarray,
    track: TrackFn,
    config: EvalConfig,
    progress: Progress,
    out: Path,
) -> tuple[Fidelity, dict[str, np.ndarray]]:
    """The fidelity of the live and frozen renders, and the ground truth they were
    compared with (the held-out recording re-tracked, or the stored tracking)."""
    m = live.shape[0]

    def retrack(images: np.ndarray, what: str) -> dict[str, np.ndarray]:
        # Plain in-RAM arrays, one frame at a time: MediaPipe is handed no memmap views.
        frames_it = (np.array(images[i]) for i in range(m))
        it = progress(frames_it, total=m, desc=f"evaluate: track {what}", unit="frame")
        result = track(it, fps=fps, reference=tracking)
        arr = _tracking_arrays(result, m, f"re-tracked {what}")
        if result.space.name != tracking.space.name:
            raise SpaceError(
                f"re-tracking {what} gave space '{result.space.name}', the ground truth is in"
                f" '{tracking.space.name}': fidelity needs the tracker that made the ground truth"
            )
        return arr

    stored = {k: v[window] for k, v in tr.items()}
    retracked = config.ground_truth == "retracked"
    gt = retrack(frames[window], "recording") if retracked else stored  # frames[window]: still a memmap
    lv = retrack(live, "live renders")
    fz = retrack(frozen, "frozen renders")
    space = tracking.space
    regions = fid.compare(
        space,
        gt=gt["expression"], gt_valid=gt["valid"],
        clip=tr["expression"], clip_valid=tr["valid"],
        live=lv["expression"], live_valid=lv["valid"],
        frozen=fz["expression"], frozen_valid=fz["valid"],
        stored=stored["expression"] if retracked else None,
        rule=config.rule,
        fast=fid.fast_frames(fps),
    )
    both = gt["valid"] & lv["valid"]
    rot = fid.rotation_error_deg(gt["pose"][both], lv["pose"][both]) if both.any() else None
    lmk = fid.landmark_error_px(gt["landmarks"][both], lv["landmarks"][both]) if both.any() else None

    panels = []
    curves: dict[str, ChannelCurves] = {}
    for region in regions:
        for name in region.headline:
            i = space.channel(name)
            ch = next(c for c in region.channels if c.index == i)

            def masked(x: dict[str, np.ndarray]) -> np.ndarray:
                return np.where(x["valid"], x["expression"][:, i], np.nan)

            def listed(v: np.ndarray) -> list[float | None]:
                return [float(x) if np.isfinite(x) else None for x in v]

            curves[name] = ChannelCurves(gt=listed(masked(gt)), live=listed(masked(lv)), frozen=listed(masked(fz)))

            verdict = (
                f"live corr {ch.live.corr:.2f} fast {_f(ch.live.corr_fast)} amp {ch.live.amplitude:.2f}"
                f" | frozen corr {ch.frozen.corr:.2f} fast {_f(ch.frozen.corr_fast)} amp {ch.frozen.amplitude:.2f}"
                if ch.measurable and ch.live and ch.frozen
                else f"not measurable: {ch.reason}"
            )
            panels.append(Panel(
                title=f"{region.region} / {name}: {verdict}",
                series=[Series("recording", masked(gt), GT), Series("live render", masked(lv), LIVE),
                        Series("frozen expression", masked(fz), FROZEN)],
            ))
    if panels:
        write_png(out / OUTPUTS.fidelity, draw_panels(panels, x_start=window.start))

    return Fidelity(
        rule=config.rule,
        fast_frames=fid.fast_frames(fps),
        ground_truth=config.ground_truth,
        face_found_gt=float(gt["valid"].mean()),
        face_found_live=float(lv["valid"].mean()),
        face_found_frozen=float(fz["valid"].mean()),
        head_rotation_error_deg=None if rot is None else float(np.median(rot)),
        landmark_error_px=None if lmk is None else float(np.median(lmk)),
        regions=regions,
        curves=curves,
    ), gt
