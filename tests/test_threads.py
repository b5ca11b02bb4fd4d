"""The CPU's small-op work runs on one torch thread and gives the caller's count back."""

import pytest
import torch

from avatarzoo.threads import cpu_threads


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_one_thread_inside_and_the_callers_count_after(two_threads):
    with cpu_threads("cpu"):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_restored_when_the_block_raises(two_threads):
    with pytest.raises(RuntimeError):
        with cpu_threads(torch.device("cpu")):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == 2


def test_as_a_decorator_each_call_gets_one_thread(two_threads):
    seen = []

    @cpu_threads()
    def work():
        seen.append(torch.get_num_threads())

    work()
    work()
    assert seen == [1, 1] and torch.get_num_threads() == 2


class _Seen(Exception):
    pass


def test_the_driver_fit_runs_on_one_thread(two_threads, monkeypatch):
    from avatarzoo.drivers import train

    def optimiser(*args, **kwargs):  # the fit's first torch work: note the thread count, stop
        raise _Seen(torch.get_num_threads())

    monkeypatch.setattr(train.torch.optim, "AdamW", optimiser)
    settings = train.FitSettings(steps=1, batch_size=1, window=4, lr=1e-3, seed=0)
    with pytest.raises(_Seen) as seen:
        train.fit(torch.nn.Linear(1, 1), [], [], settings, channel_weight=[1.0])
    assert seen.value.args == (1,) and torch.get_num_threads() == 2
