import Glibc

/// A password as bytes of UTF-8 normalised to NFC, never printed or logged, and overwritten
/// when the last reference goes (as far as Swift allows: the caller wipes its raw input).
public final class Password: @unchecked Sendable, CustomStringConvertible {
    public private(set) var bytes: [UInt8]

    deinit { wipe(&bytes) }

    /// crypt(3)'s own limit (libxcrypt's CRYPT_MAX_PASSPHRASE_SIZE is 512, with the NUL).
    public static let maximumBytes = 511
    public static let minimumCharacters = 8

    /// Normalises `raw` (what the terminal or stdin gave) to NFC. Invalid UTF-8, a NUL byte or
    /// more than 511 bytes (after NFC) are refused.
    public init(raw: [UInt8]) throws(TwofaError) {
        guard raw.count <= Self.maximumBytes * 4 else {
            throw .invalidPassword(
                "the password is longer than \(Self.maximumBytes) bytes of UTF-8, the limit of crypt(3)")
        }
        guard var text = String(validating: raw, as: UTF8.self) else {
            throw .invalidPassword("the password is not valid UTF-8")
        }
        guard !raw.contains(0) else { throw .invalidPassword("the password contains a NUL byte") }
        // The standard library's own NFC (the normalisation String equality uses), so no
        // Foundation or ICU is loaded for it.
        var normalized = text._nfcCodeUnits
        text.withUTF8 { buffer in
            if let base = buffer.baseAddress { explicit_bzero(UnsafeMutableRawPointer(mutating: base), buffer.count) }
        }
        guard normalized.count <= Self.maximumBytes else {
            wipe(&normalized)
            throw .invalidPassword(
                "the password is longer than \(Self.maximumBytes) bytes of UTF-8, the limit of crypt(3)")
        }
        guard !normalized.isEmpty else { throw .invalidPassword("the password is empty") }
        bytes = normalized
    }

    public var description: String { "<password>" }

    /// The policy for a new password: at least 8 characters, not the username, not a common
    /// password.
    public func checkPolicy(username: String) throws(TwofaError) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.count >= Self.minimumCharacters else {
            throw .weakPassword("the password is too short: at least \(Self.minimumCharacters) characters")
        }
        let lowered = text.lowercased()
        guard lowered != username.lowercased() else {
            throw .weakPassword("the password must not be the username")
        }
        guard !CommonPasswords.contains(lowered) else {
            throw .weakPassword("the password is on the list of common passwords")
        }
    }
}

/// Usernames: 1 to 64 characters from `A-Z a-z 0-9 . _ @ + -`, starting with a letter or a
/// digit, case-insensitive (stored and printed in lower case).
public enum Username {
    public static func normalize(_ raw: String) throws(TwofaError) -> String {
        let bytes = Array(raw.utf8)
        guard !bytes.isEmpty else { throw .invalidUsername("invalid username: it is empty") }
        guard bytes.count <= 64 else { throw .invalidUsername("invalid username: longer than 64 characters") }
        for (index, byte) in bytes.enumerated() {
            let alphanumeric = (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            if index == 0 && !alphanumeric {
                throw .invalidUsername("invalid username: it must start with a letter or a digit")
            }
            guard alphanumeric || Array("._@+-".utf8).contains(byte) else {
                throw .invalidUsername("invalid username: only A-Z a-z 0-9 . _ @ + - are allowed")
            }
        }
        return String(decoding: bytes.map { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) ? $0 + 32 : $0 }, as: UTF8.self)
    }
}
