import Glibc
import FoundationEssentials

/// An account in the shape export writes and import reads (one JSON object a line):
/// `{"user", "password_hash", "created_at", "totp": {"secret", "issuer", "algorithm", "digits",
/// "period", "status", "last_step"} | null, "backup_code_hashes": [...]}`. The secret is in
/// clear here. `last_step` (the replay state: the last time step a code was accepted at) is
/// written only when there is one, and optional on import. A HOTP enrolment adds
/// `"type": "hotp"` and `"counter"` (the next counter, as in its otpauth URI) in place of
/// `last_step`; an email device `"type": "email"` and `"email"` (its secret keys the digests of
/// its codes and backup codes).
public struct TransferredAccount: Sendable {
    public var user: String
    public var passwordHash: String
    public var createdAt: Int64
    public var totp: TransferredTOTP?
    /// Hex digests of the unused backup codes (`BackupCodes.digest`).
    public var backupCodeDigests: [[UInt8]]

    public init(
        user: String, passwordHash: String, createdAt: Int64, totp: TransferredTOTP?, backupCodeDigests: [[UInt8]]
    ) {
        self.user = user
        self.passwordHash = passwordHash
        self.createdAt = createdAt
        self.totp = totp
        self.backupCodeDigests = backupCodeDigests
    }
}

public struct TransferredTOTP: Sendable {
    public var secret: [UInt8]
    public var issuer: String?
    public var parameters: TOTPParameters
    public var status: TwoFactorState
    /// The last time step a TOTP code was accepted at (RFC 6238 §5.2 replay state), if any: an
    /// import keeps it, so a code used before the export is refused after the import. For HOTP,
    /// the last counter accepted.
    public var lastStep: Int64?
    public var kind: SecondFactorKind
    /// An email device's address.
    public var email: EmailAddress?

    public init(
        secret: [UInt8], issuer: String?, parameters: TOTPParameters, status: TwoFactorState, lastStep: Int64? = nil,
        kind: SecondFactorKind = .totp, email: EmailAddress? = nil
    ) {
        self.secret = secret
        self.issuer = issuer
        self.parameters = parameters
        self.status = status
        self.lastStep = lastStep
        self.kind = kind
        self.email = email
    }

    /// A HOTP enrolment's next counter (the one after the last accepted).
    public var nextCounter: UInt64 { lastStep.map { UInt64($0) + 1 } ?? 0 }

    /// The highest counter an imported HOTP enrolment may start at: the stored counter is a
    /// signed 64-bit column, and the look-ahead must stay inside it.
    public static let highestCounter = Int64.max - 1 - Int64(OTPGenerator.hotpLookAhead)
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
                switch totp.kind {
                case .totp:
                    if let lastStep = totp.lastStep { fields.append(("last_step", .int(lastStep))) }
                case .hotp:
                    fields.append(("type", .string("hotp")))
                    fields.append(("counter", .int(Int64(clamping: totp.nextCounter))))
                case .email:
                    fields.append(("type", .string("email")))
                    fields.append(("email", totp.email.map { .string($0.text) } ?? .null))
                }
                return .object(fields)
            } ?? .null),
            ("backup_code_hashes", .array(backupCodeDigests.map { .string(hex($0)) })),
        ]).serialized
    }
}

/// Reading import files, JSON Lines (export's shape) or CSV with a header row, one account at
/// a time from a descriptor: memory stays bounded whatever the input's size (a line or record
/// is at most `maximumLineBytes`, so even /dev/zero ends at once). Every problem names its line
/// or row and stops the whole file. Text that would be stored (the issuer, the password hash)
/// with a control or bidirectional character in it is refused (TerminalText).
public final class ImportReader {
    /// The longest line (JSON Lines) or record (CSV) read: an exported account is under 2 KiB.
    public static let maximumLineBytes = 64 << 10
    /// A google-authenticator state file is a secret, a few option lines and up to 10 scratch
    /// codes: a few hundred bytes. More than this is not one.
    public static let maximumGoogleAuthenticatorFileBytes = 64 << 10
    /// The most fields a CSV row may have (6 columns are known).
    static let maximumFields = 64

    public let format: ImportFormat
    private let now: Int64
    private var lines: LineReader
    private let decoder = JSONDecoder()
    private var csv = CSVRecords()
    private var header: [String]?
    private var column: [String: Int] = [:]
    /// CSV rows read (the header is row 1).
    private var rows = 0

    /// Bytes read so far, for a progress bar.
    public var bytesRead: Int { lines.bytesRead }

    public init(descriptor: Int32, format: ImportFormat, now: Int64) {
        self.format = format
        self.now = now
        lines = LineReader(descriptor: descriptor, maximumLineBytes: Self.maximumLineBytes)
    }

    /// The next account, or nil at the end of the input.
    public func next() throws(TwofaError) -> TransferredAccount? {
        switch format {
        case .jsonl: return try nextJSONLine()
        case .csv: return try nextCSVRow()
        }
    }

    /// Reads `content` instead of a descriptor (tests, and inputs already in memory).
    public init(bytes content: [UInt8], format: ImportFormat, now: Int64) {
        self.format = format
        self.now = now
        lines = LineReader(bytes: content, maximumLineBytes: Self.maximumLineBytes)
    }

    /// Every account of `content`.
    public static func readAll(_ content: [UInt8], format: ImportFormat, now: Int64) throws(TwofaError) -> [TransferredAccount] {
        let reader = ImportReader(bytes: content, format: format, now: now)
        var accounts: [TransferredAccount] = []
        while let account = try reader.next() { accounts.append(account) }
        return accounts
    }

    private func nextJSONLine() throws(TwofaError) -> TransferredAccount? {
        while let line = try lines.next() {
            var bytes = line[...]
            if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
            if bytes.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { continue }
            return try account(jsonLine: bytes, where: "line \(lines.lineNumber)")
        }
        return nil
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
        var type: String?
        var counter: Int64?
        var email: String?
    }

    private func account(jsonLine bytes: ArraySlice<UInt8>, where place: String) throws(TwofaError) -> TransferredAccount {
        guard String(validating: bytes, as: UTF8.self) != nil else { throw .invalidInput("\(place): not UTF-8") }
        let decoded: Line
        do {
            decoded = try decoder.decode(Line.self, from: Data(bytes))
        } catch {
            throw .invalidInput("\(place): not an account object (\(Self.describe(error)))")
        }
        var totp: TransferredTOTP?
        if let t = decoded.totp {
            totp = try Self.makeTOTP(
                secret: t.secret, algorithm: t.algorithm, digits: t.digits, period: t.period, issuer: t.issuer,
                status: t.status, where: place)
            if let lastStep = t.last_step {
                guard lastStep >= 0 else {
                    throw .invalidInput("\(place): last_step must be a non-negative integer (a TOTP time step)")
                }
                totp?.lastStep = lastStep
            }
            switch t.type ?? "totp" {
            case "totp":
                guard t.counter == nil, t.email == nil else {
                    throw .invalidInput("\(place): counter and email belong to the types hotp and email")
                }
            case "hotp":
                guard let counter = t.counter, (0...TransferredTOTP.highestCounter).contains(counter), t.last_step == nil,
                    t.email == nil
                else {
                    throw .invalidInput(
                        "\(place): a hotp enrolment needs its counter (0 to \(TransferredTOTP.highestCounter)), and no last_step or email")
                }
                totp?.kind = .hotp
                totp?.lastStep = counter == 0 ? nil : counter - 1
            case "email":
                guard let address = t.email, t.counter == nil else {
                    throw .invalidInput("\(place): an email device needs its email address, and no counter")
                }
                do { totp?.email = try EmailAddress(address) } catch { throw .invalidInput("\(place): \(error.message)") }
                totp?.kind = .email
                totp?.lastStep = nil
            default:
                throw .invalidInput("\(place): the type must be totp, hotp or email")
            }
        }
        var digests: [[UInt8]] = []
        for text in decoded.backup_code_hashes ?? [] {
            guard let digest = unhex(text), digest.count == 32 else {
                throw .invalidInput("\(place): a backup code hash is not 64 hex digits")
            }
            digests.append(digest)
        }
        if !digests.isEmpty && totp?.status != .on {
            throw .invalidInput("\(place): backup code hashes without an active TOTP enrolment")
        }
        var createdAt = now
        if let text = decoded.created_at {
            guard let time = Timestamp.parse(text), (0...OTPGenerator.latestTime).contains(time) else {
                throw .invalidInput("\(place): created_at is not an RFC 3339 time")
            }
            createdAt = time
        }
        return try Self.makeAccount(
            user: decoded.user, hash: decoded.password_hash, createdAt: createdAt, totp: totp, digests: digests,
            where: place)
    }

    static let csvColumns = ["user", "password_hash", "totp_secret", "totp_algorithm", "totp_digits", "totp_period"]

    private func nextCSVRow() throws(TwofaError) -> TransferredAccount? {
        while true {
            guard let line = try lines.next() else {
                if csv.isInsideQuotes { throw .invalidInput("row \(rows + 1): a quoted field is not closed") }
                guard header != nil else { throw .invalidInput("the CSV file is empty: it needs a header row") }
                return nil
            }
            guard let row = try csv.feed(line, row: rows + 1, atEnd: lines.atEnd) else { continue }
            rows += 1
            guard let names = header else {
                try readHeader(row)
                continue
            }
            if let account = try csvAccount(row, names: names) { return account }
        }
    }

    private func readHeader(_ row: [String]) throws(TwofaError) {
        let names = row.map { $0.trimmingASCIIWhitespace().lowercased() }
        for (index, name) in names.enumerated() {
            guard Self.csvColumns.contains(name) else {
                throw .invalidInput("row 1: unknown column '\(name)' (columns: \(Self.csvColumns.joined(separator: ",")))")
            }
            guard column[name] == nil else { throw .invalidInput("row 1: the column \(name) appears twice") }
            column[name] = index
        }
        guard column["user"] != nil, column["password_hash"] != nil else {
            throw .invalidInput("row 1: the header needs the columns user and password_hash")
        }
        header = names
    }

    /// One data row, or nil for an empty row.
    private func csvAccount(_ row: [String], names: [String]) throws(TwofaError) -> TransferredAccount? {
        let place = "row \(rows)"
        if row.count == 1 && row[0].isEmpty { return nil }
        guard row.count == names.count else {
            throw .invalidInput("\(place): \(row.count) fields where the header has \(names.count)")
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
                guard let value = Int(text) else { throw .invalidInput("\(place): totp_digits is not a number") }
                digits = value
            }
            var period: Int64?
            if let text = field("totp_period") {
                guard let value = Int64(text) else { throw .invalidInput("\(place): totp_period is not a number") }
                period = value
            }
            totp = try Self.makeTOTP(
                secret: secret, algorithm: field("totp_algorithm"), digits: digits, period: period, issuer: nil,
                status: nil, where: place)
        }
        return try Self.makeAccount(
            user: field("user") ?? "", hash: field("password_hash") ?? "", createdAt: now, totp: totp, digests: [],
            where: place)
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

/// Lines of a descriptor, read 64 KiB at a time: each without its LF, at most
/// `maximumLineBytes` (a longer one is refused without reading the rest of it).
struct LineReader {
    private let descriptor: Int32
    private let maximumLineBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var finished = false
    private(set) var bytesRead = 0
    /// The number of the line `next()` returned last, from 1.
    private(set) var lineNumber = 0
    /// Whether the line returned last ended the input without an LF.
    private(set) var atEnd = false

    init(descriptor: Int32, maximumLineBytes: Int) {
        self.descriptor = descriptor
        self.maximumLineBytes = maximumLineBytes
    }

    /// Lines of bytes already in memory.
    init(bytes: [UInt8], maximumLineBytes: Int) {
        descriptor = -1
        self.maximumLineBytes = maximumLineBytes
        buffer = bytes
        bytesRead = bytes.count
        finished = true
    }

    mutating func next() throws(TwofaError) -> [UInt8]? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[start..<newline])
                start = newline + 1
                lineNumber += 1
                try check(line.count)
                return line
            }
            try check(buffer.count - start)
            if finished {
                guard start < buffer.count else { return nil }
                let line = Array(buffer[start...])
                start = buffer.count
                lineNumber += 1
                atEnd = true
                return line
            }
            // Keep only the unread part, then read more.
            if start > 0 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
            let chunk = 1 << 16
            let old = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: chunk))
            var got: Int
            repeat {
                got = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress.map { $0 + old }, chunk) }
            } while got < 0 && errno == EINTR
            guard got >= 0 else {
                buffer.removeSubrange(old...)
                throw .file(path: "the import input", reason: "cannot read it (\(SecureFiles.describe(errno)))")
            }
            buffer.removeSubrange((old + got)...)
            bytesRead += got
            if got == 0 { finished = true }
        }
    }

    private func check(_ length: Int) throws(TwofaError) {
        guard length <= maximumLineBytes else {
            throw .invalidInput(
                "line \(lineNumber + (length == 0 ? 0 : 1)): longer than \(maximumLineBytes >> 10) KiB, more than any account needs (is this an import file?)")
        }
    }
}

/// RFC 4180 CSV records, assembled from lines: fields separated by commas, optionally in double
/// quotes (a quote doubled inside; nothing but a comma or the end of the record after the
/// closing quote), records ended by LF or CRLF; a quoted field may hold line breaks. Written
/// here because the CSV packages at hand (SwiftCSV, CSV.swift) load all of Foundation, which
/// twofa keeps off its commands' path.
struct CSVRecords {
    private var row: [String] = []
    private var field: [UInt8] = []
    private var quoted = false
    private var afterQuote = false
    private var recordBytes = 0

    var isInsideQuotes: Bool { quoted }

    /// Feeds one line (without its LF); answers the record if the line completed one.
    mutating func feed(_ line: [UInt8], row number: Int, atEnd: Bool) throws(TwofaError) -> [String]? {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), cr = UInt8(ascii: "\r")
        recordBytes += line.count + 1
        guard recordBytes <= ImportReader.maximumLineBytes else {
            throw .invalidInput("row \(number): longer than \(ImportReader.maximumLineBytes >> 10) KiB")
        }
        var index = 0
        while index < line.count {
            let byte = line[index]
            index += 1
            if quoted {
                if byte == quote {
                    if index < line.count && line[index] == quote {
                        field.append(quote)
                        index += 1
                    } else {
                        quoted = false
                        afterQuote = true
                    }
                } else {
                    field.append(byte)
                }
                continue
            }
            switch byte {
            case comma:
                guard row.count < ImportReader.maximumFields else {
                    throw .invalidInput("row \(number): more than \(ImportReader.maximumFields) fields")
                }
                try endField(row: number)
                afterQuote = false
            case cr where index == line.count:
                break  // CRLF
            case _ where afterQuote:
                throw .invalidInput("row \(number): text after the closing quote of a field")
            case quote:
                guard field.isEmpty else { throw .invalidInput("row \(number): a quote inside an unquoted field") }
                quoted = true
            default:
                field.append(byte)
            }
        }
        if quoted {
            // The line break belongs to the quoted field.
            if !atEnd { field.append(UInt8(ascii: "\n")) }
            return nil
        }
        try endField(row: number)
        afterQuote = false
        recordBytes = 0
        defer { row.removeAll(keepingCapacity: true) }
        return row
    }

    private mutating func endField(row number: Int) throws(TwofaError) {
        guard let text = String(validating: field, as: UTF8.self) else { throw .invalidInput("row \(number): not UTF-8") }
        row.append(text)
        field.removeAll(keepingCapacity: true)
    }
}

public struct GoogleAuthenticatorFile: Sendable {
    /// A scratch code from 32 random bits: uniform over 10000000 to 99999999, the range
    /// pam_google_authenticator reads as scratch codes (a line below 10^7 it skips, and then
    /// every line after it); nil for the values above the last whole multiple of 9 × 10^7, to
    /// be drawn again.
    public static func scratchCode(_ value: UInt32) -> String? {
        guard value < 4_230_000_000 else { return nil }
        return String(10_000_000 + value % 90_000_000)
    }

    public var secret: [UInt8]
    public var period: Int64
    /// A counter-based (HOTP) file's `HOTP_COUNTER`: the next counter a code is accepted at.
    /// Nil for a time-based (`TOTP_AUTH`) file.
    public var counter: UInt64?
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
        counter = nil
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
                    guard words.count == 2, let value = UInt64(words[1]), value <= UInt64(TransferredTOTP.highestCounter) else {
                        throw .invalidInput("line \(offset + 2) of the google-authenticator file: a malformed HOTP_COUNTER")
                    }
                    counter = value
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
        guard totp != (counter != nil) else {
            throw .invalidInput(
                totp
                    ? "this google-authenticator file has both TOTP_AUTH and HOTP_COUNTER"
                    : "this google-authenticator file has neither TOTP_AUTH nor HOTP_COUNTER")
        }
    }
}

public func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes { out += [digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
    return String(decoding: out, as: UTF8.self)
}

public func unhex(_ text: String) -> [UInt8]? {
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

