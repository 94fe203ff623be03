"""Backward-pass methods answered from the session's kept forward pass."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from torch import Tensor

from ..rules.backward_rules import DECONVNET, GRADIENT, GUIDED
from ..targets import Target
from .registry import register

if TYPE_CHECKING:  # methods receive a Session; only session.py builds one (no import cycle)
    from ..session import Session


@register("gradient", label="Gradient (saliency)", backward_rule=GRADIENT,
          citation="Simonyan, Vedaldi & Zisserman 2014, Deep Inside Convolutional Networks")
def gradient(session: Session, targets: Sequence[Target]) -> Tensor:
    """d target / d input. Simonyan et al.'s saliency map is its max over colour channels of |g|
    (:func:`nbsaliency.saliency_map`)."""
    return session.gradients(targets, GRADIENT)


@register("deconvnet", label="DeconvNet", rgb_view=True, backward_rule=DECONVNET,
          citation="Zeiler & Fergus 2014, Visualizing and Understanding Convolutional Networks")
def deconvnet(session: Session, targets: Sequence[Target]) -> Tensor:
    """Backward through ReLU passes only positive incoming signal, ignoring the forward input."""
    return session.gradients(targets, DECONVNET)


@register("guided", label="Guided backpropagation", rgb_view=True, backward_rule=GUIDED,
          citation="Springenberg et al. 2015, Striving for Simplicity: The All Convolutional Net")
def guided(session: Session, targets: Sequence[Target]) -> Tensor:
    """Backward through ReLU passes where the forward input is positive and the signal is positive."""
    return session.gradients(targets, GUIDED)


@register("input_x_gradient", label="Input × gradient", backward_rule=GRADIENT, times_input=True,
          citation="Shrikumar et al. 2016, Not Just a Black Box: Learning Important Features Through "
                   "Propagating Activation Differences")
def input_x_gradient(session: Session, targets: Sequence[Target]) -> Tensor:
    """The gradient times the input, elementwise: a first-order estimate of each pixel's contribution."""
    return session.gradients(targets, GRADIENT) * session.x.detach()
