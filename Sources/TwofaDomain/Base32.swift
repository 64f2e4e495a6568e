/// RFC 4648 base32, as authenticator secrets use it.
///
/// Decoding forgives what real secrets contain: lower case, spaces, dashes between groups and
/// missing or present `=` padding. Anything else (another character, an impossible length) is
/// refused, so a typo never silently becomes a different secret.
public enum Base32 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    /// Upper case, no padding (the form otpauth URIs and JSON output use).
    public static func encode(_ bytes: [UInt8]) -> String {
        String(decoding: encode(bytes, alphabet: alphabet), as: UTF8.self)
    }

    /// Five bits a character, most significant first, in any 32-letter alphabet.
    static func encode(_ bytes: [UInt8], alphabet: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(alphabet[Int((buffer >> UInt32(bits)) & 31)])
            }
        }
        if bits > 0 {
            out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)])
        }
        return out
    }

    /// The secret in groups of four for a person to type.
    public static func grouped(_ encoded: String, separator: Character = " ") -> String {
        var out = ""
        for (index, character) in encoded.enumerated() {
            if index > 0 && index % 4 == 0 { out.append(separator) }
            out.append(character)
        }
        return out
    }

    public static func decode(_ text: String) throws(TwofaError) -> [UInt8] {
        var values = [UInt8]()
        values.reserveCapacity(text.utf8.count)
        var sawPadding = false
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "-"):
                continue
            case UInt8(ascii: "="):
                sawPadding = true
                continue
            default:
                break
            }
            if sawPadding { throw .invalidSecret("invalid base32 secret: characters after '=' padding") }
            let value: UInt8
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = byte - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = byte - UInt8(ascii: "a")
            case UInt8(ascii: "2")...UInt8(ascii: "7"): value = byte - UInt8(ascii: "2") + 26
            default:
                throw .invalidSecret("invalid base32 secret: only A-Z and 2-7 are allowed (spaces and padding are ignored)")
            }
            values.append(value)
        }
        // 8 characters make 5 bytes; a final group of 1, 3 or 6 characters cannot end on a byte.
        switch values.count % 8 {
        case 1, 3, 6: throw .invalidSecret("invalid base32 secret: its length does not fit whole bytes")
        default: break
        }
        var out = [UInt8]()
        out.reserveCapacity(values.count * 5 / 8)
        var buffer: UInt32 = 0
        var bits = 0
        for value in values {
            buffer = (buffer << 5) | UInt32(value)
            bits += 5
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        if out.isEmpty { throw .invalidSecret("the secret is empty") }
        return out
    }
}

/// Hex (RFC 4648 base16), as `oathtool` takes secrets: either case, spaces ignored.
public enum Base16 {
    public static func decode(_ text: String) throws(TwofaError) -> [UInt8] {
        let compact = String(text.filter { $0 != " " })
        guard !compact.isEmpty, let bytes = unhex(compact) else {
            throw .invalidSecret("the secret is not hex: an even number of digits 0-9, a-f")
        }
        return bytes
    }
}
