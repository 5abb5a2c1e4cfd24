"""Under-sampling masks with fastMRI's exact semantics.

A mask function draws a 1-D column mask for ``num_cols`` phase-encoding lines:
a fully sampled centre block of ``round(num_cols * center_fraction)`` lines plus
other lines (random or equispaced) so that the mean acceleration is nominal.
Given a seed (e.g. derived from the file name) the draw is reproducible and does
not disturb the function's own random stream (fastMRI's ``temp_seed``).
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import numpy as np

MASK_FUNCS: dict[str, type["MaskFunc"]] = {}


def register_mask(name: str):
    def deco(cls: type[MaskFunc]) -> type[MaskFunc]:
        MASK_FUNCS[name] = cls
        return cls

    return deco


@contextlib.contextmanager
def temp_seed(rng: np.random.RandomState, seed: int | Sequence[int] | None) -> Iterator[None]:
    """Seed ``rng`` for the duration of the block, then restore its state."""
    if seed is None:
        yield
        return
    state = rng.get_state()
    rng.seed(seed)
    try:
        yield
    finally:
        rng.set_state(state)


def seed_from_name(name: str, *extra: int) -> tuple[int, ...]:
    """fastMRI's per-file seed ``tuple(map(ord, fname))``, optionally with extra ints."""
    return tuple(map(ord, name)) + tuple(int(e) for e in extra)


class MaskFunc:
    """Base class: pick (centre fraction, acceleration), then centre + acceleration masks."""

    def __init__(
        self,
        center_fractions: Sequence[float],
        accelerations: Sequence[float],
        allow_any_combination: bool = False,
        seed: int | None = None,
    ) -> None:
        if len(center_fractions) != len(accelerations) and not allow_any_combination:
            raise ValueError(
                f"need one centre fraction per acceleration, got {len(center_fractions)} "
                f"fractions and {len(accelerations)} accelerations"
            )
        if not accelerations:
            raise ValueError("at least one acceleration is needed")
        for cf in center_fractions:
            if not 0 < cf < 1:
                raise ValueError(f"centre fraction must lie in (0, 1), got {cf}")
        for acc in accelerations:
            if not acc >= 1:
                raise ValueError(f"acceleration must be >= 1, got {acc}")
        for cf, acc in zip(center_fractions, accelerations):
            if cf > 1.0 / acc:
                raise ValueError(
                    f"impossible mask: centre fraction {cf} alone samples more than 1/{acc} of the lines"
                )
        self.center_fractions = list(center_fractions)
        self.accelerations = list(accelerations)
        self.allow_any_combination = allow_any_combination
        self.rng = np.random.RandomState(seed)

    def __call__(
        self, num_cols: int, offset: int | None = None, seed: int | Sequence[int] | None = None
    ) -> tuple[np.ndarray, int, float]:
        """Return ``(mask [num_cols] float32, num_low_frequencies, acceleration)``."""
        if num_cols < 2:
            raise ValueError(f"need at least 2 columns to build a mask, got {num_cols}")
        with temp_seed(self.rng, seed):
            center_fraction, acceleration = self.choose_acceleration()
            num_low = round(num_cols * center_fraction)
            center = self.calculate_center_mask(num_cols, num_low)
            accel = self.calculate_acceleration_mask(num_cols, acceleration, offset, num_low)
        return np.maximum(center, accel).astype(np.float32), num_low, float(acceleration)

    def choose_acceleration(self) -> tuple[float, float]:
        if self.allow_any_combination:
            return self.rng.choice(self.center_fractions), self.rng.choice(self.accelerations)
        choice = self.rng.randint(len(self.center_fractions))
        return self.center_fractions[choice], self.accelerations[choice]

    @staticmethod
    def calculate_center_mask(num_cols: int, num_low: int) -> np.ndarray:
        mask = np.zeros(num_cols, dtype=np.float32)
        pad = (num_cols - num_low + 1) // 2
        mask[pad : pad + num_low] = 1
        return mask

    def calculate_acceleration_mask(
        self, num_cols: int, acceleration: float, offset: int | None, num_low: int
    ) -> np.ndarray:
        raise NotImplementedError


@register_mask("random")
class RandomMaskFunc(MaskFunc):
    """Outside the centre, each line is kept with probability
    ``(num_cols / acc - num_low) / (num_cols - num_low)`` (fastMRI RandomMaskFunc)."""

    def calculate_acceleration_mask(self, num_cols, acceleration, offset, num_low):
        prob = (num_cols / acceleration - num_low) / (num_cols - num_low)
        return (self.rng.uniform(size=num_cols) < prob).astype(np.float32)


@register_mask("equispaced")
class EquispacedMaskFunc(MaskFunc):
    """Every ``acceleration``-th line from a random offset, plus the centre (fastMRI)."""

    def calculate_acceleration_mask(self, num_cols, acceleration, offset, num_low):
        if offset is None:
            offset = self.rng.randint(0, high=round(acceleration))
        mask = np.zeros(num_cols, dtype=np.float32)
        mask[offset :: round(acceleration)] = 1
        return mask


@register_mask("equispaced_fraction")
class EquispacedMaskFractionFunc(MaskFunc):
    """Equispaced lines at the spacing that makes the whole mask, centre included, sample
    ``1/acceleration`` of the lines (fastMRI's EquispacedMaskFractionFunc, its multi-coil default)."""

    def calculate_acceleration_mask(self, num_cols, acceleration, offset, num_low):
        adjusted = (acceleration * (num_low - num_cols)) / (num_low * acceleration - num_cols)
        if offset is None:
            offset = self.rng.randint(0, high=round(adjusted))
        mask = np.zeros(num_cols, dtype=np.float32)
        mask[np.around(np.arange(offset, num_cols - 1, adjusted)).astype(np.uint)] = 1
        return mask


# The paper's setting: per slice, (4x, 8% centre) or (8x, 4% centre) with equal probability.
PAPER_CENTER_FRACTIONS = {4: 0.08, 8: 0.04}


def create_mask_func(
    kind: str, accelerations: Sequence[float], center_fractions: Sequence[float] | None = None, seed: int | None = None
) -> MaskFunc:
    """Build a registered mask function; centre fractions default to the paper's (4x: 8%, 8x: 4%)."""
    if kind not in MASK_FUNCS:
        raise ValueError(f"unknown mask type {kind!r}; choose one of {sorted(MASK_FUNCS)}")
    if center_fractions is None:
        missing = [a for a in accelerations if a not in PAPER_CENTER_FRACTIONS]
        if missing:
            raise ValueError(
                f"no default centre fraction for acceleration(s) {missing}; give center_fractions explicitly"
            )
        center_fractions = [PAPER_CENTER_FRACTIONS[a] for a in accelerations]
    return MASK_FUNCS[kind](center_fractions, accelerations, seed=seed)
