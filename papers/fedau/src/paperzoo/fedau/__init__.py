"""FedAU: A Lightweight Method for Tackling Unknown Participation Statistics in Federated Averaging
(Shiqiang Wang and Mingyue Ji, ICLR 2024; official code IBM/fedau).

FedAvg whose server multiplies each participant's update by omega_n, an online estimate of 1/p_n (the mean interval
between the client's participations, cut off at K rounds), and divides by N: with unknown, heterogeneous
participation probabilities it optimises (1/N) sum_n F_n instead of the p-weighted objective, with O(1) state per
client.

- :class:`FedAUWeights` (the weights), aggregators :class:`FedAU`, :class:`KnownProb`, :class:`AvgParticipating`,
  :class:`AvgAll`, :class:`FedVarp`, :class:`MIFA` (:func:`make_aggregator`), on flat updates;
- :func:`partition_dirichlet`, :func:`participation_probs`, :class:`ParticipationSampler` (Bernoulli, Markov,
  cyclic);
- :func:`simulate` (the in-process round loop over many runs, the participants' local steps batched),
  :func:`local_updates`, :class:`Client`, :func:`batch_plan`, :class:`RunSpec`;
- :class:`FedAUStrategy`: a Flower strategy applying FedAU's weights (imports ``flwr`` on first use).
"""

from typing import Any

from paperzoo.fedau.aggregators import (
    AGGREGATORS,
    MIFA,
    Aggregator,
    AvgAll,
    AvgParticipating,
    FedAU,
    FedAUWeights,
    FedVarp,
    KnownProb,
    make_aggregator,
)
from paperzoo.fedau.federated import Client, History, RunSpec, batch_plan, local_updates, simulate
from paperzoo.fedau.participation import ParticipationSampler, participation_probs, partition_dirichlet


def __getattr__(name: str) -> Any:
    if name == "FedAUStrategy":  # flwr is imported only when the strategy is used
        from paperzoo.fedau.flower import FedAUStrategy

        return FedAUStrategy
    raise AttributeError(name)


__all__ = [
    "AGGREGATORS",
    "MIFA",
    "Aggregator",
    "AvgAll",
    "AvgParticipating",
    "Client",
    "FedAU",
    "FedAUStrategy",
    "FedAUWeights",
    "FedVarp",
    "History",
    "KnownProb",
    "ParticipationSampler",
    "RunSpec",
    "batch_plan",
    "local_updates",
    "make_aggregator",
    "participation_probs",
    "partition_dirichlet",
    "simulate",
]
