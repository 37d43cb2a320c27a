"""Testbeds: reusable experiments that two or more papers share, each with a card in its docstring.

A testbed is a task, a model and metrics that several papers compare their methods on; it knows no
paper. Each module's docstring opens with its card (``Task:``, ``Model:``, ``Metrics:``, ``Used by:``),
which the conformance tests hold to the papers that actually import it. A testbed imports its framework
(the papers of that framework alone import it).

- :mod:`~paperzoo.shared.testbeds.classify`: image classification for optimizer comparisons (torch).
- :mod:`~paperzoo.shared.testbeds.arithmetic_lm`: fine-tuning a tiny causal LM on generated arithmetic (torch).
"""
