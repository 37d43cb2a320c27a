"""The models whose inference is accelerated: random-init decoders (Hugging Face GPT-2 and Llama, with HF's real KV
cache) and the MLP and CNN of :mod:`paperzoo.shared.testbeds.classify`. No weights are downloaded: every model is
built from its :class:`ModelSpec` and a seed, so a measurement can rebuild exactly the model it timed.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import torch
from torch import nn

from paperzoo.shared.testbeds.classify import MLP, SmallCNN
from paperzoo.shared.validate import check_one_of, check_positive_int

FAMILIES = ("gpt2", "llama", "mlp", "cnn")
DECODERS = ("gpt2", "llama")
N_CLASSES = 10


@dataclass(frozen=True)
class ModelSpec:
    """One model: ``family`` (gpt2, llama, mlp, cnn), depth ``n_layer`` (decoders), width ``d_model`` (the decoders'
    hidden size, the MLP's hidden width, the CNN's first conv width), ``vocab`` (decoders) and ``input_size`` (the MLP's
    input features, the CNN's image side)."""

    family: str
    d_model: int
    n_layer: int = 2
    vocab: int = 512
    input_size: int = 64
    hub_id: str = ""  # the paper scale: a Hugging Face decoder (hub name or local folder) instead of a random config

    def __post_init__(self) -> None:
        check_one_of("family", self.family, FAMILIES)
        for name in ("d_model", "n_layer", "vocab", "input_size"):
            check_positive_int(name, getattr(self, name))
        if self.hub_id and self.family not in DECODERS:
            raise ValueError(f"hub_id needs a decoder family {DECODERS}, got {self.family!r}")
        if self.family in DECODERS and self.d_model % 16:
            raise ValueError(f"d_model must be a multiple of 16 for a decoder (4 heads of 4k), got {self.d_model}")
        if self.family == "cnn" and self.input_size % 4:
            raise ValueError(f"input_size must be a multiple of 4 for the CNN (two 2x2 pools), got {self.input_size}")

    @property
    def is_decoder(self) -> bool:
        return self.family in DECODERS

    @property
    def name(self) -> str:
        """A short unique name (the model's group id in grouped cross-validation)."""
        if self.hub_id:
            return self.hub_id.rstrip("/").rsplit("/", 1)[-1]
        if self.is_decoder:
            return f"{self.family}-L{self.n_layer}-d{self.d_model}-v{self.vocab}"
        return f"{self.family}-d{self.d_model}-in{self.input_size}"


def build_model(spec: ModelSpec, seed: int, device: str | torch.device = "cpu") -> nn.Module:
    """The model of ``spec`` with weights drawn from ``seed``, in eval mode (``device="meta"``: shapes only, free).

    A spec with ``hub_id`` loads that pretrained decoder instead (the paper scale; ``seed`` unused)."""
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    if spec.hub_id:
        if str(device) == "meta":
            with torch.device("meta"):
                return AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(spec.hub_id)).eval()
        return AutoModelForCausalLM.from_pretrained(spec.hub_id).to(device).eval()
    with torch.device(device):
        torch.manual_seed(seed)
        if spec.family == "gpt2":
            config = GPT2Config(
                n_layer=spec.n_layer, n_embd=spec.d_model, n_head=4, vocab_size=spec.vocab, n_positions=256
            )
            config.bos_token_id = config.eos_token_id = 0
            model: nn.Module = GPT2LMHeadModel(config)
        elif spec.family == "llama":
            config = LlamaConfig(
                hidden_size=spec.d_model,
                intermediate_size=2 * spec.d_model,
                num_hidden_layers=spec.n_layer,
                num_attention_heads=4,
                num_key_value_heads=2,
                vocab_size=spec.vocab,
                max_position_embeddings=256,
                bos_token_id=0,
                eos_token_id=0,
            )
            model = LlamaForCausalLM(config)
        elif spec.family == "mlp":
            model = MLP(n_inputs=spec.input_size, hidden=spec.d_model, n_classes=N_CLASSES)
        else:
            model = SmallCNN(n_classes=N_CLASSES, width=spec.d_model, image_size=spec.input_size)
    return model.eval()


@functools.lru_cache(maxsize=1024)
def profile(spec: ModelSpec) -> dict[str, float]:
    """Parameter counts of ``spec`` from a shapes-only build (memoised per spec): total, in ``nn.Linear`` (and
    GPT-2's ``Conv1D``, the same matmul), and in embeddings. Do not mutate the returned dict."""
    model = build_model(spec, 0, device="meta")
    total = sum(p.numel() for p in model.parameters())
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D")
    embedding = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Embedding))
    return {"params": float(total), "linear_params": float(linear), "embedding_params": float(embedding)}
