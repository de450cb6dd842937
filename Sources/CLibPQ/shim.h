#ifndef DBOP_CLIBPQ_SHIM_H
#define DBOP_CLIBPQ_SHIM_H
// libpq, PostgreSQL's own client library (Debian: libpq-dev).
#include <libpq-fe.h>
#endif
