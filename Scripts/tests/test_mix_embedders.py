import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import mix_embedders  # noqa: E402


def side(vectors, images, paths, kinds):
    return np.array(vectors, dtype=np.float32), np.array(images), paths, kinds


class MixTests(unittest.TestCase):
    def test_scores_by_hand(self):
        # two references (one region each), one query with an image region and one object region
        paths = ["reference/a.jpg", "reference/b.jpg", "queries/canon/q.jpg"]
        refs_and_query = side([[1, 0], [0, 1], [0.6, 0.8], [0.9, 0.1]], [0, 1, 2, 2], paths,
                              ["image", "image", "image", "detected"])
        rows = [{"query": "queries/canon/q.jpg", "relevant_reference": "reference/a.jpg", "camera": "Canon"},
                {"query": "queries/canon/q.jpg", "relevant_reference": "reference/b.jpg", "camera": "Canon"}]
        # the query's object [0.9, 0.1] (its image region is ignored) ranks a first: AP 1 for a, 1/2 for b
        per_camera, overall = mix_embedders.score(refs_and_query, refs_and_query, rows)
        self.assertEqual(per_camera, {"Canon": 0.75})
        self.assertEqual(overall, 0.75)
        # another embedder's references flip the ranking: a second (AP 1/2), b first (AP 1)
        flipped = side([[0, 1], [1, 0], [0.6, 0.8], [0.9, 0.1]], [0, 1, 2, 2], paths, ["image", "image", "image", "detected"])
        self.assertEqual(mix_embedders.score(refs_and_query, flipped, rows[:1])[1], 0.5)

    def test_query_without_objects_uses_its_image(self):
        paths = ["reference/a.jpg", "reference/b.jpg", "queries/droid/q.jpg"]
        data = side([[1, 0], [0, 1], [0.2, 0.98]], [0, 1, 2], paths, ["image", "image", "image"])
        rows = [{"query": "queries/droid/q.jpg", "relevant_reference": "reference/b.jpg", "camera": "Droid"}]
        self.assertEqual(mix_embedders.score(data, data, rows)[1], 1.0)


if __name__ == "__main__":
    unittest.main()
