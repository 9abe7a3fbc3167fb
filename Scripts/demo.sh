#!/usr/bin/env bash
# Sets up what is missing (Scripts/setup.sh), then runs Loupe's main job on its built-in default.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
swift build -c release --product loupe >&2
exec .build/release/loupe demo "$@"
