/* bcryptprimitives.dll for Wine 8 (Debian bookworm), which lacks ProcessPrng: Rust's std
 * (since 1.78) imports it to seed HashMap keys and fill random bytes, so without it no Rust
 * program starts under that Wine. Test-only: .ci/cross builds it with mingw-w64 and puts it
 * in the Wine prefix's system32; nothing here ships. ProcessPrng -> RtlGenRandom. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length); /* RtlGenRandom, advapi32 */

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
