"""paperzoo.shared.lr_grid: each arm's learning rate chosen by mean validation accuracy over seeds."""

import pytest

from paperzoo.shared.lr_grid import grid_key, select_learning_rates


def runs(arm: str, val: dict[float, float], test: dict[float, float], loss: dict[float, float] | None = None) -> dict:
    """One seed's grid runs of one arm: validation accuracy, validation loss, test accuracy, a train loss."""
    out = {}
    for lr, v in val.items():
        out |= {
            f"{grid_key(arm, lr)}/val_accuracy": v,
            f"{grid_key(arm, lr)}/val_loss": (loss or {}).get(lr, 0.1),
            f"{grid_key(arm, lr)}/test_accuracy": test[lr],
            f"{grid_key(arm, lr)}/train_loss": 10 * lr,
        }
    return out


def test_grid_key():
    assert grid_key("adam", 0.001) == "adam@0.001" and grid_key("vit_adan_half", 5e-3) == "vit_adan_half@0.005"


def test_each_arm_gets_the_lr_with_the_best_mean_validation_accuracy_over_seeds():
    # Seed 0 alone prefers 0.3, but the mean over seeds prefers 0.1; the second arm is chosen on its own.
    seeds = [
        runs("sgd", {0.01: 0.5, 0.1: 0.80, 0.3: 0.90}, {0.01: 0.4, 0.1: 0.7, 0.3: 0.9})
        | runs("adam", {0.001: 0.9, 0.002: 0.5}, {0.001: 0.8, 0.002: 0.5}),
        runs("sgd", {0.01: 0.5, 0.1: 0.90, 0.3: 0.60}, {0.01: 0.4, 0.1: 0.8, 0.3: 0.5})
        | runs("adam", {0.001: 0.9, 0.002: 0.5}, {0.001: 0.7, 0.002: 0.5}),
    ]
    out = select_learning_rates(seeds, ("test_accuracy", "train_loss"))
    assert [m["sgd/lr"] for m in out] == [0.1, 0.1]
    assert [m["sgd/test_accuracy"] for m in out] == [0.7, 0.8]  # each seed's own run at the chosen lr
    assert out[0]["sgd/train_loss"] == pytest.approx(1.0)
    assert out[0]["sgd/lr_at_edge"] == 0.0
    assert [m["adam/test_accuracy"] for m in out] == [0.8, 0.7]
    assert "sgd/val_accuracy" not in out[0]  # only the metrics asked for are copied
    assert "sgd/lr" not in seeds[0]  # the input is left alone


@pytest.mark.parametrize(
    ("val", "lr", "at_edge"),
    [
        ({0.01: 0.9, 0.1: 0.5, 0.3: 0.4}, 0.01, 1.0),
        ({0.01: 0.4, 0.1: 0.5, 0.3: 0.9}, 0.3, 1.0),
        ({0.01: 0.4, 0.1: 0.9, 0.3: 0.5}, 0.1, 0.0),
        ({0.1: 0.9}, 0.1, 1.0),  # a one-point grid cannot show that the best lr lies inside it
    ],
)
def test_lr_at_the_edge_of_its_grid_is_flagged(val, lr, at_edge):
    chosen = select_learning_rates([runs("sgd", val, val)], ("test_accuracy",))[0]
    assert chosen["sgd/lr"] == lr and chosen["sgd/lr_at_edge"] == at_edge


def test_accuracy_ties_go_to_the_lower_validation_loss_then_the_smaller_lr():
    val, test = {0.01: 0.5, 0.1: 0.9, 0.3: 0.9 + 1e-12}, {0.01: 0, 0.1: 0, 0.3: 0}
    tie = select_learning_rates([runs("sgd", val, test, loss={0.1: 0.2, 0.3: 0.1})], ())[0]
    assert tie["sgd/lr"] == 0.3
    tie = select_learning_rates([runs("sgd", val, test)], ())[0]
    assert tie["sgd/lr"] == 0.1
    clear = select_learning_rates([runs("sgd", {0.1: 0.9, 0.3: 0.9 + 1e-6}, test, loss={0.1: 0.05})], ())[0]
    assert clear["sgd/lr"] == 0.3  # beyond the tolerance accuracy decides


def test_chosen_lr_curves_pick_each_arms_chosen_run():
    from paperzoo.shared.lr_grid import chosen_lr_curves

    records = [
        {"series": {"a@0.1/loss": [3.0, 2.0], "a@1/loss": [9.0, 9.0], "b@0.01/loss": [1.0, 0.5]}},
        {"series": {"a@0.1/loss": [4.0, 1.0], "a@1/loss": [8.0, 8.0], "b@0.01/loss": [2.0, 0.1]}},
    ]
    curves = chosen_lr_curves(records, {"a/lr": 0.1, "b/lr": 0.01}, ["a", "b"], "loss")
    assert curves == {"a (lr 0.1)": [[3.0, 2.0], [4.0, 1.0]], "b (lr 0.01)": [[1.0, 0.5], [2.0, 0.1]]}


def test_accuracies_within_the_tie_tolerance_go_to_the_lower_validation_loss():
    # 0.3 leads 0.1 by half a validation example (n_val = 100): tied; 0.1 has the lower validation loss.
    seed = runs("sgd", {0.1: 0.900, 0.3: 0.905}, {0.1: 0.8, 0.3: 0.9}, loss={0.1: 0.2, 0.3: 0.3})
    assert select_learning_rates([seed], ())[0]["sgd/lr"] == 0.3  # the default: exact ties only
    assert select_learning_rates([seed], (), tie_tolerance=1 / 100)[0]["sgd/lr"] == 0.1
    assert select_learning_rates([seed], (), tie_tolerance=lambda arm: 1 / 1000)[0]["sgd/lr"] == 0.3  # per arm
    # A lead of more than one example is not a tie.
    wide = runs("sgd", {0.1: 0.90, 0.3: 0.92}, {0.1: 0.8, 0.3: 0.9}, loss={0.1: 0.2, 0.3: 0.3})
    assert select_learning_rates([wide], (), tie_tolerance=1 / 100)[0]["sgd/lr"] == 0.3
    with pytest.raises(ValueError, match="tie_tolerance must be >= 0"):
        select_learning_rates([seed], (), tie_tolerance=-0.1)
