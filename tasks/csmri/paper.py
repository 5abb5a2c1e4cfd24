"""The paper's numbers (Yan et al.): Table I's complexity and metrics, Tables II and III's searched
networks, by the row names of the benchmark tables."""

from __future__ import annotations

# Table I of the paper (FLOPs for one 2x320x320 input through all reconstruction modules; params).
TABLE1_COMPLEXITY = {
    "U-Net": (12.17e9, 3349e3),
    "DCCNN-3": (17.41e9, 170.0e3),
    "DCCNN-11": (62.87e9, 613.9e3),
    "MoDL-3": (17.41e9, 56.7e3),
    "MoDL-11": (62.87e9, 204.3e3),
    "RDN-3": (26.03e9, 86.79e3),
    "RDN-8": (68.79e9, 86.79e3),
}
TABLE1_METHODS = {"U-Net": "unet", "DCCNN-3": "dccnn-3", "DCCNN-11": "dccnn-11", "MoDL-3": "modl-3",
                  "MoDL-11": "modl-11", "RDN-3": "rdn-3", "RDN-8": "rdn-8"}


# Table I of the paper, 4x and 8x mixed, test set: MSE (x1e-10), NMSE (x1e-2), PSNR, SSIM.
TABLE1_PAPER = {
    "TV": (2.351, 7.104, 28.12, 0.5192),
    "U-Net": (1.764, 5.654, 29.15, 0.6028),
    "DCCNN-3": (1.718, 5.521, 29.37, 0.6118),
    "DCCNN-11": (1.635, 5.407, 29.49, 0.6147),
    "MoDL-3": (2.025, 5.886, 28.95, 0.6075),
    "MoDL-11": (1.938, 5.788, 29.04, 0.6089),
    "RDN-3": (1.623, 5.398, 29.49, 0.6147),
    "RDN-8": (1.531, 5.290, 29.62, 0.6170),
    "NAS A 3n": (1.432, 5.112, 29.83, 0.6204),
}
# Tables II and III: (PSNR, SSIM, FLOPs, params) of the searched networks.
TABLE23_PAPER = {
    "NAS A 2n": (29.78, 0.6201, 11.37e9, 107.7e3),
    "NAS A 3n": (29.83, 0.6204, 15.07e9, 142.3e3),
    "NAS A 4n": (29.87, 0.6218, 18.76e9, 176.8e3),
    "NAS B 3n": (29.81, None, 12.44e9, 117.2e3),
}


def paper_psnr() -> dict[str, float]:
    """The paper's PSNR (4x and 8x mixed) by row name of the benchmark tables. Its searched nets are
    at C=32, 3 cells: the ``wide`` row here; the demo-width row gets the same reference."""
    out = {name: v[2] for name, v in TABLE1_PAPER.items()}
    out.update({name: v[0] for name, v in TABLE23_PAPER.items()})
    out["NAS A 3n wide"] = TABLE23_PAPER["NAS A 3n"][0]
    return out
