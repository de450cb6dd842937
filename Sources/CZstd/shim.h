#ifndef DBOP_CZSTD_SHIM_H
#define DBOP_CZSTD_SHIM_H
// libzstd, Zstandard's reference library (Debian: libzstd-dev).
#include <zstd.h>
#endif
