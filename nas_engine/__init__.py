"""nasengine: differentiable architecture search (DARTS on NNI) for low-level imaging.

The engine in this package is task-agnostic: it never imports a task adapter
directly; tasks register themselves in :mod:`tasks`.
"""

import os

__version__ = "0.1.0"

# OpenMP threads (PyTorch's intra-op pool) spin while they wait for work by default. Two runs on one small
# machine then burn each other's cores spinning: on 2 cores two runs at once took 5.4x one run alone, and a
# run's process CPU time counted the spinning (2x its wall time alone). Passive waiting: 2.4x for two runs,
# and no slower alone (benchmarks/concurrency.py). Only where the user set no policy, and only before
# PyTorch loads (importing nasengine first, as the CLI does).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
