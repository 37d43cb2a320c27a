import pytest


def test_mu_early_and_late_are_the_first_and_last_thirds_after_the_warm_up():
    from paperzoo.amft.experiment import regime_metrics
    from paperzoo.amft.train import TrainLog

    log = TrainLog(mu=[0.8, 0.8, 0.9, 0.9, 0.6, 0.6, 0.3, 0.3])  # 2 warm-up steps, then 6 trained steps
    metrics, _ = regime_metrics("amft", log, warmup_steps=2)
    assert metrics["amft/mu_early"] == pytest.approx(0.9) and metrics["amft/mu_late"] == pytest.approx(0.3)
    assert metrics["amft/mu_max_seen"] == 0.9 and metrics["amft/mu_min_seen"] == 0.3
