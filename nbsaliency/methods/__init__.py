"""Attribution methods. Each module registers its methods in :mod:`.registry` on import; the import order
below is the order ``nbs.methods()`` and the widget list them."""

# isort: off
from . import gradient_family  # noqa: F401  (registers gradient, deconvnet, guided, input_x_gradient)
from . import smoothgrad  # noqa: F401
from . import integrated_gradients  # noqa: F401
from . import gradcam  # noqa: F401  (registers gradcam, guided_gradcam)
from . import occlusion  # noqa: F401
# isort: on
from .registry import MethodInfo, method_info, method_infos, methods, register

__all__ = ["MethodInfo", "method_info", "method_infos", "methods", "register"]
