import CCrypt

import Glibc

/// crypt(3) through libxcrypt's reentrant calls: new hashes are yescrypt (`$y$`), and any hash
/// libxcrypt knows (`$y$`, `$gy$`, `$7$`, `$2b$`, `$6$`, `$5$`, `$1$`, …) verifies, so hashes
/// from other systems import as they are.
public struct PasswordHasher: Sendable {
    /// The prefix of new hashes; `cost` 0 is libxcrypt's default for it.
    public let prefix: String
    public let cost: UInt

    public static let `default` = PasswordHasher(prefix: "$y$", cost: 0)

    public init(prefix: String, cost: UInt) {
        self.prefix = prefix
        self.cost = cost
    }

    /// A fresh setting (prefix, cost and salt) from `random`.
    public func makeSetting(random: some RandomSource) throws(TwofaError) -> String {
        let salt = try random.bytes(32)
        return try Self.gensalt(prefix: prefix, cost: cost, randomBytes: salt)
    }

    public func hash(_ password: Password, random: some RandomSource) throws(TwofaError) -> String {
        let setting = try makeSetting(random: random)
        guard let hash = Self.crypt(password.bytes, setting: setting) else {
            throw .internalError("crypt(3) refused its own setting \(prefix)")
        }
        return hash
    }

    /// True when `password` matches `storedHash`; false for a wrong password or a hash libxcrypt
    /// cannot read. The comparison is constant-time.
    public static func verify(_ password: Password, against storedHash: String) -> Bool {
        guard let computed = crypt(password.bytes, setting: storedHash) else { return false }
        return constantTimeEquals(Array(computed.utf8), Array(storedHash.utf8))
    }

    /// What checking a password cost: whether it matched, and the settings crypt(3) ran with.
    public struct Verdict: Sendable {
        public var matched: Bool
        public var settingsHashed: [String]
    }

    /// Checks `password` against `storedHash`, and when it is wrong and `storedHash` is not at
    /// `hasher`'s scheme and cost (an imported `$2b$05$` or `$1$` hash), also spends one hash
    /// at that scheme and cost: a wrong password then costs at least what an unknown user's
    /// does (a dummy hash at the default), so the time does not tell the two apart.
    public static func verifyCostingDefault(_ password: Password, against storedHash: String, hasher: PasswordHasher)
        -> Verdict
    {
        let matched = verify(password, against: storedHash)
        var verdict = Verdict(matched: matched, settingsHashed: [storedHash])
        let dummy = hasher.dummySetting()
        if !matched && !storedHash.hasPrefix(costPrefix(of: dummy)) {
            _ = verify(password, against: dummy)
            verdict.settingsHashed.append(dummy)
        }
        return verdict
    }

    /// A setting's scheme and cost, without the salt: `$y$j9T$`, `$2b$12$`, `$6$rounds=5000$`.
    static func costPrefix(of setting: String) -> String {
        var dollars = 0
        var end = setting.startIndex
        for index in setting.indices where setting[index] == "$" {
            dollars += 1
            end = setting.index(after: index)
            if dollars == 3 { break }
        }
        return dollars == 3 ? String(setting[..<end]) : setting
    }

    /// Whether `storedHash` should be replaced by one of this hasher's at the next login.
    public func needsRehash(_ storedHash: String) -> Bool {
        !storedHash.hasPrefix(prefix)
    }

    /// The hash's scheme by its prefix, for people: yescrypt, bcrypt, sha512crypt, …
    public static func scheme(of hash: String) -> String {
        let schemes: [(String, String)] = [
            ("$y$", "yescrypt"), ("$gy$", "gost-yescrypt"), ("$7$", "scrypt"), ("$2", "bcrypt"),
            ("$6$", "sha512crypt"), ("$5$", "sha256crypt"), ("$sha1$", "sha1crypt"), ("$md5", "sunmd5"),
            ("$1$", "md5crypt"), ("$3$", "nthash"), ("_", "bsdicrypt"),
        ]
        return schemes.first { hash.hasPrefix($0.0) }?.1 ?? (hash.utf8.count == 13 ? "descrypt" : "unknown")
    }

    /// Whether `storedHash` is a whole hash that libxcrypt can verify, judged without hashing
    /// (import checks thousands a second): libxcrypt's `crypt_checksalt` accepts its setting,
    /// and a hash part follows it. A bare word such as "garbage", which libxcrypt would read as
    /// a DES salt, or a setting with no hash, is refused: no password could ever match it.
    public static func isSupported(_ storedHash: String) -> Bool {
        let status = CryptLibrary.loadOrExit().crypt_checksalt(storedHash)
        guard status == CRYPT_SALT_OK || status == CRYPT_SALT_METHOD_LEGACY else { return false }
        let bytes = Array(storedHash.utf8)
        let hashAlphabet: (UInt8) -> Bool = { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "/")
        }
        switch bytes.first {
        case UInt8(ascii: "$"):
            // $id$[params$]salt$hash: the hash is what follows the last '$'.
            guard let last = bytes.lastIndex(of: UInt8(ascii: "$")), last > 0 else { return false }
            let hash = bytes[(last + 1)...]
            if storedHash.hasPrefix("$2") {  // bcrypt: $2b$NN$ then 53 characters of salt and hash
                return hash.count == 53 && hash.allSatisfy(hashAlphabet)
            }
            return hash.count >= 16 && hash.allSatisfy(hashAlphabet)
        case UInt8(ascii: "_"):  // BSDi extended DES
            return bytes.count == 20 && bytes.dropFirst().allSatisfy(hashAlphabet)
        default:  // traditional DES
            return bytes.count == 13 && bytes.allSatisfy(hashAlphabet)
        }
    }

    /// A setting fixed at this hasher's cost, for unknown users: hashing against it costs what a
    /// real verification does, so a failed login takes as long whether or not the user exists.
    public func dummySetting() -> String {
        let salt = [UInt8](repeating: 0x5a, count: 32)
        return (try? Self.gensalt(prefix: prefix, cost: cost, randomBytes: salt)) ?? "$y$j9T$WlpaWlpaWlpaWlpaWlpaWl$"
    }

    static func gensalt(prefix: String, cost: UInt, randomBytes: [UInt8]) throws(TwofaError) -> String {
        let libcrypt = try CryptLibrary.load()
        var output = [CChar](repeating: 0, count: Int(CRYPT_GENSALT_OUTPUT_SIZE))
        let made = randomBytes.withUnsafeBufferPointer { random in
            random.withMemoryRebound(to: CChar.self) { random in
                libcrypt.crypt_gensalt_rn(prefix, cost, random.baseAddress, Int32(random.count), &output, Int32(output.count))
            }
        }
        guard made != nil else {
            throw .internalError("libxcrypt cannot make a setting for \(prefix) (errno \(errno))")
        }
        return String(decoding: output.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// crypt_rn with a heap-allocated crypt_data (32 KiB), wiped afterwards. Nil when libxcrypt
    /// does not accept the setting (it answers with a hash starting with `*`).
    static func crypt(_ phrase: [UInt8], setting: String) -> String? {
        let libcrypt = CryptLibrary.loadOrExit()
        let data = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        let size = MemoryLayout<crypt_data>.size
        memset(data, 0, size)
        defer {
            explicit_bzero(data, size)
            data.deallocate()
        }
        var phrase = phrase + [0]
        defer { wipe(&phrase) }
        let result = phrase.withUnsafeBufferPointer { phrasePointer in
            phrasePointer.withMemoryRebound(to: CChar.self) { phrasePointer in
                libcrypt.crypt_rn(phrasePointer.baseAddress, setting, data, Int32(size))
            }
        }
        guard let result, result.pointee != CChar(UInt8(ascii: "*")) else { return nil }
        return String(cString: result)
    }
}
