"""Stochastic Policy Gradient Methods: Improved Sample Complexity for Fisher-non-degenerate Policies
(Fatkhullin, Barakat, Kireeva, He; ICML 2023): N-PG-IGT, N-HARPG and HARPG as ``torch.optim`` optimizers, the
GPOMDP and Hessian-vector estimators, policies, and exact tabular/LQR environments."""

from paperzoo.npg_igt.envs import LQR, TabularMDP, Trajectories, cartpole_step, sample_cartpole
from paperzoo.npg_igt.estimators import gpomdp, gpomdp_surrogate, hessian_vector
from paperzoo.npg_igt.optim import HARPG, NHARPG, NPGIGT, eta_schedule, gamma_schedule
from paperzoo.npg_igt.policies import LinearGaussianPolicy, MLPSoftmaxPolicy, SoftmaxPolicy
from paperzoo.npg_igt.sampler import policy_gradient_closure

__all__ = [
    "HARPG",
    "LQR",
    "NHARPG",
    "NPGIGT",
    "LinearGaussianPolicy",
    "MLPSoftmaxPolicy",
    "SoftmaxPolicy",
    "TabularMDP",
    "Trajectories",
    "cartpole_step",
    "eta_schedule",
    "gamma_schedule",
    "gpomdp",
    "gpomdp_surrogate",
    "hessian_vector",
    "policy_gradient_closure",
    "sample_cartpole",
]
