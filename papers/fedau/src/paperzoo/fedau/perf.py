"""FedAU's speed and memory figures (``make perf-fedau``), measured in one process on the full scale's federation
(Gaussian mixture, MLP, N = 100, Bernoulli participation):

- server state bytes of FedAU against MIFA and FedVarp (which store one update per client);
- rounds per second of the participants' local steps batched (one batched step over all clients) against a Python
  loop over them (``Client.local_update`` with ``torch.optim.SGD``), on the same rounds and minibatches, for one run's
  participants and for the 21 runs of the full scale stacked;
- the time of a full FedAU round against an AvgParticipating one (the weights cost O(N) scalar work).

Times are CPU time on one thread (``time.process_time``: what other processes on a shared machine take is not
counted), the least of 3 alternating repeats.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from paperzoo.fedau.experiment import _mixture_problem, _simulate_arms
from paperzoo.fedau.federated import Client, RunSpec, batch_plan, simulate
from paperzoo.fedau.participation import ParticipationSampler
from paperzoo.shared.seeding import derive
from paperzoo.shared.torch import configure


def perf(device: str, rounds: int = 40) -> dict[str, float]:
    """The figures above (1 thread); ``rounds`` timed rounds after a warm-up round."""
    from paperzoo.fedau.bench import FullConfig  # bench imports this module

    configure(threads=1, deterministic=False)
    config = FullConfig(rounds=rounds + 1, patterns=("bernoulli",), eval_every=1, last_evals=1)
    problem, probs, clients = _mixture_problem(config, 0)
    part = ParticipationSampler("bernoulli", probs, np.random.default_rng(derive(0, "perf"))).sample(rounds + 1)
    offsets, batches = batch_plan(clients, part, config.q, config.b, np.random.default_rng(1))
    x0 = problem.x0()
    figures: dict[str, float] = {}

    def no_eval(x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}

    def timed_round(aggregator: str) -> float:
        start = time.process_time()
        simulate(
            [RunSpec(aggregator, "bernoulli", 0.1)],
            x0,
            {"bernoulli": part},
            problem.local_step,
            no_eval,
            [],
            probs,
            {"bernoulli": (offsets, batches)},
        )
        return (time.process_time() - start) / (rounds + 1)

    timed_round("fedau")  # warm-up
    per_round = {a: min(timed_round(a) for _ in range(3)) for a in ("fedau", "avg_participating")}
    figures["round_s/fedau"], figures["round_s/avg_participating"] = per_round["fedau"], per_round["avg_participating"]
    figures["round_time/fedau_over_avg_participating"] = per_round["fedau"] / per_round["avg_participating"]

    # batched local steps vs a Python loop over the participants (same start point, same minibatches), for the
    # participants of one run and for those of the full scale's 21 runs (7 arms x 3 patterns) stacked
    looper = Client(problem.template, problem.x, problem.y)
    gamma = torch.tensor(0.1)

    def batched(runs: int) -> None:
        for t in range(1, rounds + 1):
            rows = batches[offsets[t] : offsets[t + 1]].repeat(runs, 1, 1)
            problem.local_step(x0.expand(len(rows), -1), torch.zeros(len(rows)), gamma.expand(len(rows)), rows)

    def looped(runs: int) -> None:
        for t in range(1, rounds + 1):
            for rows in batches[offsets[t] : offsets[t + 1]].repeat(runs, 1, 1):
                looper.local_update(x0, rows, 0.1)

    for runs in (1, 21):
        best = {"batched": math.inf, "looped": math.inf}
        for _ in range(3):
            for name, fn in (("batched", batched), ("looped", looped)):
                start = time.process_time()
                fn(runs)
                best[name] = min(best[name], time.process_time() - start)
        figures[f"rounds_per_s/batched_clients_{runs}_runs"] = rounds / best["batched"]
        figures[f"rounds_per_s/python_loop_{runs}_runs"] = rounds / best["looped"]
        figures[f"rounds_per_s/batched_over_loop_{runs}_runs"] = best["looped"] / best["batched"]

    history, _ = _simulate_arms(
        config, problem, probs, clients, 0, [(a, "bernoulli", 0.1) for a in ("fedau", "mifa", "fedvarp")], []
    )
    for arm, agg in zip(("fedau", "mifa", "fedvarp"), history.aggregators, strict=True):
        figures[f"state_bytes/{arm}"] = float(agg.state_bytes())
    figures["state_bytes/mifa_over_fedau"] = figures["state_bytes/mifa"] / figures["state_bytes/fedau"]
    figures["state_bytes/fedvarp_over_fedau"] = figures["state_bytes/fedvarp"] / figures["state_bytes/fedau"]
    return figures
