"""Optimisation on models that take one input size (ViT-style) and on normalised inputs: the methods run with their
defaults on a ViT-style model, every forward pass gets the size the model takes, a size the model cannot take is
named, the normalisation is stated once (from mean/std, a Normalize, a pipeline, weights or a timm config), the
images stay inside its per-channel range, and a normalised photo is not clipped."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nbsaliency import Channel, InputError, ModelError, demo
from nbsaliency.normalization import IMAGENET_MEAN, IMAGENET_STD, ClippedInputWarning, Normalization
from nbsaliency.optimize import activation_maximisation, class_model, deepdream, evaluate, invert
from nbsaliency.optimize.input_size import ResizedInputWarning
from nbsaliency.targets import Logit
from tests.invariance import ModelSnapshot

IMAGENET = Normalization(IMAGENET_MEAN, IMAGENET_STD)


class Block(nn.Module):
    """Pre-norm transformer block on (N, tokens, D)."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, 2, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """ViT layout at 224 px: a 16/16 patch conv, a class token and a position embedding of fixed length
    (1 + 14 * 14), so any other input size fails; like torchvision's vit_b_16 it also checks the size itself
    (225 px would give 14 x 14 patches too)."""

    def __init__(self, dim: int = 16, classes: int = 5, checks_size: bool = True):
        super().__init__()
        self.checks_size = checks_size
        self.patch_embed = nn.Conv2d(3, dim, 16, stride=16)
        self.cls_token = nn.Parameter(0.02 * torch.randn(1, 1, dim))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, 1 + 14 * 14, dim))
        self.blocks = nn.Sequential(Block(dim), Block(dim))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: Tensor) -> Tensor:
        if self.checks_size and tuple(x.shape[-2:]) != (224, 224):
            raise ValueError(f"Wrong image size! Expected 224x224 but got {tuple(x.shape[-2:])}")
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls_token.expand(len(tokens), -1, -1), tokens], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(tokens))[:, 0])


class Watched(nn.Module):
    """Records the shape and per-channel minimum / maximum of every input the wrapped model accepts (the size
    probes it refuses are not recorded)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.seen: list[tuple[tuple[int, ...], Tensor, Tensor]] = []

    def forward(self, x: Tensor) -> Tensor:
        output = self.inner(x)
        self.seen.append((tuple(x.shape), x.detach().amin(dim=(0, 2, 3)), x.detach().amax(dim=(0, 2, 3))))
        return output

    def assert_inputs_within(self, value_range, eps: float = 1e-5) -> None:
        low, high = (torch.as_tensor(v, dtype=torch.float32) for v in value_range)
        for shape, lo, hi in self.seen:
            assert bool((lo >= low - eps).all()) and bool((hi <= high + eps).all()), (shape, lo, hi)


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    return TinyViT().eval()


@pytest.fixture(scope="module")
def plain_vit():
    """The (1, 197, D) position embedding alone fixes the size (no size check): 224..239 px give 14 x 14 patches
    and work, anything else fails in the addition."""
    torch.manual_seed(0)
    return TinyViT(checks_size=False).eval()


@pytest.fixture(scope="module")
def photo() -> Tensor:
    """skimage's chelsea (a cat, 300 x 451) as a (1, 3, 224, 224) image in [0, 1]."""
    data = pytest.importorskip("skimage.data")
    pixels = torch.from_numpy(data.chelsea()).permute(2, 0, 1).float()[None] / 255
    return F.interpolate(pixels, size=(224, 224), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


# -- fixed-size models -------------------------------------------------------------------------------------------
def test_the_test_vit_takes_224_pixels_only(vit):
    vit(torch.zeros(1, 3, 224, 224))
    for size in (128, 225):
        with pytest.raises(ValueError, match="Wrong image size"):
            vit(torch.zeros(1, 3, size, size))


def test_activation_maximisation_runs_with_defaults_on_a_vit_at_the_size_it_takes(vit):
    watched = Watched(vit)
    snapshot = ModelSnapshot.of(vit)
    result = activation_maximisation(watched, 2, steps=12)  # default size, lucid preset (pad/jitter/scale/rotate)
    assert result.image.shape == (1, 3, 224, 224) and result.settings["model_input_size"] == (224, 224)
    assert {shape for shape, _, _ in watched.seen} == {(1, 3, 224, 224)}  # probes and all 12 steps
    start = torch.full_like(result.image, 0.5)
    assert float(evaluate(vit, Logit(2), result.image)) > float(evaluate(vit, Logit(2), start))
    snapshot.assert_unchanged(vit)


def test_a_size_the_model_cannot_take_is_named_with_the_one_it_takes(vit):
    with pytest.raises(InputError, match=r"does not take 128x128 .*Wrong image size.*does take is 224x224: "
                                         r"pass size=224"):
        activation_maximisation(vit, 2, size=128, steps=1)
    with pytest.raises(InputError, match=r"does not take 64x64 .*resize the image to 224x224"):
        invert(vit, torch.rand(1, 3, 64, 64), "blocks.0", steps=1)


def test_a_model_that_takes_no_size_says_which_sizes_were_tried():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3)

        def forward(self, x: Tensor) -> Tensor:
            raise RuntimeError("never works")

    with pytest.raises(ModelError, match=r"raised on every size tried \(128x128, 224x224, 256x256.*never works"):
        activation_maximisation(Broken(), 0, steps=1)


def test_deepdream_runs_with_defaults_on_a_vit_and_every_octave_reaches_the_model_at_224(vit, photo):
    watched = Watched(vit)
    x = IMAGENET.to_model(photo)
    result = deepdream(watched, x, "inner.blocks.1", normalization=IMAGENET)  # 4 octaves x 10 steps
    assert [tuple(s) for s in result.settings["octaves"]] == [(82, 82), (114, 114), (160, 160), (224, 224)]
    assert result.steps == 40 and result.image.shape == x.shape
    assert {shape for shape, _, _ in watched.seen} == {(1, 3, 224, 224)}
    watched.assert_inputs_within(IMAGENET.value_range)


def test_deepdream_warns_when_the_image_itself_is_not_the_size_the_model_takes(vit, photo):
    small = F.interpolate(photo, size=(200, 200), mode="bilinear", align_corners=False)
    with pytest.warns(ResizedInputWarning, match="does not take 200x200.*224x224"):
        result = deepdream(vit, small, "blocks.0", steps=1, octaves=1)
    assert result.image.shape == small.shape


def test_the_plain_vit_takes_224_to_239_pixels_only(plain_vit):
    for size in (224, 225, 239):
        plain_vit(torch.zeros(1, 3, size, size))
    for size in (82, 160, 240):
        with pytest.raises(RuntimeError, match="must match the size of tensor b"):
            plain_vit(torch.zeros(1, 3, size, size))


def optimisation_shapes(watched: Watched, passes: int) -> set[tuple[int, ...]]:
    """The shapes of the last ``passes`` forward passes (the optimisation's; probes come first)."""
    assert len(watched.seen) >= passes
    return {shape for shape, _, _ in watched.seen[-passes:]}


def test_deepdream_with_default_octaves_runs_on_a_vit_whose_position_embedding_fixes_the_size(plain_vit, photo):
    watched = Watched(plain_vit)
    snapshot = ModelSnapshot.of(plain_vit)
    result = deepdream(watched, IMAGENET.to_model(photo), "inner.blocks.0", steps=2, normalization=IMAGENET)
    assert [tuple(s) for s in result.settings["octaves"]] == [(82, 82), (114, 114), (160, 160), (224, 224)]
    assert result.settings["model_input_size"] == (224, 224) and result.steps == 8
    assert optimisation_shapes(watched, 8) == {(1, 3, 224, 224)}  # every octave resized to the size it takes
    assert float((result.image - IMAGENET.to_model(photo)).abs().max()) > 0  # it dreamed
    snapshot.assert_unchanged(plain_vit)


def test_deepdream_of_a_channel_on_a_pixel_space_vit_resizes_each_octave_of_a_two_image_batch(plain_vit, photo):
    class PixelSpace(nn.Module):  # normalises inside: takes [0, 1] images
        def __init__(self):
            super().__init__()
            self.vit = plain_vit

        def forward(self, x: Tensor) -> Tensor:
            return self.vit(IMAGENET.to_model(x))

    watched = Watched(PixelSpace())
    pair = torch.cat([photo, photo.flip(-1)])
    result = deepdream(watched, pair, Channel("inner.vit.patch_embed", 3), steps=2, octaves=2)
    assert [tuple(s) for s in result.settings["octaves"]] == [(160, 160), (224, 224)]
    assert result.image.shape == pair.shape and result.history.shape == (4, 2)
    assert optimisation_shapes(watched, 4) == {(2, 3, 224, 224)}


def test_deepdream_runs_each_octave_at_its_own_size_on_a_model_that_takes_them_all(photo):
    watched = Watched(demo.load_model())
    result = deepdream(watched, photo, "inner.block2", steps=1, octaves=3)
    assert result.settings["model_input_size"] is None
    sizes = [tuple(s) for s in result.settings["octaves"]]
    assert [shape[-2:] for shape, _, _ in watched.seen[-3:]] == sizes


def test_activation_maximisation_at_224_ends_lucid_transforms_at_224_on_the_plain_vit(plain_vit):
    watched = Watched(plain_vit)
    result = activation_maximisation(watched, 2, size=224, steps=6)  # pad/jitter/scale reach ~250 px: 15 patches
    assert result.settings["model_input_size"] == (224, 224) and "FitSize" in str(result.settings["transforms"])
    assert optimisation_shapes(watched, 6) == {(1, 3, 224, 224)}


class Windowed(nn.Module):
    """Takes only sizes that are multiples of 32 (as window-attention models do); classes from pooled features."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] % 32 or x.shape[-2] % 32:
            raise RuntimeError(f"input size {tuple(x.shape[-2:])} is not a multiple of the window")
        return self.head(self.conv(x).relu().mean(dim=(2, 3)))


def test_lucid_transforms_end_at_the_requested_size_for_a_model_that_takes_few_sizes():
    watched = Watched(Windowed())
    result = activation_maximisation(watched, 0, steps=6)  # 128 works, 129 does not: every step back at 128
    assert result.settings["model_input_size"] == (128, 128) and "FitSize" in str(result.settings["transforms"])
    assert {shape for shape, _, _ in watched.seen} == {(1, 3, 128, 128)}


def test_a_cnn_that_takes_any_size_keeps_its_sizes_and_transforms():
    model = demo.load_model()
    result = activation_maximisation(model, 1, size=48, steps=2)
    assert result.image.shape[-2:] == (48, 48) and result.settings["model_input_size"] is None
    assert "FitSize" not in str(result.settings["transforms"])


# -- normalisation -----------------------------------------------------------------------------------------------
class FakeNormalize:  # torchvision.transforms.Normalize's attributes
    def __init__(self, mean, std):
        self.mean, self.std = list(mean), list(std)

    def __call__(self, x):
        return x


class FakeCompose:  # torchvision.transforms.Compose
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, x):
        return x


class FakeWeights:  # torchvision weights: .transforms() gives the preset (which has mean and std)
    def transforms(self):
        return FakeCompose([lambda x: x, FakeNormalize(IMAGENET_MEAN, IMAGENET_STD)])


@pytest.mark.parametrize("source", [
    FakeNormalize(IMAGENET_MEAN, IMAGENET_STD),
    FakeCompose([lambda x: x, FakeNormalize(IMAGENET_MEAN, IMAGENET_STD)]),
    FakeWeights(),
    {"input_size": (3, 224, 224), "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "crop_pct": 0.875},  # timm config
    (IMAGENET_MEAN, IMAGENET_STD),
    IMAGENET,
], ids=["normalize", "pipeline", "weights", "timm-config", "pair", "itself"])
def test_normalization_is_read_from_every_kind_of_description(source):
    assert Normalization.of(source) == IMAGENET


def test_normalization_refuses_what_it_cannot_read():
    with pytest.raises(InputError, match="no normalisation found in FakeCompose"):
        Normalization.of(FakeCompose([lambda x: x]))
    with pytest.raises(InputError, match="std must be positive"):
        Normalization((0.5,), (0.0,))
    with pytest.raises(InputError, match="3 values but std has 2"):
        Normalization((0.1, 0.2, 0.3), (1.0, 2.0))


def test_value_range_and_conversions_follow_the_formula(photo):
    low, high = IMAGENET.value_range
    for c in range(3):
        assert low[c] == pytest.approx((0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c])
        assert high[c] == pytest.approx((1 - IMAGENET_MEAN[c]) / IMAGENET_STD[c])
    x = IMAGENET.to_model(photo)
    by_hand = torch.stack([(photo[:, c] - IMAGENET_MEAN[c]) / IMAGENET_STD[c] for c in range(3)], dim=1)
    torch.testing.assert_close(x, by_hand)
    torch.testing.assert_close(IMAGENET.to_pixels(x), photo)
    torch.testing.assert_close(IMAGENET.to_pixels(x[0]), photo[0])  # (C, H, W) too


def test_imagenet_normalisation_clips_nothing_of_a_normalised_photo(vit, photo):
    x = IMAGENET.to_model(photo)
    assert float((x < 0).double().mean()) > 0.2  # far outside (0, 1): what value_range=(0, 1) used to clip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unchanged = deepdream(vit, x, "blocks.0", steps=1, lr=1e-9, octaves=1, normalization=IMAGENET)
    torch.testing.assert_close(unchanged.image, x, atol=1e-5, rtol=0)


def test_a_normalised_photo_with_the_default_range_is_refused_naming_normalization(vit, photo):
    x = IMAGENET.to_model(photo)
    with pytest.raises(InputError, match=r"deepdream's starting image has \d+\.\d% of its values outside the stated "
                                         r"range 0\.\.1.*normalization="):
        deepdream(vit, x, "blocks.0", steps=1)
    with pytest.raises(InputError, match="the image to invert"):
        invert(vit, x, "blocks.0", steps=1)


def test_a_few_stray_values_are_clipped_with_a_warning(vit, photo):
    x = photo.clone()
    x[0, 0, 0, :3] = 1.5
    with pytest.warns(ClippedInputWarning, match="outside the stated range 0..1"):
        deepdream(vit, x, "blocks.0", steps=1, octaves=1)


def test_value_range_and_normalization_must_agree(vit):
    with pytest.raises(InputError, match="disagrees with Normalization"):
        class_model(vit, 1, steps=1, value_range=(0.0, 1.0), normalization=IMAGENET)
    agreed = class_model(vit, 1, steps=1, value_range=IMAGENET.value_range, normalization=IMAGENET)
    assert agreed.settings["normalization"] == repr(IMAGENET)


@pytest.mark.parametrize("method", ["activation_maximisation", "class_model", "invert"])
def test_optimised_images_stay_within_the_stated_normalised_range(vit, photo, method):
    watched = Watched(vit)
    low, high = (torch.tensor(v)[None, :, None, None] for v in IMAGENET.value_range)
    if method == "activation_maximisation":
        result = activation_maximisation(watched, 1, preset="yosinski", steps=15, normalization=IMAGENET)
    elif method == "class_model":
        result = class_model(watched, 1, steps=15, lr=0.5, normalization=IMAGENET)
    else:
        result = invert(watched, IMAGENET.to_model(photo), "inner.blocks.0", steps=15, normalization=IMAGENET)
    assert bool((result.image >= low - 1e-5).all()) and bool((result.image <= high + 1e-5).all())
    watched.assert_inputs_within(IMAGENET.value_range)
    # the range is used, not (0, 1): some values leave it (below 0 or above 1)
    assert float(result.image.min()) < -0.05 or float(result.image.max()) > 1.05
