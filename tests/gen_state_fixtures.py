#!/usr/bin/python3
# gen_state_fixtures.py: the PyTorch side of hyperbn's state files (SEMANTICS 7).
#  (1) Writes torch-made state_dicts as safetensors into tests/fixtures/state/ (seed_layer,
#      seed_frozen, torch_bn2d, torch_bn1d_plain) and their values into expected.json, which
#      tests/check_state.c imports and compares against.
#  (2) Verifies that tests/fixtures/state/hyperbn_layer.safetensors, made by hyperbn's encoder,
#      loads into the seed's BatchNormLayer with load_state_dict(strict=True) with the values the
#      C test put in (KNOWN below; keep the two in sync).
# The chicken and egg: hyperbn_layer.safetensors is written by the C encoder, not by this script
# (`tests/check_state --write-hyperbn-fixture FILE`), and committed; check_state then asserts the
# encoder still produces exactly those bytes, and this script asserts that torch accepts them.
# Regenerate: /usr/bin/python3 tests/gen_state_fixtures.py (Debian's python3-torch; needs no
# safetensors package: the container is read and written here, 8-byte length + JSON + raw data).
# The fixtures are deterministic (fixed seeds); rerunning rewrites identical bytes.
#
# The class BatchNormLayer below is a minimal copy of hypnettorch's utils/batchnorm_layer.py
# (the parts these fixtures use: construction, forward with tracked statistics, checkpoints):
#
# Copyright 2019 Christian Henning
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#    http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "state")


class BatchNormLayer(nn.Module):
    """The seed's BatchNormLayer, reduced to what the fixtures exercise (same state_dict keys)."""

    def __init__(self, num_features, momentum=0.1, affine=True, track_running_stats=True,
                 frozen_stats=False, learnable_stats=False):
        super(BatchNormLayer, self).__init__()
        if learnable_stats or momentum is None:
            raise NotImplementedError()
        if frozen_stats and track_running_stats:
            raise ValueError('Option "track_running_stats" must be set to ' +
                             'False when enabling "frozen_stats".')
        self._num_features = num_features
        self._momentum = momentum
        self._affine = affine
        self._track_running_stats = track_running_stats
        self._frozen_stats = frozen_stats
        self._learnable_stats = learnable_stats
        self.register_buffer('_num_stats', torch.tensor(0, dtype=torch.long))
        self._weights = nn.ParameterList()
        if affine:
            self.register_parameter('scale', nn.Parameter(
                torch.Tensor(num_features), requires_grad=True))
            self.register_parameter('bias', nn.Parameter(
                torch.Tensor(num_features), requires_grad=True))
            self._weights.append(self.scale)
            self._weights.append(self.bias)
            nn.init.ones_(self.scale)
            nn.init.zeros_(self.bias)
        else:
            self._weights = None
        if track_running_stats or frozen_stats:
            self.checkpoint_stats()
        else:
            mname, vname = self._stats_names(0)
            self.register_buffer(mname, None)
            self.register_buffer(vname, None)

    @property
    def num_stats(self):
        return self._num_stats

    def forward(self, inputs, stats_id=None):
        # Only the tracked-statistics path of the seed's forward (no given stats).
        assert self._track_running_stats
        weight = self.scale if self._affine else None
        bias = self.bias if self._affine else None
        if stats_id is None and self.num_stats > 1:
            raise ValueError('Parameter "stats_id" is not defined but ' +
                             'multiple running stats are available.')
        if stats_id is None:
            stats_id = 0
        assert stats_id < self.num_stats
        rm, rv = self.get_stats(stats_id)
        return F.batch_norm(inputs, rm, rv, weight=weight, bias=bias,
                            training=self.training, momentum=self._momentum)

    def checkpoint_stats(self, device=None):
        assert (self._track_running_stats or
                self._frozen_stats and self._num_stats == 0)
        if device is None:
            if self.num_stats > 0:
                mname_old, _ = self._stats_names(self._num_stats - 1)
                device = getattr(self, mname_old).device
        mname, vname = self._stats_names(self._num_stats)
        self._num_stats += 1
        self.register_buffer(mname, torch.zeros(self._num_features, device=device))
        self.register_buffer(vname, torch.ones(self._num_features, device=device))

    def get_stats(self, stats_id=None):
        if stats_id is None:
            stats_id = self.num_stats - 1
        assert stats_id < self.num_stats
        mname, vname = self._stats_names(stats_id)
        return getattr(self, mname), getattr(self, vname)

    def _stats_names(self, stats_id):
        return 'mean_%d' % stats_id, 'var_%d' % stats_id


# ---- the safetensors container, by hand ----------------------------------------------------

DTYPES = {torch.float32: ("F32", "<f4"), torch.int64: ("I64", "<i8")}
NUMPY = {"F32": "<f4", "I64": "<i8", "F64": "<f8", "I32": "<i4"}


def write_safetensors(path, tensors, metadata):
    """Writes TENSORS (a list of (name, tensor) pairs, laid out in that order, which need not be
    sorted: readers must go by the offsets) with METADATA, the header padded with spaces to 8."""
    header, chunks, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors:
        code, np_dtype = DTYPES[t.dtype]
        raw = t.detach().contiguous().numpy().astype(np_dtype).tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def read_safetensors(path):
    """Returns ({name: tensor}, metadata, data section) after checking the layout strictly."""
    import numpy as np
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    assert 8 + n <= len(buf), "header length past the end"
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    data = buf[8 + n:]
    metadata = header.pop("__metadata__", {})
    spans, tensors = [], {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=NUMPY[info["dtype"]])
        assert arr.size == int(np.prod(info["shape"], dtype=np.int64)), name
        tensors[name] = torch.from_numpy(arr.reshape(info["shape"]).copy())
        spans.append((begin, end))
    at = 0
    for begin, end in sorted(spans):
        assert begin == at, "gap or overlap in the data section"
        at = end
    assert at == len(data), "data section not covered exactly"
    return tensors, metadata, data


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


# ---- (1) torch-made fixtures ---------------------------------------------------------------

def train(module, batches, stats_id=None):
    """A few SGD steps, so weights and running statistics both move away from their inits."""
    params = list(module.parameters())
    opt = torch.optim.SGD(params, lr=0.1) if params else None
    for x in batches:
        y = module(x) if stats_id is None else module(x, stats_id=stats_id)
        if opt is not None:
            opt.zero_grad()
            (y * torch.linspace(-1.0, 1.0, y.numel()).reshape(y.shape)).sum().backward()
            opt.step()


def make_fixtures():
    torch.manual_seed(440)
    seed = BatchNormLayer(4, momentum=0.1)
    for task in range(3):  # three tasks, one statistics slot each: _num_stats 3
        if task > 0:
            seed.checkpoint_stats()
        train(seed, [torch.randn(8, 4, 3) * (task + 1) + task for _ in range(3)], task)
    frozen = BatchNormLayer(3, affine=False, track_running_stats=False, frozen_stats=True)
    bn2d = nn.BatchNorm2d(5)
    train(bn2d, [torch.randn(4, 5, 3, 3) * 2.0 + 0.5 for _ in range(4)])
    plain = nn.BatchNorm1d(3, affine=False, momentum=None)
    train(plain, [torch.randn(6, 3) - 1.0 for _ in range(5)])
    fixtures = {"seed_layer": seed, "seed_frozen": frozen, "torch_bn2d": bn2d,
                "torch_bn1d_plain": plain}
    expected = {}
    for name, module in fixtures.items():
        sd = module.state_dict()
        write_safetensors(os.path.join(OUT, name + ".safetensors"), list(sd.items()),
                          {"format": "pt"})
        expected[name] = {k: v.tolist() for k, v in sd.items()}
        # The file loads back into a fresh module of the same kind, strictly.
        tensors, _, _ = read_safetensors(os.path.join(OUT, name + ".safetensors"))
        module.load_state_dict(tensors, strict=True)
        print("wrote %-22s keys: %s" % (name + ".safetensors", ", ".join(sd.keys())))
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


# ---- (2) hyperbn's own file loads into the seed ---------------------------------------------

# The layer tests/check_state.c encodes into hyperbn_layer.safetensors (known_layer there).
KNOWN = {
    "num_features": 3, "momentum": 0.25, "eps": 1e-3, "mode": "eval",
    "scale": [1.5, -0.5, 2.0], "bias": [0.25, 0.0, -1.0],
    "mean": [[0.5, -1.25, 3.0], [-0.125, 0.0, 10.5], [0.0, 0.0, 0.0]],
    "var": [[1.0, 0.5, 2.25], [0.75, 4.0, 0.0625], [1.0, 1.0, 1.0]],
    "counts": [7, 0, 2],
}


def verify_hyperbn_file():
    path = os.path.join(OUT, "hyperbn_layer.safetensors")
    if not os.path.exists(path):
        print("missing %s: run `tests/check_state --write-hyperbn-fixture %s` in a build" %
              (path, path))
        return False
    tensors, meta, data = read_safetensors(path)
    assert meta["hyperbn.format"] == "hyperbn-layer-state" and meta["hyperbn.version"] == "1"
    assert int(meta["hyperbn.crc32c"], 16) == crc32c(data), "CRC-32C mismatch"
    assert int(meta["hyperbn.num_features"]) == KNOWN["num_features"]
    assert float(meta["hyperbn.momentum"]) == KNOWN["momentum"]
    assert float(meta["hyperbn.eps"]) == KNOWN["eps"]
    assert meta["hyperbn.mode"] == KNOWN["mode"]
    assert json.loads(meta["hyperbn.num_batches_tracked"]) == KNOWN["counts"]
    num_stats = int(tensors["_num_stats"])
    layer = BatchNormLayer(int(meta["hyperbn.num_features"]),
                           momentum=float(meta["hyperbn.momentum"]),
                           affine=meta["hyperbn.affine"] == "true",
                           track_running_stats=meta["hyperbn.track_running_stats"] == "true",
                           frozen_stats=meta["hyperbn.frozen_stats"] == "true")
    for _ in range(num_stats - 1):
        layer.checkpoint_stats()
    layer.load_state_dict(tensors, strict=True)
    layer.train(meta["hyperbn.mode"] == "train")
    assert layer.scale.tolist() == KNOWN["scale"] and layer.bias.tolist() == KNOWN["bias"]
    assert layer._weights[0] is layer.scale and layer._weights[1] is layer.bias
    for k in range(num_stats):
        mean, var = layer.get_stats(k)
        assert mean.tolist() == KNOWN["mean"][k] and var.tolist() == KNOWN["var"][k], k
    x = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 12.0]])
    y = layer(x, stats_id=1)
    ref = (x - torch.tensor(KNOWN["mean"][1])) / torch.sqrt(torch.tensor(KNOWN["var"][1]) + 1e-5)
    ref = ref * torch.tensor(KNOWN["scale"]) + torch.tensor(KNOWN["bias"])
    assert torch.allclose(y, ref), (y, ref)
    print("verified hyperbn_layer.safetensors: %d bytes, keys %s" % (
        os.path.getsize(path), ", ".join(sorted(tensors))))
    print("  load_state_dict(strict=True) into BatchNormLayer(%d, momentum=%s) after "
          "checkpoint_stats() x%d: ok; values, counts %s, crc32c %s, mode %s: ok" % (
              KNOWN["num_features"], meta["hyperbn.momentum"], num_stats - 1,
              meta["hyperbn.num_batches_tracked"], meta["hyperbn.crc32c"], meta["hyperbn.mode"]))
    return True


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    make_fixtures()
    sys.exit(0 if verify_hyperbn_file() else 1)
