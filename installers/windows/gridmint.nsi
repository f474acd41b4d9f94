; The Windows installer: Gridmint for every account of the machine, under Program Files.
;
; Built on Linux by `make package-windows` with Debian's makensis (scripts/package-windows.sh
; stages the files and passes the defines below). Tauri's bundler is not used for it: its NSIS
; step downloads NSIS and its own plugin from GitHub at build time.
;
; Per machine, not per user: the agent admits the window by its executable's path, so the
; folder must be one the owner's other programs cannot write to (installers/README.md). Hence
; no folder page, and a folder given with /D must be Program Files\Gridmint itself.
;
; Defines (makensis -D...): VERSION (x.y.z), STAGE (the folder with the files to install),
; OUTFILE (the installer to write).

!ifndef VERSION | STAGE | OUTFILE
  !error "makensis -DVERSION=x.y.z -DSTAGE=<folder> -DOUTFILE=<installer.exe>"
!endif

Unicode true
Target amd64-unicode
ManifestDPIAware true
SetCompressor /SOLID lzma
RequestExecutionLevel admin

!define PRODUCT "Gridmint"
!define PUBLISHER "Gridmint"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${PRODUCT}"
; The value the agent's "Start at login" setting writes (auto-launch, for the current account):
; the same name and command, so the app sees the installer's entry as its own.
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
!define RUN_VALUE "${PRODUCT}"
; WebView2's runtime (the window's web view), per machine or per user.
!define WEBVIEW2_CLIENT "Microsoft\EdgeUpdate\Clients\{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}"
!define WEBVIEW2_BOOTSTRAPPER "https://go.microsoft.com/fwlink/p/?LinkId=2124703"

Name "${PRODUCT}"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\${PRODUCT}"
InstallDirRegKey HKLM "Software\${PRODUCT}" "InstallDir"
BrandingText "${PRODUCT} ${VERSION}"

VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${PRODUCT}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${PRODUCT} installer"
VIAddVersionKey "CompanyName" "${PUBLISHER}"
VIAddVersionKey "LegalCopyright" "Copyright 2026 Gridmint contributors"

!include "MUI2.nsh"
!include "LogicLib.nsh"
!include "FileFunc.nsh"
!include "x64.nsh"
!include "WinMessages.nsh"

!define MUI_ICON "${STAGE}\gridmint.ico"
!define MUI_UNICON "${STAGE}\gridmint.ico"
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN
!define MUI_FINISHPAGE_RUN_TEXT "Open Gridmint"
!define MUI_FINISHPAGE_RUN_FUNCTION OpenAsOwner

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_LICENSE "${STAGE}\LICENSE.txt"
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

; The running window, agent and their children (the local chain, device workers) hold the files.
; This session's agent is asked through its hidden window (class GridmintAgent) and given 30 s
; to stop (its windows close with it, anvil and device workers stop); what still runs then (other
; sessions', a CLI, a stuck agent) is ended. An account's own job data and wallet are not touched
; (the data folder is the account's, the key is in its Credential Manager).
!macro StopGridmint
  ; Each agent window of this session (another home's agent too) is asked, every half second.
  ${For} $1 1 60
    FindWindow $0 "GridmintAgent"
    ${IfThen} $0 = 0 ${|} ${Break} ${|}
    ${IfThen} $1 = 1 ${|} DetailPrint "Stopping Gridmint" ${|}
    SendMessage $0 ${WM_CLOSE} 0 0 /TIMEOUT=2000
    Sleep 500
  ${Next}
  nsExec::ExecToLog '"$SYSDIR\taskkill.exe" /F /IM gridmint-app.exe /IM gridmint-agent.exe /IM gridmint.exe /IM gridmint-anvil.exe'
  Pop $0
  ; Something was ended: give Windows the moment it takes to release the executables.
  ${IfThen} $0 = 0 ${|} Sleep 2000 ${|}
!macroend

Var FirstInstall

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_ICONSTOP "${PRODUCT} needs 64-bit Windows." /SD IDOK
    Abort
  ${EndIf}
  SetRegView 64
  SetShellVarContext all
  ; Program Files' own folder keeps the executables out of other programs' reach: exactly it (a
  ; text prefix would admit "..", and a vendor's sub-folder may be writable by everyone).
  ${If} $INSTDIR != "$PROGRAMFILES64\${PRODUCT}"
    MessageBox MB_ICONSTOP "${PRODUCT} installs into $PROGRAMFILES64\${PRODUCT} only (not $INSTDIR): the app trusts its own programs by their folder." /SD IDOK
    Abort
  ${EndIf}
  ReadRegStr $0 HKLM "Software\${PRODUCT}" "InstallDir"
  ${If} $0 == ""
    StrCpy $FirstInstall 1
  ${EndIf}
FunctionEnd

Function un.onInit
  SetRegView 64
  SetShellVarContext all
FunctionEnd

; The finish page's "Open Gridmint": through Explorer, so the window runs as the signed-in owner
; and not with this installer's elevation.
Function OpenAsOwner
  Exec '"$WINDIR\explorer.exe" "$INSTDIR\gridmint-app.exe"'
FunctionEnd

Section "Gridmint" SecMain
  SectionIn RO
  !insertmacro StopGridmint

  SetOutPath "$INSTDIR"
  File "${STAGE}\gridmint-app.exe"
  File "${STAGE}\gridmint-agent.exe"
  File "${STAGE}\gridmint.exe"
  File "${STAGE}\gridmint-anvil.exe"
  File "${STAGE}\WebView2Loader.dll"
  File "${STAGE}\gridmint.ico"
  File "${STAGE}\LICENSE.txt"
  File "${STAGE}\README.md"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  ; The Start menu entry, for every account.
  CreateShortcut "$SMPROGRAMS\${PRODUCT}.lnk" "$INSTDIR\gridmint-app.exe" "" "$INSTDIR\gridmint.ico" 0

  ; Start at login for the installing account, as the app's default, on a first install only
  ; (an upgrade keeps the owner's choice): the agent alone, in the background; the app's set-up
  ; and its "Start at login" setting keep or remove it.
  ${If} $FirstInstall == 1
    WriteRegStr HKCU "${RUN_KEY}" "${RUN_VALUE}" '"$INSTDIR\gridmint-agent.exe" '
  ${EndIf}

  WriteRegStr HKLM "Software\${PRODUCT}" "InstallDir" "$INSTDIR"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayName" "${PRODUCT}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\gridmint.ico"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  IntFmt $0 "0x%08X" $0
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "EstimatedSize" "$0"

  ; The window needs Microsoft's WebView2 runtime (Windows 11 has it; most Windows 10 machines
  ; through Edge). Without it: Microsoft's bootstrapper, fetched now into this folder (only
  ; administrators write there: nothing swaps it before it runs elevated), run only when
  ; Microsoft's signature on it holds, then deleted. The agent and the CLI run without it.
  ReadRegStr $0 HKLM "SOFTWARE\WOW6432Node\${WEBVIEW2_CLIENT}" "pv"
  ${If} $0 == ""
    ReadRegStr $0 HKCU "Software\${WEBVIEW2_CLIENT}" "pv"
  ${EndIf}
  ${If} $0 == ""
  ${OrIf} $0 == "0.0.0.0"
    DetailPrint "Installing Microsoft's WebView2 runtime (the window needs it)"
    StrCpy $2 "$INSTDIR\MicrosoftEdgeWebview2Setup.exe"
    ; PowerShell's own modules by their full path (a same-user program could shadow them through
    ; the user's module path), TLS 1.2 on older Windows 10, the signer's organisation exactly.
    nsExec::ExecToLog `"$SYSDIR\WindowsPowerShell\v1.0\powershell.exe" -NoProfile -NonInteractive -ExecutionPolicy Bypass -Command "$$ErrorActionPreference = 'Stop'; Import-Module (Join-Path $$PSHOME 'Modules\Microsoft.PowerShell.Utility'); Import-Module (Join-Path $$PSHOME 'Modules\Microsoft.PowerShell.Security'); [Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12; Invoke-WebRequest -UseBasicParsing -Uri '${WEBVIEW2_BOOTSTRAPPER}' -OutFile '$2'; $$s = Get-AuthenticodeSignature -FilePath '$2'; if ($$s.Status -ne 'Valid' -or $$s.SignerCertificate.Subject -notmatch '(^|, )O=Microsoft Corporation(,|$$)') { Remove-Item '$2'; exit 3 }"`
    Pop $0
    ${If} $0 == 0
      ClearErrors
      ExecWait '"$2" /silent /install' $0
      ${IfThen} ${Errors} ${|} StrCpy $0 "not started" ${|}
    ${EndIf}
    Delete "$2"
    ${If} $0 != 0
      DetailPrint "WebView2 not installed ($0): the window needs it; the agent and the CLI run without it. Get it from ${WEBVIEW2_BOOTSTRAPPER}"
    ${EndIf}
  ${EndIf}
SectionEnd

Section "Uninstall"
  !insertmacro StopGridmint

  Delete /REBOOTOK "$INSTDIR\gridmint-app.exe"
  Delete /REBOOTOK "$INSTDIR\gridmint-agent.exe"
  Delete /REBOOTOK "$INSTDIR\gridmint.exe"
  Delete /REBOOTOK "$INSTDIR\gridmint-anvil.exe"
  Delete /REBOOTOK "$INSTDIR\WebView2Loader.dll"
  Delete /REBOOTOK "$INSTDIR\gridmint.ico"
  Delete /REBOOTOK "$INSTDIR\LICENSE.txt"
  Delete /REBOOTOK "$INSTDIR\README.md"
  Delete /REBOOTOK "$INSTDIR\MicrosoftEdgeWebview2Setup.exe"
  Delete /REBOOTOK "$INSTDIR\uninstall.exe"
  RMDir /REBOOTOK "$INSTDIR"

  Delete "$SMPROGRAMS\${PRODUCT}.lnk"
  ; This account's login entry, whether the installer or the app wrote it (other accounts'
  ; entries point at a program that is gone, which Windows skips).
  DeleteRegValue HKCU "${RUN_KEY}" "${RUN_VALUE}"
  DeleteRegValue HKCU "Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run" "${RUN_VALUE}"
  DeleteRegKey HKLM "${UNINSTALL_KEY}"
  DeleteRegKey HKLM "Software\${PRODUCT}"
  DetailPrint "Kept: each account's Gridmint data (%APPDATA%\Gridmint) and its wallet key (Credential Manager)"
SectionEnd
