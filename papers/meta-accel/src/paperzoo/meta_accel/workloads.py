"""Tasks j = (model m, hardware h, workload d) and their generator.

A task serves ``batch`` requests: for a decoder, ``batch`` prompts of ``prompt_len`` tokens each continued greedily
by ``gen_len`` tokens; for a classifier, ``batch`` inputs classified. The hardware axis is SIMULATED on one machine:
a node is a thread count (really used while timing) and a price per second (synthetic; it only scales cost).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from paperzoo.meta_accel.models import FAMILIES, ModelSpec
from paperzoo.shared.seeding import derive
from paperzoo.shared.validate import check_positive_int

# Simulated nodes: (name, threads, price per second of runtime) [ours]; prices are synthetic, never measured.
NODES: tuple[tuple[str, int, float], ...] = (("small", 1, 1.0), ("spot", 1, 0.6), ("large", 2, 1.7))
NODE = {name: (threads, price) for name, threads, price in NODES}

# Model configs per family [ours]: decoders (n_layer, d_model, vocab), classifiers (width, input size).
DECODER_CONFIGS = ((2, 64, 512), (4, 64, 512), (2, 128, 1024), (4, 128, 512), (3, 192, 512), (2, 256, 2048))
MLP_CONFIGS = ((64, 64), (256, 256), (512, 784), (1024, 256), (2048, 512), (128, 1024))
CNN_CONFIGS = ((8, 8), (16, 16), (32, 8), (32, 16), (64, 16), (16, 32))
BATCHES = (1, 2, 4)
CLASSIFIER_BATCHES = (1, 8, 32, 64)
PROMPT_LENS = (8, 16, 32)
GEN_LENS = (2, 4, 8)


@dataclass(frozen=True)
class TaskSpec:
    """One task: the model and its weight seed, the workload (requests, prompt and generation lengths; 0 for a
    classifier) and the simulated node."""

    model: ModelSpec
    model_seed: int
    batch: int
    prompt_len: int = 0
    gen_len: int = 0
    node: str = "small"

    def __post_init__(self) -> None:
        check_positive_int("batch", self.batch)
        if self.node not in NODE:
            raise ValueError(f"node must be one of {sorted(NODE)}, got {self.node!r}")
        if self.model.is_decoder:
            check_positive_int("prompt_len", self.prompt_len)
            check_positive_int("gen_len", self.gen_len)
        elif self.prompt_len or self.gen_len:
            raise ValueError("prompt_len and gen_len must be 0 for a classifier")

    @property
    def threads(self) -> int:
        return NODE[self.node][0]

    @property
    def price(self) -> float:
        """Simulated price per second of runtime on this task's node."""
        return NODE[self.node][1]

    @property
    def name(self) -> str:
        shape = f"b{self.batch}" + (f"-p{self.prompt_len}-g{self.gen_len}" if self.model.is_decoder else "")
        return f"{self.model.name}-{shape}-{self.node}"


def make_inputs(task: TaskSpec, seed: int) -> torch.Tensor:
    """The task's requests: token ids (batch, prompt_len) for a decoder, features (batch, input) for the MLP,
    images (batch, 1, side, side) for the CNN."""
    g = torch.Generator().manual_seed(derive(seed, "inputs", task.name))
    spec = task.model
    if spec.is_decoder:
        return torch.randint(1, spec.vocab, (task.batch, task.prompt_len), generator=g)
    if spec.family == "mlp":
        return torch.randn(task.batch, spec.input_size, generator=g)
    return torch.randn(task.batch, 1, spec.input_size, spec.input_size, generator=g)


def generate_tasks(
    n_tasks: int,
    seed: int,
    families: tuple[str, ...] = ("gpt2", "llama", "mlp", "cnn"),
    nodes: tuple[str, ...] = tuple(NODE),
) -> list[TaskSpec]:
    """``n_tasks`` distinct tasks drawn from ``seed``: families in turn, a model config of the family, a workload and
    one of ``nodes`` drawn uniformly (the model's weights are drawn from ``derive(seed, model name)``)."""
    check_positive_int("n_tasks", n_tasks)
    unknown = [n for n in nodes if n not in NODE]
    if unknown or not nodes:
        raise ValueError(f"nodes must be a non-empty subset of {sorted(NODE)}, got {list(nodes)}")
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise ValueError(f"families must be a non-empty subset of {list(FAMILIES)}, got {list(families)}")
    rng = np.random.default_rng(derive(seed, "tasks"))
    tasks: dict[str, TaskSpec] = {}
    for attempt in range(50 * n_tasks):
        if len(tasks) == n_tasks:
            break
        family = families[attempt % len(families)]
        node = nodes[rng.integers(len(nodes))]
        if family in ("gpt2", "llama"):
            n_layer, d_model, vocab = DECODER_CONFIGS[rng.integers(len(DECODER_CONFIGS))]
            spec = ModelSpec(family, d_model, n_layer=n_layer, vocab=vocab)
            workload = dict(
                batch=int(rng.choice(BATCHES)),
                prompt_len=int(rng.choice(PROMPT_LENS)),
                gen_len=int(rng.choice(GEN_LENS)),
            )
        else:
            width, size = (MLP_CONFIGS if family == "mlp" else CNN_CONFIGS)[rng.integers(6)]
            spec = ModelSpec(family, width, input_size=size)
            workload = dict(batch=int(rng.choice(CLASSIFIER_BATCHES)))
        task = TaskSpec(spec, derive(seed, "weights", spec.name), node=node, **workload)
        tasks.setdefault(task.name, task)
    if len(tasks) < n_tasks:
        raise ValueError(f"n_tasks must be at most the number of distinct tasks ({len(tasks)}), got {n_tasks}")
    return list(tasks.values())
