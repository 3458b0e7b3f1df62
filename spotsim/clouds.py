"""Cloud presets: notice window, billing rule and prices, each with its source.

Figures are from ../shared/FACTS.md; a `source` string travels with each so
that a scenario can say where its numbers came from. A preset fills
`vm.notice_s`, `billing.*` and `prices.*`; a scenario file or `--set` can
override any of them.
"""
from __future__ import annotations

CLOUDS: dict[str, dict] = {
    "gcp": {
        "vm": {"notice_s": 30.0},
        "billing": {"minimum_s": 60.0, "increment_s": 1.0, "free_if_preempted_within_s": 0.0},
        "source": "FACTS.md: GCP Spot 30 s notice (Compute Engine docs: Spot VMs); "
                  "per second with a 1-minute minimum, billed until TERMINATED",
    },
    "aws": {
        "vm": {"notice_s": 120.0},
        # Per-second billing (FACTS.md); the 60 s minimum is AWS's general rule for
        # per-second billing and is not in FACTS.md. A Spot instance interrupted by
        # EC2 within its first hour is not charged (FACTS.md: EC2 billing docs).
        "billing": {"minimum_s": 60.0, "increment_s": 1.0, "free_if_preempted_within_s": 3600.0},
        "source": "FACTS.md: AWS Spot 120 s notice (EC2 docs: interruption notices); per second; "
                  "interrupted within the first hour is free",
    },
    "azure": {
        "vm": {"notice_s": 30.0},
        # Azure's billing granularity is not in FACTS.md: assumed per second, 60 s minimum.
        "billing": {"minimum_s": 60.0, "increment_s": 1.0, "free_if_preempted_within_s": 0.0},
        "source": "FACTS.md: Azure Spot 30 s notice (Scheduled Events Preempt); billing rule assumed",
    },
}

# (cloud, gpu) -> (on-demand $/h, Spot $/h, source). GPU-only rows exclude the host VM.
PRICES: dict[tuple[str, str], tuple[float, float, str]] = {
    ("gcp", "T4"): (0.350, 0.175, "SkyPilot price catalog (v8), GCP n1 GPU only (FACTS.md)"),
    ("gcp", "L4"): (0.560, 0.223, "SkyPilot price catalog (v8), GCP g2 GPU only (FACTS.md)"),
    ("gcp", "V100"): (2.48, 1.089, "SkyPilot price catalog (v8), GCP n1 GPU only (FACTS.md)"),
    ("gcp", "A100"): (3.673, 1.804, "SkyPilot price catalog (v8), a2-highgpu-1g (FACTS.md)"),
    ("gcp", "H100x8"): (82.53, 18.98, "GCP billing catalog Oct 2025, a3-highgpu-8g us-central1 (FACTS.md)"),
    ("aws", "V100"): (3.06, 0.40, "SkyPilot price catalog, p3.2xlarge us-east-1, Spot 0.37-0.43 in 2025 (FACTS.md)"),
    ("aws", "T4"): (0.526, 0.208, "SkyPilot price catalog, g4dn.xlarge, Spot 0.200-0.216 (FACTS.md)"),
    ("aws", "A10G"): (1.006, 0.438, "SkyPilot price catalog, g5.xlarge, Spot 0.425-0.451 (FACTS.md)"),
    ("aws", "A100x8"): (21.96, 8.035, "SkyPilot price catalog, p4d.24xlarge, Spot 7.88-8.19 (FACTS.md)"),
    ("aws", "H100x8"): (55.04, 21.7, "SkyPilot price catalog, p5.48xlarge, Spot 17.6-25.8 (FACTS.md)"),
}


def preset(cloud: str | None, gpu: str | None) -> dict:
    """The scenario layer a (cloud, gpu) pair stands for (empty if neither is known)."""
    layer: dict = {}
    if cloud in CLOUDS:
        c = CLOUDS[cloud]
        layer["vm"] = dict(c["vm"])
        layer["billing"] = dict(c["billing"])
    if (cloud, gpu) in PRICES:
        ondemand, spot, _ = PRICES[(cloud, gpu)]
        layer["prices"] = {"ondemand_per_h": ondemand, "spot_per_h": spot}
    return layer


def gpus_for(cloud: str) -> list[str]:
    return sorted(g for c, g in PRICES if c == cloud)
