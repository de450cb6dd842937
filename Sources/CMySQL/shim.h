#ifndef DBOP_CMYSQL_SHIM_H
#define DBOP_CMYSQL_SHIM_H
// The libmysqlclient API as MariaDB Connector/C provides it (Debian: libmariadb-dev).
// It speaks to MySQL 5.7/8.x servers as well as MariaDB.
#include <mysql.h>
#include <errmsg.h>
#endif
