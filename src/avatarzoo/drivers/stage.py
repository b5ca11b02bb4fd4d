"""Stage `fit_audio_driver` (kind `tcn`): ingest + track outputs → audio_driver.safetensors
+ audio_driver.json (every tensor and number `runtime.AudioDriver` needs).

1. The recording's audio/video offset: estimated from its training frames (the tracked
   mouth opening against the speech, sync.py) unless the recipe gives one, so that the
   net learns aligned pairs instead of spending its lookahead on a shifted target.
2. Aligned pairs on the training frames and the audio heard with them (data.py).
3. The nets: one from each draw of the shipped person-independent prior when there is
   one for this space and these features (its trunk, and its head for the channels it
   knows), else one from scratch; each fitted on the first frames, validated on the last
   `validation` fraction; their average (model.NetEnsemble) is then calibrated on that
   fraction, channel by channel.
4. The recording's closed-mouth code (its silent frames) and its life (life.py).

Shapes: N frames, D expression dim, S speech channels.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from avatarzoo.errors import InputError, SpaceError
from avatarzoo.stages.context import StageContext

# The mouth's lead over its sound on public recordings whose estimate is clear (median of
# 10, BENCHMARKS.md "Audio/video offset"): what an unclear recording is taken to have.
TYPICAL_OFFSET_S = 0.15


def _mouth_channel(space) -> int | None:
    if "mouth_open" in space.channels:
        return space.channel("mouth_open")
    jaw = space.regions.get("jaw", ())
    return jaw[0] if jaw else None


def estimate_av_offset(ingest, tracking, log) -> dict:
    """The recording's audio/video offset on its training frames (sync.estimate_offset)."""
    from avatarzoo.drivers.sync import estimate_offset

    info = ingest.info
    c = _mouth_channel(tracking.space)
    if c is None:
        log.warning("fit_audio_driver: the space %s has no mouth_open or jaw channel; audio/video offset "
                    "taken as 0", tracking.space.name)
        return {"seconds": 0.0, "estimated": False}
    h = info.holdout_start
    audio = np.asarray(ingest.audio(), np.float32)
    audio = audio[: ingest.audio_at(h) if h < info.n_frames else len(audio)]  # the training frames' audio only
    est = estimate_offset(tracking.expression[:h, c].astype(np.float64), audio, fps=info.fps,
                          audio_offset=info.audio.offset)
    out = {"seconds": float(est.seconds), "score": float(est.score), "clear": bool(est.clear), "estimated": True}
    log.info("audio/video offset: the mouth %s the sound by %.0f ms (peak correlation %.2f%s)",
             "leads" if est.seconds >= 0 else "lags", abs(est.seconds) * 1000, est.score,
             "" if est.clear else "; the peak is not clear, taken anyway")
    return out


def run(ctx: StageContext) -> None:
    import torch

    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.contracts.tracking import Tracking
    from avatarzoo.drivers import fitting
    from avatarzoo.drivers.data import level_dims, recording_pairs
    from avatarzoo.drivers.life import LifeModel
    from avatarzoo.drivers.prior import compatible, find_prior
    from avatarzoo.drivers.model import NetEnsemble
    from avatarzoo.drivers.runtime import FORMAT_VERSION
    from avatarzoo.drivers.train import calibrate, predict

    cfg = ctx.recipe.audio_driver
    ingest = IngestOutput.open(ctx.inputs["ingest"])
    tracking = Tracking.load(ctx.inputs["track"] / "tracking.safetensors")
    info = ingest.info
    if info.audio is None or info.audio.samples == 0:
        raise InputError(f"fit_audio_driver: {info.source.get('file', 'the recording')} has no audio; an audio "
                         "driver learns from the recording's speech (give recording.audio, or drop audio_driver)")
    if tracking.space.name != cfg.space:
        raise SpaceError(f"fit_audio_driver: the tracking is in space '{tracking.space.name}' but the driver "
                         f"produces '{cfg.space}'; set audio_driver.space or add a space_map")
    if info.holdout_start < 2 * info.fps * 2:
        raise InputError(f"fit_audio_driver: {info.holdout_start} training frames ({info.holdout_start / info.fps:.1f} s);"
                         " the driver needs at least 4 s of speech")
    space = tracking.space
    torch.manual_seed(cfg.seed)
    extractor = cfg.features.registered.load("extractor").from_config(cfg.features)

    if cfg.offset_ms is not None:
        offset = {"seconds": cfg.offset_ms / 1000.0, "estimated": False}
    elif cfg.align:
        offset = estimate_av_offset(ingest, tracking, ctx.log)
        if not offset.get("clear", True):
            offset = {**offset, "seconds": TYPICAL_OFFSET_S, "used": "typical"}
            ctx.log.warning("fit_audio_driver: the audio/video offset is unclear on this recording; "
                            "using the typical %.0f ms", TYPICAL_OFFSET_S * 1000)
    else:
        offset = {"seconds": 0.0, "estimated": False}

    channels = fitting.speech_channels(space)
    lookahead = int(round(cfg.lookahead_ms / 10))
    pairs, level_mean = recording_pairs(
        np.asarray(ingest.audio()), info.audio.offset, ingest.time, tracking.expression[:, channels],
        tracking.valid, info.holdout_start, extractor, av_offset=offset["seconds"], lookahead=lookahead)
    train_pairs, val_pairs = pairs.split(cfg.validation)
    ctx.log.info("pairs: %d feature frames (%.1f s of speech), %d with targets, %d for validation",
                 len(pairs), len(pairs) / 100, int(train_pairs.weight.sum()), int(val_pairs.weight.sum()))

    prior = find_prior(space.name, cfg.features.model_dump(mode="json")) if cfg.prior == "builtin" else None
    why_not = compatible(prior.config, cfg) if prior is not None else None
    if why_not:
        ctx.log.info("start: not from the prior %s: %s; training from scratch", prior.name, why_not)
        prior = None
    nets, taken = fitting.start_nets(cfg, prior, space, channels, train_pairs, extractor.dim)
    if prior is not None:
        ctx.log.info("start: the prior %s (fitted on %s), %d draws, %d of %d channels", prior.name,
                     ", ".join(r["name"] for r in prior.config["recordings"]), len(nets), taken, len(channels))
    elif cfg.prior == "builtin":
        ctx.log.info("start: no shipped prior for %s with %s features; training from scratch",
                     space.name, cfg.features.kind)
    summaries = fitting.fit_nets(nets, cfg, space, channels, train_pairs, val_pairs, from_prior=prior is not None,
                                 scratch=ctx.scratch, progress=ctx.progress, log=ctx.log.info)
    summary = {"nets": len(nets), "wall_s": sum(x["wall_s"] for x in summaries), "steps": summaries[0]["steps"],
               "final_train_loss": [x["final_train_loss"] for x in summaries],
               "best_val_loss": [x["best_val_loss"] for x in summaries]}
    net = NetEnsemble(nets)
    gain = calibrate(net, val_pairs, np.arange(len(channels)))

    # validation numbers a person reads: the mouth channel on the validation frames
    m = val_pairs.weight > 0
    validation = {}
    if m.sum() > 20:
        pred = predict(net, val_pairs.features)[m]
        mean = net.out_mean.numpy()
        pred = mean + gain * (pred - mean)
        for name in ("mouth_open", "jaw_open"):
            if name in space.channels:
                j = int(np.flatnonzero(channels == space.channel(name))[0])
                y = val_pairs.targets[m, j]
                validation[name] = {"corr": float(np.corrcoef(pred[:, j], y)[0, 1]),
                                    "amplitude": float(pred[:, j].std() / max(y.std(), 1e-9))}

    # the closed-mouth code: the training frames heard in silence (or the most closed ones)
    h = info.holdout_start
    expr = tracking.expression[:h].astype(np.float64)
    # frame k goes with the sound at audio time k / fps + offset (the mouth leads by the offset)
    sound_frame = (np.arange(len(pairs.activity)) / 100 - offset["seconds"]) * info.fps
    act_at_frame = np.interp(np.arange(h), sound_frame, pairs.activity)
    quiet = (act_at_frame < 0.1) & tracking.valid[:h]
    mc = _mouth_channel(space)
    if quiet.sum() < 10 and mc is not None:
        quiet = expr[:, mc] <= np.percentile(expr[:, mc], 10)
    silence = np.median(expr[quiet] if quiet.any() else expr, axis=0).astype(np.float32)

    life_cols = fitting.life_channels(space)
    ok = tracking.valid[:h]
    blink_cols = [i for i in space.regions.get("eyes", ()) if "blink" in space.channels[i]] or list(life_cols[:1])
    gaze_cols = list(space.regions.get("gaze", ())) or list(life_cols[:2])
    gaze = expr[ok][:, gaze_cols] if gaze_cols else np.zeros((int(ok.sum()), 2))
    gaze = np.pad(gaze, ((0, 0), (0, max(0, 2 - gaze.shape[1]))))[:, :2]
    life = LifeModel.fit(expr[ok], tracking.pose[:h][ok].astype(np.float64), tracking.body[:h][ok].astype(np.float64),
                         fps=info.fps, channels=tuple(int(c) for c in life_cols),
                         blink=expr[ok][:, blink_cols].mean(1), gaze=gaze)

    tensors = {f"net.{k}": v.detach().float().contiguous() for k, v in net.state_dict().items()}
    tensors.update({f"life.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in life.to_arrays().items()})
    tensors["gain"] = torch.from_numpy(gain)
    tensors["silence"] = torch.from_numpy(silence)
    tensors["level_mean"] = torch.from_numpy(np.asarray(level_mean, np.float32))
    config = {
        "kind": cfg.kind,
        "format_version": FORMAT_VERSION,
        "space": json.loads(space.to_json()),
        "fps": info.fps,
        "net": {**dataclasses.asdict(net.shape), "members": len(nets)},  # NetShape's fields, in order
        "features": cfg.features.model_dump(mode="json"),
        "level_dims": list(level_dims(extractor)),
        "speech_channels": channels.tolist(),
        "config": cfg.model_dump(mode="json"),
        "av_offset": offset,
        # the avatar's mouth leads its sound as the recording's did (clamped to 0..300 ms)
        "lead_s": float(np.clip(offset["seconds"], 0.0, 0.3)),
        "prior": prior.name if prior is not None else None,
        "fit": {**summary, "validation": validation},
    }
    from safetensors.torch import save_file

    save_file(tensors, str(ctx.out / "audio_driver.safetensors"), metadata={"avatarzoo.format": str(FORMAT_VERSION)})
    (ctx.out / "audio_driver.json").write_text(json.dumps(config, sort_keys=True, indent=2))
    ctx.log.info("audio driver: %s; validation %s", {k: v for k, v in summary.items() if k != "steps"}, validation)
