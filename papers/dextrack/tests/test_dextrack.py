"""Tests of DexTrack: the official reward's cases, quaternion distance, the action spaces, RL+IL reducing to PPO,
BC, homotopy reducing to direct tracking, determinism, demo replay, the split, offline assets and bad input."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

from paperzoo.dextrack import (
    RLILPPO,
    HandTrackingEnv,
    HandTrackingVecEnv,
    PPOConfig,
    ReferenceGenerator,
    RewardConfig,
    Specialist,
    bc_loss,
    build_reference,
    homotopy_candidates,
    homotopy_chain,
    nearest_references,
    quat_distance,
    rollout,
    tracking_reward,
    train_bc,
)
from paperzoo.dextrack.flywheel import FlywheelConfig, make_env, make_ppo
from paperzoo.dextrack.hand_env import obs_dim
from paperzoo.dextrack.refs import RANGES
from paperzoo.shared.torch import configure

configure(threads=1, deterministic=True)

H = 6  # a short horizon keeps the tests fast
OBS = obs_dim()
RANGE_KEYS = tuple(RANGES)
TINY = PPOConfig(n_envs=2, updates=1, n_epochs=2, batch_size=6, net_arch=(16,))


@pytest.fixture(scope="module")
def refs():
    return ReferenceGenerator("train", H).sample(3, 0)


def _perfect(offset=(0.0, 0.0, 0.0), palm_offset=(0.0, 0.0, 0.0)):
    p = np.array([[0.1, 0.0, 0.05]])
    q = np.array([[1.0, 0.0, 0.0, 0.0]])
    tips = p[:, None] + np.array([[0.03, 0, 0], [0, 0.03, 0], [-0.03, 0, 0]])
    hand = np.zeros((1, 10))
    return tracking_reward(p + np.array(offset), q, p, q, p + np.array(palm_offset), tips, hand, hand, RewardConfig())


def test_reward_perfect_tracking_equals_hand_computed_value():
    r, terms = _perfect()
    d_f, d_h = 0.09, 0.0  # three tips 3 cm from the object, palm on it
    assert terms["contact"][0] == 1.0
    assert r[0] == pytest.approx(0.9 + 0.33 * 3.14 + 1.0 + 1.0 - 0.5 * (d_f + 2 * d_h))
    assert r[0] == pytest.approx(3.9362 - 0.5 * 0.09)


def test_reward_falls_as_the_object_leaves_its_reference():
    rewards = [_perfect(offset=(d, 0.0, 0.0))[0][0] for d in (0.0, 0.01, 0.03, 0.06, 0.1)]
    assert np.all(np.diff(rewards) < 0)


def test_no_object_reward_without_contact():
    r, terms = _perfect(palm_offset=(0.0, 0.0, 0.2))  # palm 20 cm away: d_h > 0.12, no contact, d_f zeroed
    assert terms["contact"][0] == 0.0 and terms["d_f"][0] == 0.0
    assert r[0] == pytest.approx(-0.5 * 2 * 0.2 + 1.0)  # only the hand-distance penalty and the rotation bonus


def test_pi_constant_is_the_official_3_14():
    r_314, _ = _perfect()
    cfg = replace(RewardConfig(), pi_constant=np.pi)
    p, q = np.array([[0.1, 0, 0.05]]), np.array([[1.0, 0, 0, 0]])
    tips = p[:, None] + np.array([[0.03, 0, 0], [0, 0.03, 0], [-0.03, 0, 0]])
    r_pi, _ = tracking_reward(p, q, p, q, p, tips, np.zeros((1, 10)), np.zeros((1, 10)), cfg)
    assert r_pi[0] - r_314[0] == pytest.approx(0.33 * (np.pi - 3.14))


def test_quaternion_distance():
    q = np.array([[np.cos(0.3), 0.2, -0.5, 0.4]])
    q /= np.linalg.norm(q)
    yaw90 = np.array([[np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)]])
    ident = np.array([[1.0, 0, 0, 0]])
    assert quat_distance(q, q)[0] == pytest.approx(0.0, abs=1e-7)
    assert quat_distance(q, -q)[0] == pytest.approx(0.0, abs=1e-7)
    assert quat_distance(yaw90, ident)[0] == pytest.approx(np.pi / 2)


def test_zero_residual_gives_the_next_reference_targets_exactly(refs):
    env = HandTrackingVecEnv(refs, 3)
    env.reset()
    for t in range(H):
        env.step(np.zeros((3, 10)))
        for i, d in enumerate(env.datas if t < H - 1 else []):
            assert np.array_equal(d.ctrl, refs[i].hand[t + 1])


def test_cumulative_residual_is_the_running_sum_and_relative_adds_to_q(refs):
    s = np.array([0.05] * 4 + [0.3] * 6)  # palm slides and yaw, finger hinges
    env = HandTrackingVecEnv(refs[:1], 1, residual_scale=0.05, finger_residual_scale=0.3)
    env.reset()
    actions = np.random.default_rng(0).uniform(-1.5, 1.5, (3, 1, 10))
    for t, a in enumerate(actions):
        env.step(a)
        running_sum = np.clip(actions[: t + 1], -1, 1).sum(0)[0]
        np.testing.assert_allclose(env.datas[0].ctrl, refs[0].hand[t + 1] + s * running_sum)
    rel = HandTrackingVecEnv(refs[:1], 1, action_space="relative", residual_scale=0.05, finger_residual_scale=0.3)
    rel.reset()
    q = rel.datas[0].qpos[:10].copy()
    rel.step(actions[0])
    np.testing.assert_allclose(rel.datas[0].ctrl, q + s * np.clip(actions[0, 0], -1, 1))


def test_env_determinism_and_generator_reproducible(refs):
    again = ReferenceGenerator("train", H).sample(3, 0)
    assert all(np.array_equal(a.hand, b.hand) for a, b in zip(refs, again, strict=True))
    actions = np.random.default_rng(1).uniform(-1, 1, (3, H, 10)).astype(np.float32)
    a, b = rollout(None, refs, TINY, actions=actions), rollout(None, refs, TINY, actions=actions)
    assert np.array_equal(a.qpos, b.qpos) and np.array_equal(a.pos_err, b.pos_err)
    single = HandTrackingEnv(refs[0])
    single.reset()
    for t in range(H - 1):
        single.step(actions[0, t])
    assert np.array_equal(single.data.qpos, a.qpos[0, H - 1])  # the single env is the batched env's env 0


def test_demos_replay_bit_for_bit(refs):
    model = make_ppo(make_env(refs, 3, TINY), TINY, 0)
    first = rollout(model.policy, refs, TINY)
    again = rollout(None, refs, TINY, actions=first.actions)
    assert np.array_equal(first.qpos, again.qpos) and np.array_equal(first.obs, again.obs)


def _one_update(refs, cls, **kwargs):
    """Same seed, same envs: the same initial weights and rollout buffer; ``learn`` then makes one update."""
    model = cls(
        "MlpPolicy",
        make_env(refs, 2, TINY),
        n_steps=H,
        batch_size=6,
        n_epochs=2,
        seed=0,
        device="cpu",
        policy_kwargs={"net_arch": [16]},
        **kwargs,
    )
    model.learn(2 * H)
    return model


def test_lambda_zero_update_equals_parent_ppo(refs):
    demos = (np.random.default_rng(0).normal(size=(20, OBS)).astype(np.float32), np.ones((20, 10), np.float32))
    parent = _one_update(refs, PPO)
    ours = _one_update(refs, RLILPPO, lambda_il=0.0, demos=demos)
    il = _one_update(refs, RLILPPO, lambda_il=50.0, demos=demos)
    assert np.array_equal(ours.rollout_buffer.actions, parent.rollout_buffer.actions)
    assert np.array_equal(il.rollout_buffer.actions, parent.rollout_buffer.actions)
    for a, b in zip(ours.policy.parameters(), parent.policy.parameters(), strict=True):
        assert torch.equal(a, b)
    # with lambda_IL > 0 the same update moves the policy mean toward the demo actions
    obs, act = torch.as_tensor(demos[0]), torch.as_tensor(demos[1])
    assert float(bc_loss(il.policy, obs, act)) < float(bc_loss(parent.policy, obs, act)) - 1e-3


def test_bc_loss_zero_at_the_mean_and_bc_training_lowers_it(refs):
    model = make_ppo(make_env(refs, 2, TINY), TINY, 0)
    obs = torch.as_tensor(np.random.default_rng(0).normal(size=(32, OBS)).astype(np.float32))
    with torch.no_grad():
        mean = model.policy.get_distribution(obs).distribution.mean
    assert float(bc_loss(model.policy, obs, mean)) == 0.0
    losses = train_bc(model.policy, (obs.numpy(), np.full((32, 10), 0.5, np.float32)), 200, 16, 0)
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])


def test_homotopy_with_lambda_one_only_is_direct_tracking(refs):
    direct = Specialist(refs[0], TINY, 7)
    ok_d, demo_d = direct.solve()
    one = homotopy_chain(refs[0], (1.0,), TINY, 7)
    assert ok_d == one.solved and one.stages == [ok_d] and (demo_d is None) == (one.demo is None)
    for name, value in direct.model.policy.state_dict().items():
        assert torch.equal(value, one.state[name])
    chained = homotopy_chain(refs[0], (0.5, 1.0), TINY, 7)  # a real chain trains differently
    assert len(chained.stages) == 2
    assert not all(torch.equal(v, chained.state[k]) for k, v in one.state.items())


def test_homotopy_chain_ends_at_the_reference_and_holds_no_test_reference(refs):
    chain = homotopy_candidates(refs[0], (0.0, 0.33, 0.67, 1.0))
    assert np.array_equal(chain[-1].hand, refs[0].hand) and np.array_equal(chain[-1].obj_pos, refs[0].obj_pos)
    assert chain[0].params.lift == 0.03 and chain[0].params.yaw == 0.0
    test = ReferenceGenerator("test", H).sample(20, 0)
    test_sizes = {r.params.size for r in test}
    assert all(c.params.size not in test_sizes and c.params.size == refs[0].params.size for c in chain)
    with pytest.raises(ValueError, match="lambdas"):
        homotopy_candidates(refs[0], (0.0, 0.5))


def test_nearest_references_by_scaled_parameters():
    pool_refs = ReferenceGenerator("train", H).sample(6, 3)
    ref = pool_refs[0]
    pool = dict(enumerate(pool_refs))
    nearest = nearest_references(ref, pool, 3)
    assert 0 not in nearest and len(nearest) == 3  # the reference itself is no candidate
    d = {j: np.linalg.norm(r.params.descriptor() - ref.params.descriptor()) for j, r in pool.items() if j != 0}
    assert nearest == sorted(d, key=d.get)[:3]  # an independent ranking
    assert nearest_references(ref, {}, 2) == [] and nearest_references(ref, pool, 0) == []
    twin = replace(ref.params, lift=ref.params.lift + 1e-4)  # a near-copy is the nearest
    assert nearest_references(ref, {**pool, 9: build_reference(twin, H)}, 1) == [9]
    lo = np.array([0.03, -0.1, -0.1, -np.pi / 2, 0.024, 0.05, 0.6, 0.0])
    params = ReferenceGenerator("test", H).sample_params(50, 0) + ReferenceGenerator("train", H).sample_params(50, 0)
    assert all(np.all((p.descriptor() >= 0) & (p.descriptor() <= 1)) for p in params)
    np.testing.assert_allclose(replace(ref.params, **dict(zip(RANGE_KEYS, lo, strict=True))).descriptor(), 0.0)


def test_flywheel_homotopy_candidates_are_solved_train_references(refs, monkeypatch):
    import paperzoo.dextrack.flywheel as fw

    fly = fw.Flywheel(refs, fw.FlywheelConfig(specialist=TINY, homotopy_lambdas=(0.5, 1.0)), 0)
    fly.solutions = {1: make_ppo(make_env(refs, 2, TINY), TINY, 1).policy.state_dict()}
    used = []
    real = fw.Specialist

    def spy(ref, cfg, seed, init=None):
        used.append((ref, init))
        return real(ref, cfg, seed, init)

    monkeypatch.setattr(real, "solve", lambda self: (False, None))  # every attempt fails: all candidates are tried
    monkeypatch.setattr(fw, "Specialist", spy)
    fly.solve_by_homotopy(0, TINY, None)
    # first the neighbour chain tau_1 -> tau_0 (warm-started from tau_1's weights), then the interpolation chain
    assert used[0][0] is refs[0] and used[0][1] is fly.solutions[1]
    assert len(used) == 1 + 2 and used[1][1] is None and np.array_equal(used[2][0].hand, refs[0].hand)
    assert fly.homotopy == {"attempts": 1, "solved": 0, "neighbour_solved": 0, "easy_solved": 0}
    assert 0 not in fly.demos


def test_split_by_object_size_is_disjoint():
    train = ReferenceGenerator("train").sample_params(50, 0)
    test = ReferenceGenerator("test").sample_params(50, 0)
    from paperzoo.dextrack.refs import SIZE_BINS

    bin_of = lambda p: int(np.searchsorted(SIZE_BINS, p.size)) - 1  # noqa: E731
    assert {bin_of(p) for p in train}.isdisjoint({bin_of(p) for p in test})


def test_assets_load_offline(monkeypatch):
    import socket

    from paperzoo.dextrack.hand_env import build_model
    from paperzoo.dextrack.shadow import build_shadow_fly

    monkeypatch.setattr(socket, "socket", lambda *a, **k: (_ for _ in ()).throw(OSError("no network")))
    shadow = build_shadow_fly()
    assert shadow.nu == 20 and shadow.nq == 24 + 6 + 7 + 7  # hand + fly base + block + target
    assert build_model(0.03, 0.1, 1.0).nu == 10


def test_bad_input_raises_naming_the_argument(refs):
    with pytest.raises(ValueError, match="action_space"):
        HandTrackingVecEnv(refs, 1, action_space="absolute")
    with pytest.raises(ValueError, match="residual_scale"):
        HandTrackingVecEnv(refs, 1, residual_scale=0.0)
    with pytest.raises(ValueError, match="residual_scale"):
        PPOConfig(residual_scale=-1.0)
    with pytest.raises(ValueError, match="finger_residual_scale"):
        HandTrackingVecEnv(refs, 1, finger_residual_scale=0.0)
    with pytest.raises(ValueError, match="finger_residual_scale"):
        PPOConfig(finger_residual_scale=-0.1)
    with pytest.raises(ValueError, match="homotopy_neighbours"):
        FlywheelConfig(homotopy_neighbours=-1)
    with pytest.raises(ValueError, match="lambda_il"):
        RLILPPO("MlpPolicy", make_env(refs, 1, TINY), lambda_il=-0.1, n_steps=H, batch_size=6, device="cpu")
    with pytest.raises(ValueError, match="horizon"):
        ReferenceGenerator("train", horizon=1)
    with pytest.raises(ValueError, match="horizon"):
        build_reference(refs[0].params, horizon=1)
    bad = replace(refs[0], hand=refs[0].hand[:, :7])
    with pytest.raises(ValueError, match="joints"):
        HandTrackingVecEnv([bad], 1)
    with pytest.raises(ValueError, match="split"):
        ReferenceGenerator("val")


def test_full_runner_on_a_tiny_stand_in_produces_every_claim_metric():
    from paperzoo.dextrack.bench import BENCHMARK, FullConfig, full_claims

    paper = BENCHMARK.scales["paper"]
    assert paper.flywheel.lambda_il == 5e-4 and paper.flywheel.generalist.n_epochs == 5
    tiny = FullConfig(
        n_train=2,
        n_test=2,
        horizon=H,
        flywheel=FlywheelConfig(specialist=TINY, generalist=TINY, homotopy_lambdas=(0.5, 1.0), warm_updates=1),
    )
    metrics = BENCHMARK.run["full"](tiny, 0).metrics
    claimed = {"rlil/success", "ppo_only/success", "bc_only/success", "playback/success", "flywheel/homotopy_solved"}
    claimed |= {"flywheel/homotopy_attempts", "flywheel/homotopy_neighbour_solved", "flywheel/homotopy_easy_solved"}
    assert claimed <= set(metrics)
    assert metrics["flywheel/demos_round1"] >= metrics["flywheel/demos_round0"]
    assert len(full_claims(tiny)) == 5
