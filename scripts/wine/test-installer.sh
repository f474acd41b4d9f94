#!/usr/bin/env bash
# The Windows installer under Wine, silently, as a user's machine would take it:
#   scripts/wine/test-installer.sh INSTALLER WINE_PREFIX
# Installs into Program Files (the files, the Start menu entry, the login entry, the uninstall
# entry), runs the installed CLI and anvil, installs again over itself (an upgrade), uninstalls,
# and checks that everything it added is gone but the account's Gridmint data.
set -euo pipefail
installer=${1:?usage: scripts/wine/test-installer.sh INSTALLER WINE_PREFIX} prefix=${2:?}
wine=${WINE:-/usr/lib/wine/wine64}
wineserver=$(dirname "$wine")/wineserver
export WINEPREFIX=$prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
home=$(mktemp -d)
trap '"$wineserver" -k 2>/dev/null || true; kill ${xvfb:-} 2>/dev/null || true; rm -rf "$home"' EXIT
# A display of its own (Wine makes windows, the agent's hidden one among them, through X): a
# free number that Xvfb picks and says.
Xvfb -displayfd 3 -screen 0 800x600x24 -nolisten tcp 3>"$home/display" >/dev/null 2>&1 &
xvfb=$!
for _ in $(seq 50); do [ -s "$home/display" ] && break; sleep 0.1; done
[ -s "$home/display" ] && kill -0 $xvfb || { echo "installer: Xvfb did not start" >&2; exit 1; }
export DISPLAY=":$(cat "$home/display")"
dir="$prefix/drive_c/Program Files/Gridmint"
menu="$prefix/drive_c/ProgramData/Microsoft/Windows/Start Menu/Programs/Gridmint.lnk"
run_key='HKCU\Software\Microsoft\Windows\CurrentVersion\Run'
uninstall_key='HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\Gridmint'
fail() { echo "installer: $*" >&2; exit 1; }
# A registry value's data; empty when there is none.
reg_value() { { "$wine" reg query "$1" /v "$2" 2>/dev/null || true; } | tr -d '\r' | sed -n "s/^ *$2 *REG_[A-Z]* *//p"; }

# A machine without Gridmint (a run that failed half-way may have left one in the prefix).
"$wine" reg delete 'HKLM\Software\Gridmint' /f >/dev/null 2>&1 || true
"$wine" reg delete "$uninstall_key" /f >/dev/null 2>&1 || true
"$wine" reg delete "$run_key" /v Gridmint /f >/dev/null 2>&1 || true
rm -rf "$dir" "$menu"

# An account's data from before, which no install or uninstall may touch.
appdata=$("$wine" cmd /c echo %APPDATA% | tr -d '\r')
data="$("$wine" winepath -u "$appdata" | tr -d '\r')/Gridmint/gridmint/data"
mkdir -p "$data"
echo "a buyer's job record" > "$data/kept.txt"

run_installer() { "$wine" "$installer" /S || fail "the silent install exited $?"; }
# Every Wine process of the prefix ended (a Gridmint left running would hold it).
settled() { timeout 300 "$wineserver" -w || fail "Wine's processes still run 300 s after the $1"; }
installed() {
  for f in gridmint-app.exe gridmint-agent.exe gridmint.exe gridmint-anvil.exe WebView2Loader.dll gridmint.ico LICENSE.txt README.md uninstall.exe; do
    [ -f "$dir/$f" ] || fail "no $f in Program Files\\Gridmint"
  done
  [ -f "$menu" ] || fail "no Start menu entry"
  local login expected='"C:\Program Files\Gridmint\gridmint-agent.exe" '
  login=$(reg_value "$run_key" Gridmint)
  [ "$1" = with-login ] || expected=""
  [ "$login" = "$expected" ] || fail "the login entry is [$login], not [$expected]"
  [ "$(reg_value "$uninstall_key" QuietUninstallString)" = '"C:\Program Files\Gridmint\uninstall.exe" /S' ] \
    || fail "no uninstall entry"
  [ "$(reg_value "$uninstall_key" DisplayVersion)" = "$(sed -n 's/^ *"version": *"\([0-9.]*\)".*/\1/p' "$(dirname "$0")/../../src-tauri/tauri.conf.json" | head -1)" ] \
    || fail "the uninstall entry's version is not the app's"
}

run_installer
settled install
installed with-login
echo "installed: Program Files\\Gridmint, Start menu entry, login entry, uninstall entry"
help=$("$wine" "$dir/gridmint.exe" --help) || fail "the installed gridmint.exe --help exited $?"
grep -q "Usage: gridmint.exe" <<<"$help" || fail "the installed gridmint.exe --help printed no usage: $help"
version=$("$wine" "$dir/gridmint-anvil.exe" --version) || fail "the installed gridmint-anvil.exe --version exited $?"
grep -qi "^anvil" <<<"$version" || fail "the installed gridmint-anvil.exe --version printed: $version"
echo "the installed gridmint.exe and gridmint-anvil.exe run"

# The installed agent, running its local network (anvil through its launcher: no console
# window, in a job), while an upgrade is installed over it: asked to stop through its hidden
# window, it stops cleanly, and anvil goes with it.
log() { cat "$home"/logs/gridmint-agent.log* 2>/dev/null || true; }
# Wine's processes are this machine's, named by their Windows command lines: this prefix's.
anvils() {
  local pid
  for pid in $(pgrep -f 'gridmint-anvil\.exe' || true); do
    tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "WINEPREFIX=$prefix" && echo "$pid"
  done
  true
}
# Waits up to 15 s for this prefix's anvil to end.
anvil_gone() { for _ in $(seq 30); do [ -z "$(anvils)" ] && return 0; sleep 0.5; done; return 1; }
# Starts the installed agent on a fresh log (its pid in $agent) and waits for its local network.
start_agent() {
  rm -rf "$home/logs"
  GRIDMINT_HOME=$("$wine" winepath -w "$home" | tr -d '\r') "$wine" "$dir/gridmint-agent.exe" >"$home/agent.out" 2>&1 &
  agent=$!
  for _ in $(seq 180); do
    log | grep -q "devnet running" && break
    kill -0 $agent 2>/dev/null || { log >&2; fail "the installed agent ended before its local network ran"; }
    sleep 1
  done
  log | grep -q "devnet running" || { log >&2; fail "the installed agent's local network did not start in 180 s"; }
  [ -n "$(anvils)" ] || { log >&2; fail "no anvil process while the local network runs"; }
}

start_agent
! log | grep -q "no stop window" || { log >&2; fail "the agent made no stop window"; }
echo "the installed agent runs its local network"

# The owner turned "Start at login" off: an upgrade keeps it off.
"$wine" reg delete "$run_key" /v Gridmint /f >/dev/null
run_installer
wait $agent || fail "the agent, stopped by the upgrade, exited $?"
log | grep -q "asked to stop" || { log >&2; fail "the agent was not asked to stop (ended outright?)"; }
log | grep -q "the agent stopped" || { log >&2; fail "the agent did not finish stopping"; }
anvil_gone || fail "anvil outlived the agent: $(ps -o pid,args -p "$(anvils | paste -sd,)")"
settled upgrade
installed without-login
echo "installed again over itself (an upgrade): the running agent stopped cleanly, anvil with it; the owner's login choice kept"

# An agent ended outright (Task Manager, taskkill /F): its job object ends anvil with it.
start_agent
! log | grep -q "may outlive it" || { log >&2; fail "the agent made no job object"; }
"$wine" taskkill /F /IM gridmint-agent.exe >/dev/null
wait $agent || true
anvil_gone || fail "anvil outlived an agent ended outright: $(ps -o pid,args -p "$(anvils | paste -sd,)")"
settled "agent's end"
echo "an agent ended outright: anvil ended with it"

# A folder other than Program Files' own is refused, and nothing is written.
outside="$prefix/drive_c/Gridmint-elsewhere"
if "$wine" "$installer" /S '/D=C:\Gridmint-elsewhere'; then fail "the installer took C:\\Gridmint-elsewhere"; fi
settled "refused install"
[ ! -e "$outside" ] || fail "the refused install wrote $outside"
echo "an install folder outside Program Files is refused"

# The owner turned it on again in the app (the value the agent writes): the uninstall removes it.
"$wine" reg add "$run_key" /v Gridmint /t REG_SZ /d '"C:\Program Files\Gridmint\gridmint-agent.exe" ' /f >/dev/null
"$wine" "$dir/uninstall.exe" /S || fail "the silent uninstall exited $?"
# The uninstaller runs from a copy in the temporary folder: wait for it.
settled uninstall
[ ! -e "$dir" ] || fail "Program Files\\Gridmint is still there: $(ls "$dir")"
[ ! -e "$menu" ] || fail "the Start menu entry is still there"
[ -z "$(reg_value "$run_key" Gridmint)" ] || fail "the login entry is still there"
[ -z "$(reg_value "$uninstall_key" DisplayName)" ] || fail "the uninstall entry is still there"
[ -z "$(reg_value 'HKLM\Software\Gridmint' InstallDir)" ] || fail "HKLM\\Software\\Gridmint is still there"
[ "$(cat "$data/kept.txt")" = "a buyer's job record" ] || fail "the account's data was touched"
echo "uninstalled: all of it gone, the account's data kept"
