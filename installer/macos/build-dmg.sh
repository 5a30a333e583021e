#!/usr/bin/env bash
# Flynn for macOS: dist/Flynn.app and dist/flynn-desktop-<version>-macos-<arch>.dmg.
# Run on a Mac (this can't be built on Linux), from the repository's root, with Python 3.11+ and the
# Xcode command line tools (llama.cpp compiles; on Apple silicon it uses Metal, on Intel Macs the
# portable CPU kernels):
#   bash installer/macos/build-dmg.sh
# The app is unsigned: sign and notarize it with your Developer ID before you hand it out
# (codesign --deep --options runtime -s "Developer ID Application: ..." dist/Flynn.app; xcrun notarytool).
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)"
VENV=build/bundle-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q ".[installer]" pillow   # Pillow: PyInstaller turns the PNG icon into .icns
"$VENV/bin/pip" install -q --no-deps --force-reinstall .
if [ "$(uname -m)" = "x86_64" ]; then
  flags="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON"  # every Intel Mac's CPU
else
  flags="-DGGML_METAL=ON"  # Apple silicon: Metal, and the CPU kernels of arm64
fi
CMAKE_ARGS="$flags" "$VENV/bin/pip" install -q --no-cache-dir --force-reinstall --no-deps "llama-cpp-python==0.3.36"
"$VENV/bin/pip" install -q "llama-cpp-python==0.3.36"
bash scripts/install-models.sh "$VENV/bin/python"
"$VENV/bin/python" -m PyInstaller --noconfirm --distpath dist --workpath build/pyinstaller installer/flynn.spec
# The command line lives inside the app: /Applications/Flynn.app/Contents/MacOS/flynn
dmg="dist/flynn-desktop-$VERSION-macos-$(uname -m).dmg"
rm -rf build/dmg "$dmg" && mkdir -p build/dmg
cp -R dist/Flynn.app build/dmg/
ln -s /Applications build/dmg/Applications
hdiutil create -volname "Flynn" -srcfolder build/dmg -ov -format UDZO "$dmg"
echo "made $dmg"
