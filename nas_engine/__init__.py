"""nasengine: differentiable architecture search (DARTS on NNI) for low-level imaging.

The engine in this package is task-agnostic: it never imports a task adapter
directly; tasks register themselves in :mod:`tasks`.
"""

__version__ = "0.1.0"
