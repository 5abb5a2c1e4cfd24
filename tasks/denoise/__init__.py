"""Gaussian denoising of real photographs (a second task proving the engine is task-agnostic)."""

from .task import DenoiseTask

__all__ = ["DenoiseTask"]
