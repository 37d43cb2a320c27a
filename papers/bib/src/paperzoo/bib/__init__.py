"""BIB: Bidirectional Learning for Offline Model-based Biological Sequence Design (Chen, Zhang, Lu, Zhao, Kim,
Bengio, Zhou; ICML 2023; official code GGchen1997/BIB-ICML2023-Submission).

The public API:

- the problem: :class:`Landscape` (an exhaustive table with exact lookup, :meth:`Landscape.tfbind_like`),
  :class:`OfflineTask` (the bottom-n "(r)" split, standardisation, top-128 starts);
- the embedding: :class:`KmerSTE` (straight-through k-mer tokens), :class:`BertEncoder` (a frozen
  ``BertForMaskedLM`` read through ``inputs_embeds``), :func:`pretrained_bert` (the MLM-pretrained tiny BERT,
  cached on disk), :class:`OneHotEncoder`;
- the method: :func:`forward_loss`, :func:`backward_loss` (dual forms), :class:`BidirectionalLoss` (primal form),
  :class:`AuxProxyEnsemble`, :class:`AdaptiveGamma`, :class:`AdaptiveEta`, :class:`BatchedAdam`,
  :func:`init_designs`, :func:`design`;
- the baseline: :func:`fit_mlp_proxy`, :func:`gradient_ascent`.
"""

from paperzoo.bib.baselines import fit_mlp_proxy, gradient_ascent
from paperzoo.bib.design import AdaptiveEta, AdaptiveGamma, BatchedAdam, DesignTrace, design, init_designs
from paperzoo.bib.encoder import (
    BertEncoder,
    EncoderConfig,
    KmerSTE,
    OneHotEncoder,
    build_bert,
    hub_bert,
    pretrained_bert,
    tiny_encoder,
)
from paperzoo.bib.landscape import ALPHABET, Landscape, OfflineTask, decode, encode
from paperzoo.bib.losses import AuxProxyEnsemble, BidirectionalLoss, backward_loss, forward_loss

__all__ = [
    "ALPHABET",
    "AdaptiveEta",
    "AdaptiveGamma",
    "AuxProxyEnsemble",
    "BatchedAdam",
    "BertEncoder",
    "BidirectionalLoss",
    "DesignTrace",
    "EncoderConfig",
    "KmerSTE",
    "Landscape",
    "OfflineTask",
    "OneHotEncoder",
    "backward_loss",
    "build_bert",
    "decode",
    "design",
    "encode",
    "fit_mlp_proxy",
    "forward_loss",
    "gradient_ascent",
    "hub_bert",
    "init_designs",
    "pretrained_bert",
    "tiny_encoder",
]
