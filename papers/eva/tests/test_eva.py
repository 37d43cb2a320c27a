"""EVA on whole Llamas: against peft's reference implementation, masks, groups, budget, B = 0, scaling, rank 0,
whitening, the peft workflow (save / load), determinism, bad arguments."""

import dataclasses

import pytest
import torch

from paperzoo.eva import (
    EvaConfig,
    EvaState,
    compute_eva_state,
    eva_lora_config,
    get_eva_model,
    init_lora_from_eva,
)

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def lora(r=4, alpha=8, targets=TARGETS):
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=alpha, target_modules=list(targets), lora_dropout=0.0)


@pytest.fixture(scope="module")
def peft_reference():
    """peft's get_eva_state_dict; with ``exact`` its IncrementalPCA is patched to ``lowrank=False`` (an exact SVD)."""
    from peft import EvaConfig as PeftEvaConfig
    from peft import LoraConfig
    from peft.tuners.lora import eva as peft_eva

    def run(model, loader, r, rho, exact=False):
        config = LoraConfig(r=r, target_modules=TARGETS, init_lora_weights="eva", eva_config=PeftEvaConfig(rho=rho))
        original = peft_eva.IncrementalPCA
        if exact:
            peft_eva.IncrementalPCA = lambda **kw: original(**{**kw, "lowrank": False})
        try:
            return peft_eva.get_eva_state_dict(model, loader, config, show_progress_bar=False)
        finally:
            peft_eva.IncrementalPCA = original

    return run


def decomposition_gaps(ours: dict, theirs: dict) -> tuple[float, float]:
    """Over the layers both sides adapt: the largest 1 - (smallest principal-angle cosine) between the two A row
    spaces, and the largest entry-wise difference of the sign-aligned components (row by row, order included)."""
    subspace = component = 0.0
    for name, a in ours.items():
        a, b = a.double(), theirs[name].double()
        subspace = max(subspace, 1 - float(torch.linalg.svdvals(a @ b.T).min()))
        signs = torch.sign((a * b).sum(dim=1, keepdim=True))
        component = max(component, float((a - signs * b).abs().max()))
    return subspace, component


@pytest.mark.parametrize("rho", [1.0, 2.0, 3.0])
def test_equals_peft_reference_with_exact_svds(tiny_llama, loader, peft_reference, rho):
    """Same model and batches, both sides decomposing exactly (ours ``svd="full"``, peft's IncrementalPCA with
    ``lowrank=False``): identical ranks; each layer's A spans peft's subspace to 1e-6 and every component agrees
    with peft's, in order and up to sign, to 1e-5 (peft decomposes its first batch in float32, we in float64).

    The model is isotropic, where approximate decompositions disagree visibly (see the next test), so these
    tolerances would catch a wrong or approximate decomposition on either side."""
    model = tiny_llama(isotropic=True)
    ours = compute_eva_state(model, loader, TARGETS, 4, EvaConfig(rho=rho, svd="full"))
    theirs = peft_reference(model, loader, 4, rho, exact=True)
    assert ours.ranks == {name: theirs[name].shape[0] if name in theirs else 0 for name in ours.ranks}
    assert set(ours.components) == {n for n, a in theirs.items() if a.shape[0] > 0}
    subspace, component = decomposition_gaps(ours.components, theirs)
    assert subspace < 1e-6 and component < 1e-5, (subspace, component)
    if rho > 1:
        assert len(set(ours.ranks.values())) > 1  # a real redistribution was compared, not the uniform case


def test_the_isotropic_fixture_tells_randomized_from_exact(tiny_llama, loader, peft_reference):
    """The tolerances above are not loose for this fixture: peft's default randomized SVD (and ours) is off the exact
    decomposition by far more than 1e-6 / 1e-5; the rank allocation is the same (randomized SVD is peft's default
    and ours: the ranks and subspaces of the two agree to the randomized SVD's accuracy)."""
    model = tiny_llama(isotropic=True)
    exact = compute_eva_state(model, loader, TARGETS, 4, EvaConfig(rho=1.0, svd="full"))
    ours = compute_eva_state(model, loader, TARGETS, 4, EvaConfig(rho=1.0, svd="lowrank"))
    theirs = peft_reference(model, loader, 4, 1.0)
    for randomized in (ours.components, theirs):
        subspace, component = decomposition_gaps(exact.components, randomized)
        assert subspace > 1e-5 and component > 1e-3, (subspace, component)
    assert ours.ranks == {name: theirs[name].shape[0] for name in ours.ranks}
    assert decomposition_gaps(ours.components, theirs)[0] < 1e-3


def test_budget_groups_and_orthonormal_rows(tiny_llama, loader):
    state = compute_eva_state(tiny_llama(), loader, TARGETS, 4, EvaConfig(rho=2.0))
    assert state.converged and sum(state.ranks.values()) == state.budget == 14 * 4
    assert all(0 <= k <= 8 for k in state.ranks.values())
    for i in range(2):
        p = f"model.layers.{i}."
        assert state.groups[p + "self_attn.k_proj"] == state.groups[p + "self_attn.v_proj"] == p + "self_attn.q_proj"
        assert state.groups[p + "mlp.up_proj"] == p + "mlp.gate_proj"
        q, k = state.components[p + "self_attn.q_proj"], state.components.get(p + "self_attn.k_proj")
        assert state.ranks[p + "self_attn.q_proj"] >= max(state.ranks[p + "self_attn.k_proj"],
                                                          state.ranks[p + "self_attn.v_proj"])  # fmt: skip
        if k is not None:  # grouped layers share the representative's components
            assert torch.equal(k, q[: k.shape[0]])
    for a in state.components.values():
        torch.testing.assert_close(a @ a.T, torch.eye(a.shape[0]), atol=1e-5, rtol=0)


def test_rho_one_keeps_every_rank(tiny_llama, loader):
    state = compute_eva_state(tiny_llama(), loader, TARGETS, 4, EvaConfig(rho=1.0))
    assert set(state.ranks.values()) == {4}


def test_masked_tokens_never_enter_the_decomposition(tiny_llama, loader):
    """Changing the ids at padded positions (attention 0) and prompt positions after the trace... : only masked
    positions are changed where they cannot influence unmasked ones (right padding, causal attention)."""
    model = tiny_llama()
    altered = []
    for b in loader:
        b = dict(b)
        ids = b["input_ids"].clone()
        ids[b["attention_mask"] == 0] = 7  # padding replaced by a real token; still masked out
        b["input_ids"] = ids
        altered.append(b)
    assert any(not torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(altered, loader, strict=True))
    s1 = compute_eva_state(model, loader, TARGETS, 4, EvaConfig(svd="full"))
    s2 = compute_eva_state(model, altered, TARGETS, 4, EvaConfig(svd="full"))
    assert s1.ranks == s2.ranks
    for name in s1.components:
        torch.testing.assert_close(s1.components[name], s2.components[name], atol=1e-5, rtol=0)


def test_label_mask_changes_what_is_decomposed(tiny_llama, loader):
    model = tiny_llama()
    with_mask = compute_eva_state(model, loader, TARGETS, 4, EvaConfig(svd="full", rho=1.0))
    without = compute_eva_state(model, loader, TARGETS, 4, EvaConfig(svd="full", rho=1.0, use_label_mask=False))
    name = "model.layers.0.self_attn.o_proj"
    cos = torch.linalg.svdvals(with_mask.components[name].double() @ without.components[name].double().T)
    assert float(cos.min()) < 0.999


def test_b_zero_unchanged_logits_and_scaling(tiny_llama, loader):
    base = tiny_llama()
    ids = loader[0]["input_ids"]
    with torch.no_grad():
        ref = base(input_ids=ids).logits
    state = compute_eva_state(base, loader, TARGETS, 4, EvaConfig(rho=2.0))
    model = init_lora_from_eva(base, state, lora(r=4, alpha=8))
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, ref)  # B = 0 exactly
    inner = model.get_base_model()
    for name, rank in state.ranks.items():
        layer = inner.get_submodule(name)
        if rank == 0:
            assert isinstance(layer, torch.nn.Linear)
            continue
        assert torch.equal(layer.lora_A["default"].weight, state.components[name])
        assert not layer.lora_B["default"].weight.any()
        assert layer.scaling["default"] == pytest.approx(8 / 4)  # alpha_l / rank_l == alpha / r
    assert torch.equal(inner.model.layers[0].self_attn.q_proj.base_layer.weight,
                       base.model.layers[0].self_attn.q_proj.base_layer.weight)  # fmt: skip


def test_no_scaling_adjustment_keeps_alpha(tiny_llama, loader):
    state = compute_eva_state(tiny_llama(), loader, TARGETS, 4, EvaConfig(rho=2.0, adjust_scaling_factors=False))
    config = eva_lora_config(state, lora(r=4, alpha=8))
    assert config.alpha_pattern == {}
    changed = {n: k for n, k in state.ranks.items() if k not in (0, 4)}
    assert changed and config.rank_pattern == changed


def test_rank_zero_layers_are_removed_and_the_model_still_works(tiny_llama, loader):
    base = tiny_llama()
    state = compute_eva_state(base, loader, TARGETS, 4, EvaConfig(rho=2.0))
    # force a rank-0 layer (move its rank to another layer) to exercise the removal path
    names = list(state.ranks)
    gone, gainer = names[3], names[5]
    ranks = {**state.ranks, gone: 0, gainer: state.ranks[gainer] + state.ranks[gone]}
    components = {n: a for n, a in state.components.items() if n not in (gone, gainer)}
    components[gainer] = torch.linalg.qr(torch.randn(32 if "down" not in gainer else 64, ranks[gainer]))[0].T
    forced = dataclasses.replace(state, ranks=ranks, components=components)
    config = eva_lora_config(forced, lora())
    assert gone not in config.target_modules and gainer in config.target_modules
    model = init_lora_from_eva(base, forced, lora())
    layer = model.get_base_model().get_submodule(gone)
    assert type(layer) is torch.nn.Linear
    assert model.get_base_model().get_submodule(gainer).lora_A["default"].weight.shape[0] == ranks[gainer]


def test_whitening_divides_by_sqrt_singular_values(tiny_llama, loader):
    model = tiny_llama()
    plain = compute_eva_state(model, loader, TARGETS, 4, EvaConfig(rho=1.0, svd="full"))
    white = compute_eva_state(model, loader, TARGETS, 4, EvaConfig(rho=1.0, svd="full", whiten=True))
    name = "model.layers.1.mlp.down_proj"
    norms = white.components[name].norm(dim=1)
    # rows are components / sqrt(s_c): same directions, norms 1 / sqrt(s_c); and s_c^2 is proportional to the
    # explained-variance ratio, so (|row_0| / |row_c|)^4 = s_c^2 / s_0^2 = ratio_c / ratio_0
    torch.testing.assert_close(white.components[name] / norms[:, None], plain.components[name], atol=1e-5, rtol=0)
    ratio = white.explained_variance_ratio[name][:4].double()
    torch.testing.assert_close((norms[0] / norms).double() ** 4, ratio / ratio[0], rtol=1e-4, atol=0)


def test_peft_workflow_save_and_reload(tiny_llama, loader, tmp_path):
    """The EVA model is a standard peft model: save_pretrained / PeftModel.from_pretrained give the same model."""
    from peft import PeftModel

    model = get_eva_model(tiny_llama(), lora(), loader, EvaConfig(rho=2.0))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.1)
    model.save_pretrained(tmp_path)
    reloaded = PeftModel.from_pretrained(tiny_llama(), tmp_path)
    ids = loader[0]["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, model(input_ids=ids).logits)


def test_deterministic_and_max_batches(tiny_llama, loader):
    model = tiny_llama()
    a = compute_eva_state(model, loader, TARGETS, 4)
    b = compute_eva_state(model, loader, TARGETS, 4)
    assert a.ranks == b.ranks and all(torch.equal(a.components[n], b.components[n]) for n in a.components)
    stopped = compute_eva_state(model, loader, TARGETS, 4, EvaConfig(tau=1.0, max_batches=3))
    assert not stopped.converged and stopped.batches == 3 and sum(stopped.ranks.values()) == 56


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: EvaConfig(rho=0.5), "rho"),
        (lambda: EvaConfig(tau=1.5), "tau"),
        (lambda: EvaConfig(svd="qr"), "svd"),
        (lambda: EvaConfig(max_batches=0), "max_batches"),
    ],
)
def test_bad_configs_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_calls_raise(tiny_llama, loader):
    model = tiny_llama()
    with pytest.raises(ValueError, match="target_modules"):
        compute_eva_state(model, loader, ["nothing_here"], 4)
    with pytest.raises(ValueError, match="EVA needs linear"):
        compute_eva_state(model, loader, ["self_attn"], 4)
    with pytest.raises(ValueError, match="r"):
        compute_eva_state(model, loader, TARGETS, 0)
    with pytest.raises(ValueError, match="empty"):
        compute_eva_state(model, [], TARGETS, 4)
    short = [{k: v[:, :3] for k, v in b.items()} for b in loader[:1]]  # prompts only: no trace token survives
    with pytest.raises(ValueError, match="too few tokens"):
        compute_eva_state(model, short, TARGETS, 4, EvaConfig(max_batches=2))
    assert isinstance(EvaState, type)


@pytest.mark.parametrize(("r", "rho", "components"), [(40, 1.0, 40), (16, 2.5, 40), (1000, 1.0, 1000)])
def test_a_rank_above_the_layer_width_raises_naming_the_rank_the_layer_and_its_width(tiny_llama, loader, r, rho,
                                                                                     components):  # fmt: skip
    """d = 32: a layer has at most 32 components; k_l = round(rho r) above that is refused before any batch runs
    (it used to surface as sklearn-style 'n_components must be <=' or, with many components, as 'too few tokens')."""
    match = (rf"rank {r} of layer 'model\.layers\.0\.self_attn\.q_proj' \(x rho={rho:g}: {components} components\) "
             r"exceeds its width: 32 input features")  # fmt: skip
    with pytest.raises(ValueError, match=match):
        compute_eva_state(tiny_llama(), loader, TARGETS, r, EvaConfig(rho=rho, max_batches=2))
    # r = 16, rho = 2: 32 components, every layer's width at most (down_proj reads d_ff = 64): it runs
    state = compute_eva_state(tiny_llama(), loader, TARGETS, 16, EvaConfig(rho=2.0, max_batches=2))
    assert max(state.max_components.values()) == 32 and sum(state.ranks.values()) == 16 * len(state.ranks)
