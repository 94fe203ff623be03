"""t-SNE of a layer's codes (Karpathy's "t-SNE visualization of CNN codes"; van der Maaten & Hinton 2008,
"Visualizing Data using t-SNE", JMLR).

A layer's activation of each image, pooled over positions, is the image's *code*; t-SNE places images with
similar codes near each other in 2-D. Drawn as thumbnails at their positions (``nbs.embedding_figure``), the
map shows what the layer groups together. The embedding itself is scikit-learn's ``TSNE`` (an optional extra:
``pip install 'nbsaliency[embedding]'``); the grid-snapped layout uses SciPy's assignment solver (installed
with scikit-learn).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from .errors import Cancelled, TargetError
from .layer_axes import layer_layout
from .model_state import evaluation_mode
from .optimize.capture import LayerCapture, OptimisationView
from .optimize.runner import run_model
from .patches.dataset import ImageData, ImageSource
from .validation import as_image_batch

EXTRA = "pip install 'nbsaliency[embedding]' (or: pip install scikit-learn)"


@dataclass(frozen=True)
class Embedding:
    """``coordinates`` ``(N, 2)``: each image's t-SNE position; ``codes`` ``(N, D)``: the pooled activations
    they were computed from; ``settings``: the layer, pooling and t-SNE parameters."""

    layer: str
    codes: Tensor
    coordinates: Tensor
    settings: dict[str, Any] = field(default_factory=dict)


def pool_codes(activation: Tensor, pool: Literal["mean", "max"] = "mean", channel_axis: int = 1) -> Tensor:
    """``(N, D)`` codes from a layer's activation: a feature map ``(N, C, ...)`` averaged (or maxed) over its
    positions, a flat ``(N, D)`` activation as it is."""
    if activation.dim() < 2:
        raise TargetError(f"a code needs at least (N, D) activations; got shape {tuple(activation.shape)}")
    if activation.dim() == 2:
        return activation
    axis = channel_axis % activation.dim()
    moved = activation.movedim(axis, 1).flatten(2)
    if pool == "mean":
        return moved.mean(dim=2)
    if pool == "max":
        return moved.amax(dim=2)
    raise ValueError(f'pool must be "mean" or "max"; got {pool!r}')


def layer_codes(model: nn.Module, data: ImageData, layer: str, *, pool: Literal["mean", "max"] = "mean",
                batch_size: int = 256, channel_axis: int | None = None,
                cancel: threading.Event | None = None) -> Tensor:
    """The pooled activation of ``layer`` for every image of ``data`` (a tensor ``(N, C, H, W)``, a sequence of
    images, a ``Dataset`` or an unshuffled ``DataLoader``): ``(N, D)`` float32 on the CPU. Eval mode, no
    gradients; only ``layer`` is hooked, and the hook is removed afterwards (also on error).

    By default the layer's layout (:mod:`nbsaliency.layouts`, read in one extra pass on the first image) gives its
    channels-first maps ``(N, C, h, w)``, pooled over the grid: a Swin block's ``(N, H, W, C)`` pools over
    ``H x W``, a ViT block's tokens over the patch grid (class and other prefix tokens left out). ``channel_axis``
    given: the activation is pooled over every axis but that one (all tokens included).

    ``cancel`` set: :class:`~nbsaliency.Cancelled` before the next batch (the model is left as it was)."""
    source = ImageSource(data)
    codes = []
    layout = None
    with evaluation_mode(model), torch.no_grad():
        for _, batch in source.batches(batch_size):
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"the codes of {layer!r} were cancelled after {sum(len(c) for c in codes)} images")
            batch, _ = as_image_batch(model, batch)
            if channel_axis is None and layout is None:
                layout = layer_layout(model, batch, layer)
            with LayerCapture(model, [layer]) as capture:
                output = run_model(model, batch)
                activation = OptimisationView(output, batch, capture.take()).activation(layer)
            if layout is not None:
                code = pool_codes(layout.maps(activation), pool)
            else:
                code = pool_codes(activation, pool, 1 if channel_axis is None else channel_axis)
            codes.append(code.detach().float().cpu())
    return torch.cat(codes)


def _tsne_class() -> Any:
    try:
        from sklearn.manifold import TSNE
    except ImportError as error:
        raise ImportError(f"t-SNE embeddings need scikit-learn, which is not installed: {EXTRA}") from error
    return TSNE


def embed_codes(codes: Tensor, *, perplexity: float = 30.0, seed: int = 0, init: str = "pca",
                max_iter: int = 1000) -> Tensor:
    """2-D t-SNE coordinates ``(N, 2)`` of ``codes`` ``(N, D)`` (scikit-learn's Barnes-Hut ``TSNE``, reproducible
    per ``seed``). ``perplexity`` (about the number of neighbours each point keeps)
    must be below N."""
    tsne = _tsne_class()
    n = codes.shape[0]
    if codes.dim() != 2 or n < 2:
        raise ValueError(f"codes must be (N, D) with N >= 2; got shape {tuple(codes.shape)}")
    if not 0 < perplexity < n:
        raise ValueError(f"perplexity must be between 0 and the number of images ({n}); got {perplexity}")
    points = codes.detach().double().cpu().numpy()
    embedded = tsne(n_components=2, perplexity=perplexity, init=init, random_state=seed,
                    max_iter=max_iter).fit_transform(points)
    return torch.from_numpy(np.asarray(embedded, dtype=np.float32))


def tsne(model: nn.Module, data: ImageData, layer: str, *, pool: Literal["mean", "max"] = "mean",
         perplexity: float = 30.0, seed: int = 0, max_iter: int = 1000, batch_size: int = 256,
         channel_axis: int | None = None, cancel: threading.Event | None = None) -> Embedding:
    """t-SNE of ``layer``'s pooled activations over ``data``: :func:`layer_codes` then :func:`embed_codes`.

    Raises :class:`~nbsaliency.UnknownLayerError` (close matches) for a wrong layer name and an ``ImportError``
    naming the extra when scikit-learn is missing (checked before the model runs). ``cancel`` set:
    :class:`~nbsaliency.Cancelled` before the next batch of codes, or when scikit-learn's fit returns (it
    cannot be stopped inside).
    """
    _tsne_class()
    codes = layer_codes(model, data, layer, pool=pool, batch_size=batch_size, channel_axis=channel_axis,
                        cancel=cancel)
    coordinates = embed_codes(codes, perplexity=perplexity, seed=seed, max_iter=max_iter)
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"the t-SNE map of {layer!r} was cancelled")
    settings = {"layer": layer, "pool": pool, "perplexity": perplexity, "seed": seed, "max_iter": max_iter,
                "paper": "van der Maaten & Hinton 2008; Karpathy's CNN-codes figure"}
    return Embedding(layer, codes, coordinates, settings)


def grid_cells(coordinates: Tensor, columns: int | None = None, rows: int | None = None) -> Tensor:
    """Snap points ``(N, 2)`` to distinct cells of a ``rows x columns`` grid (default: the smallest near-square
    grid that holds them), minimising the total squared distance between each point (both axes rescaled to
    the grid) and its cell's centre - an optimal assignment (SciPy's ``linear_sum_assignment``), not a greedy
    one. Returns ``(N, 2)`` int64 ``(row, column)``; row 0 is the top (the largest y)."""
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError as error:
        raise ImportError(f"the grid layout needs SciPy (installed with scikit-learn): {EXTRA}") from error
    n = coordinates.shape[0]
    columns = columns or math.ceil(math.sqrt(n))
    rows = rows or math.ceil(n / columns)
    if rows * columns < n:
        raise ValueError(f"a {rows} x {columns} grid has fewer cells than the {n} points")
    points = coordinates.detach().double().cpu().numpy()
    low, span = points.min(axis=0), np.ptp(points, axis=0)
    unit = (points - low) / np.where(span > 0, span, 1.0)  # [0, 1] on both axes
    targets = np.stack([unit[:, 0] * (columns - 1), (1 - unit[:, 1]) * (rows - 1)], axis=1)  # (x -> col, y -> row)
    cell_rows, cell_cols = np.divmod(np.arange(rows * columns), columns)
    cost = (targets[:, None, 0] - cell_cols[None]) ** 2 + (targets[:, None, 1] - cell_rows[None]) ** 2
    points_index, cells = linear_sum_assignment(cost)
    result = np.zeros((n, 2), dtype=np.int64)
    result[points_index, 0], result[points_index, 1] = cell_rows[cells], cell_cols[cells]
    return torch.from_numpy(result)
