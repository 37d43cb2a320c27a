"""AdaBelief (Zhuang et al., NeurIPS 2020)."""

from paperzoo.adabelief.optimizer import AdaBelief

__all__ = ["AdaBelief"]
