/* Test-only stand-in for `cmdkey /generic:TARGET /user:bsn /pass:SECRET` (Wine has no
 * cmdkey): stores stdin's first line as the UTF-16LE blob of a generic credential, as
 * cmdkey does. .ci/cross builds it with mingw-w64 for tests/foreign.rs; nothing here ships. */
#include <windows.h>
#include <wincred.h>
#include <stdio.h>
#include <string.h>

int wmain(int argc, wchar_t **argv) {
    char line[4096];
    wchar_t secret[4096];
    if (argc != 2 || !fgets(line, sizeof line, stdin)) return 2;
    line[strcspn(line, "\r\n")] = 0;
    int n = MultiByteToWideChar(CP_UTF8, 0, line, -1, secret, 4096);
    if (n <= 0) return 3;
    CREDENTIALW c = {0};
    c.Type = CRED_TYPE_GENERIC;
    c.TargetName = argv[1];
    c.UserName = L"bsn";
    c.CredentialBlob = (LPBYTE)secret;
    c.CredentialBlobSize = (DWORD)((n - 1) * sizeof(wchar_t));
    c.Persist = CRED_PERSIST_LOCAL_MACHINE;
    return CredWriteW(&c, 0) ? 0 : 4;
}
