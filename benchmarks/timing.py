"""Timing shared by the kernel benchmarks."""
import time


def fastest_of_burst(fn, seconds, clock=time.perf_counter):
    """The fastest of >= 3 back-to-back calls of fn that last >= `seconds` together: the
    first call warms the caches for the rest, and a preempted call never wins."""
    best, calls, spent = float("inf"), 0, 0.0
    while calls < 3 or spent < seconds:
        t = clock()
        fn()
        dt = clock() - t
        best, calls, spent = min(best, dt), calls + 1, spent + dt
    return best
