import CCryptoShim
import Crypto

/// The HMAC behind a one-time password (RFC 6238 §1.2 allows SHA-1, SHA-256 and SHA-512).
public enum OTPAlgorithm: String, CaseIterable, Sendable {
    case sha1, sha256, sha512

    /// The name in an otpauth URI's `algorithm` parameter.
    public var uriName: String {
        switch self {
        case .sha1: "SHA1"
        case .sha256: "SHA256"
        case .sha512: "SHA512"
        }
    }

    /// A new secret is as long as the HMAC's output (RFC 4226 §4 R6, RFC 6238 appendix A).
    public var secretLength: Int {
        switch self {
        case .sha1: 20
        case .sha256: 32
        case .sha512: 64
        }
    }

    public init?(name: String) {
        switch name.lowercased() {
        case "sha1", "sha-1": self = .sha1
        case "sha256", "sha-256": self = .sha256
        case "sha512", "sha-512": self = .sha512
        default: return nil
        }
    }

    /// HMAC (RFC 2104) of `message` under `key`: BoringSSL's one-shot HMAC (the BoringSSL of
    /// swift-crypto, called through CCryptoShim). swift-crypto's `HMAC<H>`, and its digests,
    /// give the same bytes (the tests compare them on random keys and messages, and check
    /// RFC 2202 and RFC 4231 vectors), but as generic types from another module they are
    /// instantiated at run time, and checking `H: HashFunction` scans every protocol
    /// conformance in the binary: 160,000 instructions, a seventh of `twofa code`.
    func mac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        let digest = switch self {
        case .sha1: CCryptoBoringSSL_EVP_sha1()
        case .sha256: CCryptoBoringSSL_EVP_sha256()
        case .sha512: CCryptoBoringSSL_EVP_sha512()
        }
        var out = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        let made = key.withUnsafeBytes { key in
            message.withUnsafeBufferPointer { message in
                out.withUnsafeMutableBufferPointer { out in
                    CCryptoBoringSSL_HMAC(
                        digest, key.baseAddress, key.count, message.baseAddress, message.count, out.baseAddress, &length)
                }
            }
        }
        // BoringSSL fails only on a memory allocation failure; a MAC of zeros never matches.
        guard made != nil, Int(length) == secretLength else { return [UInt8](repeating: 0, count: secretLength) }
        out.removeLast(out.count - Int(length))
        return out
    }
}

/// 2FA states: `off`, `pending` (enrolled, not yet confirmed), `on`.
/// What a user's second factor is: an app's codes by time (TOTP, RFC 6238) or by counter
/// (HOTP, RFC 4226), or codes twofa sends by email.
public enum SecondFactorKind: String, Sendable, CaseIterable {
    case totp, hotp, email
}

public enum TwoFactorState: String, Sendable {
    case off, pending, on
}

/// What, besides the secret, determines a TOTP code.
public struct TOTPParameters: Equatable, Sendable {
    public var algorithm: OTPAlgorithm
    public var digits: Int
    public var period: Int64

    public static let `default` = TOTPParameters(algorithm: .sha1, digits: 6, period: 30)

    public init(algorithm: OTPAlgorithm = .sha1, digits: Int = 6, period: Int64 = 30) {
        self.algorithm = algorithm
        self.digits = digits
        self.period = period
    }

    /// The ranges a new enrolment must keep to (shared/spec/cli.md, "Details that scripts rely on": "Ranges").
    public func validateForEnrolment() throws(TwofaError) {
        guard digits == 6 || digits == 8 else { throw .invalidOption("--digits must be 6 or 8") }
        guard (15...120).contains(period) else {
            throw .invalidOption("--period must be 15 to 120 seconds")
        }
    }
}

/// HOTP (RFC 4226) and TOTP (RFC 6238) over 64-bit counters and times.
public struct OTPGenerator: Sendable {
    public let secret: [UInt8]
    public let parameters: TOTPParameters

    /// The latest time `--at` accepts: 9999-12-31T23:59:59Z.
    public static let latestTime: Int64 = 253_402_300_799

    public init(secret: [UInt8], parameters: TOTPParameters) throws(TwofaError) {
        guard !secret.isEmpty else { throw .invalidSecret("the secret is empty") }
        guard parameters.digits >= 6 && parameters.digits <= 10 else {
            throw .invalidOption("digits must be 6 to 10")
        }
        guard parameters.period > 0 else { throw .invalidOption("the period must be positive") }
        self.secret = secret
        self.parameters = parameters
    }

    /// RFC 4226 §5.3: HMAC, dynamic truncation, modulo 10^digits, zero-padded.
    public func hotp(counter: UInt64) -> String {
        var message = [UInt8](repeating: 0, count: 8)
        for index in 0..<8 { message[index] = UInt8(truncatingIfNeeded: counter >> UInt64(56 - 8 * index)) }
        var mac = parameters.algorithm.mac(key: secret, message: message)
        defer { wipe(&mac) }
        let offset = Int(mac[mac.count - 1] & 0x0f)
        let binary = (UInt32(mac[offset] & 0x7f) << 24) | (UInt32(mac[offset + 1]) << 16)
            | (UInt32(mac[offset + 2]) << 8) | UInt32(mac[offset + 3])
        var modulus: UInt64 = 1
        for _ in 0..<parameters.digits { modulus *= 10 }
        let value = UInt64(binary) % modulus
        let digits = String(value)
        return String(repeating: "0", count: parameters.digits - digits.count) + digits
    }

    /// The time step of a UNIX time (T0 = 0). Times before 1970 have no step.
    public func step(at time: Int64) -> UInt64 {
        UInt64(max(time, 0) / parameters.period)
    }

    public func code(at time: Int64) -> String {
        hotp(counter: step(at: time))
    }

    /// Seconds until the code shown at `time` changes.
    public func expiresIn(at time: Int64) -> Int64 {
        parameters.period - (max(time, 0) % parameters.period)
    }

    /// The step whose code equals `code`, looking at the current step and `window` steps either
    /// side (current first, then nearest). Every candidate is compared in full, in constant time,
    /// so the time taken does not say which step (if any) matched.
    public func matchingStep(for code: String, at time: Int64, window: UInt64 = 1) -> UInt64? {
        let current = step(at: time)
        let given = Array(code.utf8)
        var found: UInt64?
        var candidates: [UInt64] = [current]
        if window > 0 {
            for distance in 1...window {
                if current >= distance { candidates.append(current - distance) }
                candidates.append(current + distance)
            }
        }
        for candidate in candidates {
            let expected = Array(hotp(counter: candidate).utf8)
            if constantTimeEquals(expected, given) && found == nil { found = candidate }
        }
        return found
    }
}

extension OTPGenerator {
    /// How far past the stored counter a HOTP code is looked for (RFC 4226 §7.4: the
    /// look-ahead window); the counter then moves past the code accepted.
    public static let hotpLookAhead: UInt64 = 9

    /// The counter from `next` to `next + lookAhead` whose HOTP code equals `code`. Every
    /// candidate is compared in full, in constant time.
    public func matchingCounter(for code: String, from next: UInt64, lookAhead: UInt64 = hotpLookAhead) -> UInt64? {
        let given = Array(code.utf8)
        var found: UInt64?
        var counter = next
        for _ in 0...lookAhead {
            let expected = Array(hotp(counter: counter).utf8)
            if constantTimeEquals(expected, given) && found == nil { found = counter }
            guard counter < UInt64.max else { break }
            counter += 1
        }
        return found
    }
}

/// A code as a person types it: a TOTP code (6 or 8 digits, spaces allowed: `123 456`) or a
/// backup code (letters and digits, any case, dashes and spaces optional).
public enum GivenCode: Equatable, Sendable {
    /// Digits only. 8 digits may also be a google-authenticator scratch code kept as a backup code.
    case digits(String)
    /// A backup code, normalised: lower case, no dashes or spaces.
    case backup(String)

    public var normalized: String {
        switch self {
        case .digits(let text), .backup(let text): text
        }
    }
}

public enum OTPCode {
    static let malformed = TwofaError.malformedCode(
        "malformed code: give 6 or 8 digits (spaces allowed) or a 16-character backup code (dashes allowed)")

    /// Classifies a code or throws `.malformedCode` (exit 65) for anything that can be neither.
    public static func parse(_ text: String) throws(TwofaError) -> GivenCode {
        var kept = ""
        var allDigits = true
        var sawDash = false
        for scalar in text.unicodeScalars {
            switch scalar {
            case "0"..."9": kept.unicodeScalars.append(scalar)
            case "a"..."z": kept.unicodeScalars.append(scalar); allDigits = false
            case "A"..."Z":
                kept.unicodeScalars.append(Unicode.Scalar(scalar.value + 32) ?? scalar)
                allDigits = false
            case " ", "\t": continue
            case "-": sawDash = true
            default: throw malformed
            }
        }
        if allDigits && !sawDash && (kept.count == 6 || kept.count == 8) { return .digits(kept) }
        // twofa's backup codes have 16 characters; google-authenticator's scratch codes, 8 digits.
        if kept.count == 16 || (allDigits && kept.count == 8) { return .backup(kept) }
        throw malformed
    }
}

/// Backup codes: 10 a set, each 16 characters of Crockford's base32 (80 random bits, no I, L,
/// O or U to misread), printed in dash-separated groups of four.
public enum BackupCodes {
    public static let count = 10
    static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)

    /// What is stored of a backup code: HMAC-SHA256 under a key derived (HKDF) from the user's
    /// TOTP secret. The database alone holds the secret only encrypted, so its digests give no
    /// way to test guesses (a google-authenticator scratch code has only 8 digits); and an
    /// export, which carries the secret, carries working digests.
    public static func digest(_ normalizedCode: String, secret: [UInt8], user: String) -> [UInt8] {
        let key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: secret), info: Array("twofa backup code v1\u{0}\(user)".utf8),
            outputByteCount: 32)
        return Array(HMAC<SHA256>.authenticationCode(for: Array(normalizedCode.utf8), using: key))
    }

    /// A code as printed, normalised as `OTPCode.parse` normalises what is typed.
    public static func normalize(_ printed: String) -> String {
        String(printed.lowercased().filter { $0 != "-" && $0 != " " })
    }

    public static func generate(random: some RandomSource) throws(TwofaError) -> [String] {
        var codes: [String] = []
        for _ in 0..<count {
            var bytes = try random.bytes(10)
            defer { wipe(&bytes) }
            let characters = String(decoding: Base32.encode(bytes, alphabet: alphabet), as: UTF8.self)
            codes.append(Base32.grouped(characters, separator: "-"))
        }
        return codes
    }
}
