"""Which frames a renderer step sees (renderers/gaussian/sampling.py): uniform epochs by
default; with `expression_balance`, rare expressions drawn more often, reproducibly."""

from __future__ import annotations

import numpy as np
import pytest

from avatarzoo.renderers.gaussian.sampling import MAX_RATIO, balance_weights, frame_batch, rarity
from avatarzoo.spaces.registry import get_space

FACE = get_space("face-64")


def _blinking(n: int = 400, every: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Tracked-like codes [n, 64] (noise everywhere) with a blink every `every` frames."""
    g = np.random.default_rng(seed)
    e = g.normal(0, 0.1, (n, FACE.dim))
    blink = np.arange(n) % every == 0
    for c in ("blink_left", "blink_right"):
        e[blink, FACE.channel(c)] += 1.0
    return e, blink


def test_blinks_are_the_rare_frames():
    e, blink = _blinking()
    rho = rarity(e, FACE)
    assert rho[blink].min() > rho[~blink].max()


def test_weights_favour_rare_frames_within_the_bounded_ratio():
    e, blink = _blinking()
    assert balance_weights(e, FACE, 0.0) is None
    for power in (1.0, 2.0):
        w = balance_weights(e, FACE, power)
        assert w.shape == (len(e),) and np.isclose(w.sum(), 1.0)
        assert w[blink].min() > w[~blink].max()
        assert w.max() / w.min() <= MAX_RATIO ** power + 1e-9
    assert balance_weights(e, FACE, 2.0)[blink].sum() > balance_weights(e, FACE, 1.0)[blink].sum() > blink.mean()


def test_a_space_without_regions_counts_as_one_region():
    from avatarzoo.spaces.space import ExpressionSpace

    flat = ExpressionSpace(name="flat-3", dim=3, channels=("a", "b", "c"), regions={})
    e = np.zeros((10, 3))
    e[3] = 5.0
    assert np.argmax(rarity(e, flat)) == 3


def test_weighted_batches_are_a_pure_function_of_seed_and_step_and_follow_the_weights():
    e, blink = _blinking()
    idx = np.arange(1000, 1000 + len(e))  # training frame ids, not positions
    w = balance_weights(e, FACE, 2.0)
    assert (frame_batch(idx, 4, 17, 3, w) == frame_batch(idx, 4, 17, 3, w)).all()
    assert len(set(frame_batch(idx, 4, 17, 3, w).tolist())) == 4  # distinct within a step
    drawn = np.concatenate([frame_batch(idx, 1, s, 0, w) for s in range(4000)])
    assert np.isin(drawn, idx).all()
    share = np.isin(drawn, idx[blink]).mean()  # expected: w[blink].sum()
    assert abs(share - w[blink].sum()) < 0.03 and share > 2 * blink.mean()
    with pytest.raises(ValueError, match="weights"):
        frame_batch(idx, 1, 0, 0, w[:-1])


def test_unweighted_batches_are_shuffled_epochs():
    idx = np.arange(50, 80)
    epoch = np.concatenate([frame_batch(idx, 1, s, 0) for s in range(len(idx))])
    assert sorted(epoch.tolist()) == idx.tolist()
