/*
 * bcryptprimitives.dll for Wine releases that lack it (Debian 12 ships Wine 8): the Go runtime
 * (1.22 on) calls its ProcessPrng at start, on every Windows program. This one fills the buffer
 * from RtlGenRandom (advapi32's SystemFunction036), which Wine has. CI builds it with mingw-w64
 * into the Wine prefix the Windows tests run in; it is never part of the library.
 */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!RtlGenRandom(data, n)) {
			return FALSE;
		}
		data += n;
		len -= n;
	}
	return TRUE;
}
