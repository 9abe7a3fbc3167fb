import json
import os
import pickle
import subprocess
import sys
import tempfile
import unittest

import numpy as np

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "gnd_to_json.py")


class GndTests(unittest.TestCase):
    def test_converts_numpy_ground_truth(self):
        gnd = {"imlist": ["a", "b"], "qimlist": ["q"],
               "gnd": [{"easy": np.array([0]), "hard": np.array([], dtype=np.int64), "junk": np.array([1]),
                        "bbx": np.array([1.0, 2.0, 3.0, 4.0])}]}
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = os.path.join(tmp, "gnd_x.pkl"), os.path.join(tmp, "gnd_x.json")
            with open(src, "wb") as f:
                pickle.dump(gnd, f)
            subprocess.run([sys.executable, SCRIPT, src, dst], check=True, capture_output=True)
            out = json.load(open(dst))
            self.assertEqual(out["gnd"][0], {"easy": [0], "hard": [], "junk": [1], "bbx": [1.0, 2.0, 3.0, 4.0]})

    def test_refuses_code(self):
        class Evil:
            def __reduce__(self):
                return (os.system, ("echo pwned",))
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "gnd_x.pkl")
            with open(src, "wb") as f:
                pickle.dump({"imlist": Evil()}, f)
            result = subprocess.run([sys.executable, SCRIPT, src, os.path.join(tmp, "o.json")], capture_output=True, text=True)
            self.assertNotEqual(result.returncode, 0)
            self.assertIn("refusing", result.stderr)
            self.assertNotIn("pwned", result.stdout)


if __name__ == "__main__":
    unittest.main()
