#include <sqlite3.h>

/* Swift cannot call C variadic functions; these fixed-arity wrappers cover what twofa needs. */
static inline int twofa_sqlite3_busy_timeout(sqlite3 *db, int ms) { return sqlite3_busy_timeout(db, ms); }
static inline int twofa_sqlite3_db_config_defensive(sqlite3 *db) {
    return sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)0);
}
