"""Guiding Giants: Lightweight Controllers for Weighted Activation Steering in LLMs (Hegazy et al., 2025).

Weighted activation steering (WAS): a small MLP controller reads a frozen causal LM's last-token activations
and returns a scalar ``s_raw`` and per-layer weights ``w_l``; generation then adds ``s_raw * w_l * alpha * d``
(``d``: a unit refusal direction) to the block outputs at the last position.

    controller = SteeringController(4 * d_model, num_layers)
    train_controller(controller, x_harmful, x_benign)
    d = refusal_direction(model, encode, refusal_phrases, compliance_phrases)
    with SteeringHooks(model, controller, d, input_layers=(-4, -3, -2, -1), alpha=4.0, mode="prompt"):
        model.generate(...)
"""

from paperzoo.guiding_giants.steering import (
    SteeringController,
    SteeringHooks,
    TrainingLog,
    act_diff_direction,
    last_token_activations,
    refusal_direction,
    train_controller,
)

__all__ = [
    "SteeringController",
    "SteeringHooks",
    "TrainingLog",
    "act_diff_direction",
    "last_token_activations",
    "refusal_direction",
    "train_controller",
]
