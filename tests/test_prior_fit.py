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


def test_a_prior_file_holds_its_draws(tmp_path, monkeypatch):
    import json

    from safetensors.torch import save_file

    monkeypatch.setattr(prior, "PRIOR_STEPS", 2)
    space, a = _pairs(0)
    cfg = TcnDriverConfig()
    draws = [{k: v.contiguous() for k, v in prior.fit_prior([a], space, cfg, seed=s, log=lambda m: None)
              .state_dict().items()} for s in (0, 1)]
    back = prior.split_draws(prior.join_draws(draws))
    assert len(back) == 2 and all(torch.equal(x[k], y[k]) for x, y in zip(back, draws) for k in y)
    features = cfg.features.model_dump(mode="json")
    save_file(prior.join_draws(draws), str(tmp_path / "face-64.logmel.safetensors"))
    (tmp_path / "face-64.logmel.json").write_text(json.dumps({"space": "face-64", "features": features}))
    found = prior.find_prior("face-64", features, tmp_path)
    assert len(found.draws) == 2 and all(torch.equal(found.draws[1][k], draws[1][k]) for k in draws[1])
    assert len(prior.split_draws(draws[0])) == 1  # a file of one unprefixed net is one draw
