import CSQLite
import TwofaDomain

/// The SQLite store: one file (plus its -wal and -shm), WAL mode, a 30 s busy timeout, every
/// write in a BEGIN IMMEDIATE transaction, so concurrent processes queue instead of failing.
public final class SQLiteAccountStore: AccountStore {
    let connection: SQLiteConnection
    public var path: String { connection.path }

    /// What a command does with the database: read-only commands work on a read-only file or
    /// mount and never migrate; write commands refuse a read-only database before anything else.
    public enum Access: Sendable {
        case read
        case write
    }

    /// The migration this open made, if any: the version it started from and the copy of the
    /// database made before (SQLite's backup), for the caller to say so and audit it.
    public private(set) var migration: (from: Int, to: Int, backup: String)?

    /// Opens the database at `path`. With `create` false, a missing file is not created and the
    /// answer is nil; with `create` true the file is made 0600 (its folder 0700) and migrated.
    /// A symlink, a file readable by others or owned by another user, one in a folder others can
    /// write, and foreign `-wal`/`-shm`/`-journal` files are refused. A read opens what a write
    /// cannot (a 0400 file, a read-only mount) and reads an older schema as it is; an empty file
    /// reads as no database.
    public static func open(path: String, create: Bool, access: Access = .write) throws(TwofaError)
        -> SQLiteAccountStore?
    {
        let makeError = { (reason: String) in TwofaError.storage(path: path, reason: reason) }
        // The folder first: in a folder another user can write, nothing below is worth checking.
        try SecureFiles.checkFolder(of: path, makeError)
        if !SecureFiles.exists(path) {
            guard create && access == .write else { return nil }
            // Made here, empty and private, so SQLite never creates it with the umask's mode.
            // Another process may make it first: then it is checked like any existing file.
            do { try SecureFiles.createExclusive(path, content: [], makeError) } catch {
                if !SecureFiles.exists(path) { throw error }
            }
            // A folder made just now is 0700; one that was there is checked again.
            try SecureFiles.checkFolder(of: path, makeError)
        }
        try SecureFiles.checkCompanions(of: path, makeError)
        let checked = try SecureFiles.checkExistingWithoutOpening(path, makeError)
        var store = SQLiteAccountStore(connection: try SQLiteConnection(path: path, mode: .readWrite))
        // The file SQLite opened by path is the one checked (the folder check above already
        // keeps other users from swapping it; this catches anything else that did).
        guard let opened = SecureFiles.identity(ofPath: path), opened == checked else {
            throw makeError("it was replaced while twofa opened it; check who else writes to its folder")
        }
        var version: Int
        do {
            version = try store.schemaVersion()
        } catch {
            // On a read-only mount SQLite cannot make the -shm of a WAL database: nothing can
            // change the file there, so a read takes it as immutable, and a write is told it
            // is read-only (if the file reads that way, that is what stopped it).
            let immutable = SQLiteAccountStore(connection: try SQLiteConnection(path: path, mode: .immutable))
            guard let readable = try? immutable.schemaVersion() else { throw error }
            guard access == .read else { throw makeError(SQLiteConnection.explain(SQLITE_READONLY)) }
            store = immutable
            version = readable
        }
        if access == .write && store.connection.isReadOnly {
            throw makeError(SQLiteConnection.explain(SQLITE_READONLY))
        }
        guard try store.prepareSchema(version: version, access: access) else { return nil }
        if access == .read { store.schemaVersionRead = min(version, Schema.currentVersion) }
        return store
    }

    /// A private temporary database (SQLite's nameless one: an unlinked file of its own, gone at
    /// close), with twofa's schema: where `import --dry-run` tries its inserts.
    public static func scratch() throws(TwofaError) -> SQLiteAccountStore {
        let store = SQLiteAccountStore(connection: try SQLiteConnection(path: "", mode: .create))
        _ = try store.prepareSchema(version: try store.schemaVersion(), access: .write)
        return store
    }

    /// Moves everything in the WAL into the database file and closes the connection: the file
    /// alone then holds every committed write (it can be linked under another name).
    public func checkpointAndClose() throws(TwofaError) {
        try connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
    }

    /// Whether this store can only be read.
    public var isReadOnly: Bool { connection.isReadOnly }

    init(connection: SQLiteConnection) {
        self.connection = connection
    }

    /// Brings the schema to the current version (a write) or checks it can be read as it is (a
    /// read); false for an empty file that a read takes as no database.
    private func prepareSchema(version: Int, access: Access) throws(TwofaError) -> Bool {
        try connection.execute("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL")
        if version == Schema.currentVersion { return true }
        if version > Schema.currentVersion {
            throw .storage(
                path: path,
                reason: "it has schema version \(version), newer than this twofa knows (\(Schema.currentVersion)); upgrade twofa")
        }
        if access == .read {
            // Reads never migrate: every older schema reads as it is (the migrations since
            // version 1 add indexes and tables that only writes use).
            if version == 0 {
                try verifyItIsTwofaDatabase(version: 0)
                return false
            }
            return true
        }
        // WAL is a property of the file: set once, outside a transaction.
        if !path.isEmpty { try connection.execute("PRAGMA journal_mode = WAL") }
        try connection.writeTransaction { () throws(TwofaError) in
            // Another process may have migrated while this one waited for the lock.
            var current = try schemaVersion()
            try verifyItIsTwofaDatabase(version: current)
            guard current < Schema.currentVersion else { return }
            let from = current
            var backup = ""
            if from > 0 {
                // A copy of the old database beside it, named after its version, before any
                // change (taken inside the write lock, so it is the state being migrated).
                backup = path + ".v\(from).bak"
                var attempt = 1
                while SecureFiles.exists(backup) {
                    attempt += 1
                    backup = path + ".v\(from).bak.\(attempt)"
                }
                try connection.backup(to: backup)
            }
            while current < Schema.currentVersion {
                try connection.execute(Schema.migrations[current])
                current += 1
            }
            try connection.execute("PRAGMA user_version = \(current)")
            if from > 0 { migration = (from, current, backup) }
        }
        return true
    }

    private func schemaVersion() throws(TwofaError) -> Int {
        let statement = try connection.prepare("PRAGMA user_version")
        guard try statement.step() else { return 0 }
        return Int(statement.int64(0))
    }

    /// A file at version 0 must be empty: never migrate someone else's database into ours.
    private func verifyItIsTwofaDatabase(version: Int) throws(TwofaError) {
        guard version == 0 else { return }
        let statement = try connection.prepare("SELECT count(*) FROM sqlite_schema")
        guard try statement.step(), statement.int64(0) == 0 else {
            throw .storage(path: path, reason: "it is a SQLite database, but not twofa's")
        }
    }

    public func writeTransaction<T>(_ body: () throws(TwofaError) -> T) throws(TwofaError) -> T {
        try connection.writeTransaction(body)
    }

    /// The schema version the file is read at (older only for a read-only command, which
    /// never migrates: before schema 5 there are no kind and email columns).
    var schemaVersionRead = Schema.currentVersion

    /// A user's row and enrolment. Whole strings, chosen by version, not built at each read.
    private static let userColumnsCurrent = """
        SELECT u.id, u.name, u.password_hash, u.created_at, u.last_login_at, u.failed_attempts,
               u.locked_until, t.status, t.sealed_secret, t.algorithm, t.digits, t.period,
               t.issuer, t.last_step, t.created_at, t.kind, t.email, t.email_code, t.email_sent_at
        FROM users u LEFT JOIN totp t ON t.user_id = u.id
        """
    private static let userColumnsBeforeDevices = """
        SELECT u.id, u.name, u.password_hash, u.created_at, u.last_login_at, u.failed_attempts,
               u.locked_until, t.status, t.sealed_secret, t.algorithm, t.digits, t.period,
               t.issuer, t.last_step, t.created_at
        FROM users u LEFT JOIN totp t ON t.user_id = u.id
        """

    private var userColumns: String {
        schemaVersionRead >= Schema.deviceColumnsVersion ? Self.userColumnsCurrent : Self.userColumnsBeforeDevices
    }

    public func user(named name: String) throws(TwofaError) -> UserRecord? {
        let statement = try connection.prepare(userColumns + " WHERE u.name = ?")
        try statement.bind(.text(name))
        guard try statement.step() else { return nil }
        return try userRecord(statement)
    }

    /// Seven columns rather than the user read's nineteen.
    private static let codesColumns = """
        SELECT t.status, t.sealed_secret, t.algorithm, t.digits, t.period, t.last_step, t.kind
        FROM users u LEFT JOIN totp t ON t.user_id = u.id WHERE u.name = ?
        """
    private static let codesColumnsBeforeDevices = """
        SELECT t.status, t.sealed_secret, t.algorithm, t.digits, t.period, t.last_step, 'totp'
        FROM users u LEFT JOIN totp t ON t.user_id = u.id WHERE u.name = ?
        """

    public func enrolmentForCodes(named name: String) throws(TwofaError) -> TOTPRecord?? {
        let statement = try connection.prepare(
            schemaVersionRead >= Schema.deviceColumnsVersion ? Self.codesColumns : Self.codesColumnsBeforeDevices)
        try statement.bind(.text(name))
        guard try statement.step() else { return nil }
        guard let status = statement.optionalText(0) else { return .some(nil) }
        guard let state = TwoFactorState(rawValue: status), state != .off,
            let algorithm = OTPAlgorithm(rawValue: statement.text(2)), let kind = SecondFactorKind(rawValue: statement.text(6))
        else { throw .storage(path: path, reason: "the TOTP row of '\(name)' is corrupt") }
        return .some(TOTPRecord(
            status: state, sealedSecret: statement.blob(1),
            parameters: TOTPParameters(
                algorithm: algorithm, digits: Int(try checked(statement, 3, "totp.digits", 6...8, user: name)),
                period: try checked(statement, 4, "totp.period", 1...86_400, user: name)),
            issuer: nil,
            lastStep: try optionalChecked(
                statement, 5, "totp.last_step", kind == .hotp ? StoredRange.counter : StoredRange.time, user: name),
            createdAt: 0, kind: kind))
    }

    public func allUsers() throws(TwofaError) -> [UserRecord] {
        let statement = try connection.prepare(userColumns + " ORDER BY u.name")
        var users: [UserRecord] = []
        while try statement.step() { users.append(try userRecord(statement)) }
        return users
    }

    /// Reads an integer column that must lie in `range` (`StoredRange`).
    private func checked(
        _ statement: SQLiteStatement, _ column: Int32, _ name: String, _ range: ClosedRange<Int64>, user: String
    ) throws(TwofaError) -> Int64 {
        let value = statement.int64(column)
        guard range.contains(value) else {
            throw StoredRange.error(path: path, column: name, user: user, value: String(value), range: range)
        }
        return value
    }

    private func optionalChecked(
        _ statement: SQLiteStatement, _ column: Int32, _ name: String, _ range: ClosedRange<Int64>, user: String
    ) throws(TwofaError) -> Int64? {
        statement.isNull(column) ? nil : try checked(statement, column, name, range, user: user)
    }

    private func userRecord(_ statement: SQLiteStatement) throws(TwofaError) -> UserRecord {
        let name = statement.text(1)
                var record = UserRecord(
            id: statement.int64(0), name: name, passwordHash: statement.text(2),
            createdAt: try checked(statement, 3, "users.created_at", StoredRange.time, user: name),
            lastLoginAt: try optionalChecked(statement, 4, "users.last_login_at", StoredRange.time, user: name),
            failedAttempts: Int(try checked(statement, 5, "users.failed_attempts", StoredRange.failures, user: name)),
            lockedUntil: try optionalChecked(statement, 6, "users.locked_until", StoredRange.time, user: name), totp: nil)
        if let status = statement.optionalText(7) {
            // Before schema 5 every enrolment is TOTP, and there are no email columns.
            let hasDevice = statement.columnCount > 15
            guard let state = TwoFactorState(rawValue: status), state != .off,
                let algorithm = OTPAlgorithm(rawValue: statement.text(9)),
                let kind = hasDevice ? SecondFactorKind(rawValue: statement.text(15)) : .totp
            else { throw .storage(path: path, reason: "the TOTP row of '\(record.name)' is corrupt") }
            record.totp = TOTPRecord(
                status: state, sealedSecret: statement.blob(8),
                parameters: TOTPParameters(
                    algorithm: algorithm, digits: Int(try checked(statement, 10, "totp.digits", 6...8, user: name)),
                    period: try checked(statement, 11, "totp.period", 1...86_400, user: name)),
                issuer: statement.optionalText(12),
                lastStep: try optionalChecked(
                    statement, 13, "totp.last_step", kind == .hotp ? StoredRange.counter : StoredRange.time, user: name),
                createdAt: try checked(statement, 14, "totp.created_at", StoredRange.time, user: name), kind: kind)
            if hasDevice, kind == .email {
                record.totp?.email = statement.optionalText(16)
                record.totp?.emailCode = statement.isNull(17) ? nil : statement.blob(17)
                record.totp?.emailSentAt = try optionalChecked(statement, 18, "totp.email_sent_at", StoredRange.time, user: name)
            }
        }
        return record
    }

    public func allAccounts() throws(TwofaError) -> [AccountRecord] {
        var digests: [Int64: [[UInt8]]] = [:]
        let codes = try connection.prepare(
            "SELECT user_id, code_hash FROM backup_codes WHERE used_at IS NULL ORDER BY user_id, code_hash")
        while try codes.step() { digests[codes.int64(0), default: []].append(codes.blob(1)) }
        return try allUsers().map { user in
            AccountRecord(
                name: user.name, passwordHash: user.passwordHash, createdAt: user.createdAt, totp: user.totp,
                backupCodeDigests: digests[user.id] ?? [])
        }
    }

    // The inserts single writes and import share; import prepares each once for every row.
    private static let insertUserSQL =
        "INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
    private static let insertTOTPSQL = """
        INSERT INTO totp (user_id, status, sealed_secret, algorithm, digits, period, issuer, last_step, created_at,
                          kind, email, email_code, email_sent_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """
    private static let insertCodeSQL = "INSERT OR IGNORE INTO backup_codes (user_id, code_hash) VALUES (?, ?)"

    private func insertUser(_ statement: SQLiteStatement, name: String, passwordHash: String, createdAt: Int64)
        throws(TwofaError) -> Int64
    {
        try statement.bind(.text(name), .text(passwordHash), .integer(createdAt)).run()
        guard connection.changes == 1 else { throw .userExists(user: name) }
        return connection.lastInsertRowID
    }

    private func insertTOTP(_ statement: SQLiteStatement, userID: Int64, _ totp: TOTPRecord) throws(TwofaError) {
        try statement.bind(
            .integer(userID), .text(totp.status.rawValue), .blob(totp.sealedSecret),
            .text(totp.parameters.algorithm.rawValue), .int(totp.parameters.digits),
            .integer(totp.parameters.period), totp.issuer.map { .text($0) },
            totp.lastStep.map { .integer($0) }, .integer(totp.createdAt), .text(totp.kind.rawValue),
            totp.email.map { .text($0) }, totp.emailCode.map { .blob($0) }, totp.emailSentAt.map { .integer($0) }
        ).run()
    }

    public func insertAccounts(_ accounts: [AccountRecord]) throws(TwofaError) {
        let user = try connection.prepare(Self.insertUserSQL)
        let totp = try connection.prepare(Self.insertTOTPSQL)
        let code = try connection.prepare(Self.insertCodeSQL)
        for account in accounts {
            let id = try insertUser(user, name: account.name, passwordHash: account.passwordHash, createdAt: account.createdAt)
            if let record = account.totp { try insertTOTP(totp, userID: id, record) }
            for digest in account.backupCodeDigests {
                try code.bind(.integer(id), .blob(digest)).run()
            }
        }
    }

    public func deleteUser(userID: Int64) throws(TwofaError) {
        try connection.prepare("DELETE FROM users WHERE id = ?").bind(.integer(userID)).run()
    }

    public func insertUser(name: String, passwordHash: String, createdAt: Int64) throws(TwofaError) -> Int64 {
        try insertUser(connection.prepare(Self.insertUserSQL), name: name, passwordHash: passwordHash, createdAt: createdAt)
    }

    public func updatePasswordHash(userID: Int64, hash: String) throws(TwofaError) {
        try connection.prepare("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(.text(hash), .integer(userID)).run()
    }

    public func setTOTP(userID: Int64, _ totp: TOTPRecord?) throws(TwofaError) {
        try connection.prepare("DELETE FROM totp WHERE user_id = ?").bind(.integer(userID)).run()
        guard let totp else { return }
        try insertTOTP(connection.prepare(Self.insertTOTPSQL), userID: userID, totp)
    }

    public func setTOTPStatus(userID: Int64, _ status: TwoFactorState) throws(TwofaError) {
        try connection.prepare("UPDATE totp SET status = ? WHERE user_id = ?")
            .bind(.text(status.rawValue), .integer(userID)).run()
    }

    public func acceptTOTPStep(userID: Int64, step: Int64) throws(TwofaError) -> Bool {
        try connection.prepare(
            "UPDATE totp SET last_step = ? WHERE user_id = ? AND (last_step IS NULL OR last_step < ?)"
        ).bind(.integer(step), .integer(userID), .integer(step)).run()
        return connection.changes == 1
    }

    public func recordEmailCode(userID: Int64, digest: [UInt8], sentAt: Int64) throws(TwofaError) {
        try connection.prepare("UPDATE totp SET email_code = ?, email_sent_at = ? WHERE user_id = ?")
            .bind(.blob(digest), .integer(sentAt), .integer(userID)).run()
    }

    public func useEmailCode(userID: Int64, digest: [UInt8]) throws(TwofaError) -> Bool {
        try connection.prepare("UPDATE totp SET email_code = NULL WHERE user_id = ? AND email_code = ?")
            .bind(.integer(userID), .blob(digest)).run()
        return connection.changes == 1
    }

    public func replaceEmailCode(userID: Int64, expected: [UInt8], digest: [UInt8]?, sentAt: Int64?) throws(TwofaError) -> Bool {
        try connection.prepare("UPDATE totp SET email_code = ?, email_sent_at = ? WHERE user_id = ? AND email_code = ?")
            .bind(digest.map { .blob($0) }, sentAt.map { .integer($0) }, .integer(userID), .blob(expected)).run()
        return connection.changes == 1
    }

    public func recordLogin(userID: Int64, at time: Int64) throws(TwofaError) {
        try connection.prepare(
            "UPDATE users SET last_login_at = ?, failed_attempts = 0, locked_until = NULL WHERE id = ?"
        ).bind(.integer(time), .integer(userID)).run()
    }

    public func setFailures(userID: Int64, count: Int, lockedUntil: Int64?) throws(TwofaError) {
        try connection.prepare("UPDATE users SET failed_attempts = ?, locked_until = ? WHERE id = ?")
            .bind(.int(count), lockedUntil.map { .integer($0) }, .integer(userID)).run()
    }

    public func unknownAttempts(name: String) throws(TwofaError) -> UnknownAttempts? {
        let statement = try connection.prepare(
            "SELECT failed_attempts, locked_until, last_at FROM unknown_attempts WHERE name = ?")
        try statement.bind(.text(name))
        guard try statement.step() else { return nil }
                return UnknownAttempts(
            failedAttempts: Int(try checked(statement, 0, "unknown_attempts.failed_attempts", 1...StoredRange.failures.upperBound, user: name)),
            lockedUntil: try optionalChecked(statement, 1, "unknown_attempts.locked_until", StoredRange.time, user: name),
            lastAt: try checked(statement, 2, "unknown_attempts.last_at", StoredRange.time, user: name))
    }

    public func setUnknownAttempts(name: String, _ attempts: UnknownAttempts) throws(TwofaError) {
        try connection.prepare("""
            INSERT INTO unknown_attempts (name, failed_attempts, locked_until, last_at) VALUES (?1, ?2, ?3, ?4)
            ON CONFLICT (name) DO UPDATE SET failed_attempts = ?2, locked_until = ?3, last_at = ?4
            """
        ).bind(.text(name), .int(attempts.failedAttempts), attempts.lockedUntil.map { .integer($0) }, .integer(attempts.lastAt))
        .run()
        try connection.prepare("DELETE FROM unknown_attempts WHERE last_at < ?")
            .bind(.integer(attempts.lastAt - UnknownAttempts.idleLimit)).run()
        try connection.prepare("""
            DELETE FROM unknown_attempts WHERE name IN (
                SELECT name FROM unknown_attempts ORDER BY last_at DESC LIMIT -1 OFFSET ?)
            """
        ).bind(.int(UnknownAttempts.rowLimit)).run()
    }

    public func replaceBackupCodes(userID: Int64, digests: [[UInt8]]) throws(TwofaError) {
        try connection.prepare("DELETE FROM backup_codes WHERE user_id = ?").bind(.integer(userID)).run()
        try addBackupCodes(userID: userID, digests: digests)
    }

    public func addBackupCodes(userID: Int64, digests: [[UInt8]]) throws(TwofaError) {
        let insert = try connection.prepare(Self.insertCodeSQL)
        for digest in digests {
            try insert.bind(.integer(userID), .blob(digest)).run()
        }
    }

    public func useBackupCode(userID: Int64, digest: [UInt8], at time: Int64) throws(TwofaError) -> Bool {
        try connection.prepare(
            "UPDATE backup_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL"
        ).bind(.integer(time), .integer(userID), .blob(digest)).run()
        return connection.changes == 1
    }

    public func backupCodesLeft(userID: Int64) throws(TwofaError) -> Int {
        let statement = try connection.prepare(
            "SELECT count(*) FROM backup_codes WHERE user_id = ? AND used_at IS NULL")
        try statement.bind(.integer(userID))
        return try statement.step() ? Int(statement.int64(0)) : 0
    }

    public func auditEvents(user: String?, since: Int64?, limit: Int?) throws(TwofaError) -> [AuditEvent] {
        let statement = try connection.prepare("""
            SELECT at, event, user, ok, detail FROM (
                SELECT id, at, event, user, ok, detail FROM audit
                WHERE (?1 IS NULL OR user = ?1) AND (?2 IS NULL OR at >= ?2)
                ORDER BY id DESC LIMIT ?3
            ) ORDER BY id
            """)
        try statement.bind(user.map { .text($0) }, since.map { .integer($0) }, .integer(Int64(limit ?? -1)))
        var events: [AuditEvent] = []
        while try statement.step() {
            events.append(AuditEvent(
                at: try checked(statement, 0, "audit.at", StoredRange.time, user: statement.optionalText(2) ?? "-"),
                storedName: statement.text(1), user: statement.optionalText(2),
                ok: statement.int64(3) == 1, detail: statement.optionalText(4)))
        }
        return events
    }

    public func hasSealedSecrets() throws(TwofaError) -> Bool {
        let statement = try connection.prepare("SELECT EXISTS (SELECT 1 FROM totp)")
        if try statement.step() && statement.int64(0) == 1 { return true }
        // The signing keys of the HTTP API (none before schema version 4).
        return try !signingKeys().isEmpty
    }

    public func appendAudit(_ event: AuditEvent) throws(TwofaError) {
        try appendAudit([event])
    }

    public var auditContext: String?

    public func appendAudit(_ events: [AuditEvent]) throws(TwofaError) {
        let statement = try connection.prepare("INSERT INTO audit (at, event, user, ok, detail) VALUES (?, ?, ?, ?, ?)")
        for event in events {
            var detail = event.detail
            if let auditContext { detail = detail.map { $0 + "; " + auditContext } ?? auditContext }
            try statement.bind(
                .integer(event.at), .text(event.event), event.user.map { .text($0) },
                .integer(event.ok ? 1 : 0), detail.map { .text($0) }
            ).run()
        }
    }
}
