#!/usr/bin/env bash
# Scripts/fuzz.sh TARGET SECONDS [libFuzzer options…]
# Fuzzes one of Loupe's parsers with libFuzzer under AddressSanitizer for SECONDS: image (PNG/JPEG
# through Loupe's Swift decoder: C shims, EXIF orientation, pixel budget), image-c (the C shims
# alone, built by clang with -fsanitize=fuzzer,address,undefined: Swift has no UBSan mode, and
# SwiftPM's fuzzer flag does not instrument C targets; each decoded image must also survive a PNG
# round trip), safetensors, index (flat, object, IVF-PQ files, both verification modes),
# whitening, head, recipe, checkpoint (the PyTorch checkpoint converter, Scripts/loupe_weights.py,
# under atheris when it installs, else a seeded random mutator); `all` runs each in turn. Builds Fuzz/ (a separate package) into .build-fuzz, writes the seed corpus
# (Loupe's own writers and real photos) into .cache/fuzz/corpus/TARGET, which the run then grows,
# and replays Fuzz/Regressions/TARGET (inputs that once failed) first. A finding is written to
# .cache/fuzz/findings/TARGET/ and the script fails; copy it into Fuzz/Regressions/TARGET once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: Scripts/fuzz.sh TARGET|all SECONDS [libFuzzer options]" >&2; exit 64; }
target=$1 seconds=$2
shift 2
targets=(image image-c safetensors index whitening head recipe checkpoint)
if [ "$target" = all ]; then
    for t in "${targets[@]}"; do "$0" "$t" "$seconds" "$@"; done
    exit 0
fi
printf '%s\n' "${targets[@]}" | grep -qx "$target" || { echo "unknown target $target (one of: ${targets[*]}, all)" >&2; exit 64; }
Scripts/setup.sh
mkdir -p .cache/fuzz
if [ "$target" = checkpoint ]; then
    # Python: atheris when it installs (a wheel for this CPython), the script's own mutator otherwise
    .venv/bin/python -c "import atheris" 2>/dev/null || .venv/bin/pip install -q atheris >&2 || echo "atheris did not install: the random mutator runs" >&2
    corpus=.cache/fuzz/corpus/checkpoint findings=.cache/fuzz/findings/checkpoint log=.cache/fuzz/checkpoint.log
    mkdir -p "$corpus" "$findings"
    .venv/bin/python Fuzz/Python/fuzz_checkpoint.py seeds "$corpus"
    status=0
    .venv/bin/python Fuzz/Python/fuzz_checkpoint.py run "$seconds" "$corpus" "$findings" Fuzz/Regressions/checkpoint "$@" > "$log" 2>&1 || status=$?
    grep -E "ERROR|SUMMARY|^stat::|^Done|fallback mutator" "$log" || true
    if [ "$status" -ne 0 ]; then grep -v "^INFO: Instrumenting" "$log" | tail -n 40 >&2; echo "fuzz target checkpoint failed: the input is in $findings" >&2; fi
    exit "$status"
fi
if ! swift build -c release --package-path Fuzz --scratch-path .build-fuzz --sanitize=fuzzer --sanitize=address \
    -Xswiftc -parse-as-library > .cache/fuzz/build.log 2>&1; then
    grep -v "Cannot export local symbol" .cache/fuzz/build.log | tail -n 30 >&2
    echo "the fuzz build failed (.cache/fuzz/build.log)" >&2
    exit 1
fi
binary=.build-fuzz/release/loupe-fuzz
ASAN_OPTIONS=detect_leaks=0 LOUPE_FUZZ_SEEDS=.cache/fuzz/seeds "$binary"   # writes the seeds and exits (the runtime's own environment copy is no leak of ours)
if [ "$target" = image-c ]; then
    rm -f .build-fuzz/loupe-fuzz-image-c
    # the C shims with UBSan too; libpng and libjpeg-turbo are the system's (not instrumented)
    clang -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -ISources/LoupeKernels/include -ISources/LoupeKernels Fuzz/C/fuzz_image.c Sources/LoupeKernels/lk_image.c \
        -lpng16 -ljpeg -o .build-fuzz/loupe-fuzz-image-c 2>&1 | grep -v "Cannot export local symbol" >&2 || true
    [ -x .build-fuzz/loupe-fuzz-image-c ] || { echo "the C fuzz target did not build" >&2; exit 1; }
    binary=.build-fuzz/loupe-fuzz-image-c
fi
corpus=.cache/fuzz/corpus/$target findings=.cache/fuzz/findings/$target
mkdir -p "$corpus" "$findings" "Fuzz/Regressions/$target"
if [ "$target" = safetensors ]; then
    # every Loupe file is a safetensors file: the index, whitening and head seeds
    cp -n .cache/fuzz/seeds/{index,whitening,head}/* "$corpus"/ 2>/dev/null || true
else
    cp -n .cache/fuzz/seeds/"${target%-c}"/* "$corpus"/ 2>/dev/null || true
fi
if [ "$target" = image ] || [ "$target" = image-c ]; then
    .venv/bin/python Scripts/make_fuzz_corpus.py --darknet .cache/darknet/data --out "$corpus" >&2
fi
export LOUPE_FUZZ_TARGET=$target
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# regressions first: each must run clean
if compgen -G "Fuzz/Regressions/$target/*" > /dev/null; then
    "$binary" -runs=0 "Fuzz/Regressions/$target" >&2
fi
max_len=$(find "$corpus" -type f -printf '%s\n' | sort -n | tail -1)
max_len=$(( max_len > 4096 ? max_len : 4096 ))
# the whole log in .cache/fuzz/TARGET.log; here the coverage reached, the corpus and the final stats
log=.cache/fuzz/$target.log
status=0
"$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len="$max_len" -print_final_stats=1 \
    -artifact_prefix="$findings/" "$@" "$corpus" > "$log" 2>&1 || status=$?
grep -E "ERROR|SUMMARY|DONE|^stat::|^Done" "$log" | grep -v "^Done.*seeds" || true
if [ "$status" -ne 0 ]; then tail -n 40 "$log" >&2; echo "fuzz target $target failed: the input is in $findings" >&2; fi
exit "$status"
