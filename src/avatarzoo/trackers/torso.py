"""The torso's motion from the image itself: a 2D similarity per frame, found by
following corner features of the torso (tie, collar, lapels) with pyramidal
Lucas-Kanade from reference frames and from frame to frame, fitted with RANSAC.

Why not the Pose model's shoulders: on the demo clip (suit, shoulders at the frame's
edges) they jitter ~4 px and drift; warping the reference frame's torso by the
similarity of the smoothed Pose shoulders matched the torso *worse* than not moving it
at all (20.5 vs 21.1 dB in the torso region, 512²), while this track gives 28.8 dB.
The torso's outline is what the renderer's torso motion has to hit: its error was 60%
of the avatar's held-out error with Pose shoulders.

Where the framing is tight (Reagan, a second Obama recording: the torso a 30 px strip
at the frame's bottom edge, its corners on the collar), most frames keep too few inliers
against any one reference, and which reference was picked, and which fallback (a chain
frame to frame, a torso that never moves) was preferred, turned an invisible change of
the frames (±1 grey level) into a torso 2-9 px elsewhere (benchmarks/torso_stability.py).
So `follow` measures the torso from REFERENCES frames spread evenly over the training
frames, and from each frame into the next, and solves for every frame's motion at once
(trackers/torsograph.py): nothing is picked.

The body points keep their meaning (BODY_NAMES, crop px): each frame's points are the
reference frame's points moved by that frame's similarity, where the reference points
are the median over frames of the Pose points mapped back into the reference frame.

Shapes: N frames, S frame side, B body points, P features.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from avatarzoo.trackers.flow import PointTracker, gray

#: Lucas-Kanade at a 512² crop (flow.py scales them): 21 px windows over 5 pyramid
#: levels follow ~60 px of motion.
LK_WINDOW, LK_LEVELS = 21, 4
CORNER_SPACING = 6
MAX_FEATURES = 400
MIN_FEATURES = 12  # fewer corners on the torso than this: keep the Pose body
RANSAC_PX = 1.0
MIN_INLIERS = 6  # a similarity fitted to fewer RANSAC inliers than this is a lost frame
#: Reference frames of `follow`, spread evenly over the training frames. With six, ±1
#: grey level of noise moved the held-out neck base 0.0-2.3 px on average on six
#: recordings, where one picked reference moved it up to 8.7 px; four or eight did no
#: better on all of them (BENCHMARKS.md, session 20).
REFERENCES = 6
IDENTITY = np.array([[1.0, 0, 0], [0, 1.0, 0]])  # the similarity [2, 3] that does not move
IDENTITY.flags.writeable = False  # shared: `FrameSteps` hands it out


@dataclass
class TorsoTrack:
    """similarity: float64 [N, 2, 3] (reference frame px → frame px); inliers: int [N];
    ok: bool [N] (a reference frame's fit had enough inliers; others are interpolated,
    or found frame to frame only); reference: the reference (base) frame's index, whose
    similarity is the identity; features: P (the most of any reference); method: how the
    similarities were found; agreement: `torso_agreement` of this motion and of a torso
    that never moves, on the training frames (dB)."""

    similarity: np.ndarray
    inliers: np.ndarray
    ok: np.ndarray
    reference: int
    features: int
    method: str = "reference"  # "reference" (one reference frame, `track_torso`) or "graph" (`follow`)
    agreement: dict[str, float] = field(default_factory=dict)  # `torso_agreement` of it and a still torso (dB)
    references: tuple[int, ...] = ()  # every reference frame measured from (`follow`)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Points [B, 2] of the reference frame → [N, B, 2] in every frame."""
        a = self.similarity
        return np.einsum("nij,bj->nbi", a[:, :, :2], points) + a[:, None, :, 2]

    def invert(self, points: np.ndarray) -> np.ndarray:
        """Points [N, B, 2] of each frame → the reference frame, [N, B, 2]."""
        lin = self.similarity[:, :, :2]
        inv = np.linalg.inv(lin)
        return np.einsum("nij,nbj->nbi", inv, points - self.similarity[:, None, :, 2])


def torso_mask(mask: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """uint8 [S, S]: the person (mask ≥ 0.5, eroded 4 px off the background) below
    the chin plus a tenth of the face height. mask: [S, S] uint8 0..255 or float 0..1;
    landmarks: [L, 2+] px (MediaPipe face mesh: 10 = forehead top, 152 = chin)."""
    import cv2

    m = np.asarray(mask, np.float32)
    person = (m >= (127.5 if m.max() > 1.0 else 0.5)).astype(np.uint8)
    person = cv2.erode(person, np.ones((9, 9), np.uint8))
    chin, top = landmarks[152, 1], landmarks[10, 1]
    person[: max(0, int(chin + 0.1 * (chin - top)))] = 0
    return person


def _similarity_params(a: np.ndarray) -> np.ndarray:
    """[N, 2, 3] similarities → [N, 4] (s cos, s sin, tx, ty): linear in the matrix, so
    interpolating the parameters interpolates the matrices."""
    return np.stack([a[:, 0, 0], a[:, 1, 0], a[:, 0, 2], a[:, 1, 2]], -1)


def _similarity_matrix(p: np.ndarray) -> np.ndarray:
    c, s, tx, ty = p.T
    return np.stack([np.stack([c, -s, tx], -1), np.stack([s, c, ty], -1)], 1)


def track_torso(frames, masks, landmarks: np.ndarray, reference: int) -> TorsoTrack | None:
    """Follow the torso of `frames` (uint8 [N, S, S, 3], e.g. the ingest memmap, read
    one frame at a time) from frame `reference`, whose person mask `masks[reference]`
    and face `landmarks[reference]` [L, 2+] say where the torso is.

    Returns None when the reference torso has fewer than MIN_FEATURES corners (a plain
    shirt on a plain background: nothing to follow)."""
    found = measure_from(frames, masks, landmarks, reference)
    if found is None:
        return None
    sim, inliers, features = found
    n = len(frames)
    ok = enough_inliers(inliers)
    if not ok.any():
        return None
    if not ok.all():  # interpolate the similarity's parameters over the failed frames
        p = _similarity_params(sim)
        t = np.arange(n)
        for j in range(4):
            p[:, j] = np.interp(t, t[ok], p[ok, j])
        sim = _similarity_matrix(p)
    return TorsoTrack(similarity=sim, inliers=inliers, ok=ok, reference=reference, features=features)


def enough_inliers(inliers: np.ndarray) -> np.ndarray:
    """bool [N]: the frames whose fit from one reference kept MIN_INLIERS and at least
    30% of the reference's median (over the frames it reached) RANSAC inliers int [N]."""
    reached = inliers[inliers > 0]
    return inliers >= (max(MIN_INLIERS, int(0.3 * np.median(reached))) if len(reached) else MIN_INLIERS)


def measure_from(frames, masks, landmarks: np.ndarray, reference: int) -> tuple[np.ndarray, np.ndarray, int] | None:
    """The torso corners of frame `reference` followed into every frame: similarities
    float64 [N, 2, 3] (reference px → frame px; identity where the fit failed), their
    RANSAC inliers int [N] (0 where it failed) and the number of corners; None when the
    reference torso has fewer than MIN_FEATURES corners."""
    import cv2

    n = len(frames)
    tracker = PointTracker(gray(frames[reference]), window=LK_WINDOW, levels=LK_LEVELS)
    pts = tracker.corners(torso_mask(masks[reference], landmarks[reference]), max_points=MAX_FEATURES,
                          spacing=CORNER_SPACING)
    if pts is None or len(pts) < MIN_FEATURES:
        return None
    sim = np.tile(IDENTITY, (n, 1, 1))
    inliers = np.zeros(n, int)
    guess = IDENTITY
    # from the reference outwards, so that each frame starts from its neighbour's motion
    order = list(range(reference, n)) + list(range(reference - 1, -1, -1))
    for k in order:
        if k == reference - 1:
            guess = IDENTITY
        p1, good = tracker.track(gray(frames[k]), pts, pts @ guess[:, :2].T + guess[:, 2])
        if good.sum() < 3:
            continue
        m, inl = cv2.estimateAffinePartial2D(pts[good], p1[good].astype(np.float32), method=cv2.RANSAC,
                                             ransacReprojThreshold=RANSAC_PX, refineIters=20)
        if m is None:
            continue
        sim[k], inliers[k] = m, int(inl.sum())
        guess = m
    return sim, inliers, len(pts)


class FrameSteps:
    """The similarity [2, 3] from frame `src` to frame `dst` (corners of src's torso,
    searched at the same place in dst) and its RANSAC inliers, identity and 0 when too
    few corners or inliers; each pair found once."""

    def __init__(self, frames, masks, landmarks: np.ndarray) -> None:
        self.frames, self.masks, self.landmarks = frames, masks, landmarks
        self._found: dict[tuple[int, int], tuple[np.ndarray, int]] = {}

    def __call__(self, src: int, dst: int) -> tuple[np.ndarray, int]:
        if (src, dst) not in self._found:
            self._found[src, dst] = self._step(src, dst)
        return self._found[src, dst]

    def _step(self, src: int, dst: int) -> tuple[np.ndarray, int]:
        import cv2

        tracker = PointTracker(gray(self.frames[src]), window=LK_WINDOW, levels=LK_LEVELS)
        pts = tracker.corners(torso_mask(self.masks[src], self.landmarks[src]), max_points=MAX_FEATURES,
                              spacing=CORNER_SPACING)
        if pts is None or len(pts) < MIN_INLIERS:
            return IDENTITY, 0
        p1, good = tracker.track(gray(self.frames[dst]), pts, pts)
        if good.sum() < MIN_INLIERS:
            return IDENTITY, 0
        m, inl = cv2.estimateAffinePartial2D(pts[good], p1[good].astype(np.float32), method=cv2.RANSAC,
                                             ransacReprojThreshold=RANSAC_PX, refineIters=20)
        if m is None or inl.sum() < MIN_INLIERS:
            return IDENTITY, 0
        return m, int(inl.sum())


def torso_agreements(tracks: list[TorsoTrack], frames, masks, landmarks: np.ndarray,
                     index: np.ndarray) -> list[float]:
    """`torso_agreement` of each of `tracks` (one reference frame), each frame and its
    torso mask read once."""
    import cv2

    ref = np.asarray(frames[tracks[0].reference], np.float32)
    if any(t.reference != tracks[0].reference for t in tracks):
        raise ValueError("torso_agreements: the tracks start from different reference frames")
    size = ref.shape[1::-1]
    ones = np.ones(ref.shape[:2], np.float32)
    scores: list[list[float]] = [[] for _ in tracks]
    for k in index:
        if k == tracks[0].reference:
            continue
        frame = np.asarray(frames[k], np.float32)
        torso = torso_mask(masks[k], landmarks[k]).astype(bool)
        for track, out in zip(tracks, scores):
            warped = cv2.warpAffine(ref, track.similarity[k], size, flags=cv2.INTER_LINEAR)
            inside = torso & (cv2.warpAffine(ones, track.similarity[k], size) > 0.99)
            if inside.sum() >= 100:
                err = float(((warped - frame) ** 2)[inside].mean())
                out.append(10 * np.log10(255.0**2 / max(err, 1e-6)))
    return [float(np.median(out)) if out else float("-inf") for out in scores]


def torso_agreement(track: TorsoTrack, frames, masks, landmarks: np.ndarray, index: np.ndarray) -> float:
    """Median over the frames `index` (the reference left out) of the PSNR (dB) between
    each frame and the reference frame warped onto it by the track, inside that frame's
    torso (`torso_mask`) where the warp has pixels: how well the track's motion explains
    the torso's pixels."""
    return torso_agreements([track], frames, masks, landmarks, index)[0]


def follow(frames, masks, landmarks: np.ndarray, candidates: np.ndarray, *,
           references: int = REFERENCES) -> TorsoTrack | None:
    """The torso's motion in every frame of `frames`, from the middle of `references`
    frames spread evenly over `candidates` (the training frames): each reference's
    corners followed into every frame (`measure_from`; a frame counts where
    `enough_inliers`, as in `track_torso`),
    each frame's corners into the next (`FrameSteps`), and every frame's similarity
    solved from all of them at once (`torsograph.solve_motion`, residuals at the
    corners of the base frame's torso box). Frames no reference reaches are not `ok`.
    None when no reference torso has MIN_FEATURES corners."""
    import cv2

    from avatarzoo.trackers.torsograph import Measurement, solve_motion

    n = len(frames)
    candidates = np.asarray(candidates)
    picks = sorted({int(candidates[int((k + 0.5) / references * len(candidates))]) for k in range(references)})
    measured: list[Measurement] = []
    found, inliers, features, refs = np.zeros(n, bool), np.zeros(n, int), 0, []
    for ref in picks:
        got = measure_from(frames, masks, landmarks, ref)
        if got is None:
            continue
        sim, inl, count = got
        refs.append(ref)
        features = max(features, count)
        enough = enough_inliers(inl)
        enough[ref] = False
        measured += [Measurement(ref, k, sim[k], float(inl[k])) for k in np.flatnonzero(enough)]
        found |= enough
        found[ref] = True
        inliers = np.maximum(inliers, inl)
    if not refs:
        return None
    steps = FrameSteps(frames, masks, landmarks)
    for k in range(1, n):
        step, inl = steps(k - 1, k)
        if inl >= MIN_INLIERS:
            measured.append(Measurement(k - 1, k, step, float(inl)))
    base = refs[len(refs) // 2]
    x, y, w, h = cv2.boundingRect(torso_mask(masks[base], landmarks[base]))
    box = np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]], np.float64)
    track = TorsoTrack(similarity=solve_motion(n, measured, base, box)[0], inliers=inliers, ok=found,
                       reference=base, features=features, method="graph", references=tuple(refs))
    still = replace(track, similarity=np.tile(IDENTITY, (n, 1, 1)), method="static")
    scores = torso_agreements([track, still], frames, masks, landmarks, candidates)
    return replace(track, agreement=dict(zip(("graph", "static"), scores)))


def body_from_torso(track: TorsoTrack, pose_body: np.ndarray, pose_ok: np.ndarray) -> np.ndarray:
    """Body points float64 [N, B, 2] that move exactly with the torso: the Pose points
    `pose_body` [N, B, 2] of the frames in `pose_ok` mapped back into the reference
    frame, their median, moved by each frame's similarity."""
    use = pose_ok & track.ok
    if not use.any():
        use = track.ok
    anchor = np.median(track.invert(pose_body)[use], axis=0)  # [B, 2]
    return track.apply(anchor)


def body_from_anchor(frames, masks, landmarks: np.ndarray, anchor_points: np.ndarray) -> np.ndarray | None:
    """Body points float64 [N - 1, B, 2] of frames 1.. of `frames` in the units of
    frame 0, an anchor: an image of the same subject from the same camera (e.g. its
    avatar rendered at its neutral) whose body points `anchor_points` [B, 2] are known.
    The torso is followed from the anchor into every frame (its corners picked inside
    `masks[0]` with `landmarks[0]`: the caller passes the first real frame's there, the
    same person in the same seat), and the anchor's points are moved by each frame's
    similarity. Without it a clip's points are anchored at the median of its own Pose
    points, which on 50 frames sits 1-2 px from the whole recording's.
    None when the torso has too few corners to follow."""
    track = track_torso(frames, masks, landmarks, reference=0)
    if track is None:
        return None
    return track.apply(np.asarray(anchor_points, np.float64))[1:]


__all__ = ["FrameSteps", "REFERENCES", "TorsoTrack", "body_from_anchor", "body_from_torso", "enough_inliers", "follow",
           "measure_from", "torso_agreement", "torso_agreements", "torso_mask", "track_torso"]
