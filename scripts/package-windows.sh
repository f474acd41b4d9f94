#!/usr/bin/env bash
# The Windows installer, built on Linux: stages the release builds for x86_64-pc-windows-gnu (the
# window, the agent, the CLI), anvil for Windows (npm, installers/windows/package.json), the
# WebView2 loader the window links against, the icon, the licence and the README, then Debian's
# makensis over installers/windows/gridmint.nsi. Prints the installer's path and size as JSON.
#   scripts/package-windows.sh RELEASE_DIR OUT_DIR
set -euo pipefail
release=${1:?usage: scripts/package-windows.sh RELEASE_DIR OUT_DIR} out=${2:?}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v makensis >/dev/null || { echo "no makensis (apt-get install nsis, or make setup)" >&2; exit 1; }
version=$(sed -n 's/^ *"version": *"\([0-9.]*\)".*/\1/p' "$root/src-tauri/tauri.conf.json" | head -1)
[ -n "$version" ] || { echo "no version in src-tauri/tauri.conf.json" >&2; exit 1; }
anvil=$root/installers/windows/node_modules/@foundry-rs/anvil-win32-amd64/bin/anvil.exe
[ -f "$anvil" ] || { echo "no anvil for Windows at $anvil (make setup installs it)" >&2; exit 1; }
# The loader tauri's web view links against (cargo copies it beside the build for the gnu target).
# The newest one: an older webview2-com-sys's build folder may linger in a cached target.
loader=$(ls -t "$release"/build/webview2-com-sys-*/out/x64/WebView2Loader.dll 2>/dev/null | head -1 || true)
[ -n "$loader" ] || { echo "no WebView2Loader.dll under $release" >&2; exit 1; }

stage=$out/stage
rm -rf "$stage"
mkdir -p "$stage"
for exe in gridmint-app gridmint-agent gridmint; do
  [ -f "$release/$exe.exe" ] || { echo "no $release/$exe.exe: build it for x86_64-pc-windows-gnu first" >&2; exit 1; }
  cp "$release/$exe.exe" "$stage/"
  # The symbol table (a quarter of each executable) serves no one on the owner's machine.
  x86_64-w64-mingw32-strip "$stage/$exe.exe"
done
cp "$anvil" "$stage/gridmint-anvil.exe"
cp "$loader" "$stage/WebView2Loader.dll"
cp "$root/src-tauri/icons/icon.ico" "$stage/gridmint.ico"
cp "$root/LICENSE" "$stage/LICENSE.txt"
cp "$root/installers/README.md" "$stage/README.md"

installer=$out/Gridmint_${version}_x64-setup.exe
# Its output on stderr: this script's stdout is the JSON below. Warnings fail the build.
makensis -V2 -WX -DVERSION="$version" -DSTAGE="$stage" -DOUTFILE="$installer" "$root/installers/windows/gridmint.nsi" >&2
staged=$(du -sb "$stage" | cut -f1)
printf '{"installer": "%s", "installer_bytes": %d, "installed_bytes": %d}\n' "$installer" "$(stat -c %s "$installer")" "$staged"
