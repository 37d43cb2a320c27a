"""Learned Policy Gradient (LPG; Oh et al., "Discovering Reinforcement Learning Algorithms", NeurIPS 2020),
as the GROOVE official code defines it (``models/lpg.py``).

Per transition t of a rollout (batch, time)::

    x_t  = [ r_t, d_t, pi(a_t|s_t), e(y(s_t)), (1 - d_t) e(y(s_t+1)) ]      e: MLP [16 -> 1] shared
    h_t  = GRU(x_t, h_t+1 * (1 - d_t))                                        reverse in time, reset at done
    pi_hat_t = Dense_1(relu(h_t)),   y_hat_t = softmax(Dense_m(relu(h_t)))

The GRU runs backwards so that pi_hat_t and y_hat_t summarise the future of the episode (like a return);
its state is zeroed before the step of a terminal transition, so nothing crosses an episode boundary.
The LPG paper uses a backward LSTM and also feeds gamma; the official GROOVE code (followed here) uses a GRU
and no gamma. ``extra`` features (e.g. TA-LPG's lifetime conditioning) are appended to x_t when given.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from flax import linen as nn

from paperzoo.shared.validate import check_positive_int


class ReverseGRU(nn.Module):
    """A GRU scanned backwards over axis 1 of (batch, time, features), reset where ``done``."""

    width: int

    @partial(
        nn.scan,
        variable_broadcast="params",
        split_rngs={"params": False},
        in_axes=1,
        out_axes=1,
        reverse=True,
    )
    @nn.compact
    def __call__(self, carry: jax.Array, x: jax.Array, done: jax.Array) -> tuple[jax.Array, jax.Array]:
        # h_{t+1} is dropped when transition t ends its episode.
        carry = jnp.where(done[:, None], jnp.zeros_like(carry), carry)
        carry, out = nn.GRUCell(features=self.width)(carry, x)
        return carry, out


class LPG(nn.Module):
    """The LPG network.

    Attributes:
        embedding_width: hidden width of the shared prediction embedding e (official default 16).
        gru_width: width of the reverse GRU (official default 256).
        target_width: m, the size of the agent's categorical prediction y (official default 8).
    """

    embedding_width: int = 16
    gru_width: int = 256
    target_width: int = 8

    def __post_init__(self) -> None:
        check_positive_int("embedding_width", self.embedding_width)
        check_positive_int("gru_width", self.gru_width)
        check_positive_int("target_width", self.target_width)
        super().__post_init__()

    @nn.compact
    def __call__(
        self,
        reward: jax.Array,
        done: jax.Array,
        pi: jax.Array,
        y_t: jax.Array,
        y_tp1: jax.Array,
        extra: jax.Array | None = None,
    ) -> tuple[jax.Array, jax.Array]:
        """Args (batch B, time T): reward, done, pi (probability of the taken action) of shape (B, T);
        y_t, y_tp1 of shape (B, T, m); optional extra (B, T, c). Returns pi_hat (B, T) and y_hat (B, T, m)."""
        embed_hidden = nn.Dense(self.embedding_width, name="embed_hidden")
        embed_out = nn.Dense(1, name="embed_out")

        def embed(y):
            return embed_out(nn.relu(embed_hidden(y)))

        d = done.astype(jnp.float32)[..., None]
        e_t = embed(y_t)
        e_tp1 = (1.0 - d) * embed(y_tp1)
        x = jnp.concatenate([reward[..., None], d, pi[..., None], e_t, e_tp1], axis=-1)
        if extra is not None:
            x = jnp.concatenate([x, jnp.broadcast_to(extra, x.shape[:-1] + extra.shape[-1:])], axis=-1)
        carry = jnp.zeros((*x.shape[:1], self.gru_width), x.dtype)
        _, h = ReverseGRU(self.gru_width, name="gru")(carry, x, done.astype(bool))
        h = nn.relu(h)
        pi_hat = nn.Dense(1, name="pi_head")(h)[..., 0]
        y_hat = nn.softmax(nn.Dense(self.target_width, name="y_head")(h))
        return pi_hat, y_hat

    def init_params(self, key: jax.Array, extra_features: int = 0) -> dict:
        """Parameters from a (1, 1) dummy rollout."""
        one = jnp.ones((1, 1))
        y = jnp.ones((1, 1, self.target_width)) / self.target_width
        extra = jnp.ones((1, 1, extra_features)) if extra_features else None
        return self.init(key, one, one, one, y, y, extra)["params"]
