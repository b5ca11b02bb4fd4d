"""The shipped prior is rebuilt bit for bit by its script: `fit_prior` is a pure function
of its pairs and the recipe's seed, whatever random numbers were drawn before it (the
tracking, another fit)."""

from __future__ import annotations

import numpy as np
import torch

from avatarzoo.drivers import prior
from avatarzoo.drivers.data import Pairs
from avatarzoo.recipe.drivers import TcnDriverConfig
from avatarzoo.spaces import get_space


def _pairs(seed: int, frames: int = 600, features: int = 43):
    space = get_space("face-64")
    rng = np.random.default_rng(seed)
    d = len(prior.prior_channels(space))
    f = rng.normal(size=(frames, features)).astype(np.float32)
    y = (f[:, :d] @ rng.normal(size=(d, d)) * 0.1).astype(np.float32)  # a target the features explain
    return space, Pairs(f, np.ones(frames, np.float32), y, np.ones(frames, np.float32))


def test_fit_prior_is_a_function_of_its_pairs_and_seed(monkeypatch):
    monkeypatch.setattr(prior, "PRIOR_STEPS", 3)
    space, a = _pairs(0)
    _, b = _pairs(1)
    cfg = TcnDriverConfig()
    first = prior.fit_prior([a, b], space, cfg, log=lambda m: None).state_dict()
    torch.rand(1000)  # whatever ran before (tracking, ingest) drew from the global generator
    second = prior.fit_prior([a, b], space, cfg, log=lambda m: None).state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    other = prior.fit_prior([a, b], space, cfg.model_copy(update={"seed": 1}), log=lambda m: None).state_dict()
    assert not all(torch.equal(first[k], other[k]) for k in first)
