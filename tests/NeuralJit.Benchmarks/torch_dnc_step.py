"""The PyTorch peer of the benchmark's LSTM + DNC step: the paper-order DncNet of tests/fixtures/make_fixtures.py
(the fixtures' reference, written from the paper independently of the engine), in float32, batch 1, one thread,
timed the same way for each network size. Prints one JSON object per size on stdout; the benchmark app runs this
beside its own rows when Debian's python3-torch is installed, and says so when it is not. Not part of the tests.

    python3 tests/NeuralJit.Benchmarks/torch_dnc_step.py [--steps 200] [--rounds 7]
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from make_fixtures import DncNet  # noqa: E402

# (name, input, hidden, output, slots, width, heads): the three networks.
SIZES = [
    ("N=64 W=16 R=2 H=64 I=32", 32, 64, 10, 64, 16, 2),
    ("N=256 W=64 R=4 H=128 I=64", 64, 128, 10, 256, 64, 4),
    ("N=1024 W=64 R=4 H=128 I=64", 64, 128, 10, 1024, 64, 4),
]


def step_microseconds(net, xs, rounds):
    """
    Per step, after one untimed warm-up pass: the median and best over rounds of the wall time of a forward over
    the whole sequence, and the median of its thread CPU time (which a loaded machine inflates far less).
    """
    with torch.no_grad():
        net(xs)
        wall, cpu = [], []
        for _ in range(rounds):
            t0, c0 = time.perf_counter(), time.thread_time()
            net(xs)
            wall.append((time.perf_counter() - t0) / len(xs) * 1e6)
            cpu.append((time.thread_time() - c0) / len(xs) * 1e6)
    return statistics.median(wall), min(wall), statistics.median(cpu)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--max-slots", type=int, default=1 << 30)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    for name, inp, hid, out, n, w, r in SIZES:
        if n > a.max_slots:
            continue
        net = DncNet(inp, hid, out, 1, n, w, r).eval().float()
        # Fewer steps for the big memory: the N×N link matrix makes a step ~1 ms there.
        steps = max(20, a.steps * 256 // max(n, 256))
        xs = torch.randn(steps, inp)
        median, best, cpu = step_microseconds(net, xs, a.rounds)
        print(json.dumps({"network": name, "slots": n, "median_us": round(median, 2), "min_us": round(best, 2),
                          "cpu_median_us": round(cpu, 2),
                          "steps": steps, "rounds": a.rounds, "torch": torch.__version__,
                          "threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine()}),
              flush=True)


if __name__ == "__main__":
    main()
