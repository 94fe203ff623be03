"""The Python <-> JavaScript protocol of the Explorer widget, described once.

Mirrored by name in ``js/src/protocol.ts``; change both together.

Synced traits (both directions unless marked)
---------------------------------------------
Selection (what the user chose):
    image_index: int          index into the explorer's images
    layer: str                a ``named_modules()`` name from ``layers``
    channel: int              channel of ``layer`` (0 when the layer has none)
    position: list[int]       [y, x] of the selected neuron inside the channel's map, [] for none
    method: str               a name from ``methods``
    target: str               one of TARGET_KINDS
    target_class: int         class for "logit" / "probability"; -1 means the predicted class
Display (applied in the browser, no kernel round trip; synced so ``figure()`` matches the view):
    colormap: str             one of COLORMAPS
    opacity: float            heat-map overlay opacity in [0, 1]
    signed: bool              show signed values (diverging colours / signed RGB) instead of |value|
    clip_percentile: float    values above this percentile of |value| saturate (e.g. 99.5)
Catalogue (Python -> JS only):
    layers: list[{"name": str, "shape": list[int], "type": str}]   shapes without the batch axis
    methods: list[{"name": str, "label": str, "signed": bool}]     from the engine's method registry
    labels: list[str]         class names
    n_images: int
State (Python -> JS only):
    busy: bool
    error: str                "" when the last request succeeded; plain words otherwise

Messages
--------
JS -> Python   {"kind": MSG_SELECT, "id": int, "selection": {<selection traits>}}
    Ask for a new selection. The view keeps at most one request in flight and one waiting
    (latest wins); ``id`` increases per view.
Python -> JS   {"kind": MSG_RESULT, "id": int | None, "seq": int, "error": str, "image_index": int,
                "image": {"shape": [H, W, 4]},
                "attribution": {"shape": [C, H, W], "signed": bool} | None,
                "activations": {"shape": [K, h, w], "layer": str} | None,
                "predictions": [{"index": int, "label": str, "probability": float}, ...],
                "selection": {<selection traits as computed>}}
    with buffers, in this order:
        BUFFER_IMAGE        uint8 RGBA, H*W*4 bytes, row-major
        BUFFER_ATTRIBUTION  float32 little-endian, C*H*W values (empty when attribution is None)
        BUFFER_ACTIVATIONS  float32 little-endian, K*h*w values (empty when activations is None)
    ``id`` answers the JS request with that id (None when the kernel itself started the computation,
    e.g. after ``explorer.layer = ...`` in Python). ``seq`` increases with every result the kernel sends;
    the view never paints a result whose ``seq`` is lower than one it already painted.

Optimisation panel (engine side: nbsaliency/optimise_jobs.py; view: js/src/optimise_panel.ts)
    Runs one optimisation-based visualisation for the *current* selection in a kernel thread, streamed.
JS -> Python   {"kind": MSG_OPTIMISE, "id": int, "visualisation": str, "steps": int,
                "selection": {<selection traits>}}
    ``visualisation``: one of OPTIMISE_VISUALISATIONS ("class_model": the selected class, or the image's
    predicted class when target_class is -1; "activation_maximisation": the selection's channel / neuron /
    layer, a class target's logit; "deepdream" and "invert": the current image at the current layer);
    ``steps``: 1..OPTIMISE_MAX_STEPS; ``selection``: the view's latest selection (it may not have reached the
    kernel yet; fields left out are the kernel's). A new request cancels the running one. ``id`` becomes the
    ``run`` of the answers (ids of one view increase; views start far apart).
JS -> Python   {"kind": MSG_OPTIMISE_CANCEL, "run": int}
    Stop run ``run`` before its next step (the kernel answers with MSG_OPTIMISE_DONE, cancelled true).
Python -> JS   {"kind": MSG_OPTIMISE_FRAME, "run": int, "step": int, "steps": int, "value": float | None,
                "image": {"shape": [H, W, 4]}}
    with one buffer: uint8 RGBA, H*W*4 bytes, row-major. ``step`` of ``steps`` done (steps may be fewer than
    asked: DeepDream rounds to whole octaves); ``value``: the objective there (None when not finite).
    Sent every few steps from the worker thread; a cached answer is one frame with step == steps.
Python -> JS   {"kind": MSG_OPTIMISE_DONE, "run": int, "cancelled": bool, "cached": bool, "error": str}
    Exactly one per request: finished, cancelled, answered from the cache, or refused / failed (``error``
    in plain words, "" otherwise; the rest of the widget keeps working).
Top-activating patches (engine side: nbsaliency/patch_jobs.py; view: js/src/patches_panel.ts)
    The nine strongest units of the selected (layer, channel) over the dataset (Zeiler & Fergus 2014, Fig. 2),
    from a patch index that the kernel builds in a worker thread when the widget is made.
Synced traits (Python -> JS only):
    index_status: str         one of INDEX_STATUSES ("none", "building", "ready", "cancelled", "error")
    index_progress: list[int] [done, total] images of the build (total -1 while unknown)
    index_message: str        plain words: why the build failed or stopped, else ""
JS -> Python   {"kind": MSG_PATCHES, "id": int, "layer": str, "channel": int, "method": str}
    The grid of (layer, channel) with projections by ``method``; methods that cannot project single units
    (nbsaliency.patches.PROJECTION_METHODS lists those that can) project with "deconvnet" instead (the
    answer's ``projection`` and ``note`` say so). The view keeps at most one request in flight and one
    waiting; ids of one view increase, views start far apart.
Python -> JS   {"kind": MSG_PATCHES_RESULT, "id": int | None, "seq": int, "layer": str, "channel": int,
                "method": str, "projection": str, "note": str, "ready": bool, "superseded": bool, "error": str,
                "patches": [{"rank": int, "value": float, "image": int, "y": int, "x": int,
                             "box": [top, left, bottom, right], "shape": [h, w, 4]}, ...]}
    Exactly one per request. ``ready`` false: no index yet (the view asks again when index_status becomes
    "ready"); ``superseded``: a newer request replaced this one before it ran; ``error``: plain words.
    ``image`` is the dataset index of the patch's image, ``box`` its receptive field in that image (half-open).
    With PATCH_BUFFERS buffers per patch, in rank order: the image crop, then the projection crop (signed
    RGB), each uint8 RGBA, h*w*4 bytes, row-major. ``seq`` increases with every answer; the view never paints
    a grid whose seq is lower than one it already painted.
JS -> Python   {"kind": MSG_PATCH_OPEN, "layer": str, "channel": int, "rank": int}
    Open patch ``rank`` of the grid: its image becomes the current input (a dataset image not among the
    explorer's images is added to them once; n_images grows), with that unit selected (target "neuron",
    position [y, x]). Answered by the usual MSG_RESULT (id None), an error result when it cannot.
JS -> Python   {"kind": MSG_INDEX_CANCEL}      stop building before the next batch (status "cancelled")
JS -> Python   {"kind": MSG_INDEX_BUILD}       build again (after a cancel or an error)
"""

MSG_SELECT = "select"
MSG_RESULT = "result"

BUFFER_IMAGE = 0
BUFFER_ATTRIBUTION = 1
BUFFER_ACTIVATIONS = 2

TARGET_KINDS = ("logit", "probability", "channel", "neuron", "layer")
COLORMAPS = ("inferno", "viridis", "gray", "coolwarm")
SELECTION_TRAITS = ("image_index", "layer", "channel", "position", "method", "target", "target_class")
DISPLAY_TRAITS = ("colormap", "opacity", "signed", "clip_percentile")

# -- optimisation panel (optimise_jobs.py / optimise_panel.ts) --
MSG_OPTIMISE = "optimise"
MSG_OPTIMISE_CANCEL = "optimise_cancel"
MSG_OPTIMISE_FRAME = "optimise_frame"
MSG_OPTIMISE_DONE = "optimise_done"
OPTIMISE_VISUALISATIONS = ("class_model", "activation_maximisation", "deepdream", "invert")
OPTIMISE_MAX_STEPS = 2000
# -- end optimisation panel --

# -- top-activating patches (patch_jobs.py / patches_panel.ts) --
MSG_PATCHES = "patches"
MSG_PATCHES_RESULT = "patches_result"
MSG_PATCH_OPEN = "patch_open"
MSG_INDEX_CANCEL = "index_cancel"
MSG_INDEX_BUILD = "index_build"
INDEX_STATUSES = ("none", "building", "ready", "cancelled", "error")
PATCH_BUFFERS = 2
# -- end top-activating patches --
