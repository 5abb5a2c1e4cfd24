"""Compressed-sensing MRI task: fastMRI single-coil data, masks, data consistency, metrics."""

from .task import CSMRITask

__all__ = ["CSMRITask"]
