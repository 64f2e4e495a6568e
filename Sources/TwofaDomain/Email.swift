import Crypto

/// An address codes are sent to: `local@domain` in plain ASCII, at most 254 bytes. Only the
/// characters RFC 5322 allows unquoted (its `dot-atom`) are taken, so no address can carry a
/// line break, a second header or a second recipient into the message (`To:` is the only
/// header it is written into, and `sendmail -t` reads its recipients from the headers).
public struct EmailAddress: Equatable, Sendable {
    public let text: String

    public init(_ raw: String) throws(TwofaError) {
        let bytes = Array(raw.utf8)
        let invalid = TwofaError.invalidOption(
            "the email address must be local@domain in ASCII letters, digits and .!#$%&'*+/=?^_`{|}~- (at most 254 bytes)")
        guard (3...254).contains(bytes.count), let at = bytes.lastIndex(of: UInt8(ascii: "@")) else { throw invalid }
        let local = bytes[..<at]
        let domain = bytes[(at + 1)...]
        let atext = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-".utf8)
        let dot = UInt8(ascii: ".")
        func dotAtom(_ part: ArraySlice<UInt8>, allowed: Set<UInt8>) -> Bool {
            guard !part.isEmpty, part.first != dot, part.last != dot else { return false }
            var previous: UInt8 = 0
            for byte in part {
                guard allowed.contains(byte) || byte == dot, !(byte == dot && previous == dot) else { return false }
                previous = byte
            }
            return true
        }
        let hostCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-".utf8)
        let hyphen = UInt8(ascii: "-")
        let labels = domain.split(separator: dot, omittingEmptySubsequences: false)
        guard local.count <= 64, dotAtom(local, allowed: atext), dotAtom(domain, allowed: hostCharacters),
            labels.allSatisfy({ $0.count <= 63 && $0.first != hyphen && $0.last != hyphen })
        else { throw invalid }
        text = String(decoding: bytes, as: UTF8.self)
    }

    /// What messages and answers show of it: `a***@example.com` (the first character of the
    /// local part, and the domain).
    public var masked: String {
        guard let at = text.lastIndex(of: "@"), let first = text.first else { return "***" }
        return String(first) + "***" + text[at...]
    }
}

/// Codes sent by email: 6 digits, each valid for `lifetime` seconds and once, only the newest
/// one sent, at most one sent every `resendInterval` seconds.
public enum EmailCodes {
    public static let digits = 6
    public static let lifetime: Int64 = 600
    public static let resendInterval: Int64 = 30

    /// A uniform 6-digit code from the CSPRNG (4 random bytes, those above the last whole
    /// multiple of 10^6 drawn again).
    public static func generate(random: some RandomSource) throws(TwofaError) -> String {
        while true {
            var bytes = try random.bytes(4)
            defer { wipe(&bytes) }
            let value = bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            guard value < 4_294_000_000 else { continue }
            let digits = String(value % 1_000_000)
            return String(repeating: "0", count: Self.digits - digits.count) + digits
        }
    }

    /// What is stored of a code: HMAC-SHA256 under a key derived (HKDF) from the user's
    /// device secret (sealed with the key file), over the code and when it was sent. A plain
    /// hash of 6 digits would be undone by trying all 10^6; without the key file this cannot be.
    public static func digest(_ code: String, secret: [UInt8], user: String, sentAt: Int64) -> [UInt8] {
        let key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: secret), info: Array("twofa email code v1\u{0}\(user)".utf8),
            outputByteCount: 32)
        return Array(HMAC<SHA256>.authenticationCode(for: Array("\(code)\u{0}\(sentAt)".utf8), using: key))
    }
}

/// The message a code goes out in: RFC 5322 headers and a plain-text body, LF line ends (what
/// `sendmail -t -i` reads on its standard input).
public struct EmailCodeMessage: Sendable {
    public var from: String
    public var to: EmailAddress
    public var user: String
    public var issuer: String?
    public var code: String
    public var sentAt: Int64
    /// Random, for the Message-ID.
    public var messageID: String
    public var host: String

    public init(
        from: String, to: EmailAddress, user: String, issuer: String?, code: String, sentAt: Int64, messageID: String,
        host: String
    ) {
        self.from = from
        self.to = to
        self.user = user
        self.issuer = issuer
        self.code = code
        self.sentAt = sentAt
        self.messageID = messageID
        self.host = host
    }

    /// The code is in the body only: a subject shows on lock screens and in mail lists.
    public var bytes: [UInt8] {
        let service = issuer.map { terminalSafe($0) } ?? host
        let text = """
            From: \(String(decoding: from.utf8.filter { (0x20...0x7e).contains($0) }, as: UTF8.self))
            To: \(to.text)
            Subject: Your \(headerSafe(service)) sign-in code
            Date: \(Self.date(sentAt))
            Message-ID: <\(messageID)@\(headerSafe(host))>
            MIME-Version: 1.0
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: 8bit
            Auto-Submitted: auto-generated

            Your sign-in code for \(service) (user \(user)) is:

                \(code)

            It works once, for \(EmailCodes.lifetime / 60) minutes; only the newest code sent works.
            If you did not try to sign in, someone knows your password: change it.

            """
        return Array(text.utf8)
    }

    /// Printable ASCII only in a header (a host or issuer name never breaks one).
    private func headerSafe(_ text: String) -> String {
        String(decoding: text.utf8.filter { (0x20...0x7e).contains($0) }.prefix(64), as: UTF8.self)
    }

    /// RFC 5322 §3.3: `Mon, 30 Nov 2026 15:40:00 +0000`.
    public static func date(_ seconds: Int64) -> String {
        let iso = Array(Timestamp.format(seconds).utf8)  // 2026-11-30T15:40:00Z
        guard iso.count == 20 else { return Timestamp.format(seconds) }
        func part(_ range: Range<Int>) -> String { String(decoding: iso[range], as: UTF8.self) }
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][Int(((days % 7) + 7) % 7)]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let month = months[max(0, min(11, (Int(part(5..<7)) ?? 1) - 1))]
        let day = Int(part(8..<10)) ?? 1
        return "\(weekday), \(day) \(month) \(part(0..<4)) \(part(11..<19)) +0000"
    }
}
