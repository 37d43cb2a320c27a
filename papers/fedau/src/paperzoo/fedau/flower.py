"""FedAU as a Flower strategy, for deployments on Flower (``flwr``).

:class:`FedAUStrategy` is Flower's ``FedAvg`` (client sampling, configuration, evaluation) with FedAU's aggregation:
each ``aggregate_fit`` call is one round; the clients that returned results are the participants, identified by
an integer id in ``[0, N)`` that each client reports in its fit metrics (``client_id_key``). With x_t the parameters
sent in this round, y_n a participant's returned parameters and omega_n from :class:`FedAUWeights`,

    x_{t+1} = x_t + eta (1/N) sum_{n in P_t} omega_n (y_n - x_t),

the same update as :class:`~paperzoo.fedau.aggregators.FedAU` in the simulated round loop. The number of examples a
client reports is not used (FedAU weighs clients equally, as its objective (1/N) sum_n F_n does).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from flwr.common import FitRes, Parameters, Scalar, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import FedAvg

from paperzoo.fedau.aggregators import FedAUWeights
from paperzoo.shared.validate import check_positive


class FedAUStrategy(FedAvg):
    """Flower ``FedAvg`` with FedAU's online inverse-participation weights (cutoff ``k``, global step ``eta``)."""

    def __init__(
        self, n_clients: int, k: float = math.inf, eta: float = 1.0, client_id_key: str = "client_id", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.weights = FedAUWeights(n_clients, k)
        self.eta = check_positive("eta", eta)
        self.client_id_key = client_id_key
        self.current: list[np.ndarray] | None = None

    def __repr__(self) -> str:
        return f"FedAUStrategy(n_clients={self.weights.n_clients}, k={self.weights.k}, eta={self.eta})"

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, Any]]:
        """Remember x_t (the parameters this round's clients start from), then sample clients as ``FedAvg``."""
        self.current = parameters_to_ndarrays(parameters)
        return super().configure_fit(server_round, parameters, client_manager)

    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[tuple[ClientProxy, FitRes] | BaseException],
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        """x_{t+1} = x_t + eta (1/N) sum_n omega_n (y_n - x_t) over the clients in ``results``."""
        if self.current is None:
            raise ValueError("aggregate_fit needs the round's parameters: call configure_fit first")
        if failures and not self.accept_failures:
            return None, {}
        ids = [int(res.metrics[self.client_id_key]) for _, res in results]
        if len(set(ids)) != len(ids) or any(not 0 <= n < self.weights.n_clients for n in ids):
            raise ValueError(f"client ids must be distinct integers in [0, {self.weights.n_clients}), got {ids}")
        participating = np.zeros(self.weights.n_clients, dtype=bool)
        participating[ids] = True
        omega = self.weights.update(participating)
        scale = self.eta / self.weights.n_clients
        new = [x.copy() for x in self.current]
        for n, (_, res) in zip(ids, results, strict=True):
            for x, start, y in zip(new, self.current, parameters_to_ndarrays(res.parameters), strict=True):
                x += (scale * omega[n] * (y - start)).astype(x.dtype)
        self.current = new
        return ndarrays_to_parameters(new), {"participants": len(ids)}
