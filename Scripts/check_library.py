#!/usr/bin/env python3
"""The library as a program links it, checked on real images (run by Scripts/test.sh).

1. Examples/index-folder (the README's program) indexes a folder with object embeddings, writes
   the index and searches it; `loupe search` on that file, in a new process that rebuilds the
   embedder from the index's recipe alone, must return the same images with the same scores.
2. For every mode (global, hard attention, crop teacher, student) `loupe index` writes an index
   and `loupe search` (a new process, embedder rebuilt from the recipe) finds an indexed image
   as itself at cosine 1: the rebuilt embedder makes exactly the stored vectors.
3. Examples/search-box searches an index with a box; Examples/evaluate-dataset lands within
   0.01 mAP of ../shared/docs/REFERENCE.md (MobileNetV2, GeM, 512 px on smvs-dvd).
4. `loupe` copied to a temporary folder and run from another working directory, with
   XDG_CACHE_HOME holding loupe/models/mobilenet_v2.safetensors, indexes and searches with
   the weights from there.
5. The README's "Using Loupe from another package": its Package.swift and main.swift, verbatim but
   for the path to the checkout, build as a new package and embed a real image.

  .venv/bin/python Scripts/check_library.py BUILD_DIR DATA_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile


def run(*args, env=None, cwd=None):
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=900, env=env, cwd=cwd)
    assert result.returncode == 0, f"{' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
    return result


def main():
    build, data = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    loupe = os.path.join(build, "loupe")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    darknet = os.path.join(root, ".cache", "darknet", "data")
    # the README's program is Examples/index-folder, verbatim
    readme = open(os.path.join(root, "README.md")).read()
    section = readme[readme.index("## Using the library"):]
    block = section[section.index("```swift\n") + len("```swift\n"):section.index("```\n", section.index("```swift\n") + 9)]
    example = open(os.path.join(root, "Examples", "index-folder", "main.swift")).read()
    assert block == example, "README's library program differs from Examples/index-folder/main.swift"
    assert len(example.strip().split("\n")) <= 15, "the README's program must stay within 15 lines"
    with tempfile.TemporaryDirectory() as tmp:
        # 1. the README program, then the CLI on its index in a new process
        gallery = os.path.join(tmp, "gallery")
        os.makedirs(gallery)
        for name in ("dog", "eagle", "giraffe", "horses", "person"):
            shutil.copy(os.path.join(darknet, f"{name}.jpg"), gallery)
        refs = os.path.join(data, "smvs-dvd", "reference")
        for name in sorted(os.listdir(refs))[:6]:
            shutil.copy(os.path.join(refs, name), gallery)
        query = os.path.join(darknet, "dog.jpg")
        index = os.path.join(tmp, "readme.index")
        lines = run(os.path.join(build, "index-folder"), gallery, query, index, cwd=tmp).stdout.split("\n")
        program = [(float(l.split()[0]), l.split()[1]) for l in lines if l.strip() and not l.startswith("skipped")]
        assert len(program) == 5 and program[0][1].endswith("dog.jpg") and abs(program[0][0] - 1) < 1e-5, program
        cli = json.loads(run(loupe, "search", index, query, "-k", "5", "--json").stdout)[0]["results"]
        assert [h["path"] for h in cli] == [p for _, p in program], (cli, program)
        assert all(abs(h["score"] - s) < 1e-5 for h, (s, _) in zip(cli, program)), (cli, program)

        # 2. every mode: index in one process, rebuild from the recipe in another
        small = os.path.join(tmp, "small")
        os.makedirs(small)
        for name in sorted(os.listdir(gallery))[:4]:
            shutil.copy(os.path.join(gallery, name), small)
        head = os.path.join(tmp, "heads", "head.safetensors")
        os.makedirs(os.path.dirname(head))
        run(loupe, "distill", small, "-o", head, "--epochs", "1", "--max-size", "256", "--cache", os.path.join(tmp, "pairs"), "--quiet")
        modes = {"global": [], "attention": ["--objects"], "teacher": ["--objects", "--object-method", "teacher:256"],
                 "student": ["--student", head]}
        probe = os.path.join(small, sorted(os.listdir(small))[1])
        for mode, options in modes.items():
            path = os.path.join(tmp, f"{mode}.index")
            run(loupe, "index", small, "-o", path, "--max-size", "256", "--quiet", *options)
            hits = json.loads(run(loupe, "search", path, probe, "--json", "-k", "2").stdout)[0]["results"]
            assert hits[0]["path"] == probe and abs(hits[0]["score"] - 1) < 1e-5, (mode, hits)
        # the student's head moved: the index's note is stale, --student names the new place
        moved = os.path.join(tmp, "elsewhere.safetensors")
        shutil.move(head, moved)
        stale = subprocess.run([loupe, "search", os.path.join(tmp, "student.index"), probe], capture_output=True, text=True)
        assert stale.returncode != 0 and "head.safetensors" in stale.stderr, stale.stderr
        hits = json.loads(run(loupe, "search", os.path.join(tmp, "student.index"), probe, "--student", moved, "--json").stdout)[0]["results"]
        assert hits[0]["path"] == probe and abs(hits[0]["score"] - 1) < 1e-5, hits

        # 3. the other two examples
        boxed = run(os.path.join(build, "search-box"), index, query, "120,200,330,540").stdout.strip().split("\n")
        assert len(boxed) == 5 and boxed[0].split()[1].endswith("dog.jpg"), boxed
        scores = {}
        for line in run(os.path.join(build, "evaluate-dataset"), os.path.join(data, "smvs-dvd")).stdout.strip().split("\n"):
            scores[line.split()[0]] = float(line.split()[2])
        assert abs(scores["canon"] - 0.447) <= 0.01 and abs(scores["droid"] - 0.521) <= 0.01, scores

        # 4. a copied binary, run elsewhere, finds its weights in the XDG user cache
        portable = os.path.join(tmp, "bin", "loupe")
        os.makedirs(os.path.dirname(portable))
        shutil.copy(loupe, portable)
        xdg = os.path.join(tmp, "xdg")
        os.makedirs(os.path.join(xdg, "loupe", "models"))
        shutil.copy(os.path.join(root, ".cache", "models", "mobilenet_v2.safetensors"), os.path.join(xdg, "loupe", "models"))
        workdir = os.path.join(tmp, "work")
        os.makedirs(workdir)
        env = {k: v for k, v in os.environ.items() if k != "LOUPE_CACHE"}
        env["XDG_CACHE_HOME"] = xdg
        made = run(portable, "index", small, "-o", "here.index", "--max-size", "256", "--quiet", env=env, cwd=workdir)
        assert f"weights: {os.path.join(xdg, 'loupe', 'models', 'mobilenet_v2.safetensors')}" in made.stderr, made.stderr
        hits = json.loads(run(portable, "search", "here.index", probe, "--json", env=env, cwd=workdir).stdout)[0]["results"]
        assert hits[0]["path"] == probe and abs(hits[0]["score"] - 1) < 1e-5, hits
        listed = json.loads(run(portable, "models", "--json", env=env, cwd=workdir).stdout)
        mobilenet = next(e for e in listed if e["model"] == "mobilenet_v2")
        assert mobilenet["file"].startswith(xdg), mobilenet
        check_dependent_package(readme, root, tmp)
    print("check_library: README program == loupe search in a new process; 4 modes rebuilt from their recipes; "
          "search-box; evaluate-dataset at the reference mAP; a copied binary with XDG_CACHE_HOME; "
          "the README's dependent package built and run")


def check_dependent_package(readme, root, tmp):
    """Builds the README's two files of a program that depends on Loupe, and runs it."""
    section = readme[readme.index("## Using Loupe from another package"):]
    blocks = section.split("```swift\n")[1:3]
    manifest, program = (b[:b.index("```")] for b in blocks)
    assert '.package(name: "Loupe", path: "../Loupe")' in manifest, manifest
    package = os.path.join(tmp, "consumer")
    os.makedirs(os.path.join(package, "Sources", "MyRetrieval"))
    open(os.path.join(package, "Package.swift"), "w").write(manifest.replace('path: "../Loupe"', f'path: "{root}"'))
    open(os.path.join(package, "Sources", "MyRetrieval", "main.swift"), "w").write(program)
    run("swift", "build", "--package-path", package, "--scratch-path", os.path.join(package, ".build"))
    env = dict(os.environ, LOUPE_CACHE=os.path.join(root, ".cache"))
    made = run(os.path.join(package, ".build", "debug", "MyRetrieval"), os.path.join(root, ".cache", "darknet", "data", "dog.jpg"), env=env)
    assert "[1, 1280]" in made.stdout and "mobilenet_v2" in made.stdout, made.stdout


if __name__ == "__main__":
    main()
