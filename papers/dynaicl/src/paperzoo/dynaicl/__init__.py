"""DynaICL: "Efficient Prompting via Dynamic In-Context Learning" (Zhou, Jiang, Cotterell, Sachan; arXiv 2305.11170).

A meta controller predicts, per input, how many in-context demonstrations a black-box generalist needs; the
predictions are scaled to an average budget of demonstrations per input. Public API:

- :class:`GeneralistLM` (``predict(prompts) -> labels``, the black-box contract) and :func:`meta_trained_generalist`;
- :class:`DemoSampler` (demonstrations fixed per (input, k, draw)), :func:`label_k_star`;
- :class:`MetaController` (:class:`ControllerConfig`), :func:`train_stage1`, :func:`train_stage2`;
- :func:`allocate` (budget-constrained allocation), :func:`min_budget` (performance-constrained setting).
"""

from paperzoo.dynaicl.allocation import allocate, min_budget
from paperzoo.dynaicl.controller import (
    ControllerConfig,
    DemoSampler,
    MetaController,
    label_k_star,
    train_stage1,
    train_stage2,
)
from paperzoo.dynaicl.generalist import GeneralistConfig, GeneralistLM, meta_trained_generalist

__all__ = [
    "ControllerConfig",
    "DemoSampler",
    "GeneralistConfig",
    "GeneralistLM",
    "MetaController",
    "allocate",
    "label_k_star",
    "meta_trained_generalist",
    "min_budget",
    "train_stage1",
    "train_stage2",
]
