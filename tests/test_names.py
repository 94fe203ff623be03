"""Names: one thing per name. ``nbs.LayerNorm`` (which reads as ``torch.nn.LayerNorm``) is now
``nbs.LayerEnergy``; the old name works for one more release, with a DeprecationWarning."""

from __future__ import annotations

import warnings

import pytest
import torch

import nbsaliency as nbs
from tests.models import make_input, make_model


def test_layer_norm_is_a_deprecated_alias_of_layer_energy():
    model, x = make_model("vgg"), make_input(2)
    session = nbs.Session(model, x)
    with pytest.warns(DeprecationWarning, match="LayerEnergy"):
        old = nbs.LayerNorm("features.3")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = nbs.LayerEnergy("features.3")
    expected = session.activations("features.3").reshape(2, -1).pow(2).sum(dim=1)
    torch.testing.assert_close(new.values(session.recording).detach(), expected)
    torch.testing.assert_close(old.values(session.recording).detach(), expected)
    assert isinstance(old, nbs.LayerEnergy)
