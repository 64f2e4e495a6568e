/// The schema, by `PRAGMA user_version`: `migrations[n]` takes a database from version n to
/// n + 1. Append new steps; never edit a released one.
enum Schema {
    static let migrations: [String] = [
        // 0 → 1
        """
        CREATE TABLE users (
            id              INTEGER PRIMARY KEY,
            name            TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (name = lower(name)),
            password_hash   TEXT NOT NULL CHECK (password_hash <> ''),
            created_at      INTEGER NOT NULL,
            last_login_at   INTEGER,
            failed_attempts INTEGER NOT NULL DEFAULT 0,
            locked_until    INTEGER
        ) STRICT;
        CREATE TABLE totp (
            user_id       INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
            status        TEXT NOT NULL CHECK (status IN ('pending', 'on')),
            sealed_secret BLOB NOT NULL CHECK (length(sealed_secret) > 28),
            algorithm     TEXT NOT NULL CHECK (algorithm IN ('sha1', 'sha256', 'sha512')),
            digits        INTEGER NOT NULL CHECK (digits IN (6, 8)),
            period        INTEGER NOT NULL CHECK (period > 0),
            issuer        TEXT,
            last_step     INTEGER,
            created_at    INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE backup_codes (
            user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            code_hash BLOB NOT NULL,
            used_at   INTEGER,
            PRIMARY KEY (user_id, code_hash)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE audit (
            id     INTEGER PRIMARY KEY,
            at     INTEGER NOT NULL,
            event  TEXT NOT NULL,
            user   TEXT,
            ok     INTEGER NOT NULL CHECK (ok IN (0, 1)),
            detail TEXT
        ) STRICT;
        CREATE INDEX audit_by_user ON audit (user, id);
        """,
        // 1 → 2: `audit --since` reads by time.
        """
        CREATE INDEX audit_by_time ON audit (at);
        """,
        // 2 → 3: failures of names that are no account, so an unknown name locks as a real one
        // does (a bounded table: Accounts prunes it).
        """
        CREATE TABLE unknown_attempts (
            name            TEXT PRIMARY KEY,
            failed_attempts INTEGER NOT NULL CHECK (failed_attempts > 0),
            locked_until    INTEGER,
            last_at         INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX unknown_attempts_by_time ON unknown_attempts (last_at);
        """,
        // 3 → 4: the HTTP API's login sessions, refresh and login tokens (SHA-256 digests only),
        // and the keys that sign access tokens (sealed with the key file). A user's rows go
        // with the user.
        """
        CREATE TABLE sessions (
            id         TEXT PRIMARY KEY,
            user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            methods    TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX sessions_by_user ON sessions (user_id);
        CREATE INDEX sessions_by_expiry ON sessions (expires_at);
        CREATE TABLE refresh_tokens (
            digest     BLOB PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            used_at    INTEGER
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);
        CREATE TABLE login_tokens (
            digest     BLOB PRIMARY KEY,
            user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            expires_at INTEGER NOT NULL,
            failures   INTEGER NOT NULL DEFAULT 0,
            used_at    INTEGER
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX login_tokens_by_user ON login_tokens (user_id);
        CREATE INDEX login_tokens_by_expiry ON login_tokens (expires_at);
        CREATE TABLE signing_keys (
            kid         TEXT PRIMARY KEY,
            sealed_key  BLOB NOT NULL,
            public_key  BLOB NOT NULL,
            created_at  INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID;
        """,
        // 4 → 5: the kinds of second factor (HOTP counters live in last_step), and the email
        // device's address and newest code (a keyed digest, and when it was sent).
        """
        ALTER TABLE totp ADD COLUMN kind TEXT NOT NULL DEFAULT 'totp' CHECK (kind IN ('totp', 'hotp', 'email'));
        ALTER TABLE totp ADD COLUMN email TEXT;
        ALTER TABLE totp ADD COLUMN email_code BLOB;
        ALTER TABLE totp ADD COLUMN email_sent_at INTEGER;
        """,
    ]

    /// The first version with `totp.kind` and the email columns: a read-only command on an
    /// older database (which it never migrates) reads every enrolment as TOTP.
    static let deviceColumnsVersion = 5

    /// The second-factor columns a PostgreSQL user read selects after `t.created_at`.
    static func deviceColumns(version: Int) -> String {
        version >= deviceColumnsVersion ? "t.kind, t.email, t.email_code, t.email_sent_at" : "'totp', NULL, NULL, NULL"
    }

    static var currentVersion: Int { migrations.count }
}
