"""The paper scale offline: the DailyDialog loader on files in the original format, the METEOR and intent rewards
against independent computations, top-k sampling, and every arm's first steps on a tiny random GPT-2 and RoBERTa
intent classifier saved to disk. Nothing is downloaded."""

import dataclasses
import random

import numpy as np
import pytest
import torch

from paperzoo.constrained_rlhf.bench import PAPER_THRESHOLDS, DailyDialogConfig, paper_config
from paperzoo.constrained_rlhf.dailydialog import (
    EOU,
    HFTokenizer,
    IntentReward,
    MeteorReward,
    NoSynonyms,
    Turn,
    classifier_input,
    dialogue_examples,
    load_dailydialog,
    read_dailydialog,
)
from paperzoo.constrained_rlhf.experiment import run_full
from paperzoo.constrained_rlhf.ppo import PPOConfig, TopK

CHARS = "abcdefghijklmnopqrstuvwxyzEOU<>?.,' "
PHRASES = ("hi there .", "how are you ?", "fine , thanks .", "let's go .", "sure .", "what time ?", "at noon .")


def write_split(root, split, dialogues):
    """``root/<split>/dialogues_<split>.txt`` and ``dialogues_act_<split>.txt`` as in ijcnlp_dailydialog.zip
    (each utterance, with its surrounding spaces, followed by ``__eou__``)."""
    (root / split).mkdir(parents=True, exist_ok=True)
    text = "".join("".join(f"{u}__eou__" for u in utts) + "\n" for utts, _ in dialogues)
    acts = "".join("".join(f"{a} " for a in acts) + "\n" for _, acts in dialogues)
    (root / split / f"dialogues_{split}.txt").write_text(text)
    (root / split / f"dialogues_act_{split}.txt").write_text(acts)


def write_data(root, n_dialogues=4, turns=6):
    rng = random.Random(0)
    for split in ("train", "validation", "test"):
        dialogues = [
            ([f" {rng.choice(PHRASES)} " for _ in range(turns)], [rng.randint(1, 4) for _ in range(turns)])
            for _ in range(n_dialogues)
        ]
        write_split(root, split, dialogues)


def char_tokenizer(pad: bool):
    """A character-level fast tokenizer (``</s>`` eos; a ``<pad>`` token only with ``pad``, as GPT-2 has none)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>", "<pad>", *CHARS])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    core.decoder = decoders.Fuse()
    extra = {"pad_token": "<pad>"} if pad else {}
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", eos_token="</s>", **extra), len(vocab)


def write_models(root):
    """A random 1-layer GPT-2 (the policy) and a random 1-layer RoBERTa 4-way sequence classifier (the intent
    model), each with its tokenizer, saved as hub-style folders; returns their paths."""
    from transformers import GPT2Config, GPT2LMHeadModel, RobertaConfig, RobertaForSequenceClassification

    torch.manual_seed(0)
    tok, vocab = char_tokenizer(pad=False)
    gpt = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=256, n_embd=32, n_layer=1, n_head=2,
                                     bos_token_id=1, eos_token_id=2))  # fmt: skip
    gpt.save_pretrained(root / "gpt2")
    tok.save_pretrained(root / "gpt2")
    tok, vocab = char_tokenizer(pad=True)
    clf = RobertaForSequenceClassification(RobertaConfig(
        vocab_size=vocab, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=300, pad_token_id=3, bos_token_id=1, eos_token_id=2, num_labels=4,
    ))  # fmt: skip
    clf.save_pretrained(root / "intent")
    tok.save_pretrained(root / "intent")
    return str(root / "gpt2"), str(root / "intent")


# ------------------------------------------------------------------------------------------ the loader
def test_loader_parses_the_original_format_as_rl4lms_does(tmp_path):
    utts = ["Hello , Tom . ", " Hi ! ", " How are you ? ", " Fine . "]
    write_split(tmp_path, "train", [(utts, [2, 1, 2, 1]), (["Bye . ", " Bye . "], [3, 4])])
    dialogues = read_dailydialog(tmp_path, "train")
    assert dialogues[0] == (utts, [2, 1, 2, 1])  # utterances unstripped, acts as in the file
    turns = load_dailydialog(str(tmp_path), "train", context_size=2)
    assert turns == [
        Turn(f"Hello , Tom . {EOU} Hi ! " + " " + EOU, " How are you ? " + EOU, 1),
        Turn(f" Hi ! {EOU} How are you ? " + " " + EOU, " Fine . " + EOU, 0),
    ]  # the short dialogue (2 turns) gives no example with a 2-turn context
    assert len(dialogue_examples(dialogues, context_size=1)) == 3 + 1
    with pytest.raises(ValueError, match="act"):
        dialogue_examples([(["a", "b"], [1, 5])], 1)
    with pytest.raises(ValueError, match="split"):
        read_dailydialog(tmp_path, "dev")
    with pytest.raises(ValueError, match="validation"):
        read_dailydialog(tmp_path, "validation")


# ------------------------------------------------------------------------------------------ rewards
class _Lemma:
    def __init__(self, name):
        self._name = name

    def name(self):
        return self._name


class _Synset:
    def __init__(self, *names):
        self._lemmas = [_Lemma(n) for n in names]

    def lemmas(self):
        return self._lemmas


class TinyWordNet:
    """An offline WordNet stand-in: "puss" is a synonym of "cat" (METEOR looks synonyms up by Porter stem)."""

    def synsets(self, word):
        return [_Synset("puss", "cat")] if word == "puss" else []


def test_meteor_reward_equals_nltk_and_the_hand_formula():
    from nltk.translate.meteor_score import meteor_score

    ref = "the cat sat on a mat"
    replies = ["the cat sat", "the puss sat", "mat a on sat cat the", "dogs"]
    reward = MeteorReward(wordnet=TinyWordNet(), tokenize=str.split)
    got = reward(replies, [ref] * len(replies))
    direct = [meteor_score([ref.split()], r.split(), wordnet=TinyWordNet(), alpha=0.9, beta=3, gamma=0.5)
              for r in replies]  # fmt: skip
    torch.testing.assert_close(got, torch.tensor(direct, dtype=torch.float32))
    # P = 1, R = 3/6, one chunk of 3 matches: F_mean = PR / (0.9 P + 0.1 R), penalty 0.5 (1/3)^3
    p, r = 1.0, 0.5
    assert float(got[0]) == pytest.approx(p * r / (0.9 * p + 0.1 * r) * (1 - 0.5 * (1 / 3) ** 3), rel=1e-6)
    assert float(got[1]) == pytest.approx(float(got[0]), rel=1e-6)  # the synonym matches through WordNet
    assert float(got[2]) < 1.0 and float(got[3]) == 0.0  # scrambled: fragmentation penalty; nothing matches
    no_syn = MeteorReward(wordnet=NoSynonyms(), tokenize=str.split)(replies[1:2], [ref])
    assert float(no_syn[0]) < float(got[1])


def test_intent_reward_equals_a_manual_forward(tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    _, intent_dir = write_models(tmp_path)
    prompts = [f"hi there .{EOU}how are you ? {EOU}", f"sure .{EOU}what time ? {EOU}", f"at noon . {EOU}"] * 2
    replies = ["fine , thanks .", "at noon .", "let's go .", "hi", "sure .", "what ?"]
    assert classifier_input(prompts[0], replies[0]) == "how are you ? fine , thanks ."
    tok = AutoTokenizer.from_pretrained(intent_dir)
    model = AutoModelForSequenceClassification.from_pretrained(intent_dir).eval()
    texts = [p.split(EOU)[-2] + r for p, r in zip(prompts, replies, strict=True)]
    with torch.no_grad():
        enc = tok(texts, return_tensors="pt", truncation=True, padding=True)
        pred = model(**enc).logits.argmax(-1)
    intents = [int(pred[0]), (int(pred[1]) + 1) % 4, int(pred[2]), (int(pred[3]) + 2) % 4, int(pred[4]), 0]
    got = IntentReward(intent_dir, batch_size=4)(prompts, replies, intents)  # two batches, padded separately
    expected = (pred == torch.tensor(intents)).float()
    torch.testing.assert_close(got, expected)
    assert got[:4].tolist() == [1.0, 0.0, 1.0, 0.0]


def test_hf_tokenizer_truncates_prompts_left_and_decodes_up_to_eos():
    tok, _ = char_tokenizer(pad=False)
    wrapped = HFTokenizer(tok, max_prompt_length=4)
    assert wrapped.pad_id == wrapped.eos_id == tok.eos_token_id  # GPT-2 style: no pad token, pad with <eos>
    ids = tok.encode("hi there", add_special_tokens=False)
    assert wrapped.prompt_ids("hi there") == ids[-4:]
    assert wrapped.decode([*ids[:2], wrapped.eos_id, *ids[2:]]) == "hi"
    assert wrapped.decode(ids) == "hi there"


def test_top_k_view_matches_the_generate_warper():
    from transformers.generation.logits_process import TopKLogitsWarper

    class Fixed(torch.nn.Module):
        def __init__(self, logits):
            super().__init__()
            self.logits = logits

        def forward(self, **kwargs):
            from transformers.modeling_outputs import CausalLMOutput

            return CausalLMOutput(logits=self.logits.clone())

    logits = torch.randn(3, 4, 50, generator=torch.Generator().manual_seed(0))
    out = TopK(Fixed(logits), 5)(input_ids=None).logits
    expected = TopKLogitsWarper(5)(None, logits[:, -1].clone())
    torch.testing.assert_close(out[:, -1], expected)
    assert int(torch.isfinite(out[:, -1]).sum(-1).max()) == 5
    with pytest.raises(ValueError, match="top_k"):
        PPOConfig(top_k=-1)


# ------------------------------------------------------------------------------------------ end to end
def test_paper_scale_first_steps_on_a_tiny_stand_in(tmp_path):
    write_data(tmp_path / "data")
    gpt_dir, intent_dir = write_models(tmp_path)
    dialog = DailyDialogConfig(data=str(tmp_path / "data"), policy_model=gpt_dir, intent_model=intent_dir,
                               context_size=2, nltk_data="none")  # fmt: skip
    config = dataclasses.replace(
        paper_config(),
        dialog=dialog,
        ppo=dataclasses.replace(
            paper_config().ppo, batch_episodes=4, minibatch_episodes=4, epochs=1, lr=1e-3, max_new_tokens=6
        ),
        iterations=2,
        eval_every=1,
        eval_dialogues=4,
        cache_dir=None,
        device="cpu",
    )
    result = run_full(config, 0)
    m = result.metrics
    assert (m["theta/meteor"], m["theta/intent"]) == PAPER_THRESHOLDS  # step 2 at the official thresholds
    assert {"proxy/meteor", "proxy/intent"} <= set(m)
    for arm in ("fixed_best", "sat", "mu_kl", "mu_all", "nm"):
        assert np.isfinite(m[f"{arm}/final_E"])
        assert 0.0 <= m[f"{arm}/V_intent"] <= 1.0 and 0.0 <= m[f"{arm}/V_meteor"] <= 1.0
    assert len(result.series["mu_kl/E"]) == 3
    assert result.series["mu_kl/lambda_meteor"][-1] != 0.0  # the multipliers stepped on the real rewards


def test_paper_config_bad_input_raises():
    from paperzoo.constrained_rlhf.bench import FullConfig

    with pytest.raises(ValueError, match="nltk_data"):
        DailyDialogConfig(nltk_data="bogus")
    with pytest.raises(ValueError, match="context_size"):
        DailyDialogConfig(context_size=0)
    with pytest.raises(ValueError, match="thresholds"):
        FullConfig(thresholds=(0.44,))
    assert paper_config().thresholds == (0.238, 0.44) and paper_config().ppo.top_k == 20
