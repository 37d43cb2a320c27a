"""Attribute-to-Delete: Machine Unlearning via Datamodel Matching (Georgiev, Rinberg, Park, Garg, Ilyas, Madry,
Neel; arXiv 2410.23232, 2024).

Unlearning by matching the outputs that data attribution predicts for the model retrained without the forget set:
datamodels ``beta`` (:func:`fit_datamodels`), DM-Direct targets (:func:`dm_direct`), Datamodel Matching
(:func:`dmm_unlearn`) and Oracle Matching (:func:`om_unlearn`); the fine-tuning baselines of data-unlearning-bench
(:func:`gradient_ascent`, :func:`gd_retain`, :func:`ascent_descent`, :func:`scrub`, :func:`do_nothing`); the KLoM
evaluation (:func:`margins`, :func:`klom`, :func:`klom_report`); forget-set builders; the convex twin
(:class:`RidgeTwin`, exact leave-k-out by Woodbury). Models are stacked (``{name: [M, ...]}``,
:mod:`paperzoo.shared.torch.many`): every method unlearns N independently trained originals at once.
"""

from paperzoo.dmm.datamodels import (
    Datamodels,
    RidgeTwin,
    check_forget,
    coherent_forget,
    fit_datamodels,
    half_subsets,
    random_forget,
)
from paperzoo.dmm.klom import klom, klom_report, margins
from paperzoo.dmm.stacked import outputs_stacked
from paperzoo.dmm.unlearn import (
    MatchConfig,
    ascent_descent,
    dm_direct,
    dmm_unlearn,
    do_nothing,
    finetune_set,
    gd_retain,
    gradient_ascent,
    match_outputs,
    om_unlearn,
    retain_sample,
    scrub,
)

__all__ = [
    "Datamodels",
    "MatchConfig",
    "RidgeTwin",
    "ascent_descent",
    "check_forget",
    "coherent_forget",
    "dm_direct",
    "dmm_unlearn",
    "do_nothing",
    "finetune_set",
    "fit_datamodels",
    "gd_retain",
    "gradient_ascent",
    "half_subsets",
    "klom",
    "klom_report",
    "margins",
    "match_outputs",
    "om_unlearn",
    "outputs_stacked",
    "random_forget",
    "retain_sample",
    "scrub",
]
