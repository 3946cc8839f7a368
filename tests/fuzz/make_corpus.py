#!/usr/bin/env python3
"""make_corpus.py -- write the seed corpora of the fuzz harnesses
(tests/fuzz/corpus/<harness>/), small valid files and edge cases, in the
input formats each harness's header comment describes.  Standard library
only (the NPY, IDX and gzip bytes are written by hand).

    python3 tests/fuzz/make_corpus.py      # from the repository root
"""
import gzip
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")


def npy(shape, values, descr="<f8", version=1, fortran=False, header=None):
    """The bytes of an .npy file (numpy's layout: 64-byte aligned header)."""
    if header is None:
        shp = "(" + "".join("%d, " % s for s in shape) + ")" if len(shape) != 1 else "(%d,)" % shape[0]
        if len(shape) > 1:
            shp = "(" + ", ".join(str(s) for s in shape) + ")"
        header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
            descr, "True" if fortran else "False", shp)
    h = header.encode("latin1" if version < 3 else "utf8")
    lenfmt, lensz = ("<H", 2) if version == 1 else ("<I", 4)
    pre = 6 + 2 + lensz
    pad = (64 - (pre + len(h) + 1) % 64) % 64
    h = h + b" " * pad + b"\n"
    fmt = {"<f8": "d", "<f4": "f", "<i8": "q", "<i4": "i", "|u1": "B", "|i1": "b", "|b1": "?",
           "<u2": "H"}[descr]
    data = struct.pack("<%d%s" % (len(values), fmt), *values)
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(lenfmt, len(h)) + h + data


def write(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as fp:
        fp.write(data)


def eye(d, s=1.0):
    return [s if i == j else 0.0 for i in range(d) for j in range(d)]


# ---- fuzz_npy: the input is the file ----
write("fuzz_npy", "v1_f8_2x2", npy((2, 2), [1.0, 2.0, 2.0, 3.0]))
write("fuzz_npy", "v2_f8_3", npy((3,), [1.0, -0.5, 4.0], version=2))
write("fuzz_npy", "v3_f4_2x1x2", npy((2, 1, 2), [1.0, 2.0, 3.0, 4.0], descr="<f4", version=3))
write("fuzz_npy", "v1_scalar", npy((), [7.0]))
write("fuzz_npy", "v1_empty_0x3", npy((0, 3), []))
write("fuzz_npy", "v1_i8", npy((3,), [0, 1, -2], descr="<i8"))
write("fuzz_npy", "v1_u1", npy((4,), [0, 1, 2, 255], descr="|u1"))
write("fuzz_npy", "v1_b1", npy((2,), [True, False], descr="|b1"))
write("fuzz_npy", "v1_fortran", npy((2, 2), [1.0, 0, 0, 1.0], fortran=True))
write("fuzz_npy", "v1_dquote_keys", npy(None, [1.0, 2.0], header='{"shape": (2,), "descr": "<f8", "fortran_order": False}'))
write("fuzz_npy", "v1_big_shape", npy(None, [1.0], header="{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }"))
# shapes whose element or byte counts wrap around 2^64 to 0, with no data:
# a reader that multiplies without overflow checks takes them as valid
write("fuzz_npy", "v1_bytes_wrap_to_zero", npy(None, [], header="{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952, 2), }"))
write("fuzz_npy", "v1_count_wraps_to_zero", npy(None, [], header="{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }"))
# found by fuzz_npy: a zero dimension hid an overflowing product of the others
write("fuzz_npy", "v1_zero_dim_hides_overflow", npy(None, [], descr="<f4", header="{'descr': '<f4', 'fortran_order': False, 'shape': (5, 1, 3009210, 395, 93693952, 952, 693952, 0), }"))
write("fuzz_npy", "v1_truncated", npy((4,), [1.0, 2.0, 3.0, 4.0])[:-5])

# ---- fuzz_family: a flags byte (kind, allow_indefinite, use_m2, rotate, tolerances), then NPY ----
DENSE, FACT, DIAG = 0, 1, 2
ALLOW, M2, ROT = 4, 8, 16
fam = {
    "dense_psd_2x2x2": (DENSE | ROT, npy((2, 2, 2), [2.0, 1.0, 1.0, 2.0] + eye(2))),
    "dense_rank1_3x3x3": (DENSE | ROT, npy((3, 3, 3), [1, 1, 0, 1, 1, 0, 0, 0, 0] * 3)),
    "dense_indefinite_allowed": (DENSE | ALLOW | M2 | ROT, npy((2, 2, 2), [1.0, 0, 0, -1.0, 2.0, 0.5, 0.5, 1.0])),
    "dense_indefinite_refused": (DENSE, npy((1, 2, 2), [1.0, 0, 0, -1.0])),
    "dense_asymmetric": (DENSE | 0x40, npy((1, 2, 2), [1.0, 0.3, 0.0, 1.0])),
    "dense_zero": (DENSE, npy((2, 2, 2), [0.0] * 8)),
    "dense_f4_v2": (DENSE | ROT, npy((1, 3, 3), eye(3, 2.0), descr="<f4", version=2)),
    "factored_2x3x1": (FACT | ROT, npy((2, 3, 1), [1.0, 0.0, 1.0, 0.0, 2.0, 0.0])),
    "factored_1x2x2": (FACT | M2, npy((1, 2, 2), [1.0, 0.5, 0.0, 1.0])),
    "diag_3x4": (DIAG | ROT, npy((3, 4), [1, 0, 2, 0, 0, 0, 3, 0, 1, 0, 1, 0])),
    "diag_negative_allowed": (DIAG | ALLOW | M2, npy((2, 2), [1.0, -1.0, 2.0, 0.5])),
    "diag_wrong_ndim": (DIAG, npy((2, 2, 2), [1.0] * 8)),
    "dense_nan": (DENSE, npy((1, 2, 2), [1.0, float("nan"), float("nan"), 1.0])),
    "dense_huge": (DENSE | 0x80, npy((1, 2, 2), [1e300, 0.0, 0.0, 1e-300])),
}
for name, (flags, body) in fam.items():
    write("fuzz_family", name, bytes([flags]) + body)

# ---- fuzz_mlp: model.json, W1.npy, b1.npy, W2.npy, ... separated by "#@#\n" ----
SEP = b"#@#\n"


def model(layers, act="tanh", bias=True, extra=b"", out=None):
    js = ('{"layers": [%s], "activation": "%s", "bias": %s%s}' % (
        ", ".join(str(x) for x in layers), act, "true" if bias else "false",
        ', "output_activation": "%s"' % out if out else "")).encode()
    parts = [js]
    for l in range(1, len(layers)):
        r, c = layers[l], layers[l - 1]
        parts.append(npy((r, c), [0.1 * (i + 1) for i in range(r * c)]))
        parts.append(npy((r,), [0.01 * i for i in range(r)]) if bias else b"")
    return SEP.join(parts) + extra


write("fuzz_mlp", "tanh_2_3_1", model([2, 3, 1]))
write("fuzz_mlp", "relu_3_2_2_1", model([3, 2, 2, 1], act="relu"))
write("fuzz_mlp", "gelu_nobias_2_2", model([2, 2], act="gelu", bias=False))
write("fuzz_mlp", "softplus_1_1", model([1, 1], act="softplus"))
write("fuzz_mlp", "sigmoid_1_4_2", model([1, 4, 2], act="sigmoid"))
write("fuzz_mlp", "bad_chain", SEP.join([b'{"layers": [2, 3], "activation": "tanh", "bias": true}',
                                         npy((2, 3), [1.0] * 6), npy((3,), [0.0] * 3)]))
write("fuzz_mlp", "missing_b1", b'{"layers": [2, 1], "activation": "tanh"}' + SEP + npy((1, 2), [1.0, 2.0]))
write("fuzz_mlp", "nan_weight", SEP.join([b'{"layers": [1, 1], "activation": "tanh", "bias": false}',
                                          npy((1, 1), [float("nan")])]))
write("fuzz_mlp", "json_only_unknown_act", b'{"layers": [4, 4], "activation": "swish", "bias": true}')
write("fuzz_mlp", "tanh_out_tanh_nobias_1_1_1", model([1, 1, 1], bias=False, out="tanh"))
write("fuzz_mlp", "json_only_unknown_output_act",
      b'{"layers": [2, 1], "activation": "tanh", "bias": false, "output_activation": "swish"}')
write("fuzz_mlp", "json_17_layers", ('{"layers": [%s], "activation": "tanh"}' % ", ".join(["1"] * 18)).encode())

# ---- fuzz_idx: a flags byte (bit 0: gzip the rest; bits 2-7: item limit), then IDX ----
def idx(dims, payload):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", x) for x in dims) + bytes(payload)


write("fuzz_idx", "labels_raw", b"\x00" + idx((5,), [0, 1, 2, 9, 3]))
write("fuzz_idx", "labels_gz_by_harness", b"\x01" + idx((5,), [0, 1, 2, 9, 3]))
write("fuzz_idx", "images_2x3x3_raw", b"\x00" + idx((2, 3, 3), range(18)))
write("fuzz_idx", "images_2x3x3_limit1", bytes([1 << 2]) + idx((2, 3, 3), range(18)))
write("fuzz_idx", "images_gz_file", b"\x00" + gzip.compress(idx((2, 2, 2), [255] * 8), mtime=0))
write("fuzz_idx", "matrix_3x2_gz", b"\x01" + idx((3, 2), [1, 2, 3, 4, 5, 6]))
write("fuzz_idx", "truncated", b"\x00" + idx((4, 2, 2), [1] * 10))
write("fuzz_idx", "bad_type", b"\x00" + bytes([0, 0, 0x0d, 1]) + struct.pack(">I", 1) + b"\x00\x00\x80\x3f")
write("fuzz_idx", "huge_dims", b"\x00" + idx((65536, 16777216, 16777216), []))

# ---- fuzz_parse: a selector byte (see fuzz_parse.c), then the text ----
AXIS, NUM, ETA, MOM, U64, THREADS, BATCHES, LAYERS = range(8)
parse = {
    "axis_eta_range": (AXIS, "eta=0.1:1:10"), "axis_eta_log": (AXIS, "eta=log:0.01:1:5"),
    "axis_batch_step": (AXIS, "batch=1:100:3"), "axis_sigma_list": (AXIS, "sigma=1,2,5,50"),
    "axis_rho_single": (AXIS, "rho=0"), "axis_inverted": (AXIS, "eta=1:0.1:5"),
    "axis_huge_count": (AXIS, "eta=0.1:1:2305843009213693952"), "axis_batch_1e300": (AXIS, "batch=1:1e300"),
    "num_exp": (NUM, "-1.5e-3"), "num_denormal": (NUM, "1e-320"), "num_hex": (NUM, "0x10"),
    "num_inf": (NUM, "inf"), "num_overflow": (NUM, "1e400"), "eta_point5": (ETA, ".5"),
    "eta_zero": (ETA, "0"), "momentum_one": (MOM, "1"), "momentum_half": (MOM, "0.5"),
    "u64_plain": (U64, "12345"), "u64_space_minus": (U64, " -1"), "u64_hex": (U64, "0x10"),
    "u64_max": (U64, "18446744073709551615"), "u64_over": (U64, "18446744073709551616"),
    "threads_big": (THREADS, "100000"), "threads_2": (THREADS, "2"),
    "batches_mixed": (BATCHES, "1,2,10:100:10"), "batches_range": (BATCHES, "5:20"),
    "batches_wrap_step": (BATCHES, "2:1000:18446744073709551615"),
    "batches_huge": (BATCHES, "1:18446744073709551615"), "batches_empty_item": (BATCHES, "1,,2"),
    "layers": (LAYERS, "784,300,100,10"), "layers_zero": (LAYERS, "0,1"),
}
for name, (sel, s) in parse.items():
    write("fuzz_parse", name, bytes([sel]) + s.encode())

# ---- fuzz_csv: the file's bytes ----
csv = {
    "train_log": b"step,loss,sharpness\n0,2.3,\n10,1.1,4.5\n20,0.5,3.9\n",
    "crlf_no_final_newline": b"a,b\r\n1,2\r\n3,4",
    "nan_inf": b"x,y\n1,nan\n2,-inf\n3,inf\n",
    "one_column": b"eta\n0.1\n1e-320\n",
    "header_only": b"a,b,c\n",
    "blank_lines_at_end": b"a\n1\n\n\n",
    "ragged": b"a,b\n1,2\n3\n",
    "hex_and_space": b"a,b\n0x10, 2\n",
    "duplicate_names": b"a,a\n1,2\n",
    "quoted": b'"a",b\n1,2\n',
    "overflow": b"a\n1e400\n",
    "blank_between": b"a\n1\n\n2\n",
}
for name, body in csv.items():
    write("fuzz_csv", name, body)

# ---- fuzz_checkpoint: a flags byte (bit 0 fix the length, bit 1 append the SHA-256), then the file ----
import hashlib


def checkpoint(parts, done, vals, nfields, version=2, magic=b"LSMAPCK2"):
    body = b""
    for name, content in parts:
        nm = name.encode()
        body += struct.pack("<H", len(nm)) + nm + hashlib.sha256(content).digest()
    body += struct.pack("<QI", len(done), nfields) + bytes(done)
    body += struct.pack("<%dd" % len(vals), *vals)
    total = 8 + 4 + 8 + 4 + len(body) + 32
    head = magic + struct.pack("<IQI", version, total, len(parts))
    return head + body  # without the checksum


def sealed(b):
    return b + hashlib.sha256(b).digest()


ck = checkpoint([("the contents of the family file", b"\x93NUMPY..."), ("--eta", b"0.5"),
                 ("the x axis", b"sigma=1:50"), ("the y axis", b"batch=1:100")],
                [1, 0, 1], [0.5, 1.0, float("nan"), 2.0, -1.0, 1e300], 2)
write("fuzz_checkpoint", "valid_sealed", b"\x00" + sealed(ck))
write("fuzz_checkpoint", "valid_harness_seals", b"\x03" + ck)
write("fuzz_checkpoint", "no_parts_no_cells", b"\x03" + checkpoint([], [], [], 1))
write("fuzz_checkpoint", "one_cell_64_fields", b"\x03" + checkpoint([("p", b"")], [1], [float(i) for i in range(64)], 64))
write("fuzz_checkpoint", "flipped_value", b"\x00" + sealed(ck)[:-40] + b"\x01" + sealed(ck)[-39:])
write("fuzz_checkpoint", "truncated", b"\x00" + sealed(ck)[:-7])
write("fuzz_checkpoint", "version1", b"\x03" + checkpoint([("p", b"")], [0], [0.0], 1, magic=b"LSMAPCK1"))
write("fuzz_checkpoint", "version3", b"\x03" + checkpoint([("p", b"")], [0], [0.0], 1, version=3))
write("fuzz_checkpoint", "done_flag_2", b"\x03" + checkpoint([("p", b"")], [2], [0.0], 1))
write("fuzz_checkpoint", "huge_cell_count", b"\x03" + checkpoint([], [], [], 1)[:-12] + struct.pack("<QI", 1 << 61, 8))
# regression: two identity parts with one name (the checkpoint then never
# matches even its own identity; found by fuzz_checkpoint)
write("fuzz_checkpoint", "duplicate_part_names", b"\x03" + checkpoint([("p", b"a"), ("p", b"b")], [1], [1.0], 1))


# ---- fuzz_safetensors: the input is the file ----
def safetensors(tensors, meta=None, header=None, pad=True):
    """The bytes of a .safetensors file: tensors = [(name, dtype, shape, values)]."""
    import json
    hd, buf = {}, b""
    if meta is not None:
        hd["__metadata__"] = meta
    for name, dtype, shape, values in tensors:
        data = struct.pack("<%d%s" % (len(values), {"F64": "d", "F32": "f"}[dtype]), *values)
        hd[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [len(buf), len(buf) + len(data)]}
        buf += data
    h = (header if header is not None else json.dumps(hd)).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + buf


mlp2 = [("0.weight", "F64", (2, 3), [0.1, -0.2, 0.3, 0.4, 0.5, -0.6]), ("0.bias", "F64", (2,), [0.0, 1.0]),
        ("2.weight", "F64", (1, 2), [1.0, -1.0]), ("2.bias", "F64", (1,), [0.5])]
write("fuzz_safetensors", "mlp_f64", safetensors(mlp2, meta={"format": "pt", "activation": "tanh"}))
write("fuzz_safetensors", "mlp_f32_nobias", safetensors([("0.weight", "F32", (2, 2), [0.1, 0.2, 0.3, 0.4]),
                                                         ("3.weight", "F32", (1, 2), [1.0, 2.0])]))
write("fuzz_safetensors", "empty", safetensors([]))
write("fuzz_safetensors", "scalar_and_zero", safetensors([("s", "F64", (), [3.0]), ("z", "F64", (0, 4), [])]))
write("fuzz_safetensors", "escapes", safetensors([("a\"b\u00e9", "F64", (1,), [1.0])], header=None))
write("fuzz_safetensors", "truncated", safetensors(mlp2)[:-5])
write("fuzz_safetensors", "overlap", safetensors([], header='{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},'
                                                             '"b":{"dtype":"F64","shape":[2],"data_offsets":[8,24]}}') + bytes(24))
write("fuzz_safetensors", "bf16", safetensors([], header='{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}') + bytes(4))
write("fuzz_safetensors", "huge_shape", safetensors([], header='{"a":{"dtype":"F64","shape":[4294967296,4294967296],'
                                                                '"data_offsets":[0,0]}}'))
