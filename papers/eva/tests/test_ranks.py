"""Rank redistribution (hand-computed counts), the representative swap, the token mask and the collector."""

import pytest
import torch
from torch import nn

from paperzoo.eva import ActivationCollector, allocate_ranks, favour_representatives, group_equal_inputs, token_mask


def test_allocate_ranks_hand_computed():
    ratios = {
        "a": torch.tensor([0.50, 0.20, 0.10, 0.05]),
        "b": torch.tensor([0.30, 0.25, 0.01, 0.00]),
        "c": torch.tensor([0.90, 0.04, 0.03, 0.02]),
    }
    # budget 6 over the pooled top-4 of each: 0.90c 0.50a 0.30b 0.25b 0.20a 0.10a -> a 3, b 2, c 1
    assert allocate_ranks(ratios, 6, 4) == {"a": 3, "b": 2, "c": 1}
    # only the first k_l entries compete: with k_a = 1, a's 0.20 and 0.10 drop out and c's small ones move up:
    # 0.90c 0.50a 0.30b 0.25b 0.04c 0.03c -> a 1, b 2, c 3
    assert allocate_ranks(ratios, 6, {"a": 1, "b": 4, "c": 4}) == {"a": 1, "b": 2, "c": 3}
    # a layer can get 0, another all of its k_l
    assert allocate_ranks(ratios, 2, 4) == {"a": 1, "b": 0, "c": 1}


def test_allocate_ranks_rho_one_is_uniform_and_the_budget_is_conserved():
    g = torch.Generator().manual_seed(0)
    ratios = {f"l{i}": torch.rand(8, generator=g).sort(descending=True).values for i in range(5)}
    assert allocate_ranks(ratios, 5 * 8, 8) == {f"l{i}": 8 for i in range(5)}  # k_l = r: every entry is taken
    for budget in (0, 7, 23, 40):
        assert sum(allocate_ranks(ratios, budget, 8).values()) == budget


def test_allocate_ranks_ties_go_to_the_earlier_layer():
    ratios = {"x": torch.tensor([0.5, 0.1]), "y": torch.tensor([0.5, 0.1])}
    assert allocate_ranks(ratios, 3, 2) == {"x": 2, "y": 1}


@pytest.mark.parametrize(
    ("budget", "k", "match"), [(-1, 2, "budget"), (5, 2, "budget"), (1, {"x": -1, "y": 1}, "max_components")]
)
def test_allocate_ranks_bad_arguments(budget, k, match):
    with pytest.raises(ValueError, match=match):
        allocate_ranks({"x": torch.ones(2), "y": torch.ones(2)}, budget, k)


def test_representatives_get_the_largest_rank_of_their_group_by_swaps():
    groups = {"k": "q", "v": "q", "up": "gate"}
    out = favour_representatives({"q": 2, "k": 5, "v": 7, "gate": 4, "up": 1, "o": 3}, groups)
    assert out == {"q": 7, "k": 2, "v": 5, "gate": 4, "up": 1, "o": 3}  # the sequential swaps of peft
    assert sum(out.values()) == 2 + 5 + 7 + 4 + 1 + 3


def test_token_mask_combines_attention_and_labels():
    batch = {
        "input_ids": torch.tensor([[1, 5, 6, 7, 0], [1, 5, 6, 0, 0]]),
        "attention_mask": torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]]),
        "labels": torch.tensor([[-100, -100, 6, 7, -100], [-100, 5, 6, -100, -100]]),
    }
    assert token_mask(batch).tolist() == [[False, False, True, True, False], [False, True, True, False, False]]
    assert token_mask(batch, use_label_mask=False).tolist() == batch["attention_mask"].bool().tolist()
    assert token_mask({"input_ids": batch["input_ids"]}).all()
    with pytest.raises(ValueError, match="input_ids"):
        token_mask({"labels": batch["labels"]})


def test_collector_passes_exactly_the_masked_inputs():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    x = torch.randn(2, 5, 4)
    mask = torch.tensor([[1, 0, 1, 1, 0], [0, 0, 1, 0, 1]], dtype=torch.bool)
    with ActivationCollector(model, ["0", "1"]) as col:
        col.set_mask(mask)
        model(x)
    torch.testing.assert_close(col.collected["0"], x[mask])
    assert col.collected["0"].shape == (5, 4) and col.collected["1"].shape == (5, 3)
    assert not any(m._forward_hooks for m in model.modules())  # every hook removed on exit


def test_collector_attach_detach_and_bad_mask():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    seen = []
    col = ActivationCollector(model, ["0", "1"], sink=lambda name, x: seen.append(name))
    col.attach(["1"])
    model(torch.randn(3, 4))
    col.attach()
    col.detach(["1"])
    model(torch.randn(3, 4))
    assert seen == ["1", "0"] and col.attached == {"0"}
    col.set_mask(torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask"):
        model(torch.randn(3, 5, 4))
    col.close()
    with pytest.raises(ValueError, match="layer_names"):
        ActivationCollector(model, [])


def test_group_equal_inputs():
    a, b = torch.randn(5, 3), torch.randn(5, 3)
    groups = group_equal_inputs({"q": a, "k": a.clone(), "o": b, "v": a.clone(), "up": b.clone(), "x": -a})
    assert groups == {"k": "q", "v": "q", "up": "o"}
