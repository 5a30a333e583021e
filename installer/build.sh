#!/usr/bin/env bash
# `make installer`: Flynn as a program for computers without Python (Linux, x86-64):
#   dist/flynn-desktop/                                 the one-folder app, `flynn` inside
#   dist/flynn-desktop-<version>-linux-x86_64.tar.gz    that folder, packed
#   dist/flynn-desktop_<version>_amd64.deb              /opt/flynn-desktop, `flynn` on the PATH, menu entry
# It builds in a venv of its own (build/bundle-venv) with llama.cpp built for every x86-64 CPU
# (scripts/build-llama.sh --portable), then PyInstaller (installer/flynn.spec), then the packages.
# When nothing it packs has changed since the last build, it says so and stops (the test loop stays
# fast; a fresh clone, as in CI, has no dist/ and builds); FLYNN_INSTALLER_FRESH=1 builds anew.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "flynn-installer: $*"; }

NAME=flynn-desktop
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)"
DIST=dist
APP="$DIST/$NAME"
TARBALL="$DIST/$NAME-$VERSION-linux-x86_64.tar.gz"
DEB="$DIST/${NAME}_${VERSION}_amd64.deb"
VENV=build/bundle-venv
STAMP="$DIST/.$NAME-build-key"

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) say "this script builds the Linux x86-64 installers; see the README's Installers section for $(uname -s)"; exit 2 ;;
esac
for tool in dpkg-deb tar strip objdump; do
  command -v "$tool" >/dev/null || { say "$tool is needed (apt-get install dpkg tar binutils)"; exit 2; }
done

# What the bundle packs: Flynn's code and data, this recipe, the build scripts, the dependencies.
key="$( { git ls-files -co --exclude-standard -- flynn_desktop models resources installer pyproject.toml \
          scripts/build-llama.sh scripts/install-models.sh scripts/find-python.sh | LC_ALL=C sort | while read -r f; do
            [ -f "$f" ] && printf '%s %s\n' "$f" "$(sha256sum < "$f" | cut -c1-64)"; done; } | sha256sum | cut -c1-16)"
fresh="${FLYNN_INSTALLER_FRESH:-}"
if [ -z "$fresh" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$key" ] && [ -x "$APP/flynn" ] \
   && [ -f "$TARBALL" ] && [ -f "$DEB" ]; then
  say "up to date ($APP, $TARBALL, $DEB: nothing they pack has changed)"
  exit 0
fi
rm -f "$STAMP"
started=$SECONDS

# 1. A venv of its own: Flynn installed as a wheel (its data where a wheel puts it), PyInstaller.
PY="$(bash scripts/find-python.sh)" || { say "Python 3.11 or newer is needed to build the installers"; exit 2; }
[ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PY" -m venv "$VENV"; }
VPY="$VENV/bin/python"
pipq() { "$VPY" -m pip "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }; }
pipq install -q --upgrade pip
say "installing Flynn and PyInstaller into $VENV"
pipq install -q ".[installer]"
pipq install -q --no-deps --force-reinstall .   # this checkout's code, even at the same version

# 2. llama.cpp with a CPU kernel for every x86-64 CPU family, and the bundled models.
bash scripts/build-llama.sh "$VPY" --portable
bash scripts/install-models.sh "$VPY"

# 3. The one-folder app.
say "running PyInstaller (installer/flynn.spec)"
rm -rf "$APP"
# From build/, so that Python's path starts there and not at the checkout: the bundle takes Flynn as
# installed in the venv (with its data where a wheel puts it), not the source tree.
here="$PWD"
(cd build && "$here/$VPY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$here/$DIST" --workpath "$here/build/pyinstaller" "$here/installer/flynn.spec")
[ -x "$APP/flynn" ] || { say "PyInstaller made no $APP/flynn"; exit 1; }
# libpython as Python's build left it carries its symbols (23 MB; 5 without). Only it: strip breaks
# the libraries auditwheel patched (numpy's OpenBLAS).
strip --strip-unneeded "$APP"/_internal/libpython3*.so*
# llama_cpp loads libllama.so and libggml.so by those names; libllama links libggml.so.0: one file, two names.
for f in "$APP"/_internal/llama_cpp/lib/lib*.so.[0-9]*; do
  ln -sfn "$(basename "$f")" "${f%.so.*}.so"
done

# 4. The tarball: the folder as it is.
say "packing $TARBALL"
tar -C "$DIST" -czf "$TARBALL.tmp" "$NAME" && mv "$TARBALL.tmp" "$TARBALL"

# 5. The .deb: /opt/flynn-desktop, /usr/bin/flynn, the menu entry and the icons.
say "packing $DEB"
root=build/deb
rm -rf "$root" && mkdir -p "$root/DEBIAN" "$root/opt" "$root/usr/bin" "$root/usr/share/applications"
cp -a "$APP" "$root/opt/$NAME"
ln -s "/opt/$NAME/flynn" "$root/usr/bin/flynn"
cp resources/flynn-desktop.desktop "$root/usr/share/applications/$NAME.desktop"
mkdir -p "$root/usr/share/icons/hicolor/scalable/apps"
cp resources/icons/flynn.svg "$root/usr/share/icons/hicolor/scalable/apps/$NAME.svg"
for png in resources/icons/png/flynn-[0-9]*.png; do
  size="$(basename "$png" .png)"; size="${size#flynn-}"
  mkdir -p "$root/usr/share/icons/hicolor/${size}x${size}/apps"
  cp "$png" "$root/usr/share/icons/hicolor/${size}x${size}/apps/$NAME.png"
done
eval "$(grep '^APT_APP=' scripts/setup.sh)"   # the libraries Qt's xcb platform needs
# The newest glibc any packed binary asks for (the builder's libstdc++ and others come along): the app runs
# on that glibc or newer, so build on the oldest system it should run on.
glibc="$(find "$APP" -type f \( -name '*.so*' -o -name flynn \) -exec objdump -T {} + 2>/dev/null \
  | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)"
depends="libc6 (>= $glibc), $(printf '%s, ' "${APT_APP[@]}")"
cat > "$root/DEBIAN/control" <<CONTROL
Package: $NAME
Version: $VERSION
Architecture: amd64
Maintainer: Flynn Desktop <flynn-desktop@localhost>
Installed-Size: $(du -sk "$root" | cut -f1)
Depends: ${depends%, }
Section: utils
Priority: optional
Homepage: https://github.com/flynn-desktop/flynn-desktop
Description: local-first AI assistant
 Flynn answers with a model that runs on this computer (one is included), remembers what
 matters, keeps every conversation, and lets editor plugins use the same assistant through a
 local gateway. Nothing leaves the computer unless you set up a cloud tier.
CONTROL
cat > "$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q /usr/share/applications || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true
POSTINST
cp "$root/DEBIAN/postinst" "$root/DEBIAN/postrm"
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/postrm"
dpkg-deb --root-owner-group -Zgzip --build "$root" "$DEB.tmp" >/dev/null && mv "$DEB.tmp" "$DEB"
rm -rf "$root"

echo "$key" > "$STAMP"
say "done in $((SECONDS - started)) s (runs on glibc $glibc or newer): $APP ($(du -sm "$APP" | cut -f1) MB unpacked), $TARBALL ($(du -sm "$TARBALL" | cut -f1) MB), $DEB ($(du -sm "$DEB" | cut -f1) MB)"
