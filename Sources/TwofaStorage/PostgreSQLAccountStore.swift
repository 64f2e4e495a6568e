import TwofaDomain

/// The PostgreSQL store: one database shared by many hosts, twofa's tables in their own schema
/// (`twofa`). The same guarantees as the SQLite store, across hosts:
/// - every write transaction first takes one transaction-scoped advisory lock, so writers queue
///   as SQLite's `BEGIN IMMEDIATE` makes them queue: a lock or replay decision is made on rows no
///   other host can change before the commit;
/// - replay refused by one conditional UPDATE; import all or nothing in one transaction;
/// - migrations numbered as SQLite's, run by write commands only, serialised across hosts by a
///   session advisory lock.
public final class PostgreSQLAccountStore: AccountStore {
    let connection: PGConnection
    public var auditContext: String?
    public private(set) var isReadOnly = false

    /// Arbitrary, fixed keys for pg_advisory_*: "twofa" in ASCII, plus one.
    static let writeLock: Int64 = 0x74_77_6f_66_61_00
    static let migrationLock: Int64 = 0x74_77_6f_66_61_01

    /// The schema, by version: `migrations[n]` takes it from n to n + 1, as for SQLite.
    static let migrations: [String] = [
        """
        CREATE SCHEMA IF NOT EXISTS twofa;
        CREATE TABLE twofa.schema_version (version INTEGER NOT NULL);
        INSERT INTO twofa.schema_version VALUES (0);
        CREATE TABLE twofa.users (
            id              BIGSERIAL PRIMARY KEY,
            name            TEXT NOT NULL UNIQUE CHECK (name = lower(name)),
            password_hash   TEXT NOT NULL CHECK (password_hash <> ''),
            created_at      BIGINT NOT NULL,
            last_login_at   BIGINT,
            failed_attempts BIGINT NOT NULL DEFAULT 0,
            locked_until    BIGINT
        );
        CREATE TABLE twofa.totp (
            user_id       BIGINT PRIMARY KEY REFERENCES twofa.users (id) ON DELETE CASCADE,
            status        TEXT NOT NULL CHECK (status IN ('pending', 'on')),
            sealed_secret BYTEA NOT NULL CHECK (length(sealed_secret) > 28),
            algorithm     TEXT NOT NULL CHECK (algorithm IN ('sha1', 'sha256', 'sha512')),
            digits        INTEGER NOT NULL CHECK (digits IN (6, 8)),
            period        BIGINT NOT NULL CHECK (period > 0),
            issuer        TEXT,
            last_step     BIGINT,
            created_at    BIGINT NOT NULL
        );
        CREATE TABLE twofa.backup_codes (
            user_id   BIGINT NOT NULL REFERENCES twofa.users (id) ON DELETE CASCADE,
            code_hash BYTEA NOT NULL,
            used_at   BIGINT,
            PRIMARY KEY (user_id, code_hash)
        );
        CREATE TABLE twofa.audit (
            id     BIGSERIAL PRIMARY KEY,
            at     BIGINT NOT NULL,
            event  TEXT NOT NULL,
            "user" TEXT,
            ok     BOOLEAN NOT NULL,
            detail TEXT
        );
        CREATE INDEX audit_by_user ON twofa.audit ("user", id);
        """,
        "CREATE INDEX audit_by_time ON twofa.audit (at);",
        """
        CREATE TABLE twofa.unknown_attempts (
            name            TEXT PRIMARY KEY,
            failed_attempts BIGINT NOT NULL CHECK (failed_attempts > 0),
            locked_until    BIGINT,
            last_at         BIGINT NOT NULL
        );
        CREATE INDEX unknown_attempts_by_time ON twofa.unknown_attempts (last_at);
        """,
        """
        CREATE TABLE twofa.sessions (
            id         TEXT PRIMARY KEY,
            user_id    BIGINT NOT NULL REFERENCES twofa.users (id) ON DELETE CASCADE,
            methods    TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL
        );
        CREATE INDEX sessions_by_user ON twofa.sessions (user_id);
        CREATE INDEX sessions_by_expiry ON twofa.sessions (expires_at);
        CREATE TABLE twofa.refresh_tokens (
            digest     BYTEA PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES twofa.sessions (id) ON DELETE CASCADE,
            used_at    BIGINT
        );
        CREATE INDEX refresh_tokens_by_session ON twofa.refresh_tokens (session_id);
        CREATE TABLE twofa.login_tokens (
            digest     BYTEA PRIMARY KEY,
            user_id    BIGINT NOT NULL REFERENCES twofa.users (id) ON DELETE CASCADE,
            expires_at BIGINT NOT NULL,
            failures   BIGINT NOT NULL DEFAULT 0,
            used_at    BIGINT
        );
        CREATE INDEX login_tokens_by_user ON twofa.login_tokens (user_id);
        CREATE INDEX login_tokens_by_expiry ON twofa.login_tokens (expires_at);
        CREATE TABLE twofa.signing_keys (
            kid        TEXT PRIMARY KEY,
            sealed_key BYTEA NOT NULL,
            public_key BYTEA NOT NULL,
            created_at BIGINT NOT NULL
        );
        """,
        """
        ALTER TABLE twofa.totp
            ADD COLUMN kind TEXT NOT NULL DEFAULT 'totp' CHECK (kind IN ('totp', 'hotp', 'email')),
            ADD COLUMN email TEXT,
            ADD COLUMN email_code BYTEA,
            ADD COLUMN email_sent_at BIGINT;
        """,
    ]

    /// The schema version read (older only for a read-only command, which never migrates).
    var schemaVersionRead = 0

    public private(set) var migration: (from: Int, to: Int)?

    /// Connects to `uri` (libpq's syntax and environment). With `create` false and no twofa
    /// schema there, the answer is nil (nothing is created); a read never migrates, and a write
    /// refuses a read-only server (a standby) before anything else.
    public static func open(uri: String, create: Bool, access: SQLiteAccountStore.Access) throws(TwofaError)
        -> PostgreSQLAccountStore?
    {
        let store = PostgreSQLAccountStore(connection: try PGConnection(uri: uri))
        store.isReadOnly = try store.connection.run("SHOW transaction_read_only").text(0, 0) == "on"
        if access == .write && store.isReadOnly {
            throw .storage(
                path: store.connection.location,
                reason: "the server \(store.connection.host) is read-only (a standby): this command writes; connect to the primary (target_session_attrs=read-write lists several hosts)")
        }
        let version = try store.schemaVersion()
        if version > migrations.count {
            throw .storage(
                path: store.connection.location,
                reason: "it has schema version \(version), newer than this twofa knows (\(migrations.count)); upgrade twofa")
        }
        store.schemaVersionRead = min(version, migrations.count)
        if version == migrations.count { return store }
        if access == .read { return version == 0 ? nil : store }
        store.schemaVersionRead = migrations.count
        if version == 0 && !create { return nil }
        try store.migrate()
        return store
    }

    init(connection: PGConnection) {
        self.connection = connection
    }

    private var location: String { connection.location }

    private func schemaVersion() throws(TwofaError) -> Int {
        let exists = try connection.run("SELECT to_regclass('twofa.schema_version') IS NOT NULL")
        guard exists.text(0, 0) == "t" else { return 0 }
        return Int(try connection.run("SELECT version FROM twofa.schema_version").int64(0, 0))
    }

    /// Brings the schema up to date, one host at a time (a session advisory lock: the others
    /// wait, then find it done).
    private func migrate() throws(TwofaError) {
        try connection.run("SELECT pg_advisory_lock($1)", [.integer(Self.migrationLock)])
        defer { _ = try? connection.run("SELECT pg_advisory_unlock($1)", [.integer(Self.migrationLock)]) }
        try connection.run("BEGIN")
        do {
            var current = try schemaVersion()
            let from = current
            while current < Self.migrations.count {
                try execute(Self.migrations[current])
                current += 1
            }
            try connection.run("UPDATE twofa.schema_version SET version = $1", [.int(current)])
            try connection.run("COMMIT")
            if from > 0 && from < current { migration = (from, current) }
        } catch {
            _ = try? connection.run("ROLLBACK")
            throw error
        }
    }

    /// Several statements, one at a time (the extended protocol takes one per call).
    private func execute(_ script: String) throws(TwofaError) {
        for statement in script.split(separator: ";") {
            let text = String(statement).trimmingASCIIWhitespace()
            if !text.isEmpty { try connection.run(text) }
        }
    }

    public func writeTransaction<T>(_ body: () throws(TwofaError) -> T) throws(TwofaError) -> T {
        try connection.run("BEGIN")
        do {
            try connection.run("SELECT pg_advisory_xact_lock($1)", [.integer(Self.writeLock)])
            let result = try body()
            try connection.run("COMMIT")
            return result
        } catch {
            _ = try? connection.run("ROLLBACK")
            throw error
        }
    }

    // MARK: - Reading

    private var userColumns: String {
        """
        SELECT u.id, u.name, u.password_hash, u.created_at, u.last_login_at, u.failed_attempts,
               u.locked_until, t.status, t.sealed_secret, t.algorithm, t.digits, t.period,
               t.issuer, t.last_step, t.created_at, \(Schema.deviceColumns(version: schemaVersionRead))
        FROM twofa.users u LEFT JOIN twofa.totp t ON t.user_id = u.id
        """
    }

    /// A stored integer that must lie in `range` (`StoredRange`).
    private func checked(_ rows: PGRows, _ row: Int, _ column: Int, _ name: String, _ range: ClosedRange<Int64>, user: String)
        throws(TwofaError) -> Int64
    {
        guard let value = rows.optionalText(row, column).flatMap({ Int64($0) }), range.contains(value) else {
            throw StoredRange.error(
                path: location, column: name, user: user, value: rows.optionalText(row, column) ?? "null", range: range)
        }
        return value
    }

    private func optionalChecked(
        _ rows: PGRows, _ row: Int, _ column: Int, _ name: String, _ range: ClosedRange<Int64>, user: String
    ) throws(TwofaError) -> Int64? {
        rows.optionalText(row, column) == nil ? nil : try checked(rows, row, column, name, range, user: user)
    }

    private func userRecord(_ rows: PGRows, _ row: Int) throws(TwofaError) -> UserRecord {
        let name = rows.text(row, 1)
                var record = UserRecord(
            id: rows.int64(row, 0), name: name, passwordHash: rows.text(row, 2),
            createdAt: try checked(rows, row, 3, "users.created_at", StoredRange.time, user: name),
            lastLoginAt: try optionalChecked(rows, row, 4, "users.last_login_at", StoredRange.time, user: name),
            failedAttempts: Int(try checked(rows, row, 5, "users.failed_attempts", StoredRange.failures, user: name)),
            lockedUntil: try optionalChecked(rows, row, 6, "users.locked_until", StoredRange.time, user: name), totp: nil)
        if let status = rows.optionalText(row, 7) {
            guard let state = TwoFactorState(rawValue: status), state != .off,
                let algorithm = OTPAlgorithm(rawValue: rows.text(row, 9)),
                let kind = SecondFactorKind(rawValue: rows.text(row, 15))
            else { throw .storage(path: location, reason: "the TOTP row of '\(name)' is corrupt") }
            record.totp = TOTPRecord(
                status: state, sealedSecret: rows.bytes(row, 8),
                parameters: TOTPParameters(
                    algorithm: algorithm, digits: Int(try checked(rows, row, 10, "totp.digits", 6...8, user: name)),
                    period: try checked(rows, row, 11, "totp.period", 1...86_400, user: name)),
                issuer: rows.optionalText(row, 12),
                lastStep: try optionalChecked(
                    rows, row, 13, "totp.last_step", kind == .hotp ? StoredRange.counter : StoredRange.time, user: name),
                createdAt: try checked(rows, row, 14, "totp.created_at", StoredRange.time, user: name), kind: kind,
                email: rows.optionalText(row, 16),
                emailCode: rows.optionalText(row, 17) == nil ? nil : rows.bytes(row, 17),
                emailSentAt: try optionalChecked(rows, row, 18, "totp.email_sent_at", StoredRange.time, user: name))
        }
        return record
    }

    public func user(named name: String) throws(TwofaError) -> UserRecord? {
        let rows = try connection.run(userColumns + " WHERE u.name = $1", [.text(name)])
        return rows.rows.isEmpty ? nil : try userRecord(rows, 0)
    }

    public func allUsers() throws(TwofaError) -> [UserRecord] {
        let rows = try connection.run(userColumns + " ORDER BY u.name COLLATE \"C\"")
        var users: [UserRecord] = []
        users.reserveCapacity(rows.rows.count)
        for index in rows.rows.indices { users.append(try userRecord(rows, index)) }
        return users
    }

    public func allAccounts() throws(TwofaError) -> [AccountRecord] {
        var digests: [Int64: [[UInt8]]] = [:]
        let codes = try connection.run(
            "SELECT user_id, code_hash FROM twofa.backup_codes WHERE used_at IS NULL ORDER BY user_id, code_hash")
        for index in codes.rows.indices { digests[codes.int64(index, 0), default: []].append(codes.bytes(index, 1)) }
        return try allUsers().map { user in
            AccountRecord(
                name: user.name, passwordHash: user.passwordHash, createdAt: user.createdAt, totp: user.totp,
                backupCodeDigests: digests[user.id] ?? [])
        }
    }

    public func backupCodesLeft(userID: Int64) throws(TwofaError) -> Int {
        Int(try connection.run(
            "SELECT count(*) FROM twofa.backup_codes WHERE user_id = $1 AND used_at IS NULL", [.integer(userID)]
        ).int64(0, 0))
    }

    public func auditEvents(user: String?, since: Int64?, limit: Int?) throws(TwofaError) -> [AuditEvent] {
        let rows = try connection.run(
            """
            SELECT at, event, "user", ok, detail FROM (
                SELECT id, at, event, "user", ok, detail FROM twofa.audit
                WHERE ($1::text IS NULL OR "user" = $1) AND ($2::bigint IS NULL OR at >= $2)
                ORDER BY id DESC LIMIT $3::bigint
            ) newest ORDER BY id
            """, [user.map { .text($0) } ?? .null, since.map { .integer($0) } ?? .null, limit.map { .int($0) } ?? .null])
        var events: [AuditEvent] = []
        events.reserveCapacity(rows.rows.count)
        for index in rows.rows.indices {
            events.append(AuditEvent(
                at: try checked(rows, index, 0, "audit.at", StoredRange.time, user: rows.optionalText(index, 2) ?? "-"),
                storedName: rows.text(index, 1), user: rows.optionalText(index, 2), ok: rows.text(index, 3) == "t",
                detail: rows.optionalText(index, 4)))
        }
        return events
    }

    public func hasSealedSecrets() throws(TwofaError) -> Bool {
        if try connection.run("SELECT EXISTS (SELECT 1 FROM twofa.totp)").text(0, 0) == "t" { return true }
        // The signing keys of the HTTP API (none before schema version 4).
        return try !signingKeys().isEmpty
    }

    public func unknownAttempts(name: String) throws(TwofaError) -> UnknownAttempts? {
        let rows = try connection.run(
            "SELECT failed_attempts, locked_until, last_at FROM twofa.unknown_attempts WHERE name = $1", [.text(name)])
        guard !rows.rows.isEmpty else { return nil }
                return UnknownAttempts(
            failedAttempts: Int(try checked(rows, 0, 0, "unknown_attempts.failed_attempts", 1...StoredRange.failures.upperBound, user: name)),
            lockedUntil: try optionalChecked(rows, 0, 1, "unknown_attempts.locked_until", StoredRange.time, user: name),
            lastAt: try checked(rows, 0, 2, "unknown_attempts.last_at", StoredRange.time, user: name))
    }

    // MARK: - Writing (inside writeTransaction)

    public func insertUser(name: String, passwordHash: String, createdAt: Int64) throws(TwofaError) -> Int64 {
        let rows = try connection.run(
            "INSERT INTO twofa.users (name, password_hash, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING id",
            [.text(name), .text(passwordHash), .integer(createdAt)])
        guard !rows.rows.isEmpty else { throw .userExists(user: name) }
        return rows.int64(0, 0)
    }

    private func totpValues(_ userID: Int64, _ totp: TOTPRecord) -> [PGValue] {
        [
            .integer(userID), .text(totp.status.rawValue), .bytes(totp.sealedSecret),
            .text(totp.parameters.algorithm.rawValue), .int(totp.parameters.digits), .integer(totp.parameters.period),
            totp.issuer.map { .text($0) } ?? .null, totp.lastStep.map { .integer($0) } ?? .null,
            .integer(totp.createdAt), .text(totp.kind.rawValue), totp.email.map { .text($0) } ?? .null,
            totp.emailCode.map { .bytes($0) } ?? .null, totp.emailSentAt.map { .integer($0) } ?? .null,
        ]
    }

    private static let totpColumns =
        "twofa.totp (user_id, status, sealed_secret, algorithm, digits, period, issuer, last_step, created_at, kind, email, email_code, email_sent_at)"

    /// Rows as one parameter per column, each a PostgreSQL array literal, for
    /// `INSERT … SELECT * FROM unnest($1::text[], …)`: a statement of a few parameters parses
    /// and plans in a moment however many rows it carries (a VALUES list of thousands of
    /// parameters does not), so a batch costs the server little more than the rows themselves.
    private static func unnest(_ rows: [[PGValue]], types: [String]) -> (select: String, parameters: [PGValue]) {
        var columns = [String](repeating: "{", count: types.count)
        for index in columns.indices { columns[index].reserveCapacity(rows.count * 48) }
        for (index, row) in rows.enumerated() {
            for (column, value) in row.enumerated() {
                if index > 0 { columns[column] += "," }
                columns[column] += arrayElement(value)
            }
        }
        let casts = types.enumerated().map { "$\($0.offset + 1)::\($0.element)[]" }.joined(separator: ", ")
        return ("SELECT * FROM unnest(\(casts))", columns.map { .text($0 + "}") })
    }

    /// One element of an array literal: quoted, with `"` and `\` escaped; NULL unquoted.
    private static func arrayElement(_ value: PGValue) -> String {
        // bytea's hex form, its backslash escaped for the array literal.
        if case .bytes(let bytes) = value { return "\"\\\\x" + hex(bytes) + "\"" }
        guard let text = value.text else { return "NULL" }
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        guard text.utf8.contains(where: { $0 == quote || $0 == backslash }) else { return "\"" + text + "\"" }
        var out: [UInt8] = [quote]
        for byte in text.utf8 {
            if byte == quote || byte == backslash { out.append(backslash) }
            out.append(byte)
        }
        out.append(quote)
        return String(decoding: out, as: UTF8.self)
    }

    private static let totpTypes = [
        "bigint", "text", "bytea", "text", "integer", "bigint", "text", "bigint", "bigint", "text", "text", "bytea", "bigint",
    ]

    /// Many accounts in a few statements: a batch of users in one INSERT … RETURNING over
    /// unnest(), then their enrolments and backup codes likewise (a round trip per statement,
    /// not per row).
    public func insertAccounts(_ accounts: [AccountRecord]) throws(TwofaError) {
        let batch = 5000
        var start = 0
        while start < accounts.count {
            let slice = accounts[start..<min(start + batch, accounts.count)]
            start += slice.count
            let users = Self.unnest(
                slice.map { [.text($0.name), .text($0.passwordHash), .integer($0.createdAt)] },
                types: ["text", "text", "bigint"])
            let inserted = try connection.run(
                "INSERT INTO twofa.users (name, password_hash, created_at) " + users.select
                    + " ON CONFLICT DO NOTHING RETURNING id, name", users.parameters)
            var ids: [String: Int64] = [:]
            for index in inserted.rows.indices { ids[inserted.text(index, 1)] = inserted.int64(index, 0) }
            if let taken = slice.first(where: { ids[$0.name] == nil }) { throw .userExists(user: taken.name) }
            var totpRows: [[PGValue]] = []
            var codeRows: [[PGValue]] = []
            for account in slice {
                guard let id = ids[account.name] else { continue }
                if let totp = account.totp { totpRows.append(totpValues(id, totp)) }
                for digest in account.backupCodeDigests { codeRows.append([.integer(id), .bytes(digest)]) }
            }
            if !totpRows.isEmpty {
                let totp = Self.unnest(totpRows, types: Self.totpTypes)
                try connection.run("INSERT INTO \(Self.totpColumns) " + totp.select, totp.parameters)
            }
            if !codeRows.isEmpty {
                let codes = Self.unnest(codeRows, types: ["bigint", "bytea"])
                try connection.run(
                    "INSERT INTO twofa.backup_codes (user_id, code_hash) " + codes.select + " ON CONFLICT DO NOTHING",
                    codes.parameters)
            }
        }
    }

    public func deleteUser(userID: Int64) throws(TwofaError) {
        try connection.run("DELETE FROM twofa.users WHERE id = $1", [.integer(userID)])
    }

    public func updatePasswordHash(userID: Int64, hash: String) throws(TwofaError) {
        try connection.run("UPDATE twofa.users SET password_hash = $1 WHERE id = $2", [.text(hash), .integer(userID)])
    }

    public func setTOTP(userID: Int64, _ totp: TOTPRecord?) throws(TwofaError) {
        try connection.run("DELETE FROM twofa.totp WHERE user_id = $1", [.integer(userID)])
        guard let totp else { return }
        try connection.run(
            "INSERT INTO \(Self.totpColumns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            totpValues(userID, totp))
    }

    public func setTOTPStatus(userID: Int64, _ status: TwoFactorState) throws(TwofaError) {
        try connection.run("UPDATE twofa.totp SET status = $1 WHERE user_id = $2", [.text(status.rawValue), .integer(userID)])
    }

    public func acceptTOTPStep(userID: Int64, step: Int64) throws(TwofaError) -> Bool {
        try connection.run(
            "UPDATE twofa.totp SET last_step = $1 WHERE user_id = $2 AND (last_step IS NULL OR last_step < $1)",
            [.integer(step), .integer(userID)]
        ).affected == 1
    }

    public func recordEmailCode(userID: Int64, digest: [UInt8], sentAt: Int64) throws(TwofaError) {
        try connection.run(
            "UPDATE twofa.totp SET email_code = $1, email_sent_at = $2 WHERE user_id = $3",
            [.bytes(digest), .integer(sentAt), .integer(userID)])
    }

    public func useEmailCode(userID: Int64, digest: [UInt8]) throws(TwofaError) -> Bool {
        try connection.run(
            "UPDATE twofa.totp SET email_code = NULL WHERE user_id = $1 AND email_code = $2",
            [.integer(userID), .bytes(digest)]
        ).affected == 1
    }

    public func replaceEmailCode(userID: Int64, expected: [UInt8], digest: [UInt8]?, sentAt: Int64?) throws(TwofaError) -> Bool {
        try connection.run(
            "UPDATE twofa.totp SET email_code = $1, email_sent_at = $2 WHERE user_id = $3 AND email_code = $4",
            [digest.map { .bytes($0) } ?? .null, sentAt.map { .integer($0) } ?? .null, .integer(userID), .bytes(expected)]
        ).affected == 1
    }

    public func recordLogin(userID: Int64, at time: Int64) throws(TwofaError) {
        try connection.run(
            "UPDATE twofa.users SET last_login_at = $1, failed_attempts = 0, locked_until = NULL WHERE id = $2",
            [.integer(time), .integer(userID)])
    }

    public func setFailures(userID: Int64, count: Int, lockedUntil: Int64?) throws(TwofaError) {
        try connection.run(
            "UPDATE twofa.users SET failed_attempts = $1, locked_until = $2 WHERE id = $3",
            [.int(count), lockedUntil.map { .integer($0) } ?? .null, .integer(userID)])
    }

    public func setUnknownAttempts(name: String, _ attempts: UnknownAttempts) throws(TwofaError) {
        try connection.run(
            """
            INSERT INTO twofa.unknown_attempts (name, failed_attempts, locked_until, last_at) VALUES ($1, $2, $3, $4)
            ON CONFLICT (name) DO UPDATE SET failed_attempts = $2, locked_until = $3, last_at = $4
            """,
            [.text(name), .int(attempts.failedAttempts), attempts.lockedUntil.map { .integer($0) } ?? .null,
             .integer(attempts.lastAt)])
        try connection.run(
            "DELETE FROM twofa.unknown_attempts WHERE last_at < $1",
            [.integer(attempts.lastAt - UnknownAttempts.idleLimit)])
        try connection.run(
            """
            DELETE FROM twofa.unknown_attempts WHERE name IN (
                SELECT name FROM twofa.unknown_attempts ORDER BY last_at DESC OFFSET $1)
            """, [.int(UnknownAttempts.rowLimit)])
    }

    public func replaceBackupCodes(userID: Int64, digests: [[UInt8]]) throws(TwofaError) {
        try connection.run("DELETE FROM twofa.backup_codes WHERE user_id = $1", [.integer(userID)])
        try addBackupCodes(userID: userID, digests: digests)
    }

    public func addBackupCodes(userID: Int64, digests: [[UInt8]]) throws(TwofaError) {
        guard !digests.isEmpty else { return }
        let codes = Self.unnest(digests.map { [.integer(userID), .bytes($0)] }, types: ["bigint", "bytea"])
        try connection.run(
            "INSERT INTO twofa.backup_codes (user_id, code_hash) " + codes.select + " ON CONFLICT DO NOTHING",
            codes.parameters)
    }

    public func useBackupCode(userID: Int64, digest: [UInt8], at time: Int64) throws(TwofaError) -> Bool {
        try connection.run(
            "UPDATE twofa.backup_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
            [.integer(time), .integer(userID), .bytes(digest)]
        ).affected == 1
    }

    public func appendAudit(_ event: AuditEvent) throws(TwofaError) {
        try appendAudit([event])
    }

    public func appendAudit(_ events: [AuditEvent]) throws(TwofaError) {
        guard !events.isEmpty else { return }
        let rows = events.map { event -> [PGValue] in
            var detail = event.detail
            if let auditContext { detail = detail.map { $0 + "; " + auditContext } ?? auditContext }
            return [
                .integer(event.at), .text(event.event), event.user.map { .text($0) } ?? .null,
                .text(event.ok ? "true" : "false"), detail.map { .text($0) } ?? .null,
            ]
        }
        let audit = Self.unnest(rows, types: ["bigint", "text", "text", "boolean", "text"])
        try connection.run("INSERT INTO twofa.audit (at, event, \"user\", ok, detail) " + audit.select, audit.parameters)
    }
}
