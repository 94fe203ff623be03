"""The Python <-> JavaScript protocol of the Explorer widget, written once.

Every message is a ``TypedDict`` below and every send builds through one; ``js/src/protocol.ts`` is generated
from this module (``python -m nbsaliency.explorer.typescript``) and a test fails when the two differ, so a field
renamed on one side only is caught. Constants are derived from the ``Literal`` types they name.

Synced traits
-------------
Selection (both directions): image_index, layer, channel, position, method, target, target_class, the fields
    of :class:`Selection`. The view asks for a selection by setting the fields that changed together with
    ``request_id`` (REQUEST_ID_TRAIT, increasing per view) in one trait update; the kernel answers that id with
    one MSG_RESULT. The view keeps at most one request in flight and one waiting (latest wins). A selection
    that cannot be computed is answered with an error result and the fields are set back.
Display (both directions; applied in the browser with no kernel round trip, synced so ``figure()`` matches):
    the fields of :class:`DisplaySettings`.
Catalogue (Python -> JS only): ``layers`` (list of :class:`LayerInfo`), ``methods`` (list of
    :class:`MethodInfo`, from the engine's method registry), ``labels`` (class names), ``n_images``.
State (Python -> JS only): ``busy``; ``error`` ("" when the last request succeeded, plain words otherwise);
    ``snapshot``: PNG bytes of the view as last displayed or changed from Python (empty before it is shown),
    drawn by a view until its first live result (a view without a kernel: nbconvert's HTML, a saved notebook).
Panels add their own traits (:attr:`nbsaliency.explorer.panel.Panel.traits`).

Buffers
-------
MSG_RESULT carries four buffers, in order: BUFFER_IMAGE (uint8 RGBA, H*W*4 bytes, row-major),
BUFFER_ATTRIBUTION (float32 little-endian, C*H*W values, empty when ``attribution`` is None),
BUFFER_ACTIVATIONS (uint8, K*h*w colormap indices, each map scaled to its own maximum, see
:func:`nbsaliency.explorer.display.activation_codes`) and BUFFER_ACTIVATION_MAXIMA (float32 little-endian, K
values: each map's largest finite value); both empty when ``activations`` is None.
MSG_OPTIMIZE_FRAME carries one (uint8 RGBA); MSG_PATCHES_RESULT carries PATCH_BUFFERS per patch, in rank
order: the image crop, then the projection crop (signed RGB), each uint8 RGBA. MSG_KERNELS_RESULT carries one
(uint8 RGBA tiles); MSG_TSNE_RESULT two when done (coordinates float32, thumbnails uint8 RGBA).

Ordering: every answer carries ``seq``, increasing per widget; the view never paints an answer whose ``seq`` is
lower than one it already painted. Request ids of one view increase; views start far apart.
"""

from __future__ import annotations

from typing import Literal, TypedDict, get_args

# -- the attribution view: selection, result ---------------------------------------------------------------
TargetKind = Literal["logit", "probability", "channel", "neuron", "layer"]
ColormapName = Literal["inferno", "viridis", "gray", "coolwarm"]

MSG_SELECT = "select"
MSG_RESULT = "result"
MSG_ATTRIBUTION_PROGRESS = "attribution_progress"
MSG_ATTRIBUTION_CANCEL = "attribution_cancel"
MSG_ATTRIBUTION_REFINE = "attribution_refine"
REQUEST_ID_TRAIT = "request_id"
BUFFER_IMAGE = 0
BUFFER_ATTRIBUTION = 1
BUFFER_ACTIVATIONS = 2
BUFFER_ACTIVATION_MAXIMA = 3
TARGET_KINDS: tuple[str, ...] = get_args(TargetKind)
COLORMAPS: tuple[str, ...] = get_args(ColormapName)


class Selection(TypedDict):
    """The selection traits: what the user chose. ``position``: [y, x] of the selected neuron inside the
    channel's map, [] for none. ``target_class``: class for "logit" / "probability"; -1 means the predicted
    class. ``layer`` is a ``named_modules()`` name from ``layers``, ``method`` a name from ``methods``."""

    image_index: int
    layer: str
    channel: int
    position: list[int]
    method: str
    target: TargetKind
    target_class: int


class SelectionChange(TypedDict, total=False):
    """Only the selection fields that changed; the kernel applies them over its current selection."""

    image_index: int
    layer: str
    channel: int
    position: list[int]
    method: str
    target: TargetKind
    target_class: int


class DisplaySettings(TypedDict):
    """The display traits, applied in the browser. ``opacity``: heat-map overlay opacity in [0, 1].
    ``signed``: show the map's signed values (diverging colours) instead of |value| (the display toggle; a
    method's own signed-RGB view is ``MethodInfo.rgb_view``). ``clip_percentile``: values above this
    percentile of |value| saturate; 0 or less means no clipping (scale by the largest |value|)."""

    colormap: ColormapName
    opacity: float
    signed: bool
    clip_percentile: float


class LayerInfo(TypedDict):
    """One entry of the ``layers`` trait; ``shape`` has no batch axis; ``type`` is the module's class name;
    ``primary``: a layer a picker offers first (a convolution, a block output, the last layer); ``maps``: the
    shape of its activation maps, ``[C, h, w]`` in every layout (a ViT block's ``[D, 14, 14]`` where ``shape``
    is ``[197, D]``) or ``[D]`` for flat layers: what "channel" and "position" mean there (see
    :mod:`nbsaliency.explorer.layers`)."""

    name: str
    shape: list[int]
    type: str
    primary: bool
    maps: list[int]


class MethodInfo(TypedDict):
    """One entry of the ``methods`` trait, from the engine's method registry. ``rgb_view``: the method's
    signed values are worth showing as an RGB image too (DeconvNet, guided backpropagation, ...)."""

    name: str
    label: str
    rgb_view: bool


class Prediction(TypedDict):
    index: int
    label: str
    probability: float


class SelectMessage(TypedDict):
    """JS -> Python: the same request as a custom message (for clients that cannot set traits)."""

    kind: Literal["select"]
    id: int
    selection: SelectionChange


class ImageInfo(TypedDict):
    """``shape``: [H, W, 4] of an RGBA buffer."""

    shape: list[int]


class AttributionInfo(TypedDict):
    """``shape``: [C, H, W]; ``rgb_view`` as in :class:`MethodInfo`."""

    shape: list[int]
    rgb_view: bool


class ActivationsInfo(TypedDict):
    """``shape``: [K, h, w] (a layer without maps is sent as [K, 1, 1])."""

    shape: list[int]
    layer: str


class ResultMessage(TypedDict):
    """Python -> JS, with buffers [BUFFER_IMAGE, BUFFER_ATTRIBUTION, BUFFER_ACTIVATIONS,
    BUFFER_ACTIVATION_MAXIMA]. ``id`` answers the request with that id (null when the kernel started the
    computation itself, e.g. after ``explorer.layer = ...`` in Python); ``error``: "" or what went wrong, in
    plain words (then the arrays are empty); ``cancelled``: the request was cancelled (by Cancel or a newer
    request). ``notes``: what the view must say under the map (a layer the method used instead of the selected
    one and why, a control reset by a layer change, a map that is exactly zero, a preview's reduced settings, a
    display that had to guess the normalisation). ``method_layer``: the layer the method used (Grad-CAM's layer
    of maps), "" for none."""

    kind: Literal["result"]
    id: int | None
    seq: int
    error: str
    cancelled: bool
    notes: list[str]
    method_layer: str
    image_index: int
    image: ImageInfo
    attribution: AttributionInfo | None
    activations: ActivationsInfo | None
    predictions: list[Prediction]
    selection: Selection


class AttributionProgressMessage(TypedDict):
    """Python -> JS: a slow method (one that reports progress) running in the background for request ``id``:
    ``done`` of ``total`` passes (perturbed copies) so far. Sent after each chunk; the answer is the MSG_RESULT."""

    kind: Literal["attribution_progress"]
    id: int | None
    method: str
    done: int
    total: int


class AttributionCancelMessage(TypedDict):
    """JS -> Python: stop the background computation answering ``id`` (answered by its MSG_RESULT with
    ``cancelled`` true; the selection goes back to the last shown one)."""

    kind: Literal["attribution_cancel"]
    id: int


class AttributionRefineMessage(TypedDict):
    """JS -> Python: compute ``method`` at the engine's full defaults from now on (it was shown as a preview on
    a large model), answering the current selection again as request ``id``."""

    kind: Literal["attribution_refine"]
    id: int
    method: str


# -- the optimization panel (explorer/optimization.py, js/src/panels/optimization/) -------------------------
Visualisation = Literal["class_model", "activation_maximisation", "deepdream", "invert"]

MSG_OPTIMIZE = "optimize"
MSG_OPTIMIZE_CANCEL = "optimize_cancel"
MSG_OPTIMIZE_FRAME = "optimize_frame"
MSG_OPTIMIZE_DONE = "optimize_done"
OPTIMIZE_VISUALISATIONS: tuple[str, ...] = get_args(Visualisation)
OPTIMIZE_MAX_STEPS = 2000


class OptimizeMessage(TypedDict):
    """JS -> Python: run ``visualisation`` for ``selection`` (the view's latest; it may not have reached the
    kernel yet) in a kernel thread, streamed. "class_model": the selected class, or the image's predicted class
    when target_class is -1; "activation_maximisation": the selection's channel / neuron / layer, a class
    target's logit; "deepdream" and "invert": the current image at the current layer. ``steps``:
    1..OPTIMIZE_MAX_STEPS. A new request cancels the running one; ``id`` becomes the ``run`` of the answers."""

    kind: Literal["optimize"]
    id: int
    visualisation: Visualisation
    steps: int
    selection: Selection


class OptimizeCancelMessage(TypedDict):
    """JS -> Python: stop run ``run`` before its next step (answered by MSG_OPTIMIZE_DONE, cancelled true)."""

    kind: Literal["optimize_cancel"]
    run: int


class OptimizeFrameMessage(TypedDict):
    """Python -> JS, with one buffer (uint8 RGBA). ``step`` of ``steps`` done (steps may be fewer than asked:
    DeepDream rounds to whole octaves); ``value``: the objective there (null when not finite). Sent every few
    steps from the worker thread; a cached answer is one frame with step == steps."""

    kind: Literal["optimize_frame"]
    run: int
    step: int
    steps: int
    value: float | None
    image: ImageInfo


class OptimizeDoneMessage(TypedDict):
    """Python -> JS: exactly one per request: finished, cancelled, answered from the cache, or refused / failed
    (``error`` in plain words, "" otherwise; the rest of the widget keeps working)."""

    kind: Literal["optimize_done"]
    run: int
    cancelled: bool
    cached: bool
    error: str


# -- the patches panel (explorer/patches.py, js/src/panels/patches/) ----------------------------------------
IndexStatus = Literal["none", "building", "ready", "cancelled", "error"]

MSG_PATCHES = "patches"
MSG_PATCHES_RESULT = "patches_result"
MSG_PATCH_OPEN = "patch_open"
MSG_INDEX_CANCEL = "index_cancel"
MSG_INDEX_BUILD = "index_build"
INDEX_STATUSES: tuple[str, ...] = get_args(IndexStatus)
PATCH_BUFFERS = 2


class PatchesMessage(TypedDict):
    """JS -> Python: the top-9 grid of (layer, channel) (Zeiler & Fergus 2014, Fig. 2), projected by ``method``;
    methods that cannot project single units project with DeconvNet instead (the answer's ``projection`` and
    ``note`` say so)."""

    kind: Literal["patches"]
    id: int
    layer: str
    channel: int
    method: str


class PatchInfo(TypedDict):
    """One cell of a grid. ``image``: dataset index of the patch's image; ``box``: its receptive field there,
    [top, left, bottom, right), half-open; ``shape``: [h, w, 4] of both crops."""

    rank: int
    value: float
    image: int
    y: int
    x: int
    box: list[int]
    shape: list[int]


class PatchesResultMessage(TypedDict):
    """Python -> JS: exactly one per MSG_PATCHES request. ``projection``: the method that projected ("" when the
    request was malformed). ``ready`` false: no index yet (the view asks again when index_status becomes
    "ready"); ``superseded``: a newer request replaced this one before it ran; ``error``: plain words."""

    kind: Literal["patches_result"]
    id: int | None
    seq: int
    layer: str
    channel: int
    method: str
    projection: str
    note: str
    ready: bool
    superseded: bool
    error: str
    patches: list[PatchInfo]


class PatchOpenMessage(TypedDict):
    """JS -> Python: open patch ``rank`` of the (layer, channel) grid as the current input (a dataset image not
    among the explorer's images is added once; n_images grows), that unit selected (target "neuron"). Answered
    by the usual MSG_RESULT (id null), an error result when it cannot."""

    kind: Literal["patch_open"]
    layer: str
    channel: int
    rank: int


class IndexCommandMessage(TypedDict):
    """JS -> Python: stop building before the next batch (status "cancelled"), or build again."""

    kind: Literal["index_cancel", "index_build"]


# -- the lesion panel (explorer/lesion.py, js/src/panels/lesion/) -------------------------------------------
MSG_LESION = "lesion"
MSG_LESION_RESULT = "lesion_result"


class LesionMessage(TypedDict):
    """JS -> Python: input ``image_index`` with ``channel`` of ``layer`` removed (zeroed) during the forward pass
    (:func:`nbsaliency.lesion`), or only its unit at grid ``position`` [y, x] (a single neuron; [] for the whole
    channel); sent for each painted selection while the view's Lesion toggle is on."""

    kind: Literal["lesion"]
    id: int
    image_index: int
    layer: str
    channel: int
    position: list[int]


class LesionPrediction(TypedDict):
    """One class before and after the lesion: softmax probabilities, and the logit's change (after - before)."""

    index: int
    label: str
    before: float
    after: float
    logit_change: float


class LesionResultMessage(TypedDict):
    """Python -> JS: exactly one per MSG_LESION. ``classes``: the top classes before and after, by the clean
    probability; ``prediction_changed``: the top class is another one; ``error``: "" or plain words (then
    ``classes`` is empty)."""

    kind: Literal["lesion_result"]
    id: int | None
    seq: int
    image_index: int
    layer: str
    channel: int
    position: list[int]
    prediction_changed: bool
    classes: list[LesionPrediction]
    error: str


# -- the kernels panel (explorer/kernels.py, js/src/panels/kernels/) ----------------------------------------
MSG_KERNELS = "kernels"
MSG_KERNELS_RESULT = "kernels_result"


class KernelsMessage(TypedDict):
    """JS -> Python: the filters of ``layer`` (a Conv2d; for another layer, the last convolution before it with
    as many filters as it has channels), around ``channel`` (:func:`nbsaliency.kernel_grid`)."""

    kind: Literal["kernels"]
    id: int
    layer: str
    channel: int


class KernelsResultMessage(TypedDict):
    """Python -> JS, one per MSG_KERNELS, with one buffer: ``len(filters)`` tiles of ``shape`` [kh, kw, 4], uint8
    RGBA, in order. ``conv``: the convolution drawn ("" when none); ``rgb``: colour tiles, one per filter (the first
    layer); otherwise grey tiles of the filter ``channel``, one per input channel (``inputs``; -1 for colour
    tiles). Signed mapping: mid-grey is a zero weight. ``note``: what was left out or chosen, in words."""

    kind: Literal["kernels_result"]
    id: int | None
    seq: int
    layer: str
    channel: int
    conv: str
    rgb: bool
    filters: list[int]
    inputs: list[int]
    shape: list[int]
    note: str
    error: str


# -- the embedding panel (explorer/embedding.py, js/src/panels/embedding/) ----------------------------------
TsneStatus = Literal["running", "done", "error", "cancelled"]

MSG_TSNE = "tsne"
MSG_TSNE_RESULT = "tsne_result"
MSG_TSNE_OPEN = "tsne_open"
MSG_TSNE_CANCEL = "tsne_cancel"
TSNE_STATUSES: tuple[str, ...] = get_args(TsneStatus)
TSNE_BUFFER_POINTS = 0
TSNE_BUFFER_THUMBNAILS = 1


class TsneMessage(TypedDict):
    """JS -> Python: a t-SNE map of the dataset's codes at ``layer`` (:func:`nbsaliency.tsne`, pooled
    activations), computed in a kernel thread; a request while one runs replaces it when it is done."""

    kind: Literal["tsne"]
    id: int
    layer: str


class TsneResultMessage(TypedDict):
    """Python -> JS: "running" when the work starts, then "done" (with buffers TSNE_BUFFER_POINTS: float32 LE
    ``n`` x 2 coordinates, and TSNE_BUFFER_THUMBNAILS: ``n`` uint8 RGBA thumbnails of ``thumbnail`` [t, t, 4]),
    "error" (plain words, e.g. scikit-learn missing) or "cancelled" (MSG_TSNE_CANCEL). ``note``: the settings
    and what was left out."""

    kind: Literal["tsne_result"]
    id: int | None
    seq: int
    layer: str
    status: TsneStatus
    n: int
    thumbnail: list[int]
    note: str
    error: str


class TsneCancelMessage(TypedDict):
    """JS -> Python: stop the map of request ``id`` (waiting or running): before its next batch of codes, or when
    scikit-learn's fit returns; answered "cancelled"."""

    kind: Literal["tsne_cancel"]
    id: int


class TsneOpenMessage(TypedDict):
    """JS -> Python: open point ``index`` of the map (a dataset image) as the current input, like a patch."""

    kind: Literal["tsne_open"]
    index: int


SELECTION_TRAITS: tuple[str, ...] = tuple(Selection.__annotations__)
DISPLAY_TRAITS: tuple[str, ...] = tuple(DisplaySettings.__annotations__)
