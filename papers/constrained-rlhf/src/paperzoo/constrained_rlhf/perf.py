"""Speed figure of constrained-rlhf: rollout tokens/s of the KV-cache sampler the PPO learner uses
(:func:`paperzoo.shared.torch.lm.sample`) against Hugging Face ``generate(do_sample=True)``, same model, same
left-padded prompts, same process."""

from __future__ import annotations

import time

import torch

from paperzoo.constrained_rlhf.dialogue import ModelConfig, WordTokenizer, build_gpt2, make_dialogues
from paperzoo.shared.torch.lm import left_pad, sample


def perf(device: str, batch: int = 64, new_tokens: int = 12, repeats: int = 5) -> dict[str, float]:
    """Median tokens/s of each sampler over ``repeats`` batches of ``batch`` prompts (min_new_tokens = max, no
    early stop, so both produce batch x new_tokens tokens), and their ratio ``rollout/speedup_vs_generate``."""
    tok = WordTokenizer()
    torch.manual_seed(0)
    lm = build_gpt2(ModelConfig(), tok).to(device).eval()
    ids, mask = left_pad([tok.encode(d.prompt, bos=True) for d in make_dialogues(batch, 0)], tok.pad_id)
    ids, mask = ids.to(device), mask.to(device)
    never = tok.vocab_size + 1  # an eos id no token has: every row runs the full length in both samplers

    def ours() -> None:
        sample(lm, ids, mask, new_tokens, never, tok.pad_id, 1.0, torch.Generator(device).manual_seed(0))

    def hf() -> None:
        with torch.no_grad():
            lm.generate(input_ids=ids, attention_mask=mask, do_sample=True, top_k=0, max_new_tokens=new_tokens,
                        min_new_tokens=new_tokens, pad_token_id=tok.pad_id, eos_token_id=never)  # fmt: skip

    rates = {}
    for name, fn in (("ours", ours), ("hf_generate", hf)):
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        rates[name] = batch * new_tokens / sorted(times)[len(times) // 2]
    return {
        "rollout/tokens_per_s": rates["ours"],
        "rollout/hf_generate_tokens_per_s": rates["hf_generate"],
        "rollout/speedup_vs_generate": rates["ours"] / rates["hf_generate"],
    }
