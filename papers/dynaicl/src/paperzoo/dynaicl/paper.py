"""The paper scale: a pretrained FLAN-T5 meta controller and open causal-LM generalists on text classification
tasks whose formats are config.

Models come through Hugging Face ``from_pretrained`` (a hub id, fetched only when the CLI is told
``--allow-download``, or a local folder): the controller is a ``T5ForConditionalGeneration`` with K + 1 class
tokens appended to its vocabulary (:meth:`MetaController.from_pretrained`), the generalists are
``AutoModelForCausalLM`` behind :class:`GeneralistLM` (the black-box contract: labels only).

Data: ``<data_dir>/<task>/train.jsonl`` and ``test.jsonl``, one ``{"input": str, "label": str}`` per line, the
label one of the task's label words. Per seed, a task's train split is shuffled; its first ``pool_size``
examples are the demonstration pool, the next ``train_limit`` the controller's training inputs (train tasks);
the first ``test_limit`` of the test split are evaluated (test tasks), with demonstrations from the pool.

A prompt (:class:`TaskFormat`) is the instruction, the demonstrations (the template filled with a pool input, a
space, its label) and the query (the template filled with the input), separated by blank lines; G answers with
the label word (of all the tasks' label words) whose first token it scores highest after the prompt: an answer
outside the task's labels is wrong, as a free-form answer would be. The controller reads ``instruction`` + newline +
input. Token cost: the generalist tokenizer's count of the prompt.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch

from paperzoo.dynaicl.controller import DemoSampler, MetaController
from paperzoo.dynaicl.experiment import run_dynaicl
from paperzoo.dynaicl.generalist import GeneralistLM
from paperzoo.shared import Result
from paperzoo.shared.seeding import derive
from paperzoo.shared.torch import HF_LIBRARIES, configure
from paperzoo.shared.validate import check_non_negative, check_one_of, check_positive, check_positive_int, check_range


class TaskFormat(NamedTuple):
    """A task's prompt format: the instruction, the input template (with ``{input}``) and the label words."""

    name: str
    instruction: str
    template: str
    labels: tuple[str, ...]

    def prompt(self, demos: Sequence[tuple[str, str]], x: str) -> str:
        """Instruction, then ``template(x_j) + " " + y_j`` per demonstration, then ``template(x)``, blank-line
        separated."""
        shots = [f"{self.template.format(input=d)} {y}" for d, y in demos]
        return "\n\n".join([self.instruction, *shots, self.template.format(input=x)])


# (R) The paper's classification tasks and formats as recalled: names, instructions and templates are ours
# (unverified); any task in the data format above can be added here or in a config.
PAPER_TASKS = (
    TaskFormat(
        "sst2", "Classify the sentiment of the review.", "Review: {input}\nSentiment:", ("negative", "positive")
    ),
    TaskFormat(
        "agnews",
        "Classify the topic of the news article.",
        "Article: {input}\nTopic:",
        ("world", "sports", "business", "technology"),
    ),
    TaskFormat("rte", "Does the premise entail the hypothesis?", "{input}\nAnswer:", ("yes", "no")),
    TaskFormat("cb", "Does the premise entail the hypothesis?", "{input}\nAnswer:", ("yes", "no", "maybe")),
    TaskFormat("mrpc", "Do the two sentences mean the same thing?", "{input}\nAnswer:", ("no", "yes")),
    TaskFormat("boolq", "Answer the question about the passage.", "{input}\nAnswer:", ("no", "yes")),
)


@dataclass(frozen=True)
class PaperConfig:
    """The paper's setting: FLAN-T5 (R: base) as the controller, open causal LMs as G and the transfer G2, the
    tasks' formats; K, m, delta, gamma and the training settings as in the CPU scale where the paper's values
    are not known (R)."""

    controller: str = "google/flan-t5-base"
    generalist: str = "mistralai/Mistral-7B-v0.1"
    transfer_generalist: str | None = "Qwen/Qwen2.5-7B"
    data_dir: str = "data/dynaicl"
    tasks: tuple[TaskFormat, ...] = PAPER_TASKS
    train_tasks: tuple[str, ...] = ("sst2", "agnews", "rte", "cb", "mrpc", "boolq")
    test_tasks: tuple[str, ...] = ("sst2", "agnews", "rte", "cb", "mrpc", "boolq")
    K: int = 16
    m: int = 4
    delta: float = 1.0
    pool_size: int = 64
    train_limit: int = 500
    test_limit: int = 500
    budgets: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    target_budget: float = 8.0
    grid_step: float = 0.5
    stage1_epochs: int = 3
    stage1_lr: float = 1e-4
    stage2_steps: int = 300
    stage2_lr: float = 1e-5
    gamma: float = 0.1
    batch: int = 16
    controller_max_length: int = 512
    generalist_batch: int = 16
    row_tokens: int = 4096
    dtype: str = "bfloat16"
    device: str = "cuda"

    def __post_init__(self) -> None:
        # JSON round trips give plain tuples: rebuild the formats
        object.__setattr__(self, "tasks", tuple(TaskFormat(n, i, t, tuple(y)) for n, i, t, y in self.tasks))
        for name in ("K", "m", "pool_size", "train_limit", "test_limit", "stage1_epochs", "stage2_steps", "batch"):
            check_positive_int(name, getattr(self, name))
        for name in ("controller_max_length", "generalist_batch", "row_tokens"):
            check_positive_int(name, getattr(self, name))
        check_range("delta", self.delta, 0.0, 1.0, low_inclusive=False)
        check_non_negative("gamma", self.gamma)
        for name in ("grid_step", "stage1_lr", "stage2_lr"):
            check_positive(name, getattr(self, name))
        check_one_of("dtype", self.dtype, ("bfloat16", "float16", "float32"))
        for b in (*self.budgets, self.target_budget):
            check_range("budgets", b, 0.0, float(self.K))
        if self.pool_size < self.K:
            raise ValueError(f"pool_size must be >= K={self.K}, got {self.pool_size}")
        for name in ("train_tasks", "test_tasks"):
            if not getattr(self, name):
                raise ValueError(f"{name} must name at least one task")
            for task in getattr(self, name):
                check_one_of(name, task, [t.name for t in self.tasks])
        for t in self.tasks:
            if len(t.labels) < 2 or "{input}" not in t.template:
                raise ValueError(f"tasks: {t.name} needs >= 2 labels and an {{input}} template")


@dataclass
class TextItems:
    """Inputs of text tasks (an :class:`~paperzoo.dynaicl.experiment.InputSet`): each input's task format,
    demonstration pool, text, label and sampler key, and G's tokenizer for the token cost."""

    formats: list[TaskFormat]
    pools: list[list[tuple[str, str]]]
    task_of: list[int]
    xs: list[str]
    ys: list[str]
    keys: list[str]
    encode: Callable[[str], list[int]]

    def __len__(self) -> int:
        return len(self.xs)

    def prompt(self, i: int, k: int, sampler: DemoSampler, draw: int) -> str:
        t = self.task_of[i]
        return self.formats[t].prompt(sampler.demos(self.pools[t], self.keys[i], k, draw), self.xs[i])

    def truth(self) -> list[str]:
        return list(self.ys)

    def count_tokens(self, prompt: str) -> int:
        return len(self.encode(prompt))

    def subset(self, rows: Sequence[int]) -> TextItems:
        pick = [[v[r] for r in rows] for v in (self.task_of, self.xs, self.ys, self.keys)]
        return TextItems(self.formats, self.pools, *pick, self.encode)

    def controller_texts(self) -> list[str]:
        """The controller's view: the task's instruction and the input (never G's answer)."""
        return [f"{self.formats[t].instruction}\n{x}" for t, x in zip(self.task_of, self.xs, strict=True)]


def load_split(data_dir: str | Path, task: TaskFormat, split: str) -> list[tuple[str, str]]:
    """``<data_dir>/<task>/<split>.jsonl`` as (input, label) pairs; ``ValueError`` for a missing file or a label
    outside the task's label words."""
    path = Path(data_dir).expanduser() / task.name / f"{split}.jsonl"
    if not path.is_file():
        raise ValueError(f"data_dir has no {task.name}/{split}.jsonl (looked for {path})")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    bad = [r["label"] for r in rows if r["label"] not in task.labels]
    if bad or not rows:
        raise ValueError(f"{path}: labels must be one of {task.labels} (got {bad[:3]}), and there must be rows")
    return [(str(r["input"]), str(r["label"])) for r in rows]


def hf_generalist(
    name_or_path: str, labels: Sequence[str], config: PaperConfig
) -> tuple[GeneralistLM, Callable[[str], list[int]]]:
    """An ``AutoModelForCausalLM`` as G (:class:`GeneralistLM` over its tokenizer, special tokens included) and
    the tokenizer's encode. A label is scored by its first token after a space; ``ValueError`` when two labels
    share it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(name_or_path)
    model = AutoModelForCausalLM.from_pretrained(
        name_or_path, dtype=getattr(torch, config.dtype), attn_implementation="sdpa"
    )  # the tree mask of the prefix-shared batching is a 4D mask: sdpa (or eager) attention
    first = {y: tok(f" {y}", add_special_tokens=False).input_ids[0] for y in labels}
    if len(set(first.values())) != len(first):
        raise ValueError(f"labels must start with distinct tokens for {name_or_path}, got {first}")

    def encode(prompt: str) -> list[int]:
        return tok(prompt).input_ids

    g = GeneralistLM(model.to(config.device), encode, first, config.generalist_batch, row_tokens=config.row_tokens)
    return g, encode


def _items(
    config: PaperConfig, names: Sequence[str], split: str, seed: int, encode: Callable[[str], list[int]]
) -> TextItems:
    """The inputs of tasks ``names``: the controller's training inputs (``split="train"``: after each task's
    demonstration pool in its shuffled train split) or the test inputs (``"test"``), with the pools."""
    items = TextItems([], [], [], [], [], [], encode)
    for t, name in enumerate(names):
        task = next(f for f in config.tasks if f.name == name)
        train = load_split(config.data_dir, task, "train")
        random.Random(derive(seed, "paper-split", name)).shuffle(train)
        items.formats.append(task)
        items.pools.append(train[: config.pool_size])
        if split == "test":
            rows = load_split(config.data_dir, task, "test")[: config.test_limit]
        else:
            rows = train[config.pool_size :][: config.train_limit]
        for i, (x, y) in enumerate(rows):
            items.task_of.append(t)
            items.xs.append(x)
            items.ys.append(y)
            items.keys.append(f"{split}/{name}/{i}")
        if not rows:
            raise ValueError(f"{name}: no {split} inputs left after the demonstration pool (pool_size)")
    return items


def run_paper(config: PaperConfig, seed: int) -> Result:
    """One seed of DynaICL at the paper's setting (module docstring): :func:`run_dynaicl` with the pretrained
    controller and G; uniform vs DynaICL on G2 when ``transfer_generalist`` is set."""
    from transformers import AutoTokenizer

    configure(deterministic=False, quiet=HF_LIBRARIES)
    labels = sorted({y for t in config.tasks for y in t.labels})
    g1, encode = hf_generalist(config.generalist, labels, config)
    train = _items(config, config.train_tasks, "train", seed, encode)
    test = _items(config, config.test_tasks, "test", seed, encode)
    torch.manual_seed(derive(seed, "controller"))
    controller = MetaController.from_pretrained(config.controller, config.K).to(config.device)
    c_tok = AutoTokenizer.from_pretrained(config.controller)

    def ids(items: TextItems) -> torch.Tensor:
        texts = items.controller_texts()
        return c_tok(texts, padding=True, truncation=True, max_length=config.controller_max_length).input_ids

    train_ids, test_ids = torch.tensor(ids(train)), torch.tensor(ids(test))
    transfer = {}
    if config.transfer_generalist is not None:
        g2, encode2 = hf_generalist(config.transfer_generalist, labels, config)
        transfer["g2"] = (g2, dataclasses.replace(test, encode=encode2), test_ids)
    return run_dynaicl(config, seed, g1, controller, (train, train_ids), (test, test_ids), transfer)
