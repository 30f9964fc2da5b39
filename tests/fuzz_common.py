"""Shared by the fuzz scripts (tests/fuzz_*.py), which tests/test_fuzz.py runs in
subprocesses."""
import os
import resource
import sys

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
