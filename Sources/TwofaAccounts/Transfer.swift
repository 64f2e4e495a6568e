import FoundationEssentials
import TwofaDomain
import TwofaStorage

/// An account in the shape export writes and import reads (one JSON object a line):
/// `{"user", "password_hash", "created_at", "totp": {"secret", "issuer", "algorithm", "digits",
/// "period", "status", "last_step"} | null, "backup_code_hashes": [...]}`. The secret is in
/// clear here. `last_step` (the replay state: the last time step a code was accepted at) is
/// written only when there is one, and optional on import.
public struct TransferredAccount: Sendable {
    public var user: String
    public var passwordHash: String
    public var createdAt: Int64
    public var totp: TransferredTOTP?
    /// Hex digests of the unused backup codes (`BackupCodes.digest`).
    public var backupCodeDigests: [[UInt8]]
}

public struct TransferredTOTP: Sendable {
    public var secret: [UInt8]
    public var issuer: String?
    public var parameters: TOTPParameters
    public var status: TwoFactorState
    /// The last time step a TOTP code was accepted at (RFC 6238 §5.2 replay state), if any: an
    /// import keeps it, so a code used before the export is refused after the import.
    public var lastStep: Int64? = nil
}

public enum ImportFormat: String, CaseIterable, Sendable {
    case jsonl, csv

    /// `.csv` is CSV; anything else (and stdin) JSON Lines.
    public static func guess(path: String) -> ImportFormat {
        path.lowercased().hasSuffix(".csv") ? .csv : .jsonl
    }
}

extension TransferredAccount {
    /// One line of JSON Lines.
    public var jsonLine: String {
        JSON.object([
            ("user", .string(user)),
            ("password_hash", .string(passwordHash)),
            ("created_at", .string(Timestamp.format(createdAt))),
            ("totp", totp.map { totp in
                var fields: [(String, JSON)] = [
                    ("secret", .string(Base32.encode(totp.secret))),
                    ("issuer", totp.issuer.map { .string($0) } ?? .null),
                    ("algorithm", .string(totp.parameters.algorithm.rawValue)),
                    ("digits", .int(totp.parameters.digits)),
                    ("period", .int(totp.parameters.period)),
                    ("status", .string(totp.status.rawValue)),
                ]
                if let lastStep = totp.lastStep { fields.append(("last_step", .int(lastStep))) }
                return .object(fields)
            } ?? .null),
            ("backup_code_hashes", .array(backupCodeDigests.map { .string(hex($0)) })),
        ]).serialized
    }
}

/// Reading import files: JSON Lines (export's shape) and CSV with a header row. Every problem
/// names its line and stops the whole file. Text that would be stored (the issuer, the password
/// hash) with a control or bidirectional character in it is refused (TerminalText).
public enum ImportParser {
    /// The largest import file read: 16 MiB, about 20,000 exported accounts with TOTP and backup
    /// codes (or 200,000 without). A larger file (or /dev/zero, which never ends) is refused
    /// after reading this much, exit 65; the peak memory of importing a file of this size
    /// stays under 150 MB (measured with /usr/bin/time -v). Split larger sets into several files.
    public static let maximumFileBytes = 16 << 20

    /// A google-authenticator state file is a secret, a few option lines and up to 10 scratch
    /// codes: a few hundred bytes. More than this is not one.
    public static let maximumGoogleAuthenticatorFileBytes = 64 << 10

    /// The most accounts one file imports: 100,000 (short CSV rows of old DES hashes would fit
    /// a million in 16 MiB, too many to hold in 150 MB).
    public static let maximumAccounts = 100_000

    /// The longest JSON line read (an exported account is under 2 KiB): bounds the JSON
    /// decoder's memory for one line.
    static let maximumLineBytes = 64 << 10

    /// The most fields a CSV row may have (6 columns are known).
    static let maximumFields = 64

    static func tooManyAccounts(_ place: String) -> TwofaError {
        .invalidInput("\(place): more than \(maximumAccounts) accounts, the most twofa imports from one file; split it")
    }

    public static func parse(_ content: [UInt8], format: ImportFormat, now: Int64) throws(TwofaError) -> [TransferredAccount] {
        guard let text = String(validating: content, as: UTF8.self) else {
            throw .invalidInput("the import file is not UTF-8")
        }
        switch format {
        case .jsonl: return try parseJSONLines(text, now: now)
        case .csv: return try parseCSV(text, now: now)
        }
    }

    private struct Line: Decodable {
        var user: String
        var password_hash: String
        var created_at: String?
        var totp: TOTPLine?
        var backup_code_hashes: [String]?
    }

    private struct TOTPLine: Decodable {
        var secret: String
        var issuer: String?
        var algorithm: String?
        var digits: Int?
        var period: Int64?
        var status: String?
        var last_step: Int64?
    }

    static func parseJSONLines(_ text: String, now: Int64) throws(TwofaError) -> [TransferredAccount] {
        let decoder = JSONDecoder()
        var accounts: [TransferredAccount] = []
        // Line by line over the bytes, never an array of every line (a file of empty lines
        // would make millions), each line split at LF with a CR before it dropped.
        let utf8 = text.utf8
        var start = utf8.startIndex
        var index = -1
        while start != utf8.endIndex || index == -1 {
            index += 1
            let end = utf8[start...].firstIndex(of: UInt8(ascii: "\n")) ?? utf8.endIndex
            var bytes = utf8[start..<end]
            start = end == utf8.endIndex ? end : utf8.index(after: end)
            if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
            if bytes.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { continue }
            let where_ = "line \(index + 1)"
            guard bytes.count <= maximumLineBytes else {
                throw .invalidInput("\(where_): longer than \(maximumLineBytes >> 10) KiB, more than any account needs")
            }
            guard accounts.count < maximumAccounts else { throw tooManyAccounts(where_) }
            let line = Substring(bytes)
            let decoded: Line
            do {
                decoded = try decoder.decode(Line.self, from: Data(line.utf8))
            } catch {
                throw .invalidInput("\(where_): not an account object (\(describe(error)))")
            }
            var totp: TransferredTOTP?
            if let t = decoded.totp {
                totp = try makeTOTP(
                    secret: t.secret, algorithm: t.algorithm, digits: t.digits, period: t.period, issuer: t.issuer,
                    status: t.status, where: where_)
                if let lastStep = t.last_step {
                    guard lastStep >= 0 else {
                        throw .invalidInput("\(where_): last_step must be a non-negative integer (a TOTP time step)")
                    }
                    totp?.lastStep = lastStep
                }
            }
            var digests: [[UInt8]] = []
            for text in decoded.backup_code_hashes ?? [] {
                guard let digest = unhex(text), digest.count == 32 else {
                    throw .invalidInput("\(where_): a backup code hash is not 64 hex digits")
                }
                digests.append(digest)
            }
            if !digests.isEmpty && totp?.status != .on {
                throw .invalidInput("\(where_): backup code hashes without an active TOTP enrolment")
            }
            var createdAt = now
            if let text = decoded.created_at {
                guard let time = Timestamp.parse(text) else {
                    throw .invalidInput("\(where_): created_at is not an RFC 3339 time")
                }
                createdAt = time
            }
            accounts.append(try makeAccount(
                user: decoded.user, hash: decoded.password_hash, createdAt: createdAt, totp: totp, digests: digests,
                where: where_))
        }
        return accounts
    }

    static let csvColumns = ["user", "password_hash", "totp_secret", "totp_algorithm", "totp_digits", "totp_period"]

    /// The rows are read one at a time (not all held as strings first): a file at the size
    /// limit of short rows must stay within the memory bound `maximumFileBytes` promises.
    static func parseCSV(_ text: String, now: Int64) throws(TwofaError) -> [TransferredAccount] {
        var names: [String] = []
        var column: [String: Int] = [:]
        var accounts: [TransferredAccount] = []
        try CSV.forEachRow(text) { (offset: Int, row: [String]) throws(TwofaError) in
            if offset == 0 {
                names = row.map { $0.trimmingASCIIWhitespace().lowercased() }
                for (index, name) in names.enumerated() {
                    guard csvColumns.contains(name) else {
                        throw .invalidInput("row 1: unknown column '\(name)' (columns: \(csvColumns.joined(separator: ",")))")
                    }
                    column[name] = index
                }
                guard column["user"] != nil, column["password_hash"] != nil else {
                    throw .invalidInput("row 1: the header needs the columns user and password_hash")
                }
                return
            }
            if let account = try parseCSVRow(row, offset: offset, names: names, column: column, now: now) {
                guard accounts.count < maximumAccounts else { throw tooManyAccounts("row \(offset + 1)") }
                accounts.append(account)
            }
        }
        guard !names.isEmpty else { throw .invalidInput("the CSV file is empty: it needs a header row") }
        return accounts
    }

    /// One data row (`offset` counts from 0, the header), or nil for an empty row.
    private static func parseCSVRow(
        _ row: [String], offset: Int, names: [String], column: [String: Int], now: Int64
    ) throws(TwofaError) -> TransferredAccount? {
        let where_ = "row \(offset + 1)"
        if row.count == 1 && row[0].isEmpty { return nil }
        guard row.count == names.count else {
            throw .invalidInput("\(where_): \(row.count) fields where the header has \(names.count)")
        }
        func field(_ name: String) -> String? {
            guard let index = column[name] else { return nil }
            let value = row[index].trimmingASCIIWhitespace()
            return value.isEmpty ? nil : value
        }
        var totp: TransferredTOTP?
        if let secret = field("totp_secret") {
            var digits: Int?
            if let text = field("totp_digits") {
                guard let value = Int(text) else { throw .invalidInput("\(where_): totp_digits is not a number") }
                digits = value
            }
            var period: Int64?
            if let text = field("totp_period") {
                guard let value = Int64(text) else { throw .invalidInput("\(where_): totp_period is not a number") }
                period = value
            }
            totp = try makeTOTP(
                secret: secret, algorithm: field("totp_algorithm"), digits: digits, period: period, issuer: nil,
                status: nil, where: where_)
        }
        return try makeAccount(
            user: field("user") ?? "", hash: field("password_hash") ?? "", createdAt: now, totp: totp, digests: [],
            where: where_)
    }

    static func makeTOTP(
        secret text: String, algorithm: String?, digits: Int?, period: Int64?, issuer: String?, status: String?,
        where place: String
    ) throws(TwofaError) -> TransferredTOTP {
        let secret: [UInt8]
        do { secret = try Base32.decode(text) } catch { throw .invalidInput("\(place): \(error.message)") }
        // Older google-authenticator files have 80-bit secrets; fewer is too weak to keep.
        guard secret.count >= 10 else { throw .invalidInput("\(place): the TOTP secret is shorter than 80 bits") }
        var parameters = TOTPParameters.default
        if let algorithm {
            guard let value = OTPAlgorithm(name: algorithm) else {
                throw .invalidInput("\(place): the algorithm must be sha1, sha256 or sha512")
            }
            parameters.algorithm = value
        }
        if let digits {
            guard digits == 6 || digits == 8 else { throw .invalidInput("\(place): digits must be 6 or 8") }
            parameters.digits = digits
        }
        if let period {
            guard period > 0 && period <= 3600 else { throw .invalidInput("\(place): the period must be 1 to 3600 seconds") }
            parameters.period = period
        }
        var state = TwoFactorState.on
        if let status {
            guard let value = TwoFactorState(rawValue: status), value != .off else {
                throw .invalidInput("\(place): the TOTP status must be pending or on")
            }
            state = value
        }
        if let issuer {
            guard !issuer.isEmpty, issuer.utf8.count <= 64 else {
                throw .invalidInput("\(place): the issuer must be 1 to 64 bytes")
            }
            try refuseUnsafeText(issuer, what: "\(place): the issuer")
        }
        return TransferredTOTP(secret: secret, issuer: issuer, parameters: parameters, status: state)
    }

    static func makeAccount(
        user: String, hash: String, createdAt: Int64, totp: TransferredTOTP?, digests: [[UInt8]], where place: String
    ) throws(TwofaError) -> TransferredAccount {
        let name: String
        do { name = try Username.normalize(user) } catch { throw .invalidInput("\(place): \(error.message)") }
        try refuseUnsafeText(hash, what: "\(place): the password hash of '\(name)'")
        guard PasswordHasher.isSupported(hash) else {
            throw .invalidInput("\(place): the password hash of '\(name)' is not a crypt(3) hash libxcrypt verifies")
        }
        return TransferredAccount(user: name, passwordHash: hash, createdAt: createdAt, totp: totp, backupCodeDigests: digests)
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing \"\(key.stringValue)\""
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "wrong type at \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\""
        case DecodingError.dataCorrupted(let context) where !context.codingPath.isEmpty:
            "wrong value at \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\""
        default: "malformed JSON"
        }
    }
}

/// RFC 4180 CSV: fields separated by commas, optionally in double quotes (a quote doubled
/// inside), rows ended by LF or CRLF. Written here because the CSV packages at hand (SwiftCSV,
/// CSV.swift) load all of Foundation, which twofa keeps off its commands' path.
enum CSV {
    /// Calls `body` with each row in turn and its index (0 for the header), as it is read.
    static func forEachRow(
        _ text: String, _ body: (Int, [String]) throws(TwofaError) -> Void
    ) throws(TwofaError) {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        let utf8 = text.utf8
        var row: [String] = []
        var field = [UInt8]()
        var quoted = false
        var rowIndex = 0
        var line = 1
        var index = utf8.startIndex
        // Input that does not end in a line break ends as if it did.
        let endsWithLineBreak = utf8.last == lf
        func endRow() throws(TwofaError) {
            row.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            try body(rowIndex, row)
            row.removeAll(keepingCapacity: true)
            rowIndex += 1
            line += 1
        }
        while index != utf8.endIndex {
            let byte = utf8[index]
            let next = utf8.index(after: index)
            if quoted {
                if byte == quote {
                    if next != utf8.endIndex && utf8[next] == quote {
                        field.append(byte)
                        index = utf8.index(after: next)
                        continue
                    }
                    quoted = false
                } else {
                    if byte == lf { line += 1 }
                    field.append(byte)
                }
            } else {
                switch byte {
                case quote:
                    guard field.isEmpty else { throw .invalidInput("row \(line): a quote inside an unquoted field") }
                    quoted = true
                case comma:
                    guard row.count < ImportParser.maximumFields else {
                        throw .invalidInput("row \(rowIndex + 1): more than \(ImportParser.maximumFields) fields")
                    }
                    row.append(String(decoding: field, as: UTF8.self))
                    field.removeAll(keepingCapacity: true)
                case cr where next != utf8.endIndex && utf8[next] == lf:
                    break
                case lf:
                    try endRow()
                default:
                    field.append(byte)
                }
            }
            index = next
        }
        if quoted { throw .invalidInput("row \(line): a quoted field is not closed") }
        if !endsWithLineBreak { try endRow() }
    }
}

/// google-authenticator's state file (~/.google_authenticator): the base32 secret on the first
/// line, `" OPTION [value]` lines, then 8-digit scratch codes.
public struct GoogleAuthenticatorFile: Sendable {
    public var secret: [UInt8]
    public var period: Int64
    public var scratchCodes: [String]
    /// Options twofa does not carry over, for the audit log (twofa's window, rate limit and
    /// reuse rules stand in for them).
    public var ignoredOptions: [String]

    public init(parsing content: [UInt8]) throws(TwofaError) {
        guard let text = String(validating: content, as: UTF8.self) else {
            throw .invalidInput("the google-authenticator file is not text")
        }
        var lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }).map(String.init)
        guard !lines.isEmpty else { throw .invalidInput("the google-authenticator file is empty") }
        let first = lines.removeFirst().trimmingASCIIWhitespace()
        do { secret = try Base32.decode(first) } catch {
            throw .invalidInput("line 1 of the google-authenticator file: \(error.message)")
        }
        guard secret.count >= 10 else { throw .invalidInput("the google-authenticator secret is shorter than 80 bits") }
        period = 30
        scratchCodes = []
        ignoredOptions = []
        var totp = false
        for (offset, raw) in lines.enumerated() {
            let line = raw.trimmingASCIIWhitespace()
            if line.isEmpty { continue }
            if line.hasPrefix("\"") {
                // Option names go to the audit log (ignoredOptions): never with an escape sequence.
                try refuseUnsafeText(line, what: "line \(offset + 2) of the google-authenticator file")
                let words = line.dropFirst().split(separator: " ").map(String.init)
                guard let option = words.first else { continue }
                switch option {
                case "TOTP_AUTH": totp = true
                case "HOTP_COUNTER":
                    throw .invalidInput("this google-authenticator file is for HOTP (counter-based) codes; twofa handles TOTP only")
                case "STEP_SIZE":
                    guard words.count == 2, let step = Int64(words[1]), (1...3600).contains(step) else {
                        throw .invalidInput("line \(offset + 2) of the google-authenticator file: a malformed STEP_SIZE")
                    }
                    period = step
                default: ignoredOptions.append(option)
                }
                continue
            }
            guard line.utf8.count == 8, line.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
                throw .invalidInput("line \(offset + 2) of the google-authenticator file: not an 8-digit scratch code")
            }
            scratchCodes.append(line)
        }
        guard totp else {
            throw .invalidInput("this google-authenticator file has no TOTP_AUTH line: it is for HOTP codes, which twofa does not handle")
        }
    }
}

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes { out += [digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
    return String(decoding: out, as: UTF8.self)
}

func unhex(_ text: String) -> [UInt8]? {
    let bytes = Array(text.utf8)
    guard bytes.count % 2 == 0 else { return nil }
    func value(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
    var out = [UInt8]()
    var index = 0
    while index < bytes.count {
        guard let high = value(bytes[index]), let low = value(bytes[index + 1]) else { return nil }
        out.append(high << 4 | low)
        index += 2
    }
    return out
}

extension Accounts {
    /// Every account with its secret decrypted: a file the operator must protect.
    public func exportAccounts() throws(TwofaError) -> [TransferredAccount] {
        guard let store = try store(create: false) else { return [] }
        let accounts = try store.allAccounts()
        let box = accounts.contains(where: { $0.totp != nil }) ? try secretBox(for: store) : nil
        var result: [TransferredAccount] = []
        result.reserveCapacity(accounts.count)
        for account in accounts {
            var totp: TransferredTOTP?
            if let record = account.totp, let box {
                totp = TransferredTOTP(
                    secret: try box.open(record.sealedSecret, user: account.name), issuer: record.issuer,
                    parameters: record.parameters, status: record.status, lastStep: record.lastStep)
            }
            result.append(TransferredAccount(
                user: account.name, passwordHash: account.passwordHash, createdAt: account.createdAt, totp: totp,
                backupCodeDigests: account.backupCodeDigests))
        }
        try self.audit(store, "export", nil, ok: true, detail: result.count == 1 ? "1 account" : "\(result.count) accounts")
        return result
    }

    /// Creates the accounts, all or nothing: any that exists already (or twice in the file) is a
    /// conflict and nothing is imported. With `dryRun`, everything is checked and nothing written.
    /// `progress` is told (done, total) as the work goes.
    public func importAccounts(
        _ accounts: [TransferredAccount], dryRun: Bool, source: String,
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws(TwofaError) -> Int {
        var seen = Set<String>()
        for account in accounts where !seen.insert(account.user).inserted {
            throw .userExists(user: account.user)
        }
        if dryRun {
            if let store = try store(create: false) {
                for user in try store.allUsers() where seen.contains(user.name) { throw .userExists(user: user.name) }
            }
            progress(accounts.count, accounts.count)
            return accounts.count
        }
        guard let store = try store(create: true) else { throw .internalError("the database was not created") }
        let box = accounts.contains(where: { $0.totp != nil }) ? try secretBox(for: store) : nil
        let time = environment.clock.now()
        // The source (a file name) goes into the audit log escaped, never with raw controls.
        let source = terminalSafe(source)
        let chunk = 2000
        try store.writeTransaction { () throws(TwofaError) in
            var done = 0
            while done < accounts.count {
                let slice = accounts[done..<min(done + chunk, accounts.count)]
                var records: [AccountRecord] = []
                records.reserveCapacity(slice.count)
                for account in slice {
                    var totp: TOTPRecord?
                    if let t = account.totp, let box {
                        totp = TOTPRecord(
                            status: t.status, sealedSecret: try box.seal(t.secret, user: account.user),
                            parameters: t.parameters, issuer: t.issuer, lastStep: t.lastStep, createdAt: time)
                    }
                    records.append(AccountRecord(
                        name: account.user, passwordHash: account.passwordHash, createdAt: account.createdAt,
                        totp: totp, backupCodeDigests: account.backupCodeDigests))
                }
                try store.insertAccounts(records)
                try store.appendAudit(slice.map {
                    AuditEvent(at: time, event: "import", user: $0.user, ok: true, detail: "from \(source)")
                })
                done += slice.count
                progress(done, accounts.count)
            }
        }
        return accounts.count
    }

    /// Takes a google-authenticator state file's secret, step and scratch codes for an existing
    /// user, whose 2FA is then on: their authenticator entry and scratch codes keep working.
    public func importGoogleAuthenticator(_ file: GoogleAuthenticatorFile, name rawName: String, issuer: String)
        throws(TwofaError)
    {
        let name = try Username.normalize(rawName)
        try refuseUnsafeText(issuer, what: "the issuer")
        let (store, user) = try existingUser(name)
        if user.twoFactor == .on {
            throw .wrongState(user: name, reason: "two-factor authentication is on already; disable it first")
        }
        let box = try secretBox(for: store)
        let parameters = TOTPParameters(algorithm: .sha1, digits: 6, period: file.period)
        let sealed = try box.seal(file.secret, user: name)
        let digests = file.scratchCodes.map { BackupCodes.digest($0, secret: file.secret, user: name) }
        let time = environment.clock.now()
        try store.writeTransaction { () throws(TwofaError) in
            try store.setTOTP(userID: user.id, TOTPRecord(
                status: .on, sealedSecret: sealed, parameters: parameters, issuer: issuer, lastStep: nil, createdAt: time))
            try store.replaceBackupCodes(userID: user.id, digests: digests)
            let ignored = file.ignoredOptions.isEmpty ? "" : "; ignored \(file.ignoredOptions.joined(separator: ", "))"
            try store.appendAudit(AuditEvent(
                at: time, event: "import", user: name, ok: true,
                detail: "google-authenticator file, \(file.scratchCodes.count) scratch codes\(ignored)"))
        }
    }
}
