#ifndef DBOP_CLIBDEFLATE_SHIM_H
#define DBOP_CLIBDEFLATE_SHIM_H
// libdeflate: whole-buffer DEFLATE/gzip, about twice as fast as zlib at level 1 (Debian: libdeflate-dev).
#include <libdeflate.h>
#endif
