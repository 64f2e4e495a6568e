/// An `otpauth://totp/` (or, with a counter, `otpauth://hotp/`) URI in the Key Uri Format: the label `ISSUER:ACCOUNT` with each part
/// percent-encoded (a space is `%20`, never `+`; a colon inside a part is `%3A`), the secret in
/// upper-case base32 without padding, `issuer` equal to the label's prefix, and `algorithm`,
/// `digits`, `period` only where they differ from SHA1, 6 and 30 (a HOTP URI has `counter`,
/// always, and no period).
public struct OTPAuthURI: Equatable, Sendable {
    public var issuer: String?
    public var account: String
    public var secret: [UInt8]
    public var parameters: TOTPParameters
    /// A HOTP URI's counter (the next one a code is made for); nil for TOTP.
    public var counter: UInt64?

    public init(issuer: String?, account: String, secret: [UInt8], parameters: TOTPParameters, counter: UInt64? = nil) {
        self.issuer = issuer
        self.account = account
        self.secret = secret
        self.parameters = parameters
        self.counter = counter
    }

    public var string: String {
        var label = PercentEncoding.encode(account, keeping: PercentEncoding.labelSafe)
        if let issuer, !issuer.isEmpty {
            label = PercentEncoding.encode(issuer, keeping: PercentEncoding.labelSafe) + ":" + label
        }
        var uri = "otpauth://\(counter == nil ? "totp" : "hotp")/\(label)?secret=\(Base32.encode(secret))"
        if let issuer, !issuer.isEmpty {
            uri += "&issuer=" + PercentEncoding.encode(issuer, keeping: PercentEncoding.querySafe)
        }
        if parameters.algorithm != .sha1 { uri += "&algorithm=\(parameters.algorithm.uriName)" }
        if parameters.digits != 6 { uri += "&digits=\(parameters.digits)" }
        if let counter {
            uri += "&counter=\(counter)"
        } else if parameters.period != 30 {
            uri += "&period=\(parameters.period)"
        }
        return uri
    }

    /// Parses a TOTP or HOTP URI (a HOTP one must carry its counter). A missing or malformed
    /// secret, or parameters out of range (digits other than 6 or 8, a period that is not a
    /// positive whole number, a counter on a TOTP URI) are refused.
    public init(parsing text: String) throws(TwofaError) {
        let trimmed = text.trimmingASCIIWhitespace()
        let scheme = "otpauth://"
        guard trimmed.utf8.count > scheme.utf8.count,
            trimmed.utf8.prefix(scheme.utf8.count).elementsEqual(scheme.utf8, by: { asciiLower($0) == $1 })
        else { throw .invalidURI("invalid otpauth URI: it must start with otpauth://totp/") }
        let rest = String(decoding: trimmed.utf8.dropFirst(scheme.utf8.count), as: UTF8.self)
        guard let slash = rest.firstIndex(of: "/") else {
            throw .invalidURI("invalid otpauth URI: no type and label")
        }
        let type = rest[..<slash].lowercased()
        guard type == "totp" || type == "hotp" else {
            throw .invalidURI("invalid otpauth URI: unknown type '\(terminalSafe(type))' (totp or hotp)")
        }
        let afterType = rest[rest.index(after: slash)...]
        let rawLabel: Substring
        let query: Substring
        if let question = afterType.firstIndex(of: "?") {
            rawLabel = afterType[..<question]
            query = afterType[afterType.index(after: question)...]
        } else {
            rawLabel = afterType
            query = ""
        }
        // The label: "issuer:account" or "account"; the colon may itself be encoded (%3A).
        var labelIssuer: String?
        var labelAccount: String
        if let colon = rawLabel.firstIndex(of: ":") {
            labelIssuer = try PercentEncoding.decode(rawLabel[..<colon])
            labelAccount = try PercentEncoding.decode(rawLabel[rawLabel.index(after: colon)...])
        } else {
            let decoded = try PercentEncoding.decode(rawLabel)
            if let colon = decoded.firstIndex(of: ":") {
                labelIssuer = String(decoded[..<colon])
                labelAccount = String(decoded[decoded.index(after: colon)...])
            } else {
                labelAccount = decoded
            }
        }
        // The Key Uri Format allows spaces between the issuer's colon and the account.
        labelAccount = String(labelAccount.drop(while: { $0 == " " }))
        var secret: [UInt8]?
        var issuer = labelIssuer
        var parameters = TOTPParameters.default
        var counter: UInt64?
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = try PercentEncoding.decode(parts[0]).lowercased()
            let value = parts.count > 1 ? try PercentEncoding.decode(parts[1]) : ""
            switch key {
            case "secret":
                do { secret = try Base32.decode(value) } catch {
                    throw .invalidURI("invalid otpauth URI: \(error.message)")
                }
            case "issuer":
                issuer = value
            case "algorithm":
                guard let algorithm = OTPAlgorithm(name: value) else {
                    throw .invalidURI("invalid otpauth URI: algorithm must be SHA1, SHA256 or SHA512")
                }
                parameters.algorithm = algorithm
            case "digits":
                guard let digits: Int = wholeNumber(value), digits == 6 || digits == 8 else {
                    throw .invalidURI("invalid otpauth URI: digits must be 6 or 8")
                }
                parameters.digits = digits
            case "period":
                guard let period: Int64 = wholeNumber(value), period > 0 else {
                    throw .invalidURI("invalid otpauth URI: period must be a positive whole number of seconds")
                }
                parameters.period = period
            case "counter":
                guard type == "hotp" else {
                    throw .invalidURI("invalid otpauth URI: 'counter' belongs to a HOTP URI (otpauth://hotp/)")
                }
                guard let value: UInt64 = wholeNumber(value) else {
                    throw .invalidURI("invalid otpauth URI: counter must be a whole number")
                }
                counter = value
            default:
                continue  // image, color and other vendor extensions
            }
        }
        guard let secret else { throw .invalidURI("invalid otpauth URI: no secret parameter") }
        if type == "hotp" {
            guard counter != nil else { throw .invalidURI("invalid otpauth URI: a HOTP URI needs its counter parameter") }
            parameters.period = TOTPParameters.default.period
        }
        self.init(issuer: issuer, account: labelAccount, secret: secret, parameters: parameters, counter: counter)
    }
}

public enum PercentEncoding {
    /// RFC 3986 unreserved characters, and `@` (a pchar that every authenticator reads as is).
    public static let labelSafe: Set<UInt8> = unreserved.union([UInt8(ascii: "@")])
    public static let querySafe: Set<UInt8> = unreserved

    static let unreserved: Set<UInt8> = Set(
        Array(UInt8(ascii: "A")...UInt8(ascii: "Z")) + Array(UInt8(ascii: "a")...UInt8(ascii: "z"))
            + Array(UInt8(ascii: "0")...UInt8(ascii: "9")) + Array("-._~".utf8))

    public static func encode(_ text: String, keeping safe: Set<UInt8>) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        for byte in text.utf8 {
            if safe.contains(byte) {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes %XX escapes (a `+` stays a plus: this is a URI, not a form). The result must be UTF-8.
    public static func decode<S: StringProtocol>(_ text: S) throws(TwofaError) -> String {
        var out = [UInt8]()
        var bytes = text.utf8.makeIterator()
        while let byte = bytes.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = bytes.next().flatMap(hexValue), let low = bytes.next().flatMap(hexValue) else {
                    throw .invalidURI("invalid otpauth URI: a malformed %-escape")
                }
                out.append(high << 4 | low)
            } else {
                out.append(byte)
            }
        }
        guard let string = String(validating: out, as: UTF8.self) else {
            throw .invalidURI("invalid otpauth URI: it is not UTF-8 once decoded")
        }
        return string
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Digits only: no sign, no spaces (Swift's Int("+5") would accept a plus).
private func wholeNumber<T: FixedWidthInteger>(_ text: String) -> T? {
    guard !text.isEmpty, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
    return T(text)
}

private func asciiLower(_ byte: UInt8) -> UInt8 {
    (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
}

extension String {
    /// The string without leading and trailing spaces, tabs, CR and LF.
    public func trimmingASCIIWhitespace() -> String {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0a || $0 == 0x0d }
        let bytes = Array(utf8)
        guard let first = bytes.firstIndex(where: { !isSpace($0) }),
            let last = bytes.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}
