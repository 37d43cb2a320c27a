"""The inference-acceleration methods: each ``Method.apply(model) -> runnable`` and a fidelity gate on any model.

A runnable serves a task's requests, ``runnable(inputs, gen_len) -> Output``: greedy continuation of every prompt
by ``gen_len`` tokens for a decoder (``gen_len`` ignored by a classifier), with the first step's logits. The
un-accelerated baseline (``eager``) serves the requests one at a time, recomputes the whole prefix for every new
token and runs fp32 under ``torch.no_grad``. A method switches on components [ours, the brief's A0-A9 that run on
this CPU]:

- ``inference_mode``: ``torch.inference_mode`` instead of ``no_grad`` (A1);
- ``int8``: dynamic int8 quantization of every ``nn.Linear`` (``torch.ao.quantization.quantize_dynamic``; A2);
- ``bf16``: bfloat16 autocast on the CPU (A3);
- ``jit``: TorchScript trace + freeze (A4; classifiers only: a decoder's growing sequence defeats a trace);
- ``batching``: the task's requests in one batch instead of one by one (A6; equal-length prompts, no padding);
- ``kv_cache``: Hugging Face's KV cache for decoding (A7; decoders only);
- combinations (A9): ``batch_kv`` and ``int8_batch_kv``.

A component that does not apply to a family (``jit`` on a decoder, ``kv_cache`` on a classifier) is skipped, so
the runnable is the same as without it; its measured speedup is then the same method's, noise included.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from paperzoo.shared.validate import check_positive

EXACT_ATOL = 1e-5  # exact methods: greedy tokens identical and first-step logits within this (x max(1, |ref|))
APPROX_TOL = 0.5  # int8 / bf16 [ours]: max |logit error| / std(reference logits) at the first step


@dataclass(frozen=True)
class Output:
    """What a runnable returns: greedy tokens (batch, gen_len) (a classifier: (batch, 1) argmax) and the first
    step's logits (batch, vocab or classes)."""

    tokens: torch.Tensor
    logits: torch.Tensor


Runnable = Callable[[torch.Tensor, int], Output]


@dataclass(frozen=True)
class Method:
    """An acceleration method: a set of components on top of the eager fp32 one-request-at-a-time baseline."""

    name: str
    inference_mode: bool = False
    int8: bool = False
    bf16: bool = False
    jit: bool = False
    batching: bool = False
    kv_cache: bool = False

    def __post_init__(self) -> None:
        if self.int8 and self.bf16:
            raise ValueError(f"method {self.name!r}: int8 and bf16 cannot be combined (the int8 kernels are fp32)")

    @property
    def exact(self) -> bool:
        """Whether the method must reproduce the baseline's tokens (no int8 or bf16 arithmetic)."""
        return not (self.int8 or self.bf16)

    def components(self) -> dict[str, float]:
        """The component flags, as numbers (the method's embedding for the selectors)."""
        names = ("inference_mode", "int8", "bf16", "jit", "batching", "kv_cache")
        return {n: float(getattr(self, n)) for n in names}

    def apply(self, model: nn.Module) -> Runnable:
        """The runnable serving requests with ``model`` under this method (``model`` itself is left unchanged)."""
        decoder = _is_decoder(model)
        if self.int8:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
        forward = _decode_forward(model, self.kv_cache) if decoder else _classify_forward(model, self.jit)
        grad_mode = torch.inference_mode if self.inference_mode else torch.no_grad
        bf16 = self.bf16

        def run(inputs: torch.Tensor, gen_len: int) -> Output:
            autocast = torch.autocast(inputs.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
            with grad_mode(), autocast:
                if self.batching:
                    return forward(inputs, gen_len)
                outs = [forward(inputs[i : i + 1], gen_len) for i in range(len(inputs))]
            return Output(torch.cat([o.tokens for o in outs]), torch.cat([o.logits for o in outs]))

        return run


METHODS: tuple[Method, ...] = (
    Method("eager"),
    Method("inference_mode", inference_mode=True),
    Method("int8", int8=True),
    Method("bf16", bf16=True),
    Method("torchscript", jit=True),
    Method("batching", batching=True),
    Method("kv_cache", kv_cache=True),
    Method("batch_kv", batching=True, kv_cache=True),
    Method("int8_batch_kv", int8=True, batching=True, kv_cache=True),
)
BY_NAME = {m.name: m for m in METHODS}
BASELINE = "eager"


def get_methods(names: tuple[str, ...] | list[str]) -> tuple[Method, ...]:
    """The registered methods of ``names`` (``ValueError`` naming ``methods`` for an unknown one)."""
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"methods: unknown method(s) {unknown}; known: {sorted(BY_NAME)}")
    if len(set(names)) != len(names):
        raise ValueError(f"methods must be distinct, got {list(names)}")
    return tuple(BY_NAME[n] for n in names)


def _is_decoder(model: nn.Module) -> bool:
    return hasattr(model, "config")  # the Hugging Face decoders; the classify testbed's models have no config


def _decode_forward(model: nn.Module, kv_cache: bool) -> Runnable:
    """Greedy decoding, with HF's KV cache (one new token per forward) or recomputing the prefix every step."""

    def forward(ids: torch.Tensor, gen_len: int) -> Output:
        tokens, first, cache, seq = [], None, None, ids
        step_input = ids
        for _ in range(gen_len):
            if kv_cache:
                out = model(input_ids=step_input, cache=cache, use_cache=True, logits_to_keep=1)
                cache = out.past_key_values
            else:
                out = model(input_ids=seq, use_cache=False, logits_to_keep=1)
            logits = out.logits[:, -1].float()
            first = logits if first is None else first
            step_input = logits.argmax(-1, keepdim=True)
            tokens.append(step_input)
            seq = torch.cat([seq, step_input], dim=1)
        return Output(torch.cat(tokens, dim=1), first)

    return forward


def _classify_forward(model: nn.Module, jit: bool) -> Runnable:
    """One forward pass of a classifier; with ``jit``, a frozen TorchScript trace per input shape."""
    traced: dict[tuple[int, ...], nn.Module] = {}

    def forward(x: torch.Tensor, gen_len: int) -> Output:
        net = model
        if jit:
            if x.shape not in traced:
                with warnings.catch_warnings(), torch.no_grad():
                    warnings.simplefilter("ignore")
                    traced[x.shape] = torch.jit.freeze(torch.jit.trace(model, x))
            net = traced[x.shape]
        logits = net(x).float()
        return Output(logits.argmax(-1, keepdim=True), logits)

    return forward


def gate(method: Method, out: Output, ref: Output, approx_tol: float = APPROX_TOL) -> dict[str, float]:
    """The fidelity gate of ``method``'s output ``out`` against the eager baseline's ``ref`` on the same requests.

    Exact methods pass when the greedy tokens are identical and the first-step logits agree within
    ``EXACT_ATOL * max(1, max|ref|)``; int8/bf16 methods when ``max|logits - ref| / std(ref) <= approx_tol``.
    Returns ``passed`` (1.0/0.0), ``tokens_equal`` (1.0/0.0) and ``logit_error`` (the relative error above).
    """
    check_positive("approx_tol", approx_tol)
    diff = (out.logits - ref.logits).abs().max().item()
    error = diff / ref.logits.std().item()
    tokens_equal = out.tokens.shape == ref.tokens.shape and bool(torch.equal(out.tokens, ref.tokens))
    if method.exact:
        passed = tokens_equal and diff <= EXACT_ATOL * max(1.0, ref.logits.abs().max().item())
    else:
        passed = error <= approx_tol
    return {"passed": float(passed), "tokens_equal": float(tokens_equal), "logit_error": error}


def fidelity(
    method: Method, model: nn.Module, inputs: torch.Tensor, gen_len: int, approx_tol: float = APPROX_TOL
) -> dict[str, float]:
    """:func:`gate` of ``method`` on any ``model`` and requests ``inputs`` (the eager baseline run alongside)."""
    ref = BY_NAME[BASELINE].apply(model)(inputs, gen_len)
    return gate(method, method.apply(model)(inputs, gen_len), ref, approx_tol)
