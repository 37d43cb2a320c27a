"""``python -m paperzoo.ramario``: the uniform paperzoo CLI for this paper."""

import logging
import sys

from paperzoo.ramario.bench import BENCHMARK
from paperzoo.ramario.tf_runtime import tensorflow
from paperzoo.shared.cli import main

# The shared CLI imports TensorFlow to look for a GPU; import it first, quietly (no absl/oneDNN/CUDA banners).
tensorflow()
# TensorFlow/Keras import JAX when it is installed, and the shared seeding then makes a JAX key, whose backend
# probe logs "Unable to initialize backend 'tpu'"; that line says nothing about this paper.
logging.getLogger("jax._src.xla_bridge").setLevel(logging.ERROR)
sys.exit(main(BENCHMARK))
