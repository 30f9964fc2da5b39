"""Pruning and recovery in the converter: each method's invariants, channel pruning keeps
the graph consistent and runnable, reconstruction lowers a layer's error, the storage
choice follows the cost model, CSR files run bit-identically to dense, CLI flags."""
import copy
import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import helper  # noqa: E402

import qengine  # noqa: E402
from qengine import format as F  # noqa: E402
from qengine.builder import GraphBuilder  # noqa: E402
from qengine.cli import main as cli_main  # noqa: E402
from qengine.convert import FloatExecutor, convert, import_onnx  # noqa: E402
from qengine.convert import costmodel  # noqa: E402
from qengine.convert.lower import lower_for_runtime  # noqa: E402
from qengine.convert.prune import (channel_groups, nm_mask, parse_spec,  # noqa: E402
                                   prune_graph)
from qengine.convert.reconstruct import Gram, reconstruct, refit  # noqa: E402
from qengine.convert.ir import Node  # noqa: E402
from qengine.convert.storage import choose_storage  # noqa: E402

from test_convert_api import rand, save  # noqa: E402


def mlp_model(tmp_path):
    """Gemm-Relu-Gemm-Relu-Gemm on [1, 24]."""
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], transB=1),
             helper.make_node("Relu", ["h1"], ["r1"]),
             helper.make_node("Gemm", ["r1", "w2", "b2"], ["h2"], transB=1),
             helper.make_node("Relu", ["h2"], ["r2"]),
             helper.make_node("Gemm", ["r2", "w3", "b3"], ["y"], transB=1)]
    inits = {"w1": rand(40, 24, scale=0.3), "b1": rand(40, scale=0.1),
             "w2": rand(32, 40, scale=0.2), "b2": rand(32, scale=0.1),
             "w3": rand(6, 32, scale=0.3), "b3": rand(6, scale=0.1)}
    return save(tmp_path, nodes, (1, 24), inits, name="mlp.onnx")


def block_model(tmp_path):
    """conv3x3-Relu -> depthwise-Relu -> 1x1 conv -> + residual (conv0 out) -> 1x1 -> GAP
    -> Gemm. conv1's channels flow through the depthwise into conv2: prunable; conv0 and
    conv2 feed the residual add: not prunable."""
    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["a", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "wd", "bd"], ["d"], pads=[1, 1, 1, 1], group=12),
             helper.make_node("Relu", ["d"], ["rd"]),
             helper.make_node("Conv", ["rd", "w2", "b2"], ["c2"]),
             helper.make_node("Add", ["a", "c2"], ["s"]),
             helper.make_node("Conv", ["s", "w3", "b3"], ["c3"]),
             helper.make_node("Relu", ["c3"], ["r3"]),
             helper.make_node("GlobalAveragePool", ["r3"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "w4", "b4"], ["y"], transB=1)]
    inits = {"w0": rand(8, 3, 3, 3, scale=0.3), "b0": rand(8, scale=0.1),
             "w1": rand(12, 8, 3, 3, scale=0.2), "b1": rand(12, scale=0.1),
             "wd": rand(12, 1, 3, 3, scale=0.3), "bd": rand(12, scale=0.1),
             "w2": rand(8, 12, 1, 1, scale=0.3), "b2": rand(8, scale=0.1),
             "w3": rand(16, 8, 1, 1, scale=0.3), "b3": rand(16, scale=0.1),
             "w4": rand(5, 16, scale=0.3), "b4": rand(5, scale=0.1)}
    return save(tmp_path, nodes, (1, 3, 7, 6), inits, name="block.onnx")


def load_ir(path):
    g = import_onnx(path)
    lower_for_runtime(g)
    return g


def calib(g, n=64, seed=3):
    shape = g.shapes[g.inputs[0]]
    x = np.random.default_rng(seed).standard_normal((n,) + tuple(shape[1:]))
    return [{g.inputs[0]: x.astype(np.float32)}]


def weights(g):
    return {n.name: n.params["weight"] for n in g.nodes if n.op in ("conv2d", "dense")}


@pytest.mark.parametrize("method", ["magnitude", "importance"])
def test_unstructured_sparsity_per_layer(tmp_path, method):
    g = load_ir(mlp_model(tmp_path))
    spec = parse_spec({"sparsity": 0.7, "method": method, "sensitive": "cap",
                       "sensitive_cap": 0.4})
    student, info = prune_graph(g, calib(g), spec)
    names = [n.name for n in g.nodes if n.op == "dense"]
    assert set(info.masks) == set(names)
    for name, w in weights(student).items():
        want = 0.4 if name in (names[0], names[-1]) else 0.7
        got = np.mean(w == 0)
        assert abs(got - want) <= 1.0 / w.shape[1] + 1e-9, (name, got, want)
        if method == "importance":   # the same count in every output row
            assert len(set((w == 0).sum(axis=1))) == 1
    # the teacher is untouched
    assert all(np.count_nonzero(w) == w.size for w in weights(g).values())


def test_magnitude_global_and_caps(tmp_path):
    g = load_ir(mlp_model(tmp_path))
    spec = parse_spec({"sparsity": 0.6, "scope": "global", "sensitive": "skip",
                       "max_layer_sparsity": 0.65})
    student, info = prune_graph(g, calib(g), spec)
    names = [n.name for n in g.nodes if n.op == "dense"]
    assert list(info.masks) == [names[1]]          # first and last skipped
    w = weights(student)
    assert np.count_nonzero(w[names[0]]) == w[names[0]].size
    assert np.mean(w[names[1]] == 0) <= 0.65 + 1e-9


def _blocks_uniform(mask):
    """True when every 1x4 K-block of the mask [O, ...] is all dropped or all kept."""
    m = mask.reshape(mask.shape[0], -1)
    return bool(np.array_equal(m, np.repeat(m[:, ::4], 4, axis=1)[:, :m.shape[1]]))


@pytest.mark.parametrize("method", ["magnitude", "importance"])
@pytest.mark.parametrize("scope", ["layer", "global"])
def test_block_pruning(tmp_path, method, scope):
    g = load_ir(block_model(tmp_path))
    names = {n.name: n for n in g.nodes if n.op in ("conv2d", "dense")}
    one_by_one = [n for n, node in names.items() if node.op == "conv2d" and
                  node.params["weight"].shape[1:3] == (1, 1) and node.attrs["groups"] == 1]
    assert one_by_one
    for block in ("auto", (1, 4), "1x4"):
        spec = parse_spec({"sparsity": 0.75, "method": method, "scope": scope,
                           "sensitive": "prune", "block": block})
        student, info = prune_graph(g, calib(g), spec)
        sw = weights(student)
        for name, mask in info.masks.items():
            blocked = block != "auto" or name in one_by_one
            w = sw[name]
            kb = -(-w.reshape(w.shape[0], -1).shape[1] // 4)
            if blocked:
                assert _blocks_uniform(mask), (name, block)
                assert np.all((w != 0) <= mask)
                dropped = np.mean(~mask.reshape(w.shape[0], -1)[:, ::4])
                if scope == "layer":
                    assert abs(dropped - 0.75) <= 1.0 / kb + 1e-9, (name, dropped)
                if method == "importance":   # the same count of blocks in every row
                    assert len(set((~mask.reshape(w.shape[0], -1)[:, ::4]).sum(1))) == 1
            elif w.size >= 16:
                assert not _blocks_uniform(mask), name    # unstructured elsewhere


def test_block_spec_errors():
    for bad in ((2, 2), "1x8", 4, "x", (1, 4, 1), True):
        with pytest.raises(ValueError, match="block"):
            parse_spec({"block": bad})
    with pytest.raises(ValueError, match="block"):
        parse_spec({"block": (1, 4), "method": "channel"})
    assert parse_spec({"block": [1, 4]})["block"] == (1, 4)
    assert parse_spec({"method": "2:4"})["block"] == "auto"


def test_two_four_pattern(tmp_path):
    m = nm_mask(np.random.default_rng(0).random((7, 11)))
    groups = np.pad(m, ((0, 0), (0, 1))).reshape(7, 3, 4)
    assert (groups.sum(axis=2) == 2).all()
    g = load_ir(block_model(tmp_path))
    student, info = prune_graph(g, calib(g), parse_spec({"method": "2:4",
                                                         "sensitive": "prune"}))
    assert info.masks
    for name in info.masks:
        w = weights(student)[name]
        w2 = w.reshape(w.shape[0], -1)
        k = -(-w2.shape[1] // 4) * 4
        nz = np.pad(w2 != 0, ((0, 0), (0, k - w2.shape[1]))).reshape(w2.shape[0], -1, 4)
        assert (nz.sum(axis=2) <= 2).all(), name


def test_channel_pruning_shrinks_consistently(tmp_path):
    src = block_model(tmp_path)
    g = load_ir(src)
    groups = channel_groups(g, parse_spec({"method": "channel", "sensitive": "prune"}))
    producers = {p.name for p, *_ in groups}
    conv1 = g.producer_of(g.nodes[1].outputs[0]).name
    assert conv1 in producers                    # through ReLU and the depthwise
    assert g.nodes[0].name not in producers      # feeds the residual add
    assert g.producer_of("c2").name not in producers
    xc = np.random.default_rng(5).standard_normal((64, 3, 7, 6)).astype(np.float32)
    feeds = [{g.inputs[0]: g.to_stored(g.inputs[0], xc)}]
    student, info = prune_graph(g, feeds, parse_spec({"method": "channel", "sparsity": 0.5,
                                                      "sensitive": "prune"}))
    nodes = {n.name: n for n in student.nodes}
    dw = next(n for n in student.nodes if n.attrs.get("groups", 1) > 1)
    assert nodes[conv1].params["weight"].shape[0] == 6
    assert dw.params["weight"].shape[0] == 6 and dw.attrs["groups"] == 6
    assert student.shapes[dw.outputs[0]][-1] == 6
    reader = student.consumers(dw.outputs[0])[0]    # (the ReLUs are fused into the convs)
    assert reader.params["weight"].shape[-1] == 6
    x = calib(g, 8)[0]
    y = FloatExecutor(student)(x)               # the shrunk float graph runs
    assert y.shape == (8, 5)
    # the pruned model converts, loads, runs, and matches its own float graph
    out = tmp_path / "ch.qmodel"
    rep = convert(src, out, xc, prune={"method": "channel", "sparsity": 0.5,
                                       "sensitive": "prune"}, recover=False)
    m = qengine.load(str(out))
    xs = x[g.inputs[0]]
    got = np.concatenate([m.run(xs[i:i + 1]) for i in range(len(xs))])
    ref = FloatExecutor(student)(xs)
    err = np.sum((got - ref) ** 2) / np.sum(ref ** 2)
    assert err < 0.02, err
    assert rep.qmodel_bytes < convert(src, tmp_path / "d.qmodel", xc,
                                      recover=False).qmodel_bytes


def _layer_error(w, b, x, y):
    return float(np.mean((x @ w.T + b - y) ** 2))


def test_reconstruction_lowers_layer_error():
    rng = np.random.default_rng(0)
    r, k, o = 400, 48, 20
    mix = rng.standard_normal((16, k))                     # correlated inputs (rank ~16)
    xt = rng.standard_normal((r, 16)) @ mix + 0.1 * rng.standard_normal((r, k)) + 0.3
    xs = xt + 0.05 * rng.standard_normal((r, k))            # the compressed model's inputs
    wt = rng.standard_normal((o, k)).astype(np.float32)
    bt = rng.standard_normal(o).astype(np.float32)
    y = xt @ wt.T + bt
    mask = np.abs(wt) > np.quantile(np.abs(wt), 0.7)         # magnitude, 70%
    teacher = Node("dense", "l", ["x"], ["y"], {}, {"weight": wt, "bias": bt})
    student = Node("dense", "l", ["x"], ["y"], {}, {"weight": wt * mask, "bias": bt.copy()})
    gram = Gram()
    gram.add(student, teacher, xs.astype(np.float32), xt.astype(np.float32))
    before, after = refit(student, teacher, gram, mask=mask)
    assert after < before
    w, b = student.params["weight"], student.params["bias"]
    assert (w[~mask] == 0).all()                              # the mask is kept
    s = student.params["w_scale"]
    q = w / np.where(s > 0, s, 1)[:, None]
    assert np.allclose(q, np.round(q), atol=1e-3)              # on the int8 grid
    naive = _layer_error(wt * mask, bt, xs, y)
    assert _layer_error(w, b, xs, y) < 0.5 * naive


def _builder(ws, rows):
    g = GraphBuilder()
    g.input("x", (rows, ws[0].shape[1]), 0.1, 0)
    prev = "x"
    for i, w in enumerate(ws):
        n = w.shape[0]
        out = g.value(f"h{i}", (rows, n), 0.1, 0)
        g.node("FullyConnected", f"fc{i}", [prev], [out],
               dict(weight=w, bias=np.zeros(n, np.int32),
                    m0=np.full(n, 2**30, np.int32), sh=np.full(n, 40, np.int32)))
        prev = out
    g.output(prev)
    return g


@pytest.mark.parametrize("isa", costmodel.DENSE_TILE)
def test_cost_model_dense_tile_is_the_kernels(isa):
    from qengine import kernels as K
    if isa not in K.isa()["available"]:
        pytest.skip(f"{isa} not available here")
    one = np.ones(1, np.int32)
    with K.use_isa(isa):
        _, nr, kr = K.pack_gemm(np.ones((1, 1), np.int8), one, one << 30, one).tile
    assert costmodel.DENSE_TILE[isa] == (nr, kr)


def test_cost_model_pads_dense_to_the_tile():
    # a dense layer of N = 16 runs the kernel's 32 columns on AVX-512: MobileNetV2's first
    # projection (112 x 112 positions, 32 -> 16) at 90% 1x4 blocks is 2x faster sparse
    nr, kr = costmodel.DENSE_TILE["avx512vnni"]
    t16 = costmodel.predict("dense", 12544, 16, 32, 0, "avx512vnni")
    assert t16 == costmodel.predict("dense", 12544, nr, 32, 0, "avx512vnni")
    assert t16 < costmodel.predict("dense", 12544, nr + 1, 32, 0, "avx512vnni")
    w = np.zeros((16, 32), np.int8)
    w[np.arange(16), 4 * (np.arange(16) % 8)] = 1   # one 1x4 block per channel: 87.5%
    assert costmodel.choose(w, 12544, "avx512vnni")[0] == "kb4"
    # an unpruned layer stays dense, though its N = 16 makes the dense kernel slow too
    w = np.ones((16, 32), np.int8)
    w[0, :4] = 0
    assert costmodel.choose(w, 12544, "avx512vnni") == \
        ("dense", {"dense": costmodel.predict("dense", 12544, 16, 32, 0, "avx512vnni")})


def test_storage_follows_cost_model():
    rng = np.random.default_rng(1)
    dense = rng.integers(-127, 128, (64, 2048)).astype(np.int8)
    sparse = dense.copy()
    sparse[rng.random(sparse.shape) < 0.97] = 0
    mid = dense[:512, :64].copy()
    mid[rng.random(mid.shape) < 0.5] = 0
    ws = [sparse, np.ascontiguousarray(mid[:, :64].T[:64]), dense[:, :64]]
    for isa in ("avx512vnni", "avx2"):
        b = _builder(ws, 1)
        chosen = choose_storage(b, "auto", isa)
        for node, w in zip(b.nodes, ws):
            want, _ = costmodel.choose(w, 1, isa)
            storage = node["attrs"].get("storage", "dense")
            if want != "dense":   # the fastest sparse format, run by its sparse kernel
                assert chosen[node["name"]][0] == want
                assert storage == {"csr4x1": "csr"}.get(want, want)
                assert "run" not in node["attrs"]
            elif storage != "dense":   # smaller stored sparse, expanded and run dense
                assert chosen[node["name"]][0] == storage + ">dense"
                assert node["attrs"]["run"] == "dense"
                assert chosen[node["name"]][1] < w.size
    assert costmodel.choose(ws[0], 1, "avx2")[0] != "dense"   # 97% sparse: sparse wins
    assert costmodel.choose(ws[2], 1, "avx2")[0] == "dense"   # no zeros: never sparse
    b = _builder(ws, 1)
    assert all(v[0] == "dense" for v in choose_storage(b, "dense").values())
    b = _builder(ws, 1)
    c = choose_storage(b, "sparse")
    assert c["fc0"][0] == "csr" and c["fc2"][0] == "dense"


def test_sparse_file_runs_like_dense(tmp_path):
    src = mlp_model(tmp_path)
    xc = rand(64, 24)
    spec = {"sparsity": 0.8, "method": "magnitude", "sensitive": "prune"}
    a = convert(src, tmp_path / "d.qmodel", xc, prune=spec, storage="dense")
    b = convert(src, tmp_path / "s.qmodel", xc, prune=spec, storage="sparse")
    assert [r.storage for r in a.layers] == ["dense"] * 3
    assert [r.storage for r in b.layers if r.op == "FullyConnected"] == ["csr"] * 3
    assert all(r.weight_bytes < r.params for r in b.layers if r.params)
    md, ms = qengine.load(str(tmp_path / "d.qmodel")), qengine.load(str(tmp_path / "s.qmodel"))
    for x in rand(5, 1, 24):
        np.testing.assert_array_equal(md.run(x, raw=False), ms.run(x, raw=False))


def test_reconstruct_refits_only_pruned_layers(tmp_path):
    g = load_ir(block_model(tmp_path))
    batches = calib(g)
    last_conv = [n.name for n in g.nodes if n.op == "conv2d"][-1]
    student, info = prune_graph(g, batches, parse_spec({"sparsity": 0.6,
                                                        "exclude": (last_conv,)}))
    assert last_conv not in info.masks
    before = {k: v.copy() for k, v in weights(student).items()}
    done = reconstruct(g, student, batches, info.masks, info.keep)
    assert set(done) == set(info.masks) and info.masks
    for name, w in weights(student).items():
        assert np.array_equal(w, before[name]) == (name not in info.masks), name
    unpruned = copy.deepcopy(g)
    assert reconstruct(g, unpruned, batches) == {}
    assert all(np.array_equal(w, weights(g)[k]) for k, w in weights(unpruned).items())


def test_recovery_beats_none(tmp_path):
    src = block_model(tmp_path)
    xc = np.random.default_rng(7).standard_normal((48, 3, 7, 6)).astype(np.float32)
    for method in ("magnitude", "importance", "channel"):
        spec = {"sparsity": 0.6, "method": method, "sensitive": "prune"}
        a = convert(src, tmp_path / "a.qmodel", xc, prune=spec, recover=False)
        b = convert(src, tmp_path / "b.qmodel", xc, prune=spec, recover=True)
        assert b.output_sqnr_db > a.output_sqnr_db, (method, a.output_sqnr_db,
                                                     b.output_sqnr_db)


def test_cli_prune_flags(tmp_path, capsys):
    src = mlp_model(tmp_path)
    np.save(tmp_path / "c.npy", rand(32, 24))
    out = tmp_path / "m.qmodel"
    assert cli_main(["convert", src, "-o", str(out), "--calib", str(tmp_path / "c.npy"),
                     "--prune-sparsity", "0.8", "--prune-method", "importance",
                     "--no-recover", "--storage", "sparse"]) == 0
    text = capsys.readouterr().out
    assert "csr" in text
    s = F.read(str(out)).header["settings"]
    assert s["prune"]["sparsity"] == 0.8 and s["prune"]["method"] == "importance"
    assert s["recover"] is False and s["storage"] == "sparse"
    assert cli_main(["convert", src, "-o", str(out), "--calib", str(tmp_path / "c.npy"),
                     "--prune-sparsity", "0.5", "--prune-method", "2:4", "--recover"]) == 0
    s = F.read(str(out)).header["settings"]
    assert s["recover"] is True and s["prune"]["method"] == "2:4"
    assert cli_main(["convert", src, "-o", str(out), "--calib", str(tmp_path / "c.npy"),
                     "--prune-sparsity", "1.5"]) == 1
    assert "sparsity" in capsys.readouterr().err
    json.dumps(s)
