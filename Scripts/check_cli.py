#!/usr/bin/env python3
"""End-to-end check of the `loupe` command line on two real images (run by Scripts/test.sh).

A small index and a search must work and rank the query's own image first, progress must report a
believable rate, a two-image distillation must train and say so when its pair cache is damaged
(and make it again); then every bad input
below must end with a non-zero exit status and a message naming the problem — never a crash (a
signal), never a silent success — and must leave files as they were: no new output, and an
existing index untouched when a rerun over it fails.

  .venv/bin/python Scripts/check_cli.py BINARY DATA_DIR
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile


def run(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=600)


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def main():
    binary, data = sys.argv[1], sys.argv[2]
    refs = os.path.join(data, "smvs-dvd", "reference")
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as cache_dir:
        imgs, empty, mixed = (os.path.join(tmp, d) for d in ("imgs", "empty", "mixed"))
        for d in (imgs, empty, mixed):
            os.makedirs(d)
        for name, source in zip(("a.jpg", "b.jpg"), sorted(os.listdir(refs))[:2]):
            shutil.copy(os.path.join(refs, source), os.path.join(imgs, name))
            shutil.copy(os.path.join(refs, source), os.path.join(mixed, name))
        truncated = os.path.join(tmp, "truncated.jpg")
        open(truncated, "wb").write(open(os.path.join(imgs, "a.jpg"), "rb").read()[:3000])
        shutil.copy(truncated, mixed)
        garbage = os.path.join(tmp, "garbage.safetensors")
        open(garbage, "w").write("not a safetensors file\n")

        # the happy path: index, search (JSON), the query's own image first at cosine 1
        index = os.path.join(tmp, "g.idx")
        made = run(binary, "index", imgs, "-o", index, "--quiet")
        assert made.returncode == 0, made.stderr
        found = run(binary, "search", index, os.path.join(imgs, "b.jpg"), "--json")
        assert found.returncode == 0, found.stderr
        hits = json.loads(found.stdout)[0]["results"]
        assert hits[0]["path"].endswith("b.jpg") and abs(hits[0]["score"] - 1) < 1e-4 and hits[1]["score"] < 0.99, hits
        # a folder with a truncated JPEG among good ones: indexed without it, and it says so
        partial = run(binary, "index", mixed, "-o", os.path.join(tmp, "m.idx"), "--quiet")
        assert partial.returncode == 0 and "truncated.jpg" in partial.stderr, partial.stderr
        kept = digest(index)
        # progress lines (not a terminal: one per tenth) give a believable rate from the first image on
        shown = run(binary, "index", imgs, "-o", os.path.join(tmp, "p.idx"))
        rates = [float(r) for r in re.findall(r"\(([0-9.]+) img/s\)", shown.stderr)]
        assert shown.returncode == 0 and rates and max(rates) < 1000, shown.stderr
        os.remove(os.path.join(tmp, "p.idx"))

        # distillation end to end on the two images; a damaged pair cache is said and made again
        distill_cache = os.path.join(cache_dir, "good")
        small = ["distill", imgs, "--max-size", "256", "--epochs", "2", "--validation", "0", "--cache", distill_cache, "--quiet"]
        trained = run(binary, *small, "-o", os.path.join(cache_dir, "head.safetensors"))
        assert trained.returncode == 0 and os.path.getsize(os.path.join(cache_dir, "head.safetensors")) > 1000, trained.stderr
        (cached,) = [os.path.join(distill_cache, f) for f in os.listdir(distill_cache) if f.startswith("set-")]
        open(cached, "r+b").truncate(100)
        again = run(binary, *small, "-o", os.path.join(cache_dir, "head2.safetensors"))
        assert again.returncode == 0 and "cannot be used" in again.stderr, again.stderr
        assert os.path.getsize(cached) > 1000, "the damaged cache was not replaced"

        # help that pastes: a line ending in a backslash is a shell continuation inside an example
        for command in ("classify", "detect", "index", "search", "eval", "whiten", "distill", "models"):
            shown_help = run(binary, "help", command).stdout
            stray = [l for l in shown_help.splitlines() if l.rstrip().endswith("\\") and not l.strip().startswith(("loupe", "--"))]
            assert not stray, f"loupe help {command}: stray backslashes in {stray}"

        # a version, and warnings for thread counts that cannot help
        version = run(binary, "--version")
        assert version.returncode == 0 and re.match(r"\d+\.\d+\.\d+ \(index format 2", version.stdout), version.stdout
        warned = run(binary, "index", imgs, "-o", os.path.join(tmp, "t.idx"), "--threads", "999", "--quiet")
        assert warned.returncode == 0 and "more than the" in warned.stderr, warned.stderr
        env = dict(os.environ, LOUPE_THREADS="abc")
        warned = subprocess.run([binary, "index", imgs, "-o", os.path.join(tmp, "t.idx"), "--quiet"], capture_output=True, text=True, env=env)
        assert warned.returncode == 0 and "LOUPE_THREADS=abc is not a positive whole number" in warned.stderr, warned.stderr
        os.remove(os.path.join(tmp, "t.idx"))

        head = os.path.join(tmp, "head.safetensors")
        bad = [
            (["index", empty, "-o", os.path.join(tmp, "o1.idx")], "no PNG or JPEG images"),
            (["index", imgs, "-o", index, "--max-size", "0"], "max size"),
            (["index", imgs, "--objects", "--detector-size", "600", "-o", index], "multiple of 32"),
            (["index", imgs, "--objects", "--student", garbage, "-o", index], "student head"),
            (["search", os.path.join(tmp, "missing.idx"), os.path.join(imgs, "a.jpg")], "cannot read index"),
            (["search", garbage, os.path.join(imgs, "a.jpg")], "cannot read index"),
            (["search", index, truncated], "truncated"),
            (["classify", truncated], "truncated"),
            (["detect", truncated], "truncated"),
            (["eval", "smvs", empty], "queries.csv"),
            (["eval", "smvs", os.path.join(data, "smvs-dvd"), "--objects", "--student", garbage], "student head"),
            (["distill", imgs, "-o", head, "--augment-style", "photo"], "--augment"),
            (["distill", imgs, "-o", head, "--match-detections"], "--augment"),
            (["distill", imgs, "-o", head, "--views", f"{empty}=2"], "not one of the folders"),
            (["distill", imgs, "-o", head, "--views", f"{imgs}=0"], "FOLDER=K"),
            (["distill", imgs, "-o", head, "--hidden", "0"], "--hidden"),
            (["distill", imgs, "-o", head, "--select", "2/2"], "--select"),
            # a diverging run (learning rate 1e30) must not write its NaN head (its pair cache lives elsewhere)
            (["distill", imgs, "-o", head, "--max-size", "256", "--learning-rate", "1e30", "--epochs", "3", "--validation", "0",
              "--cache", os.path.join(cache_dir, "distill"), "--quiet"], "training diverged"),
            (["whiten", "fit", empty, "-o", os.path.join(tmp, "w.safetensors")], "no PNG or JPEG images under"),
            # outputs are checked before any work: never an input, a folder, another kind of file, or a missing folder
            (["index", imgs, "-o", os.path.join(imgs, "a.jpg")], "is one of the input images"),
            (["index", imgs, "-o", truncated], "is not a Loupe file"),
            (["index", imgs, "-o", imgs], "is a folder"),
            (["index", imgs, "-o", os.path.join(tmp, "nope", "x.idx")], "does not exist"),
            (["detect", os.path.join(imgs, "a.jpg"), "--draw", os.path.join(imgs, "a.jpg")], "is one of the input images"),
            (["search", index, os.path.join(imgs, "a.jpg"), "--montage", os.path.join(imgs, "b.jpg")], "is not a PNG"),
            (["whiten", "fit", imgs, "-o", os.path.join(imgs, "b.jpg")], "is one of the input images"),
            (["distill", imgs, "-o", garbage], "is not a Loupe file"),
            # options that do not apply are refused, not ignored; an image or folder in the wrong place is named
            (["search", index, os.path.join(imgs, "a.jpg"), "--scoring", "mean-of-max"], "applies only to object indexes"),
            (["search", index, os.path.join(imgs, "a.jpg"), "--no-detect", "--query-regions", "all"], "apply only to object indexes"),
            (["search", index, os.path.join(imgs, "a.jpg"), "--qe-alpha", "3"], "give --qe N too"),
            (["search", index, os.path.join(imgs, "a.jpg"), "--qe", "5"], "give at most 1"),
            (["search", index, imgs], "is a folder"),
            (["search", os.path.join(imgs, "a.jpg"), os.path.join(imgs, "b.jpg")], "is a JPEG image, not a Loupe index"),
            # weights of another network: a short message that says so, not every tensor name
            (["index", imgs, "-o", os.path.join(tmp, "w.idx"), "--model", "efficientnet_lite0",
              "--weights", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".cache", "models", "mobilenet_v2.safetensors")],
             "another network"),
        ]
        images_before = {name: digest(os.path.join(imgs, name)) for name in os.listdir(imgs)}
        garbage_before = digest(garbage)
        for args, message in bad:
            before = sorted(os.listdir(tmp))
            result = run(binary, *args)
            assert len(result.stderr) < 2000, f"loupe {' '.join(args)}: {len(result.stderr)} characters of message"
            shown = " ".join(args)
            assert result.returncode > 0, f"loupe {shown}: exit status {result.returncode}\n{result.stderr}"
            assert message in result.stderr, f"loupe {shown}: expected '{message}' in\n{result.stderr}"
            assert sorted(os.listdir(tmp)) == before, f"loupe {shown} left files: {set(os.listdir(tmp)) - set(before)}"
        assert digest(index) == kept, "a failed rerun changed the existing index"
        assert {name: digest(os.path.join(imgs, name)) for name in os.listdir(imgs)} == images_before, "an input image changed"
        assert digest(garbage) == garbage_before, "a file of another kind was overwritten"
    print(f"check_cli: index + search, progress rates, distill + a damaged cache remade, a truncated image skipped, "
          f"{len(bad)} bad inputs refused with a message")


if __name__ == "__main__":
    main()
