import CSQLite
import TwofaDomain

/// The few sqlite3 calls twofa needs, with every failure turned into a `TwofaError.storage`
/// that names the database file.
final class SQLiteConnection {
    let path: String
    private var handle: OpaquePointer?

    enum Mode {
        /// Read and write; a write-protected file opens read-only (`isReadOnly`).
        case readWrite
        /// Read and write, creating the file (only for SQLite's nameless temporary database:
        /// twofa creates its files itself, 0600).
        case create
        /// Read-only and immutable, for a file on a read-only mount, where SQLite can neither
        /// create the -shm a WAL database needs nor take locks (nothing can change it there).
        case immutable
    }

    /// SQLITE_OPEN_NOFOLLOW refuses a symlink in the database's place.
    init(path: String, mode: Mode) throws(TwofaError) {
        self.path = path
        var flags = SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_FULLMUTEX
        var name = path
        switch mode {
        case .readWrite: flags |= SQLITE_OPEN_READWRITE
        case .create: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        case .immutable:
            flags |= SQLITE_OPEN_READONLY | SQLITE_OPEN_URI
            name = "file:" + Self.uriPath(path) + "?immutable=1"
        }
        var db: OpaquePointer?
        let status = sqlite3_open_v2(name, &db, flags, nil)
        handle = db
        guard status == SQLITE_OK else {
            let code = db.map { sqlite3_extended_errcode($0) } ?? status
            sqlite3_close_v2(db)
            handle = nil
            throw .storage(path: path, reason: Self.explain(code))
        }
        sqlite3_extended_result_codes(db, 1)
        // Waits out another process's write lock instead of failing with "database is locked".
        _ = twofa_sqlite3_busy_timeout(db, 30_000)
        _ = twofa_sqlite3_db_config_defensive(db)
    }

    /// A path as a URI's path: percent-encoded where a URI would read it otherwise.
    private static func uriPath(_ path: String) -> String {
        var out = ""
        for byte in path.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "/"), UInt8(ascii: "."), UInt8(ascii: "-"),
                UInt8(ascii: "_"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out += "%"
                out.unicodeScalars.append(hex[Int(byte >> 4)])
                out.unicodeScalars.append(hex[Int(byte & 15)])
            }
        }
        return out
    }

    /// Whether the connection can only read (a write-protected file, a read-only mount).
    var isReadOnly: Bool { sqlite3_db_readonly(handle, "main") == 1 }

    /// What a failure means to the person who must act on it, without SQL.
    static func explain(_ code: Int32) -> String {
        switch code & 0xff {
        case SQLITE_READONLY:
            "the database is read-only (a read-only file or mount): this command writes; make it writable, or work on a writable copy"
        case SQLITE_CANTOPEN:
            "cannot open it: check that it and its folder exist and that you may read them"
        case SQLITE_NOTADB, SQLITE_CORRUPT:
            "it is not a SQLite database, or it is damaged: restore it from a backup"
        case SQLITE_FULL:
            "the disk is full: free some space and try again"
        case SQLITE_BUSY, SQLITE_LOCKED:
            "another process kept it locked for 30 s: try again"
        case SQLITE_IOERR:
            "an input/output error on its disk: check the disk (dmesg), then try again"
        case SQLITE_PERM, SQLITE_AUTH:
            "permission denied: check who owns it and its folder"
        case SQLITE_NOMEM:
            "out of memory"
        case SQLITE_CONSTRAINT:
            "a record breaks one of its rules (a hand-edited or damaged database?): restore it from a backup"
        default:
            String(cString: sqlite3_errstr(code)).lowercased()
        }
    }

    deinit {
        sqlite3_close_v2(handle)
    }

    /// Closes the connection now (statements still alive are finalised when they go).
    func close() {
        cache = [:]
        sqlite3_close_v2(handle)
        handle = nil
    }

    /// The last failure as a storage error: what it means and what to do, never the SQL.
    func error() -> TwofaError {
        let code = handle.map { sqlite3_extended_errcode($0) } ?? SQLITE_MISUSE
        return .storage(path: path, reason: Self.explain(code))
    }

    /// The last failure's code (extended).
    var lastErrorCode: Int32 { handle.map { sqlite3_extended_errcode($0) } ?? SQLITE_MISUSE }

    func execute(_ sql: String) throws(TwofaError) {
        guard sqlite3_exec(handle, sql, nil, nil, nil) == SQLITE_OK else { throw error() }
    }

    /// Statements prepared once and kept for the connection's life (the hot reads of a server).
    private var cache: [String: SQLiteStatement] = [:]

    /// `sql` prepared once per connection; reset it (`done()`) after reading, or the snapshot
    /// it read from stays open.
    func cached(_ sql: String) throws(TwofaError) -> SQLiteStatement {
        if let statement = cache[sql] { return statement }
        let statement = try prepare(sql)
        cache[sql] = statement
        return statement
    }

    func prepare(_ sql: String) throws(TwofaError) -> SQLiteStatement {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw error()
        }
        return SQLiteStatement(connection: self, statement: statement)
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    var changes: Int { Int(sqlite3_changes(handle)) }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Copies the whole database into a new file at `destination` (SQLite's online backup, so
    /// it is consistent), which must not exist; it is made 0600. The copy is read through a
    /// connection of its own, so this one may hold the write lock meanwhile (as the migration
    /// does, to copy exactly the state it is about to change).
    func backup(to destination: String) throws(TwofaError) {
        try SecureFiles.createExclusive(destination, content: []) { TwofaError.storage(path: destination, reason: $0) }
        var source: OpaquePointer?
        var target: OpaquePointer?
        defer {
            sqlite3_close_v2(target)
            sqlite3_close_v2(source)
        }
        guard sqlite3_open_v2(path, &source, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, nil) == SQLITE_OK,
            sqlite3_open_v2(destination, &target, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, nil) == SQLITE_OK,
            let backup = sqlite3_backup_init(target, "main", source, "main")
        else {
            throw .storage(path: destination, reason: "cannot back the database up there: " + Self.explain(sqlite3_errcode(target)))
        }
        let stepped = sqlite3_backup_step(backup, -1)
        let finished = sqlite3_backup_finish(backup)
        guard stepped == SQLITE_DONE, finished == SQLITE_OK else {
            throw .storage(path: destination, reason: "cannot back the database up there: " + Self.explain(finished))
        }
    }

    /// Runs `body` in a write transaction taken at the start (BEGIN IMMEDIATE), so a read inside
    /// it sees what no other process can change before the commit.
    func writeTransaction<T>(_ body: () throws(TwofaError) -> T) throws(TwofaError) -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}

/// One prepared statement: bind by position (from 1), step, read columns (from 0).
final class SQLiteStatement {
    private let connection: SQLiteConnection
    private let statement: OpaquePointer

    fileprivate init(connection: SQLiteConnection, statement: OpaquePointer) {
        self.connection = connection
        self.statement = statement
    }

    deinit { sqlite3_finalize(statement) }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    @discardableResult
    func bind(_ values: SQLiteValue?...) throws(TwofaError) -> SQLiteStatement {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let status: Int32
            switch value {
            case nil: status = sqlite3_bind_null(statement, index)
            case .integer(let number): status = sqlite3_bind_int64(statement, index, number)
            case .text(let text): status = sqlite3_bind_text(statement, index, text, -1, Self.transient)
            case .blob(let bytes):
                status = bytes.withUnsafeBytes { buffer in
                    sqlite3_bind_blob(statement, index, buffer.baseAddress, Int32(buffer.count), Self.transient)
                }
            }
            guard status == SQLITE_OK else { throw connection.error() }
        }
        return self
    }

    /// Advances to the next row; false when there is none.
    func step() throws(TwofaError) -> Bool {
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error()
        }
    }

    /// Ends the statement's read (a cached statement is kept between uses).
    func done() {
        sqlite3_reset(statement)
    }

    /// Runs a statement that returns no rows.
    func run() throws(TwofaError) {
        while try step() {}
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
    var columnCount: Int32 { sqlite3_column_count(statement) }

    func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }

    func text(_ column: Int32) -> String {
        guard let pointer = sqlite3_column_text(statement, column) else { return "" }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }

    func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let pointer = sqlite3_column_blob(statement, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }
}

enum SQLiteValue {
    case integer(Int64)
    case text(String)
    case blob([UInt8])
}

extension SQLiteValue {
    static func int(_ value: Int) -> SQLiteValue { .integer(Int64(value)) }
}
