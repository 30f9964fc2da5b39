"""Layer shape lists (one conv per line) and their reader."""
from pathlib import Path

HERE = Path(__file__).parent


def read_conv_shapes(name):
    """[(label, dict(h, w, c, o, kh, kw, stride, padding, groups))] from shapes/<name>.txt."""
    rows = []
    for line in (HERE / f"{name}.txt").read_text().splitlines():
        line = line.split("#")[0].split()
        if not line:
            continue
        h, w, c, o, k, s, p, g = line
        kh, kw = (int(v) for v in k.split("x"))
        pad = tuple(int(v) for v in p.split(","))
        kind = "dw" if int(g) == int(c) and int(c) > 1 else f"{k}"
        label = f"{name}:{h}x{w}x{c}->{o} {kind} s{s}"
        rows.append((label, dict(h=int(h), w=int(w), c=int(c), o=int(o), kh=kh, kw=kw,
                                 stride=int(s), padding=pad, groups=int(g))))
    return rows
