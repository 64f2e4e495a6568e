import FoundationEssentials
import TwofaDomain
import TwofaStorage

/// An account in the shape export writes and import reads (one JSON object a line):
/// `{"user", "password_hash", "created_at", "totp": {"secret", "issuer", "algorithm", "digits",
/// "period", "status"} | null, "backup_code_hashes": [...]}`. The secret is in clear here.
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
                .object([
                    ("secret", .string(Base32.encode(totp.secret))),
                    ("issuer", totp.issuer.map { .string($0) } ?? .null),
                    ("algorithm", .string(totp.parameters.algorithm.rawValue)),
                    ("digits", .int(totp.parameters.digits)),
                    ("period", .int(totp.parameters.period)),
                    ("status", .string(totp.status.rawValue)),
                ])
            } ?? .null),
            ("backup_code_hashes", .array(backupCodeDigests.map { .string(hex($0)) })),
        ]).serialized
    }
}

/// Reading import files: JSON Lines (export's shape) and CSV with a header row. Every problem
/// names its line and stops the whole file.
public enum ImportParser {
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
    }

    static func parseJSONLines(_ text: String, now: Int64) throws(TwofaError) -> [TransferredAccount] {
        let decoder = JSONDecoder()
        var accounts: [TransferredAccount] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine[...]
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            let where_ = "line \(index + 1)"
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

    static func parseCSV(_ text: String, now: Int64) throws(TwofaError) -> [TransferredAccount] {
        let rows = try CSV.rows(text)
        guard let header = rows.first else { throw .invalidInput("the CSV file is empty: it needs a header row") }
        let names = header.map { $0.trimmingASCIIWhitespace().lowercased() }
        var column: [String: Int] = [:]
        for (index, name) in names.enumerated() {
            guard csvColumns.contains(name) else {
                throw .invalidInput("row 1: unknown column '\(name)' (columns: \(csvColumns.joined(separator: ",")))")
            }
            column[name] = index
        }
        guard column["user"] != nil, column["password_hash"] != nil else {
            throw .invalidInput("row 1: the header needs the columns user and password_hash")
        }
        var accounts: [TransferredAccount] = []
        for (offset, row) in rows.enumerated().dropFirst() {
            let where_ = "row \(offset + 1)"
            if row.count == 1 && row[0].isEmpty { continue }
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
            accounts.append(try makeAccount(
                user: field("user") ?? "", hash: field("password_hash") ?? "", createdAt: now, totp: totp, digests: [],
                where: where_))
        }
        return accounts
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
        if let issuer, issuer.utf8.count > 64 || issuer.isEmpty {
            throw .invalidInput("\(place): the issuer must be 1 to 64 bytes")
        }
        return TransferredTOTP(secret: secret, issuer: issuer, parameters: parameters, status: state)
    }

    static func makeAccount(
        user: String, hash: String, createdAt: Int64, totp: TransferredTOTP?, digests: [[UInt8]], where place: String
    ) throws(TwofaError) -> TransferredAccount {
        let name: String
        do { name = try Username.normalize(user) } catch { throw .invalidInput("\(place): \(error.message)") }
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
        default: "malformed JSON"
        }
    }
}

/// RFC 4180 CSV: fields separated by commas, optionally in double quotes (a quote doubled
/// inside), rows ended by LF or CRLF. Written here because the CSV packages at hand (SwiftCSV,
/// CSV.swift) load all of Foundation, which twofa keeps off its commands' path.
enum CSV {
    static func rows(_ text: String) throws(TwofaError) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = [UInt8]()
        var quoted = false
        var bytes = Array(text.utf8)
        if bytes.last != UInt8(ascii: "\n") { bytes.append(UInt8(ascii: "\n")) }
        var index = 0
        var line = 1
        while index < bytes.count {
            let byte = bytes[index]
            if quoted {
                if byte == UInt8(ascii: "\"") {
                    if index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "\"") {
                        field.append(byte)
                        index += 1
                    } else {
                        quoted = false
                    }
                } else {
                    if byte == UInt8(ascii: "\n") { line += 1 }
                    field.append(byte)
                }
            } else {
                switch byte {
                case UInt8(ascii: "\""):
                    guard field.isEmpty else { throw .invalidInput("row \(line): a quote inside an unquoted field") }
                    quoted = true
                case UInt8(ascii: ","):
                    row.append(String(decoding: field, as: UTF8.self))
                    field.removeAll(keepingCapacity: true)
                case UInt8(ascii: "\r") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "\n"):
                    break
                case UInt8(ascii: "\n"):
                    row.append(String(decoding: field, as: UTF8.self))
                    field.removeAll(keepingCapacity: true)
                    rows.append(row)
                    row = []
                    line += 1
                default:
                    field.append(byte)
                }
            }
            index += 1
        }
        if quoted { throw .invalidInput("row \(line): a quoted field is not closed") }
        return rows
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
                    parameters: record.parameters, status: record.status)
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
                            parameters: t.parameters, issuer: t.issuer, lastStep: nil, createdAt: time)
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
