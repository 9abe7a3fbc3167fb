"""Tests of the checkpoint converter without torch: checkpoints are built here by hand, in the
legacy and zip layouts torch.save writes, from fake `torch` globals that pickle by name."""
import collections
import io
import os
import pickle
import struct
import sys
import types
import unittest
import zipfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import loupe_weights as lw  # noqa: E402


def _fake_torch():
    """Module objects named torch / torch._utils whose members pickle as those globals."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while pickling")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2

    class FloatStorage:
        pass

    FloatStorage.__module__ = "torch"
    FloatStorage.__qualname__ = FloatStorage.__name__ = "FloatStorage"
    torch.FloatStorage = FloatStorage
    torch._utils = utils
    return torch, utils


class FakeTensor:
    """Pickles like a torch tensor: _rebuild_tensor_v2(storage, offset, size, stride, …)."""

    def __init__(self, key, storage_type, numel, offset, size, stride):
        self.storage = ("storage", storage_type, key, "cpu", numel)
        self.args = (offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (sys.modules["torch._utils"]._rebuild_tensor_v2, (StorageRef(self.storage),) + self.args)


class StorageRef:
    def __init__(self, pid):
        self.pid = pid


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, StorageRef) else None


def make_checkpoint(arrays, fmt):
    """A checkpoint of float32 arrays in `fmt` ('legacy' or 'zip'); one storage per array, except
    that 'shared' arrays in the dict are views (offset, stride) into the previous storage."""
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    torch, utils = _fake_torch()
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
    try:
        state = collections.OrderedDict()
        storages = []
        for i, (name, array) in enumerate(arrays.items()):
            array = np.ascontiguousarray(array, dtype=np.float32)
            strides = [s // 4 for s in array.strides]
            state[name] = FakeTensor(str(i), torch.FloatStorage, array.size, 0, array.shape, strides)
            storages.append((str(i), array))
        buffer = io.BytesIO()
        if fmt == "legacy":
            for header in (lw.LEGACY_MAGIC, lw.LEGACY_PROTOCOL, {"little_endian": True}):
                pickle.dump(header, buffer, protocol=2)
            Pickler(buffer, protocol=2).dump(state)
            pickle.dump([k for k, _ in storages], buffer, protocol=2)
            for _, array in storages:
                buffer.write(struct.pack("<q", array.size))
                buffer.write(array.tobytes())
        else:
            pkl = io.BytesIO()
            Pickler(pkl, protocol=2).dump(state)
            with zipfile.ZipFile(buffer, "w") as z:
                z.writestr("archive/data.pkl", pkl.getvalue())
                for key, array in storages:
                    z.writestr(f"archive/data/{key}", array.tobytes())
        return buffer.getvalue()
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


class ConverterTests(unittest.TestCase):
    arrays = collections.OrderedDict(
        [("conv.weight", np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)),
         ("conv.bias", np.array([1.5, -2.0], dtype=np.float32)),
         ("fc.weight", np.arange(6, dtype=np.float32).reshape(3, 2).T)])  # non-contiguous source

    def check(self, fmt):
        tensors = lw.load_torch_checkpoint(make_checkpoint(self.arrays, fmt))
        self.assertEqual(list(tensors), list(self.arrays))
        for k, v in self.arrays.items():
            np.testing.assert_array_equal(tensors[k], v)

    def test_legacy_format(self):
        self.check("legacy")

    def test_zip_format(self):
        self.check("zip")

    def test_refuses_arbitrary_globals(self):
        class Evil:
            def __reduce__(self):
                return (os.system, ("echo pwned",))

        payload = io.BytesIO()
        for header in (lw.LEGACY_MAGIC, lw.LEGACY_PROTOCOL, {}):
            pickle.dump(header, payload, protocol=2)
        pickle.dump({"x": Evil()}, payload, protocol=2)
        with self.assertRaisesRegex(lw.CheckpointError, "refusing to unpickle global"):
            lw.load_torch_checkpoint(payload.getvalue())

    def test_truncated_checkpoint(self):
        data = make_checkpoint(self.arrays, "legacy")
        for cut in (10, len(data) // 2, len(data) - 3):
            with self.assertRaises(lw.CheckpointError):
                lw.load_torch_checkpoint(data[:cut])

    def test_bad_magic(self):
        buffer = io.BytesIO()
        pickle.dump(12345, buffer, protocol=2)
        with self.assertRaisesRegex(lw.CheckpointError, "magic"):
            lw.load_torch_checkpoint(buffer.getvalue())

    def test_bookkeeping_is_dropped(self):
        t = collections.OrderedDict([("bn.weight", 1), ("bn.num_batches_tracked", 2)])
        self.assertEqual(list(lw.drop_bookkeeping(t)), ["bn.weight"])

    def test_fuzz_findings_are_refused(self):
        """The inputs Fuzz/Python/fuzz_checkpoint.py found (an unknown zip version, a pickle that
        appends to a function, a bytearray whose declared length was allocated in full): each one
        is a CheckpointError, in bounded memory."""
        import resource
        folder = os.path.join(os.path.dirname(__file__), "..", "..", "Fuzz", "Regressions", "checkpoint")
        names = sorted(os.listdir(folder))
        self.assertGreaterEqual(len(names), 3)
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, hard))
        try:
            for name in names:
                with self.subTest(name), self.assertRaises(lw.CheckpointError):
                    lw.load_torch_checkpoint(open(os.path.join(folder, name), "rb").read())
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

    def test_tensor_views_are_bounded(self):
        """A tensor asking for more elements than its storage (a broadcast by stride 0), a negative
        stride or offset, is refused rather than read out of bounds or allocated."""
        storage = lw.Storage(lw.StorageType("FloatStorage"), 4)
        storage.set_bytes(np.arange(4, dtype=np.float32).tobytes())
        for offset, size, stride in [(0, (10**6, 10**6), (0, 0)), (0, (2,), (-1,)), (-1, (2,), (1,)), (0, (2, 2), (1,))]:
            with self.subTest(size=size, stride=stride), self.assertRaises(lw.CheckpointError):
                lw.LazyTensor(storage, offset, size, stride).materialize()
        np.testing.assert_array_equal(lw.LazyTensor(storage, 1, (3,), (1,)).materialize(), [1, 2, 3])


if __name__ == "__main__":
    unittest.main()
