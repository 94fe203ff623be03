"""Backward rules: how a signal passes backward through a rectifier, the one thing that separates gradient,
DeconvNet and guided backpropagation.

With ``f`` the forward input of a ReLU and ``R`` the signal arriving from above (Springenberg et al. 2015,
"Striving for Simplicity: The All Convolutional Net", Fig. 1):

=============  ==========================  =====================================================
rule           through ReLU                through another activation phi (generalised)
=============  ==========================  =====================================================
gradient       ``1[f>0] * R``              ``phi'(f) * R`` (the true gradient)
deconvnet      ``1[R>0] * R``              ``1[R>0] * R`` (Zeiler & Fergus 2014 ignore the forward input)
guided         ``1[f>0] * 1[R>0] * R``     ``max(phi'(f) * R, 0)``: local derivative, then keep positive signal
linear         ``R``                       ``R`` (only to probe receptive fields: no data dependence)
=============  ==========================  =====================================================

Max-pooling switches and transposed convolutions are exactly what autograd already does, so only the rectifier
rule differs. Modules: :mod:`.backward_rules` (the rule objects and the selector read at backward time),
:mod:`.activations` (which torch calls are activations and which treatment each gets), :mod:`.functions` (the
autograd functions activations are rerouted into) and :mod:`.linear` (the linearised pass of receptive fields).
"""
