"""The speed figures of smart-composites (``python -m paperzoo.smart_composites --perf``; never run in CI).

NR-MPC step time against the 1/120 s control period (<= 1 is real time at the paper's 120 Hz), the generated C's
forward call against torch's forward of the same model in the same process (float32, one regressor), and the
flash bytes of the compiled model (host ``size``; a Cortex-M4F build when ``arm-none-eabi-gcc`` is installed).
The models are untrained (timings and sizes do not depend on the weights).
"""

from __future__ import annotations

import time

import numpy as np


def perf(device: str) -> dict[str, float]:
    """The figures above for the MLP (6→16→16→2) and GRU(8) NARX models of the full scale."""
    import torch

    from paperzoo.smart_composites import control
    from paperzoo.smart_composites.bench import BENCHMARK
    from paperzoo.smart_composites.codegen_c import CModel, object_size
    from paperzoo.smart_composites.experiment import make_model, make_plant
    from paperzoo.smart_composites.ngpc import NewtonRaphsonMPC

    torch.set_num_threads(1)
    config = BENCHMARK.scales["full"]
    plant = make_plant(config, "linear")
    figures: dict[str, float] = {}
    steps, calls = 300, 20_000
    ref = control.square(steps + config.N2 + 1, config.dt)
    x = np.random.default_rng(0).normal(size=(1, 6)).astype(np.float32)
    for kind in config.models:
        torch.manual_seed(0)
        model = make_model(config, kind).eval()
        mpc = NewtonRaphsonMPC(model)
        start = time.perf_counter()
        control.closed_loop(plant, control.mpc_act(mpc, ref), steps)
        step_s = (time.perf_counter() - start) / steps
        figures[f"{kind}/mpc_step_ms"] = 1e3 * step_s
        figures[f"{kind}/mpc_step_over_period"] = step_s / config.dt
        c_model = CModel(model)
        out = np.empty((1, 2), dtype=np.float32)
        xt = torch.from_numpy(x)
        with torch.no_grad():
            start = time.perf_counter()
            for _ in range(calls // 10):
                model(xt)
            torch_s = (time.perf_counter() - start) / (calls // 10)
        c_forward = c_model.bind(x, out)  # fixed buffers, as the control loop on a microcontroller
        start = time.perf_counter()
        for _ in range(calls):
            c_forward()
        c_s = (time.perf_counter() - start) / calls
        figures[f"{kind}/torch_forward_us"] = 1e6 * torch_s
        figures[f"{kind}/c_forward_us"] = 1e6 * c_s
        figures[f"{kind}/c_speedup_vs_torch"] = torch_s / c_s
        figures[f"{kind}/host_flash_bytes"] = float(c_model.size_bytes)
        mcu = object_size(c_model.source, config.mcu_cc)
        if mcu is not None:
            figures[f"{kind}/cortex_m4f_flash_bytes"] = float(mcu)
    return figures
