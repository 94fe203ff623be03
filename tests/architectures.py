"""Test models with the layouts and sizes of the architectures users bring (torchvision does not import beside
the pinned torch, so these are defined here). Widths and depths are small for test speed; the geometry is real:
224-px inputs, 16-px patches, a 14 x 14 token grid.

- :class:`ViTStyle`: patch-embedding conv (16 x 16, stride 16), a class token, ``(N, 1 + 14*14, D)`` token blocks
  (LayerNorm, multi-head attention, GELU MLP, residuals), the head on the class token (as ViT-B/16).
- :class:`SwinStyle`: patch embedding then a permute to channels-last; blocks work on ``(N, H, W, C)`` tensors
  (LayerNorm over C, window attention, MLP), patch merging halves H and W (as Swin-T).
- :class:`VGGStyle`: VGG's conv / in-place ReLU / max-pool stacks (``inplace`` selectable, for by-hand checks).
- :class:`ResNetStyle`: ResNet-50's module tree and channel counts (bottlenecks [3, 4, 6, 3], one ReLU module
  called three times per block, ``layer4`` with 2048 channels at 7 x 7; about 200 layers) with narrow inner
  widths.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

IMAGE = 224
PATCH = 16
GRID = IMAGE // PATCH  # 14


class Attention(nn.Module):
    """Multi-head self-attention over the second-last axis (tokens, or the positions of a window)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        *lead, length, dim = x.shape
        qkv = self.qkv(x).reshape(*lead, length, 3, self.heads, dim // self.heads).movedim(-3, 0)
        q, k, v = qkv.transpose(-2, -3).unbind(0)  # each (..., heads, length, dim / heads)
        weights = (q @ k.transpose(-1, -2) * (dim // self.heads) ** -0.5).softmax(dim=-1)
        return self.proj((weights @ v).transpose(-2, -3).reshape(*lead, length, dim))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block (ViT's, and Swin's without the windowing, which :class:`SwinBlock` adds)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim), Mlp(dim, 2 * dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, PATCH, stride=PATCH)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x)  # (N, D, 14, 14)


class ViTStyle(nn.Module):
    """ViT-B/16's layout at a small width: ``patch_embed.proj`` (N, D, 14, 14), ``blocks.i`` (N, 197, D), the
    head reads the class token after ``norm``."""

    def __init__(self, dim: int = 32, depth: int = 2, heads: int = 2, n_classes: int = 10):
        super().__init__()
        self.patch_embed = PatchEmbed(dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + GRID * GRID, dim) * 0.02)
        self.blocks = nn.Sequential(*(Block(dim, heads) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)  # (N, 196, D), row-major over the grid
        tokens = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), tokens], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(tokens))[:, 0])


class Permute(nn.Module):
    """``x.permute(*dims)`` as a module (torchvision's Swin has one after its patch-embedding conv)."""

    def __init__(self, dims: list[int]):
        super().__init__()
        self.dims = dims

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(*self.dims)


class SwinBlock(nn.Module):
    """Attention inside non-overlapping ``window x window`` windows of a channels-last ``(N, H, W, C)`` map."""

    def __init__(self, dim: int, heads: int, window: int):
        super().__init__()
        self.window = window
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim), Mlp(dim, 2 * dim)

    def _windowed(self, x: Tensor) -> Tensor:
        n, h, w, c = x.shape
        s = self.window
        windows = x.reshape(n, h // s, s, w // s, s, c).transpose(2, 3).reshape(n, h // s, w // s, s * s, c)
        out = self.attn(windows)
        return out.reshape(n, h // s, w // s, s, s, c).transpose(2, 3).reshape(n, h, w, c)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self._windowed(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """Swin's downsampling: 2 x 2 neighbours concatenated (4C), normalised, projected to 2C; H and W halve."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        parts = [x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]]
        return self.reduction(self.norm(torch.cat(parts, dim=-1)))


class SwinStyle(nn.Module):
    """Swin-T's layout at a small width: ``features.0`` = conv (4 x 4, stride 4) + permute + LayerNorm giving
    (N, 56, 56, C); ``features.1`` blocks; ``features.2`` merging to (N, 28, 28, 2C); ``features.3`` blocks; then
    norm, permute back to (N, 2C, 28, 28), average pool and head."""

    def __init__(self, dim: int = 16, heads: int = 2, window: int = 7, n_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, dim, 4, stride=4), Permute([0, 2, 3, 1]), nn.LayerNorm(dim)),
            nn.Sequential(SwinBlock(dim, heads, window)),
            PatchMerging(dim),
            nn.Sequential(SwinBlock(2 * dim, heads, window)),
        )
        self.norm = nn.LayerNorm(2 * dim)
        self.permute = Permute([0, 3, 1, 2])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(2 * dim, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.permute(self.norm(self.features(x)))
        return self.head(self.avgpool(x).flatten(1))


class VGGStyle(nn.Module):
    """VGG's layout (``features`` / ``avgpool`` / ``classifier``), narrow: conv - ReLU stacks (in place unless
    ``inplace=False``, for by-hand checks on the same weights) and 2 x 2 max-pools."""

    def __init__(self, inplace: bool = True, n_classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in [8, 8, "M", 16, 16, "M", 16, "M"]:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=inplace)]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(2)
        self.classifier = nn.Sequential(nn.Linear(16 * 4, 32), nn.ReLU(inplace=inplace), nn.Linear(32, n_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


class Bottleneck(nn.Module):
    """torchvision's ResNet bottleneck: 1x1 - 3x3 (stride) - 1x1 convs with batch norms, one ReLU module used
    three times (``relu``, ``relu#2``, ``relu#3``), a ``downsample`` (conv + BN) where the shape changes."""

    def __init__(self, cin: int, mid: int, cout: int, stride: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid)
        self.conv2, self.bn2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False), nn.BatchNorm2d(mid)
        self.conv3, self.bn3 = nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNetStyle(nn.Module):
    """ResNet-50's names, depths and output channels (256 / 512 / 1024 / 2048) with inner widths of ``width``
    times 1, 2, 4, 8 (ResNet-50 has 64): ``layer4.2`` is ``(N, 2048, 7, 7)`` at 224 px."""

    def __init__(self, width: int = 4, n_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 7, 2, 3, bias=False)
        self.bn1, self.relu, self.maxpool = nn.BatchNorm2d(16), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
        cin = 16
        for i, (blocks, cout) in enumerate(zip([3, 4, 6, 3], [256, 512, 1024, 2048], strict=True)):
            stage = []
            for b in range(blocks):
                stage.append(Bottleneck(cin, width * 2 ** i, cout, 2 if b == 0 and i > 0 else 1))
                cin = cout
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def make(name: str, seed: int = 0, **kwargs) -> nn.Module:
    """One of ``"vit"``, ``"swin"``, ``"vgg"``, ``"resnet"`` with deterministic random weights, in eval mode."""
    torch.manual_seed(seed)
    model = {"vit": ViTStyle, "swin": SwinStyle, "vgg": VGGStyle, "resnet": ResNetStyle}[name](**kwargs)
    return model.eval()


def image_batch(n: int = 1, size: int = IMAGE, seed: int = 1) -> Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))
