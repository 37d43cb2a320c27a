"""The matched LoRA ranks and the fine-tuning config (the task and base model are tested in shared/tests)."""

import pytest

from paperzoo.bone.train import FinetuneConfig, attach_method, lora_ranks


def test_lora_matches_bone_parameters(tiny_llama):
    """LoRA rank round(r d_out / (d_in + d_out)) per layer: within 10% of Bone's parameters (here r = 8)."""
    bone_model, _ = attach_method(tiny_llama(), "bat", 8)
    _, lora_trained = attach_method(tiny_llama(), "lora", 8)
    square, wide, narrow = 4, round(8 * 32 / 48), round(8 * 16 / 48)  # d = 16, d_ff = 32
    assert lora_ranks(tiny_llama(), 8) == {"q_proj": square, "k_proj": square, "v_proj": square, "o_proj": square,
                                           "gate_proj": wide, "up_proj": wide, "down_proj": narrow}  # fmt: skip
    from paperzoo.bone import trainable_parameter_count

    n_bone, n_lora = trainable_parameter_count(bone_model), trainable_parameter_count(lora_trained)
    assert abs(n_lora - n_bone) <= 0.1 * n_bone


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: FinetuneConfig(r=0), "r"),
        (lambda: FinetuneConfig(target_loss=-1.0), "target_loss"),
    ],
)
def test_bad_configs_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()
