#!/usr/bin/env python3
"""Writes the standard heat traces of `tb fan bench` (run from this directory).

Powers: idle GPUs draw ~15 W; the one-outlet power cap is 1500 W continuous
at the wall (120 V / 15 A, 80% rule): at ~92% PSU efficiency 1380 W DC, less
150 W CPU, 20 W NVMe and ~40 W board/RAM leaves ~195 W per GPU: 200 W.
A single bursting GPU runs at its 355 W board power."""
import random

HEADER = "t_s,gpu0_w,gpu1_w,gpu2_w,gpu3_w,gpu4_w,gpu5_w,cpu_w,nvme_w,ambient_c"
IDLE_GPU, CAP_GPU, FULL_GPU = 15, 200, 355


def write(name, rows):
    with open(name, "w") as f:
        f.write(HEADER + "\n")
        for r in rows:
            f.write(",".join(f"{v:g}" for v in r) + "\n")


def row(t, gpus, cpu, nvme, amb=25):
    return [t] + list(gpus) + [cpu, nvme, amb]


write("idle.csv", [row(0, [IDLE_GPU] * 6, 50, 8), row(900, [IDLE_GPU] * 6, 50, 8)])

rng = random.Random(1)
rows, t = [], 0
while t < 1200:
    on = rng.uniform(20, 120)
    rows.append(row(t, [FULL_GPU] + [IDLE_GPU] * 5, 90, 10))
    t += on
    rows.append(row(round(t, 1), [IDLE_GPU] * 6, 60, 8))
    t = round(t + rng.uniform(20, 120), 1)
rows.append(row(round(t, 1), [IDLE_GPU] * 6, 60, 8))
write("one_gpu_burst.csv", rows)

write("six_gpu_cap.csv", [row(0, [CAP_GPU] * 6, 150, 20), row(1800, [CAP_GPU] * 6, 150, 20)])
write("six_gpu_cap_35c.csv", [row(0, [CAP_GPU] * 6, 150, 20, 35), row(1800, [CAP_GPU] * 6, 150, 20, 35)])

# inference: requests arrive in bursts; all six GPUs work together
# (tensor-parallel) for 1-10 s, then wait 1-15 s at ~60 W (weights resident)
rng = random.Random(2)
rows, t = [], 0.0
while t < 1200:
    rows.append(row(round(t, 1), [CAP_GPU] * 6, 120, 12))
    t += rng.uniform(1, 10)
    rows.append(row(round(t, 1), [60] * 6, 70, 8))
    t += rng.uniform(1, 15)
rows.append(row(round(t, 1), [60] * 6, 70, 8))
write("inference_bursty.csv", rows)
