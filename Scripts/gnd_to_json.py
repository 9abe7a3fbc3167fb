#!/usr/bin/env python3
"""Converts Revisited Oxford/Paris ground truth (`gnd_roxford5k.pkl`, `gnd_rparis6k.pkl`) to the
JSON that `loupe eval revisited` reads: {"imlist", "qimlist", "gnd": [{"easy", "hard", "junk", "bbx"}]}.

The pickle holds lists, dicts and numpy arrays; it is read with an unpickler that resolves only
numpy's array-reconstruction globals, never arbitrary code.

  gnd_to_json.py gnd_roxford5k.pkl gnd_roxford5k.json
"""
import json
import pickle
import sys

import numpy as np

ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
           ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}


class Restricted(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle global {module}.{name}")


def plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], "rb") as f:
        gnd = Restricted(f, encoding="latin1").load()
    out = {"imlist": plain(gnd["imlist"]), "qimlist": plain(gnd["qimlist"]),
           "gnd": [{k: plain(v) for k, v in g.items() if k in ("easy", "hard", "junk", "bbx")} for g in gnd["gnd"]]}
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)
    print(f"{sys.argv[2]}: {len(out['imlist'])} images, {len(out['qimlist'])} queries")


if __name__ == "__main__":
    main()
