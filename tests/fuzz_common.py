"""Shared by the fuzz scripts (tests/fuzz_*.py), which tests/test_fuzz.py runs in
subprocesses."""
import os
import random
import resource
import sys

import hypothesis

# headroom over the process's size at start for one fuzz case; a case that asks for more
# is a "huge allocation" bug and shows up as a MemoryError
HEADROOM = 3 << 30


def limit_memory():
    """Cap the address space so a huge allocation fails loudly instead of swapping.
    Skipped under AddressSanitizer, which reserves terabytes of shadow memory."""
    if "asan" in os.environ.get("LD_PRELOAD", ""):
        return
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (vm + HEADROOM, vm + HEADROOM))


def report(name, counts):
    total = sum(counts.values())
    detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"fuzz {name}: {total} cases ({detail})")
    sys.stdout.flush()


def seeded(test):
    """Apply one seed to a hypothesis test: QENGINE_FUZZ_SEED, else a random one. It is
    printed first, so any failure can be replayed with QENGINE_FUZZ_SEED=<seed>."""
    seed = int(os.environ.get("QENGINE_FUZZ_SEED") or random.randrange(2**32))
    print(f"QENGINE_FUZZ_SEED={seed}", file=sys.stderr)
    sys.stderr.flush()
    return hypothesis.seed(seed)(test)
