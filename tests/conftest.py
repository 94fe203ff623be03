"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest
import torch

from nbsaliency import demo


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread: on a shared 2-core machine two threads contend and run several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def demo_model():
    """The shipped demo model (tests must not change it; ModelSnapshot checks that)."""
    return demo.load_model()
