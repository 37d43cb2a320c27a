"""Agents for the protocols: scripted experts and random (sanity), SAC / MT-SAC (SB3), first-order MAML-VPG."""

from paperzoo.metaworld.agents.maml_vpg import GaussianMLP, MAMLConfig, MAMLVPGAgent, train_maml, vpg_gradient
from paperzoo.metaworld.agents.sac import MTSAC, SACConfig, SB3Agent, make_sac, train_sac
from paperzoo.metaworld.agents.scripted import RandomAgent, ScriptedAgent, random_policy_success

__all__ = [
    "MTSAC",
    "GaussianMLP",
    "MAMLConfig",
    "MAMLVPGAgent",
    "RandomAgent",
    "SACConfig",
    "SB3Agent",
    "ScriptedAgent",
    "make_sac",
    "random_policy_success",
    "train_maml",
    "train_sac",
    "vpg_gradient",
]
