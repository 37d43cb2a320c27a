"""Toward smart composites: small-scale, untethered prediction and control for soft sensor/actuator systems.

S. Aguasvivas Manzano et al. (N. Correll's lab, CU Boulder).
Official code: correlllab/nn4mc_py, correlllab/nn4mc_cpp (the C generator) and sarahaguasvivas/nlsoft (the
Soloway Newton-Raphson controller and its mass-spring-damper test).

The method as a library:

- :class:`NARX` (MLP or GRU) and :func:`rollout`: recursive neural forward models; :func:`train_narx`.
- :func:`ngpc_cost` and :class:`NewtonRaphsonMPC`: neural generalized predictive control (Soloway-Haley cost)
  solved by Newton-Raphson with autograd derivatives through the recursive rollout, for any torch model.
- :func:`export_c` and :class:`CModel`: the nn4mc analogue (trained model -> C -> gcc -> ctypes).
- :class:`MassSpringDamper` (the plant), :class:`PID` (the baseline), :mod:`.control` (references, closed loop).
"""

from paperzoo.smart_composites.codegen_c import CModel, export_c, object_size
from paperzoo.smart_composites.control import closed_loop, mpc_act, pid_act, tracking_metrics
from paperzoo.smart_composites.data import excitation, identification_data, regressors
from paperzoo.smart_composites.msd import MassSpringDamper
from paperzoo.smart_composites.narx import NARX, n_parameters, rollout, train_narx
from paperzoo.smart_composites.ngpc import NewtonRaphsonMPC, barrier, ngpc_cost
from paperzoo.smart_composites.pid import PID

__all__ = [
    "NARX",
    "PID",
    "CModel",
    "MassSpringDamper",
    "NewtonRaphsonMPC",
    "barrier",
    "closed_loop",
    "excitation",
    "export_c",
    "identification_data",
    "mpc_act",
    "n_parameters",
    "ngpc_cost",
    "object_size",
    "pid_act",
    "regressors",
    "rollout",
    "tracking_metrics",
    "train_narx",
]
