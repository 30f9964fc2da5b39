"""Integer parameters of the int8 operators, derived from real scales (docs/QUANTIZATION.md).

Every function here runs once, when a model is converted or loaded, never per inference;
the kernels see only the integers. The converter and the kernel wrappers
(qengine/_kernels_ops.py) both call these, so the two cannot disagree. Equation numbers
refer to docs/QUANTIZATION.md.
"""
import math
import numbers

import numpy as np

__all__ = ["multiplier", "requant_params", "add_params", "mul_params", "avgpool_params",
           "gavgpool_params", "quantize_params", "softmax_table", "lut_table", "ACTIVATIONS",
           "ADD_SHIFT", "SOFTMAX_ONE", "is_power_of_two"]

ADD_SHIFT = 20          # eq. 9: the input multipliers ka, kb are Q20 fractions of max(sa, sb)
SOFTMAX_ONE = 1 << 23   # eq. 19: table[0], the fixed-point 1.0 of the softmax table


def _scale(name, s):
    if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {s!r}")
    s = float(s)
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f"{name} must be a finite positive scale, got {s}")
    return s


def _zero_point(name, z):
    if isinstance(z, (bool, np.bool_)) or not isinstance(z, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {z!r}")
    if not -128 <= z <= 127:
        raise ValueError(f"{name} must lie in [-128, 127], got {z}")
    return int(z)


def multiplier(M):
    """(m0, sh) with M ~ m0 * 2^-sh, m0 in [2^30, 2^31), sh in [1, 62] (section 3).

    M = f * 2^e with f in [0.5, 1); m0 = round(f * 2^31) (2^31 becomes 2^30 with e + 1);
    sh = 31 - e. M = 0 gives (0, 1) (output = zero point). ValueError if M is negative,
    not finite, or so large or small that sh leaves [1, 62]."""
    M = float(M)
    if not math.isfinite(M) or M < 0:
        raise ValueError(f"multiplier must be finite and >= 0, got {M}")
    if M == 0:
        return 0, 1
    f, e = math.frexp(M)                 # exact: M = f * 2^e, 0.5 <= f < 1
    m0 = math.floor(f * 2**31 + 0.5)     # exact in float64 (f has 53 bits), half up
    if m0 == 2**31:
        m0, e = 2**30, e + 1
    sh = 31 - e
    if not 1 <= sh <= 62:
        raise ValueError(f"real multiplier {M!r} is out of range: it needs shift {sh}, "
                         f"outside [1, 62] (degenerate scales)")
    return int(m0), int(sh)


def requant_params(x_scale, y_scale):
    """(m0, sh) of M = s_x / s_y for requantize and concat (eq. 12)."""
    return multiplier(_scale("x_scale", x_scale) / _scale("y_scale", y_scale))


def add_params(a_scale, a_zero_point, b_scale, b_zero_point, y_scale, y_zero_point):
    """(ka, kb, bias, m0, sh) of eq. 9:  acc = a * ka + b * kb + bias, y = eq. 5 (acc, m0, sh).

    ka = round(2^20 sa / smax), kb = round(2^20 sb / smax), smax = max(sa, sb),
    bias = -(za * ka + zb * kb), (m0, sh) = multiplier(smax / (2^20 * sy)).
    Needs 2^-12 <= smax / sy < 2^11 (else ValueError)."""
    sa, sb = _scale("a_scale", a_scale), _scale("b_scale", b_scale)
    sy = _scale("y_scale", y_scale)
    za, zb = _zero_point("a_zero_point", a_zero_point), _zero_point("b_zero_point", b_zero_point)
    _zero_point("y_zero_point", y_zero_point)
    smax = max(sa, sb)
    ratio = smax / sy
    if not 2.0**-12 <= ratio < 2.0**11:
        raise ValueError(f"add: max(a_scale, b_scale) / y_scale = {ratio:g} is outside "
                         f"[2^-12, 2^11); such scales are degenerate")
    one = 1 << ADD_SHIFT
    ka = math.floor(sa / smax * one + 0.5)
    kb = math.floor(sb / smax * one + 0.5)
    m0, sh = multiplier(ratio / one)
    return ka, kb, -(za * ka + zb * kb), m0, sh


def mul_params(a_scale, b_scale, y_scale):
    """(m0, sh) of M = sa * sb / sy (eq. 10)."""
    M = _scale("a_scale", a_scale) * _scale("b_scale", b_scale) / _scale("y_scale", y_scale)
    return multiplier(M)


def avgpool_params(x_scale, y_scale, kernel_area):
    """m0, sh: int32 arrays of kernel_area + 1 entries; entry c is the multiplier of
    M = s_x / (s_y * c) for a window divided by c (eq. 15; entry 0 is unused)."""
    sx, sy = _scale("x_scale", x_scale), _scale("y_scale", y_scale)
    m0 = np.zeros(kernel_area + 1, np.int32)
    sh = np.ones(kernel_area + 1, np.int32)
    for c in range(1, kernel_area + 1):
        m0[c], sh[c] = multiplier(sx / (sy * c))
    return m0, sh


def gavgpool_params(x_scale, x_zero_point, y_scale, hw):
    """(bias, m0, sh) of eq. 16: bias = -hw * zx, M = s_x / (s_y * hw)."""
    zx = _zero_point("x_zero_point", x_zero_point)
    m0, sh = multiplier(_scale("x_scale", x_scale) / (_scale("y_scale", y_scale) * hw))
    return -hw * zx, m0, sh


def quantize_params(scale):
    """inv_scale of eq. 17: float32(1 / scale), 1 / scale computed in float64."""
    with np.errstate(over="ignore"):
        inv = np.float32(1.0 / _scale("scale", scale))
    if not (np.isfinite(inv) and inv >= np.finfo(np.float32).tiny):
        raise ValueError(f"scale {scale!r}: 1/scale must be a finite normal float32 "
                         f"(subnormals are flushed to zero by ARMv7 NEON)")
    return inv


def softmax_table(x_scale):
    """uint32 [256] of eq. 19: table[d] = round(2^23 * exp(-x_scale * d)), half up."""
    s = _scale("x_scale", x_scale)
    d = np.arange(256, dtype=np.float64)
    return np.floor(np.exp(-s * d) * SOFTMAX_ONE + 0.5).astype(np.uint32)


def _hardswish(x):
    return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0


def _hardsigmoid(x, alpha=1.0 / 6.0, beta=0.5):  # PyTorch defaults; ONNX HardSigmoid: 0.2
    return np.clip(alpha * x + beta, 0.0, 1.0)


def _leaky_relu(x, alpha=0.01):
    return np.where(x >= 0, x, alpha * x)


ACTIVATIONS = {
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
    "hardswish": _hardswish,
    "hardsigmoid": _hardsigmoid,
    "leaky_relu": _leaky_relu,
    "relu": lambda x: np.maximum(x, 0.0),
    "gelu": lambda x: 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0))),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
}


def lut_table(f, x_scale, x_zero_point, y_scale, y_zero_point, **kwargs):
    """int8 [256] table for K.lut (eq. 13): table[q + 128] = quantize(f(dequantize(q))).

    f: a name from ACTIVATIONS (keyword arguments such as alpha are passed on) or any
    callable mapping a float64 array to a float64 array. dequantize(q) = s_x (q - z_x) in
    float64; quantize(r) = clamp(floor(r / s_y + 0.5) + z_y, -128, 127) in float64 (half up).
    Built once, at conversion time."""
    if isinstance(f, str):
        if f not in ACTIVATIONS:
            raise ValueError(f"unknown activation {f!r}; known: {sorted(ACTIVATIONS)} "
                             f"or any callable")
        name, f = f, ACTIVATIONS[f]
        fn = (lambda x: f(x, **kwargs)) if kwargs else f
    elif callable(f):
        fn = (lambda x: f(x, **kwargs)) if kwargs else f
    else:
        raise ValueError(f"f must be an activation name or a callable, got {f!r}")
    sx, sy = _scale("x_scale", x_scale), _scale("y_scale", y_scale)
    zx = _zero_point("x_zero_point", x_zero_point)
    zy = _zero_point("y_zero_point", y_zero_point)
    q = np.arange(-128, 128, dtype=np.float64)
    r = np.asarray(fn(sx * (q - zx)), dtype=np.float64)
    if r.shape != (256,) or not np.all(np.isfinite(r)):
        raise ValueError("the activation must return 256 finite values for 256 inputs")
    out = np.floor(r / sy + 0.5) + zy
    return np.clip(out, -128, 127).astype(np.int8)


def is_power_of_two(scale):
    """True where scale is exactly 2^e for an integer e (the fixed-point scheme's scales,
    docs/QUANTIZATION.md section 5): finite, positive, and its float mantissa is exactly
    0.5. Works on a number (-> bool) or an array (-> bool array). Not a real number -> False."""
    if isinstance(scale, np.ndarray):
        s = scale.astype(np.float64)
        with np.errstate(invalid="ignore"):
            mant, _ = np.frexp(np.where(np.isfinite(s), s, 0.0))
        return np.isfinite(s) & (s > 0) & (mant == 0.5)
    if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, numbers.Real):
        return False
    s = float(scale)
    return math.isfinite(s) and s > 0 and math.frexp(s)[0] == 0.5
