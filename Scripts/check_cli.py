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


def run_env(extra, binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=600, env=dict(os.environ, **extra))


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
        # the same through an inverted file (one list: the exact answer), its kind kept in the file
        quantized = os.path.join(tmp, "q.idx")
        made = run(binary, "index", imgs, "-o", quantized, "--index-type", "ivfflat", "--lists", "1", "--quiet")
        assert made.returncode == 0 and "IVF1,Flat" in made.stderr, made.stderr
        found = run(binary, "search", quantized, os.path.join(imgs, "b.jpg"), "--json", "--probe", "1", "--refine", "0")
        assert found.returncode == 0, found.stderr
        assert [h["path"] for h in json.loads(found.stdout)[0]["results"]] == [h["path"] for h in hits], found.stdout
        info = run(binary, "index", "info", quantized, "--json")
        assert info.returncode == 0, info.stderr
        described = json.loads(info.stdout)
        assert described["quantized"] == "IVF1,Flat" and described["images"] == 2 and described["checksums"], described
        # projected to 2 principal directions first (the two vectors' span: inner products kept)
        projected = os.path.join(tmp, "p.idx")
        made = run(binary, "index", imgs, "-o", projected, "--index-type", "ivfflat", "--lists", "1", "--pca", "2", "--quiet")
        assert made.returncode == 0 and "PCA2,IVF1,Flat" in made.stderr, made.stderr
        found = run(binary, "search", projected, os.path.join(imgs, "b.jpg"), "--json", "--probe", "1", "--refine", "0")
        assert found.returncode == 0, found.stderr
        got = json.loads(found.stdout)[0]["results"]
        assert [h["path"] for h in got] == [h["path"] for h in hits] and abs(got[1]["score"] - hits[1]["score"]) < 1e-3, (got, hits)
        info = run(binary, "index", "info", projected, "--json")
        assert info.returncode == 0 and json.loads(info.stdout)["quantized"] == "PCA2,IVF1,Flat", info.stdout
        exported = os.path.join(tmp, "q.npy")
        made = run(binary, "index", "export", quantized, "-o", exported)
        assert made.returncode == 0, made.stderr
        import numpy as np
        vectors, rows = np.load(exported), json.load(open(exported + ".json"))
        assert vectors.shape == (2, 1280) and abs(float(np.linalg.norm(vectors[0])) - 1) < 1e-4, vectors.shape
        assert [r["path"].split("/")[-1] for r in rows] == ["a.jpg", "b.jpg"], rows
        # removing an image: searches no longer return it, in the file as written and after compacting
        removed = run(binary, "index", "remove", quantized, os.path.join(imgs, "a.jpg"))
        assert removed.returncode == 0, removed.stderr
        left = run(binary, "search", quantized, os.path.join(imgs, "a.jpg"), "--json")
        assert [h["path"].split("/")[-1] for h in json.loads(left.stdout)[0]["results"]] == ["b.jpg"], left.stdout
        compacted = run(binary, "index", "compact", quantized)
        assert compacted.returncode == 0 and "1 removed images dropped; 1 left" in compacted.stderr, compacted.stderr
        assert json.loads(run(binary, "index", "info", quantized, "--json").stdout)["images"] == 1
        for f in (quantized, exported, exported + ".json"):
            os.remove(f)
        # --update: only the new file is embedded, and the file written is the fresh build's
        folder, updated = os.path.join(tmp, "upd"), os.path.join(tmp, "u.idx")
        shutil.copytree(imgs, folder)
        assert run(binary, "index", folder, "-o", updated, "--max-size", "256", "--quiet").returncode == 0
        shutil.copy(os.path.join(refs, sorted(os.listdir(refs))[5]), os.path.join(folder, "c.jpg"))
        again = run(binary, "index", folder, "-o", updated, "--update", "--quiet")
        assert again.returncode == 0 and "1 added, 0 changed, 0 removed, 2 unchanged" in again.stderr, again.stderr
        fresh = os.path.join(tmp, "f.idx")
        assert run(binary, "index", folder, "-o", fresh, "--max-size", "256", "--quiet").returncode == 0
        assert digest(fresh) == digest(updated), "an updated index differs from the fresh build"
        same = run(binary, "index", folder, "-o", updated, "--update", "--quiet")
        assert same.returncode == 0 and "is up to date" in same.stderr, same.stderr
        # a recipe option with --update is refused, not ignored, and the index is left alone
        other = run(binary, "index", folder, "-o", updated, "--update", "--objects", "--max-size", "512", "--quiet")
        assert other.returncode == 64 and "--max-size, --objects cannot change it" in other.stderr, other.stderr
        assert digest(updated) == digest(fresh)
        # a writer killed mid-write (SIGKILL) or failing on a full disk leaves the previous index
        # as it was; the next write removes the killed writer's temporary
        before = digest(updated)
        os.remove(os.path.join(folder, "c.jpg"))
        killed = run_env({"LOUPE_FAULT_KILL_AFTER_BYTES": "4096"}, binary, "index", folder, "-o", updated, "--update", "--quiet")
        assert killed.returncode == -9, (killed.returncode, killed.stderr)
        assert digest(updated) == before and run(binary, "index", "info", updated).returncode == 0
        assert [n for n in os.listdir(tmp) if n.startswith(".u.idx.")], "the killed writer left no temporary (was it killed mid-write?)"
        full = run_env({"LOUPE_FAULT_FAIL_AFTER_BYTES": "4096"}, binary, "index", folder, "-o", updated, "--update", "--quiet")
        assert full.returncode != 0 and "No space left on device" in full.stderr and digest(updated) == before, full.stderr
        done = run(binary, "index", folder, "-o", updated, "--update", "--quiet")
        assert done.returncode == 0 and "0 added, 0 changed, 1 removed, 2 unchanged" in done.stderr, done.stderr
        assert not [n for n in os.listdir(tmp) if n.endswith(".tmp")], os.listdir(tmp)
        shutil.rmtree(folder)
        for f in (updated, fresh):
            os.remove(f)
        # kept as a segment folder: an update writes one small segment of the change; a writer
        # killed while writing the segment or the manifest, or failing on a full disk, leaves the
        # previous index; compact merges the segments into one
        folder, seg = os.path.join(tmp, "sfold"), os.path.join(tmp, "s.idx")
        shutil.copytree(imgs, folder)
        made = run(binary, "index", folder, "-o", seg, "--max-size", "256", "--layout", "segments", "--quiet")
        assert made.returncode == 0 and os.path.isfile(os.path.join(seg, "manifest.json")), made.stderr
        shutil.copy(os.path.join(refs, sorted(os.listdir(refs))[5]), os.path.join(folder, "c.jpg"))
        again = run(binary, "index", folder, "-o", seg, "--update", "--quiet")
        assert again.returncode == 0 and "1 added, 0 changed, 0 removed, 2 unchanged" in again.stderr, again.stderr
        described = json.loads(run(binary, "index", "info", seg, "--json").stdout)
        assert described["layout"] == "segments" and [x["images"] for x in described["segments"]] == [2, 1], described
        fresh = os.path.join(tmp, "sf.idx")
        assert run(binary, "index", folder, "-o", fresh, "--max-size", "256", "--quiet").returncode == 0
        for query in ("a.jpg", "c.jpg"):
            got, want = (json.loads(run(binary, "search", i, os.path.join(folder, query), "--json").stdout)[0]["results"] for i in (seg, fresh))
            assert [(h["path"], round(h["score"], 5)) for h in got] == [(h["path"], round(h["score"], 5)) for h in want], (got, want)
        before = {n: digest(os.path.join(seg, n)) for n in os.listdir(seg) if not n.startswith(".")}
        os.remove(os.path.join(folder, "a.jpg"))
        for fault in ({"LOUPE_FAULT_KILL_AFTER_BYTES": "512", "LOUPE_FAULT_FILE": "segment-"},
                      {"LOUPE_FAULT_KILL_AFTER_BYTES": "100", "LOUPE_FAULT_FILE": "manifest.json"}):
            killed = run_env(fault, binary, "index", folder, "-o", seg, "--update", "--quiet")
            assert killed.returncode == -9, (fault, killed.returncode, killed.stderr)
            assert digest(os.path.join(seg, "manifest.json")) == before["manifest.json"], fault
            assert json.loads(run(binary, "index", "info", seg, "--json").stdout)["images"] == 3, fault
        full = run_env({"LOUPE_FAULT_FAIL_AFTER_BYTES": "100", "LOUPE_FAULT_FILE": "manifest.json"}, binary, "index", folder, "-o", seg, "--update", "--quiet")
        assert full.returncode != 0 and "No space left on device" in full.stderr, full.stderr
        assert {n: digest(os.path.join(seg, n)) for n in before} == before
        done = run(binary, "index", folder, "-o", seg, "--update", "--quiet")
        assert done.returncode == 0 and "0 added, 0 changed, 1 removed, 2 unchanged" in done.stderr, done.stderr
        described = json.loads(run(binary, "index", "info", seg, "--json").stdout)
        assert [(x["images"], x["removes"]) for x in described["segments"]] == [(2, 0), (1, 0), (0, 1)] and described["images"] == 2, described
        assert sorted(n for n in os.listdir(seg) if n != ".lock") == ["manifest.json", "segment-1.safetensors", "segment-2.safetensors", "segment-3.safetensors"], os.listdir(seg)
        left = json.loads(run(binary, "search", seg, os.path.join(imgs, "a.jpg"), "--json").stdout)[0]["results"]
        assert sorted(h["path"].split("/")[-1] for h in left) == ["b.jpg", "c.jpg"], left
        compacted = run(binary, "index", "compact", seg)
        assert compacted.returncode == 0, compacted.stderr
        described = json.loads(run(binary, "index", "info", seg, "--json").stdout)
        assert [x["images"] for x in described["segments"]] == [2] and described["removed"] == 0, described
        assert sorted(n for n in os.listdir(seg) if n != ".lock") == ["manifest.json", "segment-4.safetensors"], os.listdir(seg)
        # a file index is not turned into a folder by --update, and -o of a folder without a manifest is refused
        other = run(binary, "index", folder, "-o", fresh, "--update", "--layout", "segments", "--quiet")
        assert other.returncode == 64 and "--layout cannot change it" in other.stderr, other.stderr
        other = run(binary, "index", folder, "-o", fresh, "--layout", "segments", "--quiet")
        assert other.returncode == 64 and "is an index file; --layout segments cannot replace it" in other.stderr, other.stderr
        other = run(binary, "index", folder, "-o", seg, "--layout", "file", "--quiet")
        assert other.returncode == 64 and "is an index folder; --layout file cannot replace it" in other.stderr, other.stderr
        shutil.rmtree(folder)
        shutil.rmtree(seg)
        os.remove(fresh)
        # a folder with a truncated JPEG among good ones: indexed without it, and it says so
        partial = run(binary, "index", mixed, "-o", os.path.join(tmp, "m.idx"), "--quiet")
        assert partial.returncode == 0 and "truncated.jpg" in partial.stderr and "1 skipped" in partial.stderr, partial.stderr
        os.remove(os.path.join(tmp, "m.idx"))
        # one bad-file policy: whiten fit and eval skip the truncated image too, name it and count it
        fitted = run(binary, "whiten", "fit", mixed, "--dim", "1", "-o", os.path.join(cache_dir, "w.safetensors"), "--quiet")
        assert fitted.returncode == 0 and "truncated.jpg" in fitted.stderr and "1 skipped" in fitted.stderr, fitted.stderr
        # an output of another kind is refused (a whitening is not an index), --force replaces it
        whitening_file = os.path.join(cache_dir, "w.safetensors")
        kept_whitening = digest(whitening_file)
        other_kind = run(binary, "index", imgs, "-o", whitening_file, "--quiet")
        assert other_kind.returncode == 64 and "is a whitening file, not a Loupe index" in other_kind.stderr and "--force" in other_kind.stderr, other_kind.stderr
        assert digest(whitening_file) == kept_whitening, "a refused run changed the whitening"
        forced_copy = os.path.join(cache_dir, "w-copy.safetensors")
        shutil.copy(whitening_file, forced_copy)
        forced = run(binary, "index", imgs, "-o", forced_copy, "--quiet", "--force")
        assert forced.returncode == 0 and digest(forced_copy) != kept_whitening, forced.stderr
        labelled = os.path.join(cache_dir, "labelled")
        os.makedirs(os.path.join(labelled, "images"))
        for name in ("a.jpg", "b.jpg", "truncated.jpg"):
            shutil.copy(os.path.join(mixed, name), os.path.join(labelled, "images", name))
        open(os.path.join(labelled, "labels.csv"), "w").write("file,class_id\na.jpg,1\nb.jpg,1\ntruncated.jpg,2\n")
        scored = run(binary, "eval", "labels", labelled, "--max-size", "256", "--quiet", "--json")
        report = json.loads(scored.stdout) if scored.returncode == 0 else {}
        assert report.get("databaseImages") == 2 and [os.path.basename(f["file"]) for f in report["skipped"]] == ["truncated.jpg"] \
            and "truncated.jpg" in scored.stderr, scored.stderr
        # --strict stops at it: exit 65, the file named, nothing written
        strict = run(binary, "index", mixed, "-o", os.path.join(tmp, "m.idx"), "--quiet", "--strict")
        assert strict.returncode == 65 and "truncated.jpg" in strict.stderr and not os.path.exists(os.path.join(tmp, "m.idx")), strict.stderr
        strict = run(binary, "eval", "labels", labelled, "--max-size", "256", "--quiet", "--strict")
        assert strict.returncode == 65 and "truncated.jpg" in strict.stderr, strict.stderr
        kept = digest(index)
        # progress is quiet when standard error is not a terminal; LOUPE_PROGRESS=lines gives a line per
        # tenth with a believable rate from the first image on and the time left
        quiet_run = run(binary, "index", imgs, "-o", os.path.join(tmp, "p.idx"))
        assert quiet_run.returncode == 0 and "img/s" not in quiet_run.stderr, quiet_run.stderr
        shown = run_env({"LOUPE_PROGRESS": "lines"}, binary, "index", imgs, "-o", os.path.join(tmp, "p.idx"))
        rates = [float(r) for r in re.findall(r"\(([0-9.]+) img/s\)", shown.stderr)]
        assert shown.returncode == 0 and rates and max(rates) < 1000 and re.search(r"ETA \d+:\d\d", shown.stderr), shown.stderr
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

        # one vocabulary: -k, --crop-size, --object-threshold / --object-nms / --detector-size in detect;
        # the old spellings still work but are not shown; JSON names the hit's image the same way in both modes
        a_jpg = os.path.join(imgs, "a.jpg")
        for args in (["classify", a_jpg, "-k", "2", "--crop-size", "224"], ["classify", a_jpg, "--top", "2", "--size", "224"]):
            got = run(binary, *args, "--json")
            assert got.returncode == 0 and len(json.loads(got.stdout)[0]["predictions"]) == 2, (args, got.stderr)
        new = run(binary, "detect", a_jpg, "--object-threshold", "0.2", "--object-nms", "0.5", "--detector-size", "416", "--json")
        old = run(binary, "detect", a_jpg, "--threshold", "0.2", "--nms", "0.5", "--size", "nano", "--json")
        assert new.returncode == 0 and new.stdout == old.stdout, (new.stderr, old.stderr)
        for command, hidden in (("classify", "--top"), ("detect", "--threshold"), ("detect", "--nms")):
            assert hidden + " " not in run(binary, "help", command).stdout, f"{command} --help shows the old {hidden}"
        index_help = run(binary, "index", "build", "--help").stdout
        for option in ("--max-objects", "--object-threshold", "--object-nms", "--detector-size"):
            line = index_help[index_help.index("  " + option + " <"):].split("\n  -")[0]
            assert "default:" in line, f"index --help shows no default for {option}"
        assert "image" in hits[0] and hits[0]["id"] == hits[0]["image"], hits[0]  # a fresh index: ids are the positions

        # labelled pictures: the montage has a caption strip under every tile and the query in red;
        # detect --draw writes each box's label on a filled box of the box's colour
        import numpy
        from PIL import Image
        montage = os.path.join(cache_dir, "m.png")
        drawn = run(binary, "search", index, a_jpg, "-k", "2", "--montage", montage)
        assert drawn.returncode == 0, drawn.stderr
        picture = numpy.asarray(Image.open(montage).convert("RGB")).astype(int)
        assert picture.shape[1] == 6 + 3 * 206 and picture.shape[0] > 6 + 200 + 2 * 18, picture.shape

        def count(area, colour):
            return int((area == numpy.array(colour)).all(axis=2).sum())
        assert count(picture[6 + 206:, 6:206], (220, 30, 30)) > 50, "no red QUERY caption under the query"
        assert count(picture[6 + 206:, 212:], (0, 0, 0)) > 100, "no rank / score / name under the results"
        boxes = os.path.join(cache_dir, "boxes.png")
        dog = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".cache", "darknet", "data", "dog.jpg")
        got = run(binary, "detect", dog, "--draw", boxes, "--json")
        assert got.returncode == 0, got.stderr
        plain = numpy.asarray(Image.open(dog).convert("RGB")).astype(int)
        labelled_boxes = numpy.asarray(Image.open(boxes).convert("RGB")).astype(int)
        white_text = int(((labelled_boxes == 255).all(axis=2) & (plain != labelled_boxes).any(axis=2)).sum())
        assert white_text > 200, f"detect --draw: {white_text} label pixels"

        # portable indexes: paths relative to the indexed folder; the folder and index moved together
        # still search, the folder moved alone needs --root (and says so)
        moved_top = os.path.join(cache_dir, "portable")
        os.makedirs(os.path.join(moved_top, "photos", "sub"))
        for name in ("a.jpg", "b.jpg"):
            shutil.copy(os.path.join(imgs, name), os.path.join(moved_top, "photos", name))
        linked = os.path.join(cache_dir, "linked-folder")
        os.makedirs(linked)
        shutil.copy(os.path.join(imgs, "a.jpg"), os.path.join(linked, "c.jpg"))
        os.symlink(linked, os.path.join(moved_top, "photos", "sub", "link"))
        os.symlink(os.path.join(moved_top, "photos"), os.path.join(linked, "loop"))  # a link loop ends
        made = run(binary, "index", os.path.join(moved_top, "photos"), "-o", os.path.join(moved_top, "p.idx"), "--quiet", "--max-size", "256")
        assert made.returncode == 0 and "3 images" in made.stderr, made.stderr
        shutil.move(moved_top, moved_top + "-2")
        together = run(binary, "search", os.path.join(moved_top + "-2", "p.idx"), a_jpg, "-k", "3", "--json")
        assert together.returncode == 0 and all(os.path.exists(h["path"]) for h in json.loads(together.stdout)[0]["results"]), together.stderr
        shutil.move(os.path.join(moved_top + "-2", "photos"), os.path.join(cache_dir, "photos-elsewhere"))
        lost = run(binary, "search", os.path.join(moved_top + "-2", "p.idx"), a_jpg, "-k", "1", "--montage", os.path.join(cache_dir, "lost.png"))
        assert lost.returncode == 74 and "--root" in lost.stderr, lost.stderr
        found_again = run(binary, "search", os.path.join(moved_top + "-2", "p.idx"), a_jpg, "-k", "1", "--json",
                          "--root", os.path.join(cache_dir, "photos-elsewhere"))
        assert found_again.returncode == 0 and os.path.exists(json.loads(found_again.stdout)[0]["results"][0]["path"]), found_again.stderr

        # loupe sources: a composite of the two images (a part of b pasted into a) names a as host, b as
        # donor, and locates the pasted part; the JSON has the documented shape
        objects_index = os.path.join(cache_dir, "o.idx")
        made = run(binary, "index", imgs, "-o", objects_index, "--objects", "--max-size", "256", "--quiet")
        assert made.returncode == 0, made.stderr
        host_photo = Image.open(os.path.join(imgs, "a.jpg")).convert("RGB")
        donor_photo = Image.open(os.path.join(imgs, "b.jpg")).convert("RGB")
        part = donor_photo.crop((donor_photo.width // 4, donor_photo.height // 4, donor_photo.width * 3 // 4, donor_photo.height * 3 // 4))
        part = part.resize((host_photo.width // 3, host_photo.height // 3))
        paste_box = (host_photo.width // 10, host_photo.height // 2, host_photo.width // 10 + part.width, host_photo.height // 2 + part.height)
        host_photo.paste(part, paste_box[:2])
        composite = os.path.join(cache_dir, "composite.jpg")
        host_photo.save(composite, quality=90)
        answered = run(binary, "sources", objects_index, composite, "-k", "2", "--json")
        assert answered.returncode == 0, answered.stderr
        # with local features kept, the donor is verified: its matched features lie in the pasted part
        local_index = os.path.join(cache_dir, "local.idx")
        made = run(binary, "index", imgs, "-o", local_index, "--objects", "--max-size", "256", "--local-features", "--quiet")
        assert made.returncode == 0 and "local features" in made.stderr, made.stderr
        verified = run(binary, "sources", local_index, composite, "-k", "2", "--json")
        assert verified.returncode == 0, verified.stderr
        (donor_hit,) = [r for r in json.loads(verified.stdout)[0]["results"] if r["role"] == "donor"]
        assert os.path.basename(donor_hit["path"]) == "b.jpg" and donor_hit["inliers"] >= 10, donor_hit
        assert donor_hit["logFalseAlarms"] < -3, donor_hit
        bx0, by0, bx1, by1 = (donor_hit["queryBox"][c] for c in ("x0", "y0", "x1", "y1"))
        assert bx0 >= paste_box[0] - 8 and by0 >= paste_box[1] - 8 and bx1 <= paste_box[2] + 8 and by1 <= paste_box[3] + 8, (donor_hit["queryBox"], paste_box)
        # the host resized and cropped before the paste: found by its local features, warped onto the
        # composite, and the part still located and its donor verified
        reframed = Image.open(os.path.join(imgs, "a.jpg")).convert("RGB")
        reframed = reframed.crop((reframed.width // 10, reframed.height // 10, reframed.width * 9 // 10, reframed.height * 9 // 10))
        reframed = reframed.resize((reframed.width * 3 // 4, reframed.height * 3 // 4))
        small_part = part.resize((reframed.width // 3, reframed.height // 3))
        spot = (reframed.width // 2, reframed.height // 3)
        reframed.paste(small_part, spot)
        reframed_path = os.path.join(cache_dir, "composite-reframed.jpg")
        reframed.save(reframed_path, quality=90)
        got = run(binary, "sources", local_index, reframed_path, "-k", "2", "--json")
        assert got.returncode == 0, got.stderr
        (answer,) = json.loads(got.stdout)
        roles = [(os.path.basename(r["path"]), r["role"]) for r in answer["results"]]
        assert roles == [("a.jpg", "host"), ("b.jpg", "donor")], roles
        x0, y0, x1, y1 = answer["region"]
        truth = (spot[0], spot[1], spot[0] + small_part.width, spot[1] + small_part.height)
        overlap = max(0, min(x1, truth[2]) - max(x0, truth[0])) * max(0, min(y1, truth[3]) - max(y0, truth[1]))
        assert overlap / ((x1 - x0) * (y1 - y0) + small_part.width * small_part.height - overlap) > 0.5, (answer["region"], truth)
        refused = run(binary, "index", imgs, "-o", os.path.join(tmp, "x.idx"), "--local-features")
        assert refused.returncode == 64 and "--local-features applies to an object index" in refused.stderr, refused.stderr
        for bad, message in ((["--feature-count", "50"], "apply with --local-features"),
                             (["--local-features", "--feature-count", "0"], "feature count must lie in")):
            refused = run(binary, "index", imgs, "-o", os.path.join(tmp, "x.idx"), "--objects", *bad)
            assert refused.returncode == 64 and message in refused.stderr, refused.stderr
        # the same composite as a one-query splice benchmark: each composite's outcome in the JSON
        bench = os.path.join(tmp, "splice-bench")
        os.makedirs(os.path.join(bench, "queries", "dev"))
        os.makedirs(os.path.join(bench, "gt"))
        shutil.copytree(imgs, os.path.join(bench, "reference"))
        shutil.copy(composite, os.path.join(bench, "queries", "dev", "c.jpg"))
        with open(os.path.join(bench, "gt", "roles.csv"), "w") as f:
            f.write("query,host,donor\ndev/c.jpg,a.jpg,b.jpg\n")
        scored = run(binary, "eval", "splices", bench, "--objects", "--max-size", "256", "--local-features", "--feature-count", "600", "--json", "--quiet")
        assert scored.returncode == 0, scored.stderr
        report = json.loads(scored.stdout)
        (outcome,) = report["outcomes"]
        assert outcome["query"] == "dev/c.jpg" and outcome["hostRank"] == 1 and outcome["donorRanks"] == [2], outcome
        assert outcome["donorInliers"][0] >= 10 and report["scores"]["dev"]["allAt2"] == 1, (outcome, report["scores"]["dev"])
        (answer,) = json.loads(answered.stdout)
        assert set(answer) == {"query", "results", "region", "regions"}, answer.keys()
        roles = [(os.path.basename(r["path"]), r["role"]) for r in answer["results"]]
        assert roles == [("a.jpg", "host"), ("b.jpg", "donor")], roles
        assert all(set(r) >= {"path", "score", "role", "image", "queryBox", "databaseRegion"} for r in answer["results"])
        x0, y0, x1, y1 = answer["region"]
        overlap = max(0, min(x1, paste_box[2]) - max(x0, paste_box[0])) * max(0, min(y1, paste_box[3]) - max(y0, paste_box[1]))
        union = (x1 - x0) * (y1 - y0) + part.width * part.height - overlap
        assert overlap / union > 0.7, (answer["region"], paste_box)
        refused = run(binary, "sources", index, composite)
        assert refused.returncode == 64 and "sources needs an object index" in refused.stderr, refused.stderr

        # loupe features against OpenCV's SIFT on the same photo at the same size: most of Loupe's
        # strongest keypoints are OpenCV keypoints too (same place within 2 px, scale within 1.5x)
        import cv2
        photo = os.path.join(imgs, "a.jpg")
        got = run(binary, "features", photo, "--json", "--count", "300", "--max-size", "512", "--contrast", "0.013333")
        assert got.returncode == 0, got.stderr
        (listing,) = json.loads(got.stdout)
        grey = cv2.imread(photo, cv2.IMREAD_GRAYSCALE)
        s = 512 / max(grey.shape)
        small = cv2.resize(grey, (round(grey.shape[1] * s), round(grey.shape[0] * s)), interpolation=cv2.INTER_AREA) if s < 1 else grey
        s = min(s, 1)
        reference = [(k.pt[0] / s, k.pt[1] / s, k.size / 2 / s) for k in cv2.SIFT_create(nfeatures=600).detect(small, None)]
        ref = numpy.array(reference)
        agreed = 0
        for f in listing["features"]:
            near = ref[numpy.hypot(ref[:, 0] - f["x"], ref[:, 1] - f["y"]) < 2 / s]
            if len(near) and (numpy.abs(numpy.log(near[:, 2] / f["size"])) < numpy.log(1.5)).any():
                agreed += 1
        assert len(listing["features"]) == 300 and agreed > 0.7 * 300, f"{agreed} of {len(listing['features'])} keypoints also OpenCV's"
        drawn = os.path.join(cache_dir, "features.png")
        got = run(binary, "features", photo, "--draw", drawn, "--count", "50")
        assert got.returncode == 0 and Image.open(drawn).size == Image.open(photo).size, got.stderr

        # a version, and warnings for thread counts that cannot help
        version = run(binary, "--version")
        assert version.returncode == 0 and re.match(r"\d+\.\d+\.\d+ \(index format 4", version.stdout), version.stdout
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
            (["search", os.path.join(tmp, "missing.idx"), os.path.join(imgs, "a.jpg")], "cannot read index " + os.path.join(tmp, "missing.idx")),
            (["search", garbage, os.path.join(imgs, "a.jpg")], "cannot read index"),
            (["search", index, truncated], "truncated"),
            (["classify", truncated], "truncated"),
            (["features", os.path.join(imgs, "a.jpg"), "--count", "0"], "feature count"),
            (["features", truncated], "truncated"),
            (["features", os.path.join(imgs, "a.jpg"), "--contrast", "nan"], "feature contrast"),
            (["detect", truncated], "truncated"),
            (["eval", "smvs", empty], "queries.csv"),
            (["eval", "smvs", empty, "--query-grid", "2"], "--query-grid applies"),
            (["eval", "splices", bench, "--objects", "--query-grid=-1"], "--query-grid applies"),
            # the shortlist only exists where donors are verified with local features
            (["eval", "splices", bench, "--objects", "--shortlist", "30"], "--shortlist applies to host-guided"),
            (["eval", "splices", bench, "--objects", "--local-features", "--shortlist=-1"], "takes 0 to 1000 images"),
            (["eval", "splices", bench, "--objects", "--part-upsampling", "2"], "--part-upsampling applies to host-guided"),
            (["eval", "splices", bench, "--objects", "--false-alarms=-2"], "--false-alarms applies to host-guided"),
            (["sources", objects_index, os.path.join(imgs, "a.jpg"), "--false-alarms", "nan"], "--false-alarms takes a number"),
            (["eval", "splices", bench, "--objects", "--no-host-guided", "--shaped-parts"], "--shaped-parts applies"),
            (["sources", objects_index, os.path.join(imgs, "a.jpg"), "--part-upsampling", "3,2"], "--part-upsampling takes rising factors"),
            (["sources", objects_index, os.path.join(imgs, "a.jpg"), "--query-grid", "9"], "--query-grid takes"),
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
            # preconditions found before any image is embedded: 2 images cannot give 1280 whitened dimensions
            (["whiten", "fit", imgs, "-o", os.path.join(tmp, "w.safetensors")], "give at most 1 whitened dimensions"),
            (["index", os.path.join(tmp, "nope"), "-o", os.path.join(tmp, "n.idx")], "error: " + os.path.join(tmp, "nope") + " does not exist"),
            (["index", imgs, "-o", os.path.join(tmp, "u.idx"), "--model", "nope"], "unknown model 'nope'"),
            (["classify", os.path.join(imgs, "a.jpg"), "--model", "nope"], "unknown model 'nope'"),
            (["search", index, os.path.join(imgs, "a.jpg"), "--root", os.path.join(tmp, "nope")], "is not a folder"),
            # outputs are checked before any work: never an input, a folder, another kind of file, or a missing folder
            (["index", imgs, "-o", os.path.join(imgs, "a.jpg")], "is one of the input images"),
            (["index", imgs, "-o", truncated], "is not a Loupe file"),
            (["index", imgs, "-o", imgs], "is a folder"),
            (["index", imgs, "-o", os.path.join(tmp, "nope", "x.idx")], "does not exist"),
            (["detect", os.path.join(imgs, "a.jpg"), "--draw", os.path.join(imgs, "a.jpg")], "is one of the input images"),
            (["search", index, os.path.join(imgs, "a.jpg"), "--montage", os.path.join(imgs, "b.jpg")], "is not a PNG"),
            (["whiten", "fit", imgs, "-o", os.path.join(imgs, "b.jpg")], "is one of the input images"),
            (["distill", imgs, "-o", garbage], "is not a Loupe file"),
            (["distill", imgs, "-o", head, "--curve", os.path.join(imgs, "a.jpg")], "is one of the input images"),
            # options that do not apply are refused, not ignored; an image or folder in the wrong place is named
            (["search", index, os.path.join(imgs, "a.jpg"), "--scoring", "mean-of-max"], "applies only to object indexes"),
            (["search", index, os.path.join(imgs, "a.jpg"), "--no-detect", "--query-regions", "all"], "apply only to object indexes"),
            (["search", index, os.path.join(imgs, "a.jpg"), "--qe-alpha", "3"], "give --qe N too"),
            (["search", index, os.path.join(imgs, "a.jpg"), "--qe", "5"], "give at most 1"),
            (["search", index, imgs], "is a folder"),
            # approximate indexes: settings checked before embedding, the rest before writing anything
            (["index", imgs, "-o", os.path.join(tmp, "q.idx"), "--lists", "8"], "need --index-type"),
            (["index", imgs, "-o", os.path.join(tmp, "q.idx"), "--index-type", "ivfpq", "--lists", "0"], "--lists must be at least 1"),
            (["index", imgs, "-o", os.path.join(tmp, "q.idx"), "--index-type", "ivfflat", "--pq", "8"], "--pq applies to pq and ivfpq"),
            (["index", imgs, "-o", os.path.join(tmp, "q.idx"), "--index-type", "pq", "--pq", "7"], "must divide the dimension 1280"),
            (["index", imgs, "-o", os.path.join(tmp, "q.idx"), "--index-type", "ivfflat", "--lists", "5"], "is more than the 2 vectors"),
            (["index", imgs, "-o", os.path.join(tmp, "q.idx"), "--pca", "8"], "need --index-type"),
            (["index", imgs, "-o", os.path.join(tmp, "q.idx"), "--index-type", "ivfflat", "--pca", "1280"], "--pca must be less than the dimension 1280"),
            (["index", imgs, "-o", os.path.join(tmp, "q.idx"), "--index-type", "pq", "--pca", "100", "--pq", "64"], "must divide the --pca dimension 100"),
            (["index", imgs, "-o", os.path.join(tmp, "q.idx"), "--index-type", "pq"], "at least 256 training vectors"),
            (["search", index, os.path.join(imgs, "a.jpg"), "--probe", "4"], "apply to a quantized index"),
            (["index", "export", index, "-o", os.path.join(tmp, "v.csv")], "must end in .npy or .fvecs"),
            (["index", "info", garbage], "safetensors"),
            (["index", "remove", index, os.path.join(tmp, "nope.jpg")], "is not in"),
            (["eval", "smvs", empty, "--index-type", "ivfpq", "--lists", "4"], "apply to `eval` of a retrieval set with --objects"),
            (["search", os.path.join(imgs, "a.jpg"), os.path.join(imgs, "b.jpg")], "is a JPEG image, not a Loupe index"),
            # weights of another network: a short message that says so, not every tensor name
            (["index", imgs, "-o", os.path.join(tmp, "w.idx"), "--model", "efficientnet_lite0",
              "--weights", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".cache", "models", "mobilenet_v2.safetensors")],
             "another network"),
        ]
        images_before = {name: digest(os.path.join(imgs, name)) for name in os.listdir(imgs)}
        garbage_before = digest(garbage)
        # the status of each kind (64 usage, 65 data, 66 missing input), never 1 or a crash
        statuses = {"error: " + os.path.join(tmp, "nope") + " does not exist": 66, "does not exist": 64, "cannot read index " + os.path.join(tmp, "missing.idx"): 66, "unknown model 'nope'": 64,
                    "give at most 1 whitened dimensions": 64, "truncated": 65, "is one of the input images": 64,
                    "applies only to object indexes": 64, "another network": 65, "is a JPEG image, not a Loupe index": 65}
        for args, message in bad:
            before = sorted(os.listdir(tmp))
            result = run(binary, *args)
            assert len(result.stderr) < 2000, f"loupe {' '.join(args)}: {len(result.stderr)} characters of message"
            shown = " ".join(args)
            assert result.returncode > 0, f"loupe {shown}: exit status {result.returncode}\n{result.stderr}"
            assert message in result.stderr, f"loupe {shown}: expected '{message}' in\n{result.stderr}"
            assert sorted(os.listdir(tmp)) == before, f"loupe {shown} left files: {set(os.listdir(tmp)) - set(before)}"
            assert "Usage: loupe <subcommand>" not in result.stderr, f"loupe {shown}: the root usage line for a command's error"
            assert result.returncode in (64, 65, 66, 74), f"loupe {shown}: exit status {result.returncode} is not one of the documented ones"
            if message in statuses:
                assert result.returncode == statuses[message], f"loupe {shown}: exit status {result.returncode}, expected {statuses[message]}"
        assert digest(index) == kept, "a failed rerun changed the existing index"
        assert {name: digest(os.path.join(imgs, name)) for name in os.listdir(imgs)} == images_before, "an input image changed"
        assert digest(garbage) == garbage_before, "a file of another kind was overwritten"
    print(f"check_cli: index + search, progress rates, distill + a damaged cache remade, a truncated image skipped, "
          f"{len(bad)} bad inputs refused with a message")


if __name__ == "__main__":
    main()
