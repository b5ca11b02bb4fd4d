"""The evaluation report: typed, serialised to `metrics.json`, printed by `avatarzoo eval`.

Every number a reader needs to judge an avatar sits here beside the number that gives it
meaning: the render's held-out PSNR/SSIM beside the trivial baseline (the mean training
frame) and beside the same render with the expression frozen; each region's re-tracked
correlation beside the frozen control and beside the ground truth's own variation, so a
"not measurable" verdict can be checked by eye.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- held-out images ---------------------------------------------------------------


class FrameScores(_Model):
    """Per-frame scores, index-aligned with `EvalReport.frames`. `psnr_outside`: PSNR of
    the pixels outside the face box, None where the box covers the whole frame (a tight
    crop); empty in reports written before it existed."""

    psnr_full: list[float]
    ssim_full: list[float]
    psnr_face: list[float]
    ssim_face: list[float]
    psnr_outside: list[float | None] = Field(default_factory=list)


class ImageMetrics(_Model):
    """Means over the held-out frames (PSNR: mean of per-frame dB) and the per-frame arrays.
    `psnr_outside` is the mean over the frames that have pixels outside the face box,
    None when none has."""

    psnr_full: float
    ssim_full: float
    psnr_face: float
    ssim_face: float
    psnr_outside: float | None = None
    per_frame: FrameScores

    @classmethod
    def from_frames(cls, scores: FrameScores) -> "ImageMetrics":
        def mean(v: list[float]) -> float:
            return float(sum(v) / len(v)) if v else float("nan")

        outside = [x for x in scores.psnr_outside if x is not None]
        return cls(
            psnr_full=mean(scores.psnr_full),
            ssim_full=mean(scores.ssim_full),
            psnr_face=mean(scores.psnr_face),
            ssim_face=mean(scores.ssim_face),
            psnr_outside=mean(outside) if outside else None,
            per_frame=scores,
        )


class ExpressionGain(_Model):
    """What the live expression adds over the same render with the expression frozen at
    its training mean, in dB (live − frozen, means of per-frame PSNR): in the face box
    it should be ≥ 0 (the expression explains the face); outside it ≈ 0 (the expression
    must not touch background or torso; issue 14 saw −1.3 dB there)."""

    full_db: float
    face_db: float
    outside_db: float | None = Field(None, description="None when the face box covers every frame.")

    @classmethod
    def of(cls, live: ImageMetrics, frozen: ImageMetrics) -> "ExpressionGain":
        out = None
        if live.psnr_outside is not None and frozen.psnr_outside is not None:
            out = live.psnr_outside - frozen.psnr_outside
        return cls(full_db=live.psnr_full - frozen.psnr_full, face_db=live.psnr_face - frozen.psnr_face,
                   outside_db=out)


class Needles(_Model):
    """Needle Gaussians per held-out frame (the renderer's own definition, e.g.
    `avatarzoo.renderers.gaussian.needles`: on screen, opacity ≥ `min_opacity`, projected
    major 1σ axis ≥ `min_length` × frame side and ≥ `ratio` × the minor one)."""

    ratio: float
    min_opacity: float
    min_length: float
    live_mean: float
    live_max: int
    frozen_mean: float
    frozen_max: int
    per_frame_live: list[int]


class Images(_Model):
    """Held-out image quality. `face_boxes` [M][x0, y0, x1, y1] (eval pixels) is the box
    scored as "face" in each frame, the same for ground truth, render and baseline."""

    render: ImageMetrics = Field(description="Rendered from the tracked expression, pose, body.")
    frozen: ImageMetrics = Field(description="The same render with the expression held at the training mean.")
    baseline: ImageMetrics = Field(description="The mean training frame, for every held-out frame.")
    face_pad: float = Field(description="Padding of the face box, as a fraction of the face's extent per side.")
    face_boxes: list[tuple[int, int, int, int]]
    live_minus_frozen: ExpressionGain | None = Field(
        None, description="render − frozen, dB, in the face box and outside it (None in older reports).")


# --- expression fidelity -----------------------------------------------------------


class Agreement(_Model):
    """A re-tracked channel against ground truth over the frames where both found a face.

    `corr`: Pearson correlation (0 when either side is constant: no co-variation).
    `corr_fast`: the same after removing each series' centred moving average over
        `Fidelity.fast_frames` (~0.36 s): blinks, syllables and brow flicks, without the
        slow drift that a render driven by head pose alone also reproduces (on the Obama
        clip a frozen-expression render scored plain mouth/jaw corr 0.86/0.91, fast 0.34/0.54).
    `amplitude`: std re-tracked / std ground truth (1 = the render moves as much as the person).
    """

    corr: float
    corr_fast: float | None = None
    amplitude: float
    frames: int


class ChannelFidelity(_Model):
    name: str
    index: int
    gt_std_window: float = Field(description="Std of the ground-truth channel over the held-out window.")
    gt_std_clip: float = Field(description="Std of the ground-truth channel over the whole clip (tracking).")
    measurable: bool
    reason: str = Field("", description="Why not measurable; empty when measurable.")
    live: Agreement | None = None
    frozen: Agreement | None = None
    repeatability: Agreement | None = Field(
        None,
        description="Stored tracking vs the re-tracked ground-truth frames: the tracker's own"
        " ceiling for this channel on this window.",
    )


class RegionFidelity(_Model):
    """One facial region, summarised over its headline channels that are measurable
    (mean of their correlations and of their amplitude ratios)."""

    region: str
    headline: list[str] = Field(description="The channels that summarise the region.")
    measurable: bool
    reason: str = ""
    gt_std_window: float = Field(description="Mean over the headline channels.")
    gt_std_clip: float = Field(description="Mean over the headline channels.")
    live: Agreement | None = None
    frozen: Agreement | None = None
    channels: list[ChannelFidelity]


class MeasurabilityRule(_Model):
    """When a channel's correlation on the held-out window means something. Recorded in
    the report so that a reader can check every verdict against the stds beside it.

    Calibrated on the shared Obama clip (face-64, 500 frames, ten 50-frame windows):
    windows without a blink have blink std 0.2-0.4 of the clip's (0.16-0.19), windows
    with a blink >= 0.6 of it; brow raise never fell below 0.53 (the speaker's brows
    move all the time). Another clip's 50 held-out frames had a blink std 5x below the
    Obama window's (~0.034) and correlations there were noise.
    """

    min_std_ratio: float = Field(
        0.5,
        description="Window std must be at least this fraction of the channel's std over the"
        " whole clip: below it the window holds no event of that channel (no blink, no brow"
        " raise), only tracker jitter and leakage from speech, and correlations are noise.",
    )
    min_std: float = Field(1e-4, description="Absolute floor on the window std, channel units (any space).")
    min_std_by_space: dict[str, float] = Field(
        default_factory=lambda: {"face-64": 0.05, "arkit-52": 0.05},
        description="Absolute floor for spaces whose channels are in units of a full action"
        " (1 = lids closed): 5% of an action. Catches a clip with no event anywhere, where"
        " the ratio rule compares jitter with jitter.",
    )
    min_frames: int = Field(10, description="Fewest frames with a face on both sides.")

    def floor(self, space: str) -> float:
        """The absolute std floor for channels of `space`."""
        return max(self.min_std, self.min_std_by_space.get(space, 0.0))


class ChannelCurves(_Model):
    """One headline channel over the held-out window, index-aligned with
    `EvalReport.frames`; None where the tracker found no face."""

    gt: list[float | None]
    live: list[float | None]
    frozen: list[float | None]


class Fidelity(_Model):
    """Re-tracked expression fidelity on the held-out window."""

    rule: MeasurabilityRule
    fast_frames: int | None = Field(None, description="Moving-average window of `corr_fast`, frames.")
    ground_truth: Literal["retracked", "stored"] = Field(
        description="What the re-tracked renders are compared with: 'retracked' (the"
        " held-out recording frames tracked by the same call as the renders) or 'stored'."
    )
    face_found_gt: float = Field(description="Fraction of held-out recording frames where the tracker found a face.")
    face_found_live: float = Field(description="Fraction of live renders where the tracker found a face.")
    face_found_frozen: float
    head_rotation_error_deg: float | None = Field(
        None, description="Median angle between re-tracked render and ground-truth head rotation."
    )
    landmark_error_px: float | None = Field(
        None, description="Median over frames of the mean 2D landmark distance, eval pixels."
    )
    regions: list[RegionFidelity]
    curves: dict[str, ChannelCurves] = Field(
        default_factory=dict, description="Headline channel name -> its curves (what fidelity.png draws)."
    )


class Coverage(_Model):
    """How far the held-out window is from the training frames (evaluate/coverage.py)."""

    nearest_pose_deg_median: float = Field(
        description="Median over held-out frames of the angle to the nearest training frame's head rotation, degrees."
    )
    nearest_pose_deg_p90: float = Field(description="Its 90th percentile, degrees.")
    expression_shift: dict[str, float] = Field(
        default_factory=dict,
        description="Region -> |held-out mean − training mean| of its channels, in training stds (mean over channels).",
    )


# --- lip sync from audio -----------------------------------------------------------


class SilenceCheck(_Model):
    """The avatar driven by silence: its last second against the recording's closed mouth."""

    closed_range: tuple[float, float] = Field(
        description="5th-95th percentile of the recording's mouth opening over its frames heard in silence.")
    mouth_open_median: float
    mouth_open_std: float = Field(description="A still mouth moves little.")
    inside: float = Field(description="Fraction of the silent second inside the closed-mouth range.")


class MouthAgreement(_Model):
    """Re-tracked speech-driven renders against the re-tracked held-out recording."""

    mouth: Agreement | None = Field(None, description="mouth_open.")
    jaw: Agreement | None = None
    best_lag_ms: float | None = Field(
        None, description="Lag of the rendered mouth opening that agrees best with the recording's (> 0: late).")
    lmd_px: float | None = Field(None, description="Mean lip-landmark distance, mouths centred, px at 512².")
    face_found: float


class LipSync(MouthAgreement):
    """The held-out speech driving the avatar, re-tracked against the held-out recording:
    the speech-driven face rendered with the recording's held-out head pose and body
    (these fields; the mouth judged alone) and with the driver's own motion (`own_motion`)."""

    seconds: float = Field(description="Held-out speech, seconds.")
    frames: int
    lead_ms: float = Field(description="How far the avatar's mouth leads its sound (the recording's offset).")
    own_motion: MouthAgreement | None = None
    blinks_per_min: float | None = Field(
        None, description="Blinks per minute in the speech-driven output (a minute of the held-out speech, looped).")
    recording_blinks_per_min: float | None = Field(None, description="... and in the recording's training frames.")
    brow_std_ratio: float | None = Field(
        None, description="Std of the driven brow channels over the recording's (brows that live: >= 0.3).")
    silence: SilenceCheck | None = None


# --- speed -------------------------------------------------------------------------


class Speed(_Model):
    """Render time at batch 1, deformation included, median of timed calls after warm-up."""

    device: str
    size: int
    fps: float = Field(description="1 / median time of render_float (image left on the device).")
    median_ms: float
    p90_ms: float
    calls: int
    fps_uint8: float = Field(description="1 / median time of render (uint8 frame on the host).")
    median_ms_uint8: float


# --- the report --------------------------------------------------------------------


class EvalReport(_Model):
    """Everything the `evaluate` stage measured; `metrics.json`."""

    format_version: int = FORMAT_VERSION
    avatar: str
    size: int = Field(description="Side of the evaluated frames, pixels.")
    fps: float
    n_frames: int
    holdout_start: int
    frames: list[int] = Field(description="The held-out frame indices, [holdout_start, n_frames).")
    images: Images
    fidelity: Fidelity | None = Field(None, description="None when the window is too short to track.")
    speed: Speed | None = None
    lipsync: LipSync | None = Field(None, description="None without an audio driver (or a re-tracker).")
    needles: Needles | None = Field(None, description="None when the renderer cannot count them.")
    coverage: Coverage | None = Field(None, description="None before it was measured, or with no tracked frame.")
    notes: list[str] = Field(default_factory=list)
    headline: dict[str, float] = Field(
        default_factory=dict,
        description="The numbers for the model card's model-index (see `headline_of`).",
    )

    def with_headline(self) -> "EvalReport":
        """This report with `headline` filled from its other fields."""
        return self.model_copy(update={"headline": headline_of(self)})

    def save(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "EvalReport":
        from avatarzoo.errors import InputError

        try:
            return cls.model_validate_json(Path(path).read_text())
        except FileNotFoundError:
            raise InputError(f"{path}: no evaluation report there (run the evaluate stage)") from None
        except ValueError as e:
            raise InputError(f"{path}: not an avatarzoo evaluation report: {e}") from None


def headline_of(report: EvalReport) -> dict[str, float]:
    """Flat name -> value of what a card shows: held-out PSNR/SSIM (render, baseline,
    frozen), per measurable region the live and frozen correlation and amplitude, fps.
    Regions that are not measurable are left out rather than shown as a number."""
    im = report.images
    out: dict[str, float] = {}
    for prefix, m in (("", im.render), ("baseline_", im.baseline), ("frozen_", im.frozen)):
        for k in ("psnr_full", "ssim_full", "psnr_face", "ssim_face", "psnr_outside"):
            if getattr(m, k) is not None:
                out[prefix + k] = float(getattr(m, k))
    gain = im.live_minus_frozen
    if gain is not None:
        out["live_minus_frozen_face_db"] = gain.face_db
        if gain.outside_db is not None:
            out["live_minus_frozen_outside_db"] = gain.outside_db
    if report.needles is not None:
        out["needles_live"] = report.needles.live_mean
        out["needles_frozen"] = report.needles.frozen_mean
    if report.fidelity is not None:
        for r in report.fidelity.regions:
            if r.measurable and r.live is not None:
                for prefix, a in ((f"{r.region}_", r.live), (f"{r.region}_frozen_", r.frozen)):
                    if a is None:
                        continue
                    out[prefix + "corr"] = a.corr
                    if a.corr_fast is not None:
                        out[prefix + "corr_fast"] = a.corr_fast
                    out[prefix + "amplitude"] = a.amplitude
    ls = report.lipsync
    if ls is not None:
        for name, a in (("mouth", ls.mouth), ("jaw", ls.jaw)):
            if a is not None:
                out[f"lipsync_{name}_corr"] = a.corr
                out[f"lipsync_{name}_amplitude"] = a.amplitude
        if ls.own_motion is not None and ls.own_motion.mouth is not None:
            out["lipsync_own_motion_mouth_corr"] = ls.own_motion.mouth.corr
        for key in ("lmd_px", "blinks_per_min", "brow_std_ratio"):
            if getattr(ls, key) is not None:
                out[f"lipsync_{key}"] = getattr(ls, key)
        if ls.silence is not None:
            out["lipsync_silence_closed"] = ls.silence.inside
    if report.coverage is not None:
        out["holdout_nearest_pose_deg"] = report.coverage.nearest_pose_deg_median
    if report.speed is not None:
        out["render_fps"] = report.speed.fps
    return out


# --- printing ----------------------------------------------------------------------


def _fmt(x: float | None, spec: str) -> str:
    return "–" if x is None else format(x, spec)


def format_report(report: EvalReport) -> str:
    """A plain-text table of `report`, as `avatarzoo eval` prints it."""
    im = report.images
    m = len(report.frames)
    lines = [
        f"{report.avatar}: held-out frames {report.holdout_start}..{report.n_frames - 1}"
        f" ({m} frames, {report.size}², {report.fps:g} fps)",
        "",
        f"{'held-out images':<28}{'PSNR full':>10}{'SSIM full':>10}{'PSNR face':>10}{'SSIM face':>10}",
    ]
    rows = [
        ("render", im.render),
        ("render, expression frozen", im.frozen),
        ("baseline: mean train frame", im.baseline),
    ]
    for name, s in rows:
        lines.append(
            f"{name:<28}{s.psnr_full:>10.2f}{s.ssim_full:>10.3f}{s.psnr_face:>10.2f}{s.ssim_face:>10.3f}"
        )
    r, b = im.render, im.baseline
    lines.append(
        f"{'gain over baseline':<28}{r.psnr_full - b.psnr_full:>+10.2f}{r.ssim_full - b.ssim_full:>+10.3f}"
        f"{r.psnr_face - b.psnr_face:>+10.2f}{r.ssim_face - b.ssim_face:>+10.3f}"
    )
    gain = im.live_minus_frozen
    if gain is not None:
        outside = "– (the face box covers the frame)" if gain.outside_db is None else (
            f"{gain.outside_db:+.2f} dB (render {_fmt(r.psnr_outside, '.2f')}, frozen {_fmt(im.frozen.psnr_outside, '.2f')})")
        lines.append(f"live − frozen expression: face box {gain.face_db:+.2f} dB, outside it {outside}")
    nd = report.needles
    if nd is not None:
        lines.append(
            f"needles (on screen, axis ratio ≥ {nd.ratio:g}, opacity ≥ {nd.min_opacity:g}, length ≥"
            f" {nd.min_length:g} × side): live {nd.live_mean:.1f}/frame (max {nd.live_max}),"
            f" frozen {nd.frozen_mean:.1f} (max {nd.frozen_max})"
        )
    cov = report.coverage
    if cov is not None:
        shifts = ", ".join(f"{k} {v:.2f}" for k, v in cov.expression_shift.items())
        lines.append(
            f"held-out window against the training frames: head rotation {cov.nearest_pose_deg_median:.2f}° from the"
            f" nearest training pose (median; 90%: {cov.nearest_pose_deg_p90:.2f}°); mean code shift in training"
            f" stds: {shifts}"
        )
    fid = report.fidelity
    lines.append("")
    if fid is None:
        lines.append("expression fidelity: not measured (see notes)")
    else:
        truth = "recording re-tracked alike" if fid.ground_truth == "retracked" else "stored tracking"
        lines.append(
            f"expression fidelity: held-out renders re-tracked vs the {truth};"
            f" corr / amplitude (std ratio)"
        )
        lines.append(
            f"{'':<52}{'live':>18}   {'frozen expression':>18}"
        )
        lines.append(
            f"{'region':<8}{'channels':<28}{'GT std win/clip':>16}{'corr':>6}{'fast':>6}{'amp':>6}"
            f"   {'corr':>6}{'fast':>6}{'amp':>6}"
        )

        def cols(a: Agreement | None) -> str:
            if a is None:
                return f"{'–':>6}{'–':>6}{'–':>6}"
            return f"{a.corr:>6.2f}{_fmt(a.corr_fast, '.2f'):>6}{a.amplitude:>6.2f}"

        for reg in fid.regions:
            std = f"{reg.gt_std_window:.3g}/{reg.gt_std_clip:.3g}"
            names = ",".join(reg.headline)
            names = names if len(names) <= 27 else names[:24] + "..."
            head = f"{reg.region:<8}{names:<28}{std:>16}"
            if reg.measurable and reg.live is not None:
                lines.append(f"{head}{cols(reg.live)}   {cols(reg.frozen)}")
            else:
                lines.append(f"{head}  not measurable: {reg.reason}")
        if fid.fast_frames:
            lines.append(f"fast: correlation after removing a {fid.fast_frames}-frame moving average")
        lines.append(
            f"face found: recording {fid.face_found_gt:.0%}, live {fid.face_found_live:.0%},"
            f" frozen {fid.face_found_frozen:.0%}; head rotation error"
            f" {_fmt(fid.head_rotation_error_deg, '.2f')}°, landmark error {_fmt(fid.landmark_error_px, '.2f')} px"
        )
    ls = report.lipsync
    if ls is not None:
        lines.append("")
        lines.append(f"lip sync from the held-out speech ({ls.seconds:.1f} s, mouth leading its sound by"
                     f" {ls.lead_ms:.0f} ms): re-tracked render vs the recording")
        for label, ma in (("with the recording's head motion", ls), ("with the driver's own head motion", ls.own_motion)):
            if ma is None:
                continue
            lines.append(f"  {label}:")
            for name, a in (("mouth_open", ma.mouth), ("jaw_open", ma.jaw)):
                if a is not None:
                    lines.append(f"    {name:<10} corr {a.corr:.2f}  fast {_fmt(a.corr_fast, '.2f')}  amplitude {a.amplitude:.2f}")
            lines.append(f"    best lag {_fmt(ma.best_lag_ms, '.0f')} ms, LMD {_fmt(ma.lmd_px, '.2f')} px at 512²,"
                         f" face found {ma.face_found:.0%}")
        lines.append(f"  blinks/min {_fmt(ls.blinks_per_min, '.1f')} (recording {_fmt(ls.recording_blinks_per_min, '.1f')}),"
                     f" brow std {_fmt(ls.brow_std_ratio, '.2f')} of the recording's")
        if ls.silence is not None:
            sc = ls.silence
            lines.append(f"  1 s of silence: mouth_open {sc.mouth_open_median:.3f} (std {sc.mouth_open_std:.3f}),"
                         f" {sc.inside:.0%} inside the closed range [{sc.closed_range[0]:.3f}, {sc.closed_range[1]:.3f}]")
    lines.append("")
    sp = report.speed
    if sp is None:
        lines.append("speed: not measured")
    else:
        lines.append(
            f"speed: {sp.fps:.3g} fps render ({sp.median_ms:.4g} ms median, p90 {sp.p90_ms:.4g} ms,"
            f" {sp.calls} calls), {sp.fps_uint8:.3g} fps to a uint8 host frame;"
            f" batch 1, {sp.size}², {sp.device}"
        )
    for note in report.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)
