import CSQLite
import TwofaDomain

/// The few sqlite3 calls twofa needs, with every failure turned into a `TwofaError.storage`
/// that names the database file.
final class SQLiteConnection {
    let path: String
    private var handle: OpaquePointer?

    /// SQLITE_OPEN_NOFOLLOW refuses a symlink in the database's place.
    init(path: String, create: Bool) throws(TwofaError) {
        self.path = path
        var flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_FULLMUTEX
        if create { flags |= SQLITE_OPEN_CREATE }
        var db: OpaquePointer?
        let status = sqlite3_open_v2(path, &db, flags, nil)
        handle = db
        guard status == SQLITE_OK else {
            let reason = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close_v2(db)
            handle = nil
            throw .storage(path: path, reason: reason)
        }
        sqlite3_extended_result_codes(db, 1)
        // Waits out another process's write lock instead of failing with "database is locked".
        _ = twofa_sqlite3_busy_timeout(db, 30_000)
        _ = twofa_sqlite3_db_config_defensive(db)
    }

    deinit {
        sqlite3_close_v2(handle)
    }

    func error(_ what: String) -> TwofaError {
        let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "closed"
        return .storage(path: path, reason: "\(what): \(message)")
    }

    func execute(_ sql: String) throws(TwofaError) {
        guard sqlite3_exec(handle, sql, nil, nil, nil) == SQLITE_OK else { throw error("'\(sql.prefix(40))'") }
    }

    func prepare(_ sql: String) throws(TwofaError) -> SQLiteStatement {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw error("cannot prepare a statement")
        }
        return SQLiteStatement(connection: self, statement: statement)
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    var changes: Int { Int(sqlite3_changes(handle)) }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

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
            guard status == SQLITE_OK else { throw connection.error("cannot bind a value") }
        }
        return self
    }

    /// Advances to the next row; false when there is none.
    func step() throws(TwofaError) -> Bool {
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error("a statement failed")
        }
    }

    /// Runs a statement that returns no rows.
    func run() throws(TwofaError) {
        while try step() {}
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

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
