#!/usr/bin/env python3
"""Fuzzes the PyTorch checkpoint converter (Scripts/loupe_weights.py): every input must either
convert to tensors or raise CheckpointError. Any other exception, a hang or a memory blow-up is a
finding. The unpickler must never resolve a global it does not allow, whatever the bytes say.

    fuzz_checkpoint.py seeds DIR            writes seed checkpoints (legacy and zip layouts) into DIR
    fuzz_checkpoint.py run SECONDS CORPUS FINDINGS [REGRESSIONS [libFuzzer options]]

`run` uses atheris (coverage-guided, libFuzzer's engine) when it is installed. Otherwise it falls
back to a bounded random mutator over the corpus (bit flips, byte runs, cuts, splices, a seeded
generator). The regressions are replayed first, and a failing input is written to FINDINGS.
"""
import os
import random
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "Scripts"))
sys.path.insert(0, os.path.join(here, "..", "..", "Scripts", "tests"))

try:
    import atheris
except ImportError:  # the fallback mutator runs instead
    atheris = None

if atheris is not None:
    with atheris.instrument_imports(include=["loupe_weights", "pickle", "zipfile"]):
        import loupe_weights as lw
else:
    import loupe_weights as lw

# a bound on what one input may ask for: the converter reads sizes from the input
MAX_INPUT = 1 << 16


def one(data: bytes):
    try:
        tensors = lw.load_torch_checkpoint(bytes(data))
    except lw.CheckpointError:
        return
    for name, array in tensors.items():
        assert isinstance(name, str), name
        assert array.dtype.kind == "f" or array.dtype.kind in "iub", array.dtype


def write_seeds(folder):
    import numpy as np
    import test_loupe_weights as t

    os.makedirs(folder, exist_ok=True)
    arrays = {"features.0.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2), "features.0.bias": np.ones(2, np.float32),
              "classifier.weight": np.eye(3, dtype=np.float32)}
    for fmt in ("legacy", "zip"):
        with open(os.path.join(folder, f"checkpoint.{fmt}"), "wb") as f:
            f.write(t.make_checkpoint(arrays, fmt))
        with open(os.path.join(folder, f"one.{fmt}"), "wb") as f:
            f.write(t.make_checkpoint({"w": np.zeros((1,), np.float32)}, fmt))


def fallback(seconds, corpus, findings):
    """A seeded random mutator: atheris is not installed."""
    rng = random.Random(1)
    inputs = [open(os.path.join(corpus, n), "rb").read() for n in sorted(os.listdir(corpus))] or [b""]
    end, runs = time.time() + seconds, 0
    while time.time() < end:
        data = bytearray(rng.choice(inputs))
        for _ in range(rng.randint(1, 4)):
            kind = rng.randrange(5)
            if kind == 0 and data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            elif kind == 1 and data:
                at = rng.randrange(len(data))
                data[at:at + rng.randint(1, 8)] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            elif kind == 2 and data:
                del data[rng.randrange(len(data)):]
            elif kind == 3:
                other = rng.choice(inputs)
                at = rng.randrange(len(data) + 1)
                data[at:at] = other[rng.randrange(len(other) + 1):][:64]
            else:
                data[rng.randrange(len(data) + 1):0] = bytes([rng.choice([0, 0xFF, 0x7F, 0x80, ord("c"), ord("q")])])
        data = bytes(data[:MAX_INPUT])
        try:
            one(data)
        except BaseException:
            path = os.path.join(findings, f"crash-{runs}")
            open(path, "wb").write(data)
            print(f"finding written to {path}", file=sys.stderr)
            raise
        runs += 1
    print(f"fallback mutator: {runs} inputs in {seconds} s ({runs / max(seconds, 1):.0f}/s), 0 findings")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "seeds":
        return write_seeds(sys.argv[2])
    if len(sys.argv) < 5 or sys.argv[1] != "run":
        sys.exit(__doc__)
    seconds, corpus, findings = int(sys.argv[2]), sys.argv[3], sys.argv[4]
    regressions = sys.argv[5] if len(sys.argv) > 5 else None
    os.makedirs(findings, exist_ok=True)
    if regressions and os.path.isdir(regressions):
        for name in sorted(os.listdir(regressions)):
            one(open(os.path.join(regressions, name), "rb").read())
    if atheris is None:
        return fallback(seconds, corpus, findings)
    args = [sys.argv[0], f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048", f"-max_len={MAX_INPUT}",
            "-print_final_stats=1", f"-artifact_prefix={findings}/"] + sys.argv[6:] + [corpus]
    atheris.Setup(args, lambda data: one(data))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
