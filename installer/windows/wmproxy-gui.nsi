; wmproxy-gui Windows installer (NSIS 3, Modern UI 2).
;
; Per-user install (no UAC prompt): %LOCALAPPDATA%\Programs\wmproxy-gui, shortcuts and the
; autostart Run value under HKCU, so they belong to the user who runs the tray app.
;
; Build (installer/build_windows.sh passes these):
;   makensis -DVERSION=0.1.0 -DVERSION_QUAD=0.1.0.0 -DPAYLOAD=dist\wmproxy-gui
;            -DICON=build\icons\wmproxy-gui.ico -DOUTDIR=dist installer\windows\wmproxy-gui.nsi
; PAYLOAD is PyInstaller's one-folder bundle (wmproxy-gui.exe, wmproxy-gui-cli.exe, _internal\).
; Optional: -DCOMPRESSOR=zlib for a fast syntax/path check build (release uses solid LZMA).

Unicode true
ManifestDPIAware true
RequestExecutionLevel user

!ifndef VERSION
  !error "pass -DVERSION=x.y.z"
!endif
!ifndef VERSION_QUAD
  !error "pass -DVERSION_QUAD=x.y.z.w (numeric, for the file version resource)"
!endif
!ifndef PAYLOAD
  !error "pass -DPAYLOAD=<PyInstaller one-folder bundle dir>"
!endif
!ifndef ICON
  !error "pass -DICON=<wmproxy-gui.ico from installer/make_icons.py>"
!endif
!ifndef OUTDIR
  !define OUTDIR "."
!endif
!ifdef COMPRESSOR
  SetCompressor /SOLID ${COMPRESSOR}
!else
  SetCompressor /SOLID lzma
!endif

!define APP "wmproxy-gui"
!define EXE "wmproxy-gui.exe"
!define PUBLISHER "wmproxy-gui"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP}"
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
; The app's own "start on login" setting writes the same value (wmproxy_gui/settings.py).
!define RUN_VALUE "${APP}"
; platformdirs user_config/data/log dirs with appauthor=False (core/paths.py).
!define USER_DIR "$LOCALAPPDATA\${APP}"

Name "${APP} ${VERSION}"
OutFile "${OUTDIR}\${APP}-setup-${VERSION}.exe"
InstallDir "$LOCALAPPDATA\Programs\${APP}"
InstallDirRegKey HKCU "${UNINST_KEY}" "InstallLocation"
BrandingText "${APP} ${VERSION}"

VIProductVersion "${VERSION_QUAD}"
VIAddVersionKey /LANG=0 "ProductName" "${APP}"
VIAddVersionKey /LANG=0 "ProductVersion" "${VERSION}"
VIAddVersionKey /LANG=0 "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=0 "FileDescription" "${APP} installer"
VIAddVersionKey /LANG=0 "CompanyName" "${PUBLISHER}"
VIAddVersionKey /LANG=0 "LegalCopyright" "Apache-2.0"

!include "MUI2.nsh"
!include "LogicLib.nsh"
!include "FileFunc.nsh"

!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_ABORTWARNING
!define MUI_COMPONENTSPAGE_SMALLDESC
!define MUI_FINISHPAGE_RUN "$INSTDIR\${EXE}"
!define MUI_UNCOMPONENTSPAGE_SMALLDESC

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH

!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_COMPONENTS
!insertmacro MUI_UNPAGE_INSTFILES

!insertmacro MUI_LANGUAGE "English"
!insertmacro MUI_LANGUAGE "SimpChinese"

LangString DESC_Main ${LANG_ENGLISH} "The wmproxy-gui tray app and its command-line twin (wmproxy-gui-cli)."
LangString DESC_Main ${LANG_SIMPCHINESE} "wmproxy-gui 托盘程序及命令行版本 (wmproxy-gui-cli)。"
LangString DESC_StartMenu ${LANG_ENGLISH} "A Start-menu shortcut."
LangString DESC_StartMenu ${LANG_SIMPCHINESE} "创建开始菜单快捷方式。"
LangString DESC_Desktop ${LANG_ENGLISH} "A desktop shortcut."
LangString DESC_Desktop ${LANG_SIMPCHINESE} "创建桌面快捷方式。"
LangString DESC_Autostart ${LANG_ENGLISH} "Start wmproxy-gui in the tray when you sign in."
LangString DESC_Autostart ${LANG_SIMPCHINESE} "登录时在托盘中启动 wmproxy-gui。"
LangString DESC_UnMain ${LANG_ENGLISH} "Remove the program, its shortcuts and autostart entry."
LangString DESC_UnMain ${LANG_SIMPCHINESE} "删除程序、快捷方式和开机启动项。"
LangString DESC_UnSettings ${LANG_ENGLISH} "Also delete my settings, profiles, certificates and logs (${USER_DIR}). Saved passwords stay in Windows Credential Manager."
LangString DESC_UnSettings ${LANG_SIMPCHINESE} "同时删除我的设置、配置文件、证书和日志 (${USER_DIR})。已保存的密码仍保留在 Windows 凭据管理器中。"
LangString MSG_Running ${LANG_ENGLISH} "wmproxy-gui is running. Close it from its tray menu (Quit), then press Retry."
LangString MSG_Running ${LANG_SIMPCHINESE} "wmproxy-gui 正在运行。请从托盘菜单退出后点击“重试”。"

; Refuse to overwrite or remove files while the app runs (they are locked, and a half-replaced
; bundle would not start). The user quits it from the tray; nothing is killed behind their back.
!macro CHECK_NOT_RUNNING un
  Function ${un}CheckNotRunning
    retry:
    ; tasklist prints the image name only when such a process of this user exists
    nsExec::ExecToStack 'cmd.exe /C tasklist /NH /FI "IMAGENAME eq ${EXE}" /FI "USERNAME eq %USERNAME%" | find /I "${EXE}"'
    Pop $0
    Pop $1
    ${If} $0 == 0
      ; /SD IDCANCEL: a silent (/S) install or uninstall gives up instead of waiting on a dialog
      MessageBox MB_RETRYCANCEL|MB_ICONEXCLAMATION "$(MSG_Running)" /SD IDCANCEL IDRETRY retry
      Abort
    ${EndIf}
  FunctionEnd
!macroend
!insertmacro CHECK_NOT_RUNNING ""
!insertmacro CHECK_NOT_RUNNING "un."

Section "wmproxy-gui" SecMain
  SectionIn RO
  Call CheckNotRunning
  SetOutPath "$INSTDIR"
  ; Replace the previous version's bundle whole: stale libraries from an older Qt must not linger.
  RMDir /r "$INSTDIR\_internal"
  File /r "${PAYLOAD}\*"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  WriteRegStr HKCU "${UNINST_KEY}" "DisplayName" "${APP}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINST_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\${EXE}"
  WriteRegStr HKCU "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD HKCU "${UNINST_KEY}" "EstimatedSize" $0
SectionEnd

Section "Start menu shortcut" SecStartMenu
  CreateShortcut "$SMPROGRAMS\${APP}.lnk" "$INSTDIR\${EXE}" "" "$INSTDIR\${EXE}" 0
SectionEnd

Section /o "Desktop shortcut" SecDesktop
  CreateShortcut "$DESKTOP\${APP}.lnk" "$INSTDIR\${EXE}" "" "$INSTDIR\${EXE}" 0
SectionEnd

Section /o "Start when I sign in" SecAutostart
  WriteRegStr HKCU "${RUN_KEY}" "${RUN_VALUE}" '"$INSTDIR\${EXE}" --minimized'
SectionEnd

!insertmacro MUI_FUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${SecMain} $(DESC_Main)
  !insertmacro MUI_DESCRIPTION_TEXT ${SecStartMenu} $(DESC_StartMenu)
  !insertmacro MUI_DESCRIPTION_TEXT ${SecDesktop} $(DESC_Desktop)
  !insertmacro MUI_DESCRIPTION_TEXT ${SecAutostart} $(DESC_Autostart)
!insertmacro MUI_FUNCTION_DESCRIPTION_END

Section "un.wmproxy-gui" SecUnMain
  SectionIn RO
  Call un.CheckNotRunning
  Delete "$SMPROGRAMS\${APP}.lnk"
  Delete "$DESKTOP\${APP}.lnk"
  DeleteRegValue HKCU "${RUN_KEY}" "${RUN_VALUE}"
  ; Only what the installer put there: never RMDir /r "$INSTDIR" (it could be a folder the user picked).
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\wmproxy-gui.exe"
  Delete "$INSTDIR\wmproxy-gui-cli.exe"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKCU "${UNINST_KEY}"
SectionEnd

; Unchecked by default: an uninstall (or an upgrade via uninstall) keeps the user's settings.
Section /o "un.Remove my settings" SecUnSettings
  RMDir /r "${USER_DIR}"
SectionEnd

!insertmacro MUI_UNFUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${SecUnMain} $(DESC_UnMain)
  !insertmacro MUI_DESCRIPTION_TEXT ${SecUnSettings} $(DESC_UnSettings)
!insertmacro MUI_UNFUNCTION_DESCRIPTION_END
