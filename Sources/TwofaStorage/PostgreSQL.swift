import Glibc
import TwofaDomain

/// libpq (the PostgreSQL project's own client), opened on first use: only a command whose
/// database is a `postgresql://` URI pays for loading it and its chain of libraries (GSSAPI,
/// LDAP, OpenSSL); SQLite users' start-up does not. Its URI syntax, `~/.pgpass`/`PGPASSFILE`,
/// `PGSERVICE`, `sslmode` and multi-host URIs with `target_session_attrs` come with it.
struct LibPQ: @unchecked Sendable {  // C function pointers, resolved once, never changed
    typealias ConnectParams = @convention(c) (
        UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?, Int32
    ) -> OpaquePointer?
    typealias Status = @convention(c) (OpaquePointer?) -> Int32
    typealias Message = @convention(c) (OpaquePointer?) -> UnsafeMutablePointer<CChar>?
    typealias Finish = @convention(c) (OpaquePointer?) -> Void
    typealias ExecParams = @convention(c) (
        OpaquePointer?, UnsafePointer<CChar>?, Int32, UnsafePointer<UInt32>?, UnsafePointer<UnsafePointer<CChar>?>?,
        UnsafePointer<Int32>?, UnsafePointer<Int32>?, Int32
    ) -> OpaquePointer?
    typealias ResultField = @convention(c) (OpaquePointer?, Int32) -> UnsafeMutablePointer<CChar>?
    typealias Count = @convention(c) (OpaquePointer?) -> Int32
    typealias Value = @convention(c) (OpaquePointer?, Int32, Int32) -> UnsafeMutablePointer<CChar>?
    typealias IsNull = @convention(c) (OpaquePointer?, Int32, Int32) -> Int32
    typealias Clear = @convention(c) (OpaquePointer?) -> Void
    typealias Host = @convention(c) (OpaquePointer?) -> UnsafeMutablePointer<CChar>?
    typealias CmdTuples = @convention(c) (OpaquePointer?) -> UnsafeMutablePointer<CChar>?
    typealias Prepare = @convention(c) (
        OpaquePointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, Int32, UnsafePointer<UInt32>?
    ) -> OpaquePointer?
    typealias ExecPrepared = @convention(c) (
        OpaquePointer?, UnsafePointer<CChar>?, Int32, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?,
        UnsafePointer<Int32>?, Int32
    ) -> OpaquePointer?

    let connectdbParams: ConnectParams
    let status: Status
    let errorMessage: Message
    let finish: Finish
    let execParams: ExecParams
    let resultStatus: Count
    let resultErrorField: ResultField
    let ntuples: Count
    let getvalue: Value
    let getisnull: IsNull
    let clear: Clear
    let host: Host
    let cmdTuples: CmdTuples
    let nfields: Count
    let prepare: Prepare
    let execPrepared: ExecPrepared

    static let loaded: Result<LibPQ, TwofaError> = Result { () throws(TwofaError) in
        let library = try SharedLibrary(soname: "libpq.so.5", package: "libpq5")
        return LibPQ(
            connectdbParams: try library.function("PQconnectdbParams", as: ConnectParams.self),
            status: try library.function("PQstatus", as: Status.self),
            errorMessage: try library.function("PQerrorMessage", as: Message.self),
            finish: try library.function("PQfinish", as: Finish.self),
            execParams: try library.function("PQexecParams", as: ExecParams.self),
            resultStatus: try library.function("PQresultStatus", as: Count.self),
            resultErrorField: try library.function("PQresultErrorField", as: ResultField.self),
            ntuples: try library.function("PQntuples", as: Count.self),
            getvalue: try library.function("PQgetvalue", as: Value.self),
            getisnull: try library.function("PQgetisnull", as: IsNull.self),
            clear: try library.function("PQclear", as: Clear.self),
            host: try library.function("PQhost", as: Host.self),
            cmdTuples: try library.function("PQcmdTuples", as: CmdTuples.self),
            nfields: try library.function("PQnfields", as: Count.self),
            prepare: try library.function("PQprepare", as: Prepare.self),
            execPrepared: try library.function("PQexecPrepared", as: ExecPrepared.self))
    }

    // libpq's enums, as its header fixes them.
    static let connectionOK: Int32 = 0
    static let commandOK: Int32 = 1
    static let tuplesOK: Int32 = 2
    static let diagSQLState = Int32(UInt8(ascii: "C"))
}

/// Whether `location` (a `--db` value or `TWOFA_DB`) names a PostgreSQL database.
public func isPostgreSQLURI(_ location: String) -> Bool {
    location.hasPrefix("postgresql://") || location.hasPrefix("postgres://")
}

/// A URI with any password taken out, for messages: `postgresql://alice:secret@db/x` becomes
/// `postgresql://alice@db/x`. A password never reaches a message, a log or the audit log.
public func redactedURI(_ uri: String) -> String {
    let prefix = uri.hasPrefix("postgresql://") ? "postgresql://" : uri.hasPrefix("postgres://") ? "postgres://" : nil
    guard let prefix else { return uri }
    let rest = uri.dropFirst(prefix.count)
    let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
    let authority = rest[..<authorityEnd]
    guard let at = authority.lastIndex(of: "@") else { return stripPasswordParameter(uri) }
    let userInfo = authority[..<at]
    let user = userInfo.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
    return stripPasswordParameter(prefix + user + String(rest[at...]))
}

/// `?password=…` (libpq takes it as a parameter too) replaced by `password=***`.
private func stripPasswordParameter(_ uri: String) -> String {
    guard let query = uri.firstIndex(of: "?") else { return uri }
    let parameters = uri[uri.index(after: query)...].split(separator: "&", omittingEmptySubsequences: false).map {
        $0.lowercased().hasPrefix("password=") ? "password=***" : String($0)
    }
    return String(uri[...query]) + parameters.joined(separator: "&")
}

/// A value bound to a statement parameter, in libpq's text format.
enum PGValue {
    case integer(Int64)
    case text(String)
    case bytes([UInt8])
    case null

    static func int(_ value: Int) -> PGValue { .integer(Int64(value)) }

    var text: String? {
        switch self {
        case .integer(let number): String(number)
        case .text(let text): text
        case .bytes(let bytes): "\\x" + hex(bytes)
        case .null: nil
        }
    }
}

/// One result's rows, copied out of libpq's memory.
struct PGRows {
    var rows: [[String?]]
    var affected: Int

    func text(_ row: Int, _ column: Int) -> String { rows[row][column] ?? "" }
    func optionalText(_ row: Int, _ column: Int) -> String? { rows[row][column] }
    func int64(_ row: Int, _ column: Int) -> Int64 { Int64(rows[row][column] ?? "") ?? 0 }
    func optionalInt64(_ row: Int, _ column: Int) -> Int64? { rows[row][column].flatMap { Int64($0) } }

    /// A bytea column in its hex output form (`\x0a1b…`).
    func bytes(_ row: Int, _ column: Int) -> [UInt8] {
        guard let text = rows[row][column], text.hasPrefix("\\x") else { return [] }
        return unhex(String(text.dropFirst(2))) ?? []
    }
}

/// A libpq connection, every failure a `TwofaError.storage` naming the host and database with
/// no password in it.
final class PGConnection {
    let library: LibPQ
    let location: String
    private var handle: OpaquePointer?

    /// Connects, waiting at most 10 s unless the URI says otherwise (`connect_timeout`).
    init(uri: String) throws(TwofaError) {
        library = try LibPQ.loaded.get()
        location = redactedURI(uri)
        let keys = ["connect_timeout", "fallback_application_name", "dbname"]
        let values = ["10", "twofa", uri]
        let connection = withOptionalCStrings(keys) { keys in
            withOptionalCStrings(values) { values in library.connectdbParams(keys, values, 1) }
        }
        handle = connection
        guard let connection, library.status(connection) == LibPQ.connectionOK else {
            let reason = connection.flatMap { library.errorMessage($0) }.map { String(cString: $0) } ?? "out of memory"
            library.finish(connection)
            handle = nil
            throw .storage(path: location, reason: "cannot connect: " + Self.oneLine(reason))
        }
    }

    deinit { library.finish(handle) }

    /// The server twofa is connected to (after a failover, the new primary).
    var host: String { library.host(handle).map { String(cString: $0) } ?? "?" }

    static func oneLine(_ message: String) -> String {
        message.split(whereSeparator: \.isNewline).map { String($0).trimmingASCIIWhitespace() }.joined(separator: "; ")
    }

    /// Runs one statement with `$1…` parameters; answers its rows (if any) and the number of
    /// rows it changed. A failure is a storage error: what happened, with the SQLSTATE, no SQL.
    @discardableResult
    func run(_ sql: String, _ parameters: [PGValue] = []) throws(TwofaError) -> PGRows {
        let texts = parameters.map(\.text)
        let result: OpaquePointer? = withOptionalCStrings(texts) { values in
            library.execParams(handle, sql, Int32(texts.count), nil, values, nil, nil, 0)
        }
        return try rows(of: result)
    }

    /// The statements prepared on this connection: their names, by their SQL.
    private var prepared: [String: String] = [:]

    /// As `run`, through a statement prepared once per connection (parsed and planned once:
    /// the hot reads of a server). The SQL is the key, so one name never stands for two.
    @discardableResult
    func runPrepared(_ sql: String, _ parameters: [PGValue] = []) throws(TwofaError) -> PGRows {
        let name: String
        if let known = prepared[sql] {
            name = known
        } else {
            name = "twofa_\(prepared.count + 1)"
            let result = library.prepare(handle, name, sql, Int32(parameters.count), nil)
            _ = try rows(of: result)
            prepared[sql] = name
        }
        let texts = parameters.map(\.text)
        let result: OpaquePointer? = withOptionalCStrings(texts) { values in
            library.execPrepared(handle, name, Int32(texts.count), values, nil, nil, 0)
        }
        return try rows(of: result)
    }

    /// A result's rows, copied out, and the result freed; a failed one is a storage error.
    private func rows(of result: OpaquePointer?) throws(TwofaError) -> PGRows {
        defer { library.clear(result) }
        let status = result.map { library.resultStatus($0) } ?? -1
        guard status == LibPQ.commandOK || status == LibPQ.tuplesOK, let result else {
            throw error(result)
        }
        var rows: [[String?]] = []
        let count = library.ntuples(result)
        if count > 0 {
            let columns = Int(library.nfields(result))
            rows.reserveCapacity(Int(count))
            for row in 0..<count {
                var values: [String?] = []
                values.reserveCapacity(columns)
                for column in 0..<Int32(columns) {
                    if library.getisnull(result, row, column) == 1 {
                        values.append(nil)
                    } else {
                        values.append(library.getvalue(result, row, column).map { String(cString: $0) })
                    }
                }
                rows.append(values)
            }
        }
        let affected = library.cmdTuples(result).map { Int(String(cString: $0)) ?? 0 } ?? 0
        return PGRows(rows: rows, affected: affected)
    }

    /// The SQLSTATE of a failed result, if any.
    private func sqlState(_ result: OpaquePointer?) -> String? {
        library.resultErrorField(result, LibPQ.diagSQLState).map { String(cString: $0) }
    }

    private func error(_ result: OpaquePointer?) -> TwofaError {
        let state = sqlState(result) ?? ""
        let message = library.errorMessage(handle).map { Self.oneLine(String(cString: $0)) } ?? "unknown error"
        let reason: String
        switch state {
        case "23505": return .storage(path: location, reason: "a record that must be unique exists already")
        case "25006": reason = "the server is read-only (a standby?): this command writes; connect to the primary (target_session_attrs=read-write)"
        case "42501": reason = "permission denied on twofa's tables: grant the role its privileges (README: Sharing accounts between hosts)"
        case "57P01", "57P02", "57P03", "08000", "08003", "08006": reason = "the connection to \(host) was lost: try again"
        case "40001", "40P01": reason = "a conflict with another host's transaction: try again"
        default: reason = message + (state.isEmpty ? "" : " (SQLSTATE \(state))")
        }
        return .storage(path: location, reason: reason)
    }
}

/// C strings for libpq (a trailing nil for the keyword lists), freed after `body`.
private func withOptionalCStrings<R>(
    _ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R
) -> R {
    var pointers: [UnsafePointer<CChar>?] = strings.map { string in
        string.flatMap { strdup($0).map { UnsafePointer($0) } }
    }
    pointers.append(nil)
    defer { for pointer in pointers { free(UnsafeMutablePointer(mutating: pointer)) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}
