#ifndef DBOP_CZLIB_SHIM_H
#define DBOP_CZLIB_SHIM_H
// zlib (Debian: zlib1g-dev): streaming gzip decompression for restores.
#include <zlib.h>
#endif
