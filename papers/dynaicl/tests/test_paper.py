"""The paper scale end to end offline: a tiny random T5 controller and two tiny random Llama generalists with
word-level tokenizers saved to disk, two generated JSONL tasks, the whole pipeline on a few inputs."""

import dataclasses
import json
import math
import random

import pytest
import torch

from paperzoo.dynaicl.bench import BENCHMARK
from paperzoo.dynaicl.paper import PaperConfig, TaskFormat, hf_generalist, load_split

TASKS = (
    TaskFormat("polarity", "Is the review good or bad ?", "Review : {input} Label :", ("pos", "neg")),
    TaskFormat("parity", "Does the list hold an even number of words ?", "List : {input} Answer :", ("yes", "no")),
)
WORDS = ("good", "bad", "fine", "awful", "red", "blue", "green", "tall")


def _word_tokenizer(texts, bos):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    split = pre_tokenizers.Whitespace()
    words = sorted({w for t in texts for w, _ in split.pre_tokenize_str(t)})
    vocab = {t: i for i, t in enumerate(["<pad>", "</s>", "<unk>", "<s>", *words])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = split
    if bos:
        core.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 3)])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", bos_token="<s>"
    )
    return tok, len(vocab)


def write_stand_ins(root):
    """Data for the two tasks, a T5 controller and two Llama generalists (random weights, saved to disk)."""
    from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

    rng = random.Random(0)
    texts = [t.instruction + " " + t.template + " " + " ".join(t.labels) for t in TASKS] + list(WORDS)
    for task in TASKS:
        for split, n in (("train", 30), ("test", 8)):
            rows = []
            for _ in range(n):
                x = " ".join(rng.choices(WORDS, k=rng.randint(1, 4)))
                if task.name == "polarity":
                    y = "pos" if sum(w in ("good", "fine") for w in x.split()) >= 1 else "neg"
                else:
                    y = "yes" if len(x.split()) % 2 == 0 else "no"
                rows.append(json.dumps({"input": x, "label": y}))
            (root / "data" / task.name).mkdir(parents=True, exist_ok=True)
            (root / "data" / task.name / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
    tok, vocab = _word_tokenizer(texts, bos=False)
    torch.manual_seed(0)
    T5ForConditionalGeneration(
        T5Config(vocab_size=vocab, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=4, decoder_start_token_id=0)
    ).save_pretrained(root / "controller")
    tok.save_pretrained(root / "controller")
    tok, vocab = _word_tokenizer(texts, bos=True)
    for name in ("g1", "g2"):
        config = LlamaConfig(
            vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
            num_key_value_heads=2, pad_token_id=0, bos_token_id=3, eos_token_id=1,
        )  # fmt: skip
        LlamaForCausalLM(config).save_pretrained(root / name)
        tok.save_pretrained(root / name)


def _config(root, **kwargs):
    base = dict(
        controller=str(root / "controller"), generalist=str(root / "g1"), transfer_generalist=str(root / "g2"),
        data_dir=str(root / "data"), tasks=TASKS, train_tasks=("polarity", "parity"), test_tasks=("polarity",),
        K=4, m=2, pool_size=8, train_limit=10, test_limit=8, budgets=(1.0, 2.0), target_budget=2.0,
        stage1_epochs=2, stage1_lr=1e-3, stage2_steps=2, stage2_lr=1e-3, batch=4, controller_max_length=16,
        generalist_batch=4, row_tokens=64, dtype="float32", device="cpu",
    )  # fmt: skip
    return PaperConfig(**(base | kwargs))


def test_paper_scale_runs_end_to_end_on_tiny_stand_ins(tmp_path):
    write_stand_ins(tmp_path)
    config = _config(tmp_path)
    assert BENCHMARK.config_from_dict("paper", dataclasses.asdict(config)) == config
    assert BENCHMARK.config_from_dict("paper", dataclasses.asdict(config)).tasks[0].labels == ("pos", "neg")
    result = BENCHMARK.run["paper"](config, 0)
    m, s = result.metrics, result.series
    assert m["alloc/sum_error"] == 0 and m["alloc/constant_is_uniform"] == 1
    for arm in ("uniform", "random", "stage1", "dynaicl", "oracle"):
        for b in (1, 2):
            assert 0.0 <= m[f"{arm}/b{b}/accuracy"] <= 1.0
        assert m[f"{arm}/b1/tokens"] < m[f"{arm}/b2/tokens"]  # one more demonstration per input costs tokens
    assert 0.0 <= m["g2_dynaicl/mean_accuracy"] <= 1.0 and 0.0 <= m["g2_uniform/k0_accuracy"] <= 1.0
    assert 0 <= m["labels/mean_k_star"] <= 4 and math.isfinite(m["stage1/loss_last"])
    assert len(s["uniform_k/accuracy"]) == 5 and len(s["stage2/reward"]) == 2
    # the uniform allocation at B = 2 sends exactly the prompts of k = 2: the same accuracy and tokens
    assert s["uniform_k/accuracy"][2] == m["uniform/b2/accuracy"]
    assert BENCHMARK.run["paper"](config, 0).metrics == m  # same seed, same numbers


def test_paper_data_and_generalist_errors(tmp_path):
    write_stand_ins(tmp_path)
    config = _config(tmp_path)
    assert load_split(config.data_dir, TASKS[0], "test")[0][1] in ("pos", "neg")
    with pytest.raises(ValueError, match="data_dir"):
        load_split(config.data_dir, TaskFormat("missing", "i", "{input}", ("a", "b")), "train")
    with pytest.raises(ValueError, match="labels"):
        load_split(config.data_dir, TaskFormat("polarity", "i", "{input}", ("yes", "no")), "train")
    with pytest.raises(ValueError, match="labels"):  # both words are unknown to the tokenizer: one first token
        hf_generalist(config.generalist, ["unknown", "absent"], config)
    g, encode = hf_generalist(config.generalist, ["pos", "neg"], config)
    assert encode("Review : good")[0] == 3  # <bos> first
    assert set(g.predict(["Review : good Label :", "Review : bad Label :"])) <= {"pos", "neg"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"train_tasks": ("nope",)}, "train_tasks"),
        ({"test_tasks": ()}, "test_tasks"),
        ({"delta": 0.0}, "delta"),
        ({"budgets": (20.0,)}, "budgets"),
        ({"pool_size": 4, "K": 8}, "pool_size"),
        ({"dtype": "int8"}, "dtype"),
        ({"tasks": (TaskFormat("sst2", "i", "no input slot", ("a", "b")),), "train_tasks": ("sst2",),
          "test_tasks": ("sst2",)}, "tasks"),
    ],
)  # fmt: skip
def test_bad_paper_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PaperConfig(**kwargs)
