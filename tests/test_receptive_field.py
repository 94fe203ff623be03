"""Receptive fields found by probing equal the analytic ones, cover every branch, ignore the probe image's
dead ReLUs and max-pool switches, are clipped at the borders, and leave the model as it was."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nbsaliency as nbs
from nbsaliency.receptive_field import Box, NotSpatialError
from tests.invariance import ModelSnapshot
from tests.models import make_input, make_model


def analytic_field(layers: list[tuple[int, int, int]], y: int, x: int, size: int) -> Box:
    """``layers`` = (kernel, stride, padding) of a plain stack: unit ``i`` sees ``[s*i - p, s*i - p + r)``
    with ``r = 1 + sum (k - 1) * jump``, ``s = prod strides``, ``p = sum padding * jump`` (jump: the product
    of the strides below), clipped to the image."""
    reach, jump, shift = 1, 1, 0
    for kernel, stride, padding in layers:
        reach += (kernel - 1) * jump
        shift += padding * jump
        jump *= stride

    def span(i: int) -> tuple[int, int]:
        start = jump * i - shift
        return max(0, start), min(size, start + reach)

    (top, bottom), (left, right) = span(y), span(x)
    return Box(top, left, bottom, right)


class Stack(nn.Module):
    """conv3 - ReLU - conv3 - maxpool2 - conv3 - ReLU - maxpool2 - conv5(stride 2): kernels, strides, padding."""

    geometry = {"c1": [(3, 1, 1)], "c2": [(3, 1, 1)] * 2, "pool1": [(3, 1, 1)] * 2 + [(2, 2, 0)],
                "c3": [(3, 1, 1)] * 2 + [(2, 2, 0), (3, 1, 1)],
                "pool2": [(3, 1, 1)] * 2 + [(2, 2, 0), (3, 1, 1), (2, 2, 0)],
                "c4": [(3, 1, 1)] * 2 + [(2, 2, 0), (3, 1, 1), (2, 2, 0), (5, 2, 2)]}

    def __init__(self):
        super().__init__()
        self.c1, self.r1, self.c2 = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1)
        self.pool1, self.c3, self.r3 = nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()
        self.pool2, self.c4 = nn.MaxPool2d(2), nn.Conv2d(4, 4, 5, stride=2, padding=2)

    def forward(self, x):
        return self.c4(self.pool2(self.r3(self.c3(self.pool1(self.c2(self.r1(self.c1(x))))))))


@pytest.fixture(scope="module")
def stack():
    torch.manual_seed(0)
    return Stack().eval()


@pytest.mark.parametrize("layer", list(Stack.geometry))
def test_every_unit_of_a_stack_has_the_analytic_field(stack, layer):
    size = 32
    fields = nbs.ReceptiveFields(stack, (3, size, size))
    _, h, w = fields.layer_shape(layer)
    units = [(y, x) for y in range(h) for x in range(w)]
    expected = [analytic_field(Stack.geometry[layer], y, x, size) for y, x in units]
    assert fields.boxes(layer, units) == expected
    assert fields.geometry(layer) is not None  # answered from the fitted affine map, not unit by unit


def test_one_unit_probe_matches_the_analytic_field_in_the_middle_and_at_the_border(stack):
    inner = nbs.receptive_field(stack, (3, 48, 48), "c4", 2, 2)
    assert inner == analytic_field(Stack.geometry["c4"], 2, 2, 48)
    assert (inner.height, inner.width) == (28, 28)  # 1 + 2 + 2 + 1 + 2*2 + 1*2 + 4*4: the full analytic size
    corner = nbs.receptive_field(stack, (3, 48, 48), "c4", 0, 0)
    assert corner.top == 0 and corner.left == 0 and corner.height < inner.height  # clipped at the border


def test_dead_relus_and_pool_switches_of_the_probe_image_do_not_shrink_the_field():
    """All ReLUs are off for every input (bias -100): the true gradient is zero, the field is not."""
    conv1, conv2 = nn.Conv2d(3, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1)
    with torch.no_grad():
        conv1.bias.fill_(-100.0)
    model = nn.Sequential(conv1, nn.ReLU(), nn.MaxPool2d(2), conv2).eval()
    # conv2 unit 3 sees pool units 2..4, i.e. conv1 units 4..9, i.e. pixels 3..10
    assert nbs.receptive_field(model, (3, 16, 16), "3", 3, 3) == Box(3, 3, 11, 11)


class TwoBranches(nn.Module):
    """A 3x3 branch and a dilated 3x3 branch (dilation 3: a 7x7 reach), added: the field is their union."""

    def __init__(self, shifted: bool = False):
        super().__init__()
        self.narrow = nn.Conv2d(3, 4, 3, padding=1)
        self.wide = nn.Conv2d(3, 4, 3, padding=3, dilation=3)
        self.shifted = shifted

    def forward(self, x):
        wide = self.wide(x)
        if self.shifted:  # the wide branch looks 4 pixels to the right of the narrow one
            wide = torch.roll(wide, shifts=-4, dims=3)
        return torch.relu(self.narrow(x) + wide)


def test_a_branching_models_field_covers_both_branches():
    model = nn.Sequential(TwoBranches()).eval()
    assert nbs.receptive_field(model, (3, 20, 20), "0.narrow", 10, 10) == Box(9, 9, 12, 12)
    assert nbs.receptive_field(model, (3, 20, 20), "0.wide", 10, 10) == Box(7, 7, 14, 14)
    assert nbs.receptive_field(model, (3, 20, 20), "0", 10, 10) == Box(7, 7, 14, 14)

    shifted = nn.Sequential(TwoBranches(shifted=True)).eval()
    box = nbs.receptive_field(shifted, (3, 20, 20), "0", 10, 10)
    assert box == Box(7, 9, 14, 18)  # narrow: columns 9..11, wide: 11..17


def test_resnet_style_fields_grow_through_the_residual_blocks():
    model = make_model("resnet")
    fields = nbs.ReceptiveFields(model, make_input(1))
    sizes = [fields.box(layer, 8, 8).height for layer in ("stem.0", "layer1.0.conv1", "layer1.0", "layer1.1")]
    assert sizes == [3, 5, 7, 11]  # the skip connection does not shrink the union: 3 + 2 + 2, then + 2 + 2


def test_irregular_layers_are_answered_unit_by_unit():
    """Nearest upsampling: two neighbouring units share a field, which no ``stride * i + offset`` fits."""
    model = nn.Sequential(nn.Conv2d(3, 2, 3, stride=2, padding=1), nn.Upsample(scale_factor=2)).eval()
    fields = nbs.ReceptiveFields(model, (3, 16, 16))
    assert fields.geometry("1") is None
    exact = [nbs.receptive_field(model, (3, 16, 16), "1", y, x) for y, x in [(0, 0), (5, 6), (5, 7), (15, 15)]]
    assert fields.boxes("1", [(0, 0), (5, 6), (5, 7), (15, 15)]) == exact
    assert exact[1] == exact[2] == Box(3, 5, 6, 8)  # conv units (2, 3): rows 3..5, columns 5..7


def test_bad_requests_say_what_is_wrong_and_leave_the_model_alone():
    model = make_model("vgg")
    snapshot = ModelSnapshot.of(model)
    fields = nbs.ReceptiveFields(model, make_input(1))
    with pytest.raises(nbs.UnknownLayerError, match="features.3"):
        fields.box("features.33", 0, 0)
    with pytest.raises(NotSpatialError, match=r"classifier\.1.*\(N, C, h, w\)"):
        fields.box("classifier.1", 0, 0)
    with pytest.raises(nbs.TargetIndexError, match=r"x index 16 .*valid 0\.\.15"):
        fields.box("features.0", 0, 16)
    snapshot.assert_unchanged(model)


def test_probing_leaves_a_train_mode_model_as_it_was():
    model = make_model("batchnorm_train")
    snapshot = ModelSnapshot.of(model)
    fields = nbs.ReceptiveFields(model, make_input(1))
    fields.prefetch(["body.0", "body.3", "body.6"])
    assert fields.box("body.6", 4, 4) == analytic_field([(3, 1, 1), (2, 2, 0), (3, 1, 1)], 4, 4, 16)
    snapshot.assert_unchanged(model)
    assert model.training
