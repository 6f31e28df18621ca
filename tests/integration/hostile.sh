#!/usr/bin/env bash
# Hostile input through every front-end command, each run under an address-space limit: config
# files that never end, decompression bombs and files or configs declaring sizes they cannot
# have end in exactly one "simmatch: error:" line naming the file, entry or key (exit 1), never
# in "out of memory" or a kill; NPZ entries a command does not need are not even inflated.
source "$(dirname "$0")/cli_common.sh"
have_python || { echo "skipped: no $PYTHON"; exit 77; }
command -v prlimit >/dev/null || { echo "skipped: no prlimit"; exit 77; }
unset SIMMATCH_MEMORY_BUDGET
# 2 GiB of address space: the default budget is then a quarter of it, 512 MiB.
LIMIT=$((2 << 30))
limited() { prlimit --as=$LIMIT -- "$@"; }
S=(limited "$SIMMATCH")

# Inputs: small good data, bombs (real data that inflate far beyond the budget) and liars
# (headers or zip directories declaring more than the file holds).
"$PYTHON" - "$TMP" <<'PY' || { fail "writing the hostile inputs"; finish; }
import gzip, os, random, struct, sys, zlib
d = sys.argv[1]

def npy_header(descr, shape):
    text = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, repr(tuple(shape)))
    text += " " * ((64 - (10 + len(text) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode()

random.seed(1)
with open(d + "/x.npy", "wb") as f:  # 40 samples of 6 x 6 in [0, 1]
    f.write(npy_header("<f4", (40, 6, 6)) + struct.pack("<1440f", *[random.random() for _ in range(1440)]))
with open(d + "/liar.npy", "wb") as f:  # declares 4 TB, holds 16 bytes
    f.write(npy_header("<f4", (1000000, 1000000)) + bytes(16))

def idx_gz(path, dims, data_bytes, tail=b""):
    with open(path, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as z:
            z.write(bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", n) for n in dims))
            block = bytes(1 << 20)
            left = data_bytes
            while left > 0:
                z.write(block[:min(left, len(block))])
                left -= len(block)
        raw.write(tail)

idx_gz(d + "/bomb.idx.gz", (300, 1000, 1000), 300 * 1000 * 1000)  # 300 MB of zeros, all there
idx_gz(d + "/liar.idx.gz", (60000, 100000), 100)                 # declares 6 GB, holds 100 bytes
idx_gz(d + "/trailing.idx.gz", (40, 6, 6), 1440, tail=b"garbage after the stream")

os.makedirs(d + "/digits")
os.symlink("/dev/zero", d + "/digits/0.json")  # a digits file that never ends
for digit in range(1, 10):
    open(d + "/digits/%d.json" % digit, "w").write('{"data": []}')

def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

os.makedirs(d + "/images")
with open(d + "/images/huge.png", "wb") as f:  # 16000 x 16000 gray declared, 1 row of data
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16000, 16000, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(bytes(16001))) + chunk(b"IEND", b""))
PY
printf '[[layers]]\ntype = "dense"\nneurons = 3\n[train]\nepochs = 1\ncost_samples = 0\n' >"$TMP/dense.toml"
TRAIN=("${S[@]}" train "$TMP/dense.toml" "output.dir=$TMP/out")

# train and params: the config, the data and the layers.
expect_error "train /dev/zero" "/dev/zero: larger than the 1.0 MiB limit of config files" "${S[@]}" train /dev/zero
expect_error "params /dev/zero" "/dev/zero: larger than the 1.0 MiB limit of config files" "${S[@]}" params /dev/zero
expect_error "train on a gzip bomb" "$TMP/bomb.idx.gz: an array of 300 x 1000 x 1000 ubyte values" \
  "${TRAIN[@]}" data.format=idx "data.path=$TMP/bomb.idx.gz"
expect_error "train on a gzip liar" "$TMP/liar.idx.gz" "${TRAIN[@]}" data.format=idx "data.path=$TMP/liar.idx.gz"
expect_error "train on an NPY liar" "$TMP/liar.npy" "${TRAIN[@]}" data.format=npy "data.path=$TMP/liar.npy"
expect_error "train on a digits file that never ends" "$TMP/digits/0.json: larger than" \
  "${TRAIN[@]}" "data.path=$TMP/digits"
expect_error "train on bytes after a gzip stream" "unexpected bytes after the gzip stream" \
  "${TRAIN[@]}" data.format=idx "data.path=$TMP/trailing.idx.gz"
expect_error "train a dense layer of 10^5 neurons" "key 'layers.0.neurons': layer 1 (dense: 100000 neurons" \
  "${TRAIN[@]}" data.format=npy "data.path=$TMP/x.npy" layers.0.neurons=100000
expect_error "train 10^7 neurons per site" "key 'layers.0.neurons_per_site'" \
  "${TRAIN[@]}" data.format=npy "data.path=$TMP/x.npy" layers.0.type=local2d layers.0.neurons_per_site=10000000
expect_error "train a batch count that overflows" "key 'train.batch_size'" \
  "${TRAIN[@]}" data.format=npy "data.path=$TMP/x.npy" train.batch_size=9223372036854775807

# A model to abuse: trained on the small data, then given a bomb beside its arrays, a bomb in
# place of W1_data, and a directory claiming W1_data holds 3 GiB.
if ! "${TRAIN[@]}" data.format=npy "data.path=$TMP/x.npy" 2>"$TMP/train.err"; then
  fail "training the small model: $(cat "$TMP/train.err")"
  finish
fi
MODEL=$TMP/out/model.npz
"$PYTHON" - "$MODEL" "$TMP" <<'PY' || { fail "writing the hostile models"; finish; }
import struct, sys, zipfile
model, d = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(model) as z:
    entries = {name: z.read(name) for name in z.namelist()}

def bomb_npy(zf, name, count):  # count float32 zeros, deflated while written
    text = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), }" % count
    text += " " * ((64 - (10 + len(text) + 1) % 64) % 64) + "\n"
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w", force_zip64=True) as out:
        out.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode())
        block = bytes(1 << 20)
        for _ in range(count * 4 // len(block)):
            out.write(block)

def write(path, skip=(), bomb=None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            if name not in skip:
                zf.writestr(name, data)
        if bomb:
            bomb_npy(zf, bomb, 150 << 20)  # 600 MiB of zeros, about 600 KB deflated

write(d + "/model_junk.npz", bomb="junk.npy")
write(d + "/model_wbomb.npz", skip=("W1_data.npy",), bomb="W1_data.npy")
# The liar: stored entries, W1_data's uncompressed size set to 3 GiB in both its headers.
with zipfile.ZipFile(d + "/model_liar.npz", "w", zipfile.ZIP_STORED) as zf:
    for name, data in entries.items():
        zf.writestr(name, data)
raw = bytearray(open(d + "/model_liar.npz", "rb").read())
name = b"W1_data.npy"
for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
    at = 0
    while True:
        at = raw.find(signature, at)
        if at < 0:
            break
        name_at = at + (30 if signature == b"PK\x03\x04" else 46)
        if raw[name_at:name_at + len(name)] == name:
            raw[at + size_at:at + size_at + 4] = struct.pack("<I", 3 << 30)
        at += 4
open(d + "/model_liar.npz", "wb").write(raw)
PY
ls -l "$TMP"/model_*.npz | awk '{print "  " $5 " bytes " $9}'

# encode: an unused bomb is never inflated; a needed one and a lying directory are refused.
if "${S[@]}" encode "$TMP/model_junk.npz" "$TMP/x.npy" "$TMP/r.npy" --format npy 2>"$TMP/err.txt"; then
  pass "encode ignores an unused 600 MiB bomb entry under the limit"
else
  fail "encode with an unused bomb entry: $(cat "$TMP/err.txt")"
fi
expect_error "encode a model whose W1_data is a bomb" "$TMP/model_wbomb.npz: entry 'W1_data.npy'" \
  "${S[@]}" encode "$TMP/model_wbomb.npz" "$TMP/x.npy" "$TMP/r.npy" --format npy
expect_error "encode a model whose directory lies" "entry 'W1_data.npy': declares 3221225472 bytes but stores" \
  "${S[@]}" encode "$TMP/model_liar.npz" "$TMP/x.npy" "$TMP/r.npy" --format npy
expect_error "encode a gzip bomb" "$TMP/bomb.idx.gz" \
  "${S[@]}" encode "$MODEL" "$TMP/bomb.idx.gz" "$TMP/r.npy" --format idx

# evaluate, rsm, features: the same model files and data through each.
expect_error "evaluate a bomb model" "entry 'W1_data.npy'" "${S[@]}" evaluate "$TMP/model_wbomb.npz" \
  --data "$TMP/x.npy" --format npy
expect_error "evaluate a lying model" "declares 3221225472 bytes" "${S[@]}" evaluate "$TMP/model_liar.npz" \
  --data "$TMP/x.npy" --format npy
expect_error "evaluate on a gzip bomb" "$TMP/bomb.idx.gz" "${S[@]}" evaluate "$MODEL" \
  --data "$TMP/bomb.idx.gz" --format idx --labels "$TMP/bomb.idx.gz"
expect_error "evaluate features that lie" "$TMP/liar.npy" "${S[@]}" evaluate \
  --train-features "$TMP/liar.npy" --test-features "$TMP/liar.npy" --labels "$TMP/x.npy" --test-labels "$TMP/x.npy"
expect_error "rsm of a bomb model" "entry 'W1_data.npy'" "${S[@]}" rsm "$TMP/model_wbomb.npz" \
  --data "$TMP/x.npy" --format npy --out "$TMP/rsm"
expect_error "rsm of features that lie" "$TMP/liar.npy" "${S[@]}" rsm --features "$TMP/liar.npy" --out "$TMP/rsm"
expect_error "rsm on a gzip bomb" "$TMP/bomb.idx.gz" "${S[@]}" rsm "$MODEL" --data "$TMP/bomb.idx.gz" \
  --format idx --out "$TMP/rsm"
expect_error "features of a lying model" "declares 3221225472 bytes" "${S[@]}" features "$TMP/model_liar.npz" \
  --data "$TMP/x.npy" --format npy --out "$TMP/feat"
expect_error "features on a gzip bomb" "$TMP/bomb.idx.gz" "${S[@]}" features "$MODEL" --data "$TMP/bomb.idx.gz" \
  --format idx --out "$TMP/feat"

# patches: an image declaring 16000 x 16000 pixels, and more patches than the budget holds.
expect_error "patches of an image declaring 2.6e8 pixels" "huge.png: a 16000 x 16000 image" \
  "${S[@]}" patches "$TMP/images" "$TMP/p.npy"
expect_error "patches over the budget" "patches: 100000000 patches of 16 x 16 pixels" \
  "${S[@]}" patches "$TMP/images" "$TMP/p.npy" --count 100000000

# bench: a digits file that never ends, and a reference layer too large to build.
expect_error "bench on a digits file that never ends" "$TMP/digits/0.json: larger than" \
  "${S[@]}" bench --mnist "$TMP/digits" --samples 10 --encode-samples 10 --warmup 0 --no-peak
expect_error "bench with 10^7 neurons per site" "more than 2147483647 synapses" \
  "${S[@]}" bench --neurons-per-site 10000000 --samples 10 --encode-samples 10 --warmup 0 --no-peak

[ -e "$TMP/r.npy" ] && [ "$(stat -c %s "$TMP/r.npy")" -gt 0 ] || fail "encode of model_junk.npz wrote no output"
finish
