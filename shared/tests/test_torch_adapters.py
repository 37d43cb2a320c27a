"""paperzoo.shared.torch.adapters: peft's target rule and the in-place module swap."""

import pytest
import torch
from torch import nn

from paperzoo.shared.torch.adapters import swap_modules, target_matches


def test_target_matches_is_peft_rule():
    assert target_matches(("fc2",), "vit.layer.0.fc2")
    assert target_matches(["fc2"], "fc2")
    assert not target_matches(("fc2",), "vit.layer.0.xfc2")  # suffix only after a dot
    assert target_matches(r".*\.dense", "a.b.dense")
    assert not target_matches(r"dense", "a.dense")  # a regex must match the whole name


def test_swap_modules_replaces_freezes_and_names_errors():
    model = nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.Linear(3, 2)))
    swap_modules(model, [("1.0", model[1][0])], lambda name, m: nn.Sequential(m, nn.Identity()))
    assert isinstance(model[1][0], nn.Sequential) and not any(p.requires_grad for p in model.parameters())
    x = torch.randn(4, 3)
    assert model(x).shape == (4, 2)

    def bad(name, m):
        raise ValueError("rank must be >= 1")

    with pytest.raises(ValueError, match=r"^0: rank must be >= 1"):
        swap_modules(model, [("0", model[0])], bad)
