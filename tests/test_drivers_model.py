"""The driver's net: causal with a fixed lookahead, and its streaming path is its
whole-sequence path (chunks of any size), in float64 to the last bits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avatarzoo.drivers.model import NetShape, SpeechToFace

SHAPE = NetShape(features=7, hidden=16, layers=4, kernel=3, outputs=5, lookahead=3)


def _net(seed=0) -> SpeechToFace:
    torch.manual_seed(seed)
    net = SpeechToFace(SHAPE, dropout=0.0).double().eval()
    with torch.no_grad():
        net.in_mean.normal_()
        net.in_std.uniform_(0.5, 2)
        net.out_mean.normal_()
        net.out_std.uniform_(0.5, 2)
    return net


def test_receptive_field_counts_every_dilation():
    assert SHAPE.receptive_field == 1 + 2 * (1 + 2 + 4 + 8)


def test_output_j_reads_frames_up_to_j_only():
    net = _net()
    x = torch.randn(1, 60, 7, dtype=torch.float64)
    y = net(x)
    x2 = x.clone()
    x2[0, 40:] += torch.randn(20, 7, dtype=torch.float64)  # change the future of frame 39
    y2 = net(x2)
    assert torch.equal(y[0, :40], y2[0, :40])
    assert not torch.allclose(y[0, 40:], y2[0, 40:])
    x3 = x.clone()
    x3[0, 39 - SHAPE.receptive_field] += 1.0  # just outside frame 39's receptive field
    assert torch.equal(net(x3)[0, 39], y[0, 39])
    x3[0, 40 - SHAPE.receptive_field] += 1.0  # its first frame
    assert not torch.equal(net(x3)[0, 39], y[0, 39])


@pytest.mark.parametrize("chunks", [[1] * 50, [4] * 12 + [2], [7, 1, 30, 12], [50]])
def test_streaming_in_chunks_equals_the_whole_sequence(chunks):
    net = _net(1)
    x = torch.randn(2, sum(chunks), 7, dtype=torch.float64)
    whole = net(x)
    state, parts, i = net.start(2), [], 0
    for n in chunks:
        y, state = net.step(x[:, i:i + n], state)
        parts.append(y)
        i += n
    # float64: the two paths sum the same products in other orders, ~1e-15 apart
    assert torch.allclose(torch.cat(parts, 1), whole, rtol=0, atol=1e-12)


def test_bad_shapes_are_named():
    net = _net()
    with pytest.raises(ValueError, match=r"features: expected \[B, T, 7\]"):
        net(torch.zeros(1, 10, 6, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"features: expected \[B, n, 7\]"):
        net.step(torch.zeros(1, 7, dtype=torch.float64), net.start(1))


def test_dropout_is_off_at_inference():
    torch.manual_seed(0)
    net = SpeechToFace(SHAPE, dropout=0.5).eval()
    x = torch.randn(1, 30, 7)
    assert torch.equal(net(x), net(x))
    np.testing.assert_equal(net.shape.lookahead, 3)


def test_grouped_steps_are_each_members_steps_and_follow_new_weights():
    """Every per-member parameter in its own place (norms too: at init they are all equal,
    so they are drawn here), chunks of 1 and of 5 frames; after a member's weights change
    in place, the grouped snapshot is rebuilt."""
    from avatarzoo.drivers.model import NetEnsemble

    members = [_net(s) for s in (5, 6, 7, 8)]
    with torch.no_grad():
        for m in members:
            for name, p in m.named_parameters():
                if "norm" in name:
                    p.normal_(1.0 if name.endswith("weight") else 0.0, 0.3)
    ens = NetEnsemble(members)
    x = torch.randn(1, 30, 7, dtype=torch.float64)
    for n in (1, 5):
        fast, ref = ens.start(1), ens.start_each(1)
        for a in range(0, 30, n):
            y_fast, fast = ens.step(x[:, a:a + n], fast)
            y_ref, ref = ens.step_each(x[:, a:a + n], ref)
            assert torch.allclose(y_fast, y_ref, rtol=0, atol=1e-12), (n, a)
    before = ens.grouped()
    assert ens.grouped() is before  # nothing changed: the same snapshot
    with torch.no_grad():
        members[2].head.bias.add_(1.0)
    y_fast, _ = ens.step(x[:, :4], ens.start(1))
    y_ref, _ = ens.step_each(x[:, :4], ens.start_each(1))
    assert ens.grouped() is not before and torch.allclose(y_fast, y_ref, rtol=0, atol=1e-12)
    moved = ens.grouped()
    ens.float()  # new storage, same Parameter objects: rebuilt too
    assert ens.grouped() is not moved and ens.grouped().proj_w.dtype == torch.float32


def test_an_ensemble_is_its_members_mean_streamed_or_whole():
    from avatarzoo.drivers.model import NetEnsemble

    members = [_net(s) for s in (2, 3, 4)]
    for m in members[1:]:  # one output standardisation, as the stage sets it
        m.out_mean.copy_(members[0].out_mean)
        m.out_std.copy_(members[0].out_std)
    ens = NetEnsemble(members)
    x = torch.randn(2, 40, 7, dtype=torch.float64)
    whole = ens(x)
    assert torch.allclose(whole, torch.stack([m(x) for m in members]).mean(0), rtol=0, atol=1e-12)
    assert not torch.allclose(whole, members[0](x))
    for start, step in ((ens.start, ens.step), (ens.start_each, ens.step_each)):  # grouped, and its reference
        state, parts = start(2), []
        for a in range(0, 40, 9):
            y, state = step(x[:, a:a + 9], state)
            parts.append(y)
        assert torch.allclose(torch.cat(parts, 1), whole, rtol=0, atol=1e-12)
    assert ens.shape == SHAPE and torch.equal(ens.out_mean, members[0].out_mean)
    with pytest.raises(ValueError, match="different shapes"):
        NetEnsemble([members[0], SpeechToFace(NetShape(7, 8, 2, 3, 5, 3))])
