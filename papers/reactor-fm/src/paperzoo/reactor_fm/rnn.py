"""The reactor model: two stacked simple RNN layers of 64 units and a linear read-out, sequence to sequence.

h¹_t = σ(W¹ x_t + U¹ h¹_{t−1} + b¹),  h²_t = σ(W² h¹_t + U² h²_{t−1} + b²),  ŷ_t = V h²_t + c,
σ = ReLU (the Reptile model) or tanh (Keras' default, the official from-scratch models). Initialised as Keras'
``SimpleRNN``/``Dense``: Glorot-uniform input kernels, orthogonal recurrent kernels, zero biases.
"""

from __future__ import annotations

import torch
from torch import nn

from paperzoo.shared.validate import check_one_of, check_positive_int


class ReactorRNN(nn.Module):
    """``nn.RNN`` (``layers`` x ``hidden``, ReLU or tanh, batch first) + ``nn.Linear(hidden, outputs)``."""

    def __init__(
        self, inputs: int = 4, hidden: int = 64, layers: int = 2, outputs: int = 2, activation: str = "relu"
    ) -> None:
        super().__init__()
        for name, value in (("inputs", inputs), ("hidden", hidden), ("layers", layers), ("outputs", outputs)):
            check_positive_int(name, value)
        check_one_of("activation", activation, ("relu", "tanh"))
        self.activation = activation
        self.rnn = nn.RNN(inputs, hidden, num_layers=layers, nonlinearity=activation, batch_first=True)
        self.head = nn.Linear(hidden, outputs)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Keras' initialisers: Glorot-uniform kernels, orthogonal recurrent kernels, zero biases."""
        for name, param in self.rnn.named_parameters():
            if name.startswith("weight_ih"):
                nn.init.xavier_uniform_(param)
            elif name.startswith("weight_hh"):
                nn.init.orthogonal_(param)
            else:
                nn.init.zeros_(param)
        nn.init.xavier_uniform_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, steps, inputs) -> (batch, steps, outputs)."""
        return self.head(self.rnn(x)[0])


def build_model(seed: int, activation: str = "relu") -> ReactorRNN:
    """A freshly initialised :class:`ReactorRNN` whose weights depend only on ``seed``."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return ReactorRNN(activation=activation)
    finally:
        torch.random.set_rng_state(generator_state)
