import Crypto
import TwofaDomain
import TwofaStorage

/// The key that encrypts TOTP secrets at rest (AES-256-GCM), kept in its own file: 32 random
/// bytes, mode 0600, made on first use. Read only by a command that seals or opens a secret.
struct SecretBox {
    static let keyLength = 32
    private let key: SymmetricKey
    let path: String

    init(key: [UInt8], path: String) {
        self.key = SymmetricKey(data: key)
        self.path = path
    }

    /// Loads the key file, or makes it when it is missing and `store` holds no sealed secret
    /// (a missing key with sealed secrets is refused: making a new one would orphan them).
    static func load(path: String, creatingFor store: (any AccountStore)?, random: any RandomSource)
        throws(TwofaError) -> SecretBox
    {
        let makeError = { (reason: String) in TwofaError.keyFile(path: path, reason: reason) }
        if let box = try loadExisting(path: path) { return box }
        guard let store, try !store.hasSealedSecrets() else {
            throw makeError(
                "it is missing, and the database holds encrypted secrets: restore the key file from your backup (TWOFA_KEY_FILE names another place)")
        }
        var bytes = try random.bytes(keyLength)
        defer { wipe(&bytes) }
        do { try SecureFiles.createExclusive(path, content: bytes, makeError) } catch {
            // Another process made it first: use theirs.
            guard var theirs = try SecureFiles.read(path, maximumBytes: 4096, makeError), theirs.count == keyLength
            else { throw error }
            defer { wipe(&theirs) }
            return SecretBox(key: theirs, path: path)
        }
        return SecretBox(key: bytes, path: path)
    }

    /// The key file if it exists (nil if not), checked as `load` checks it: its folder no other
    /// user can write, the file this user's own, 0600, no symlink.
    static func loadExisting(path: String) throws(TwofaError) -> SecretBox? {
        let makeError = { (reason: String) in TwofaError.keyFile(path: path, reason: reason) }
        try SecureFiles.checkFolder(of: path, makeError)
        guard var bytes = try SecureFiles.read(path, maximumBytes: 4096, makeError) else { return nil }
        defer { wipe(&bytes) }
        guard bytes.count == keyLength else {
            throw makeError("it holds \(bytes.count) bytes, not a \(keyLength)-byte key")
        }
        return SecretBox(key: bytes, path: path)
    }

    /// Nonce ‖ ciphertext ‖ tag, bound to the user it belongs to (a sealed secret copied to
    /// another user's row does not open).
    func seal(_ secret: [UInt8], user: String) throws(TwofaError) -> [UInt8] {
        do {
            let box = try AES.GCM.seal(secret, using: key, authenticating: Self.context(user))
            guard let combined = box.combined else { throw TwofaError.internalError("AES-GCM gave no combined form") }
            return Array(combined)
        } catch {
            throw .internalError("cannot encrypt the secret")
        }
    }

    func open(_ sealed: [UInt8], user: String) throws(TwofaError) -> [UInt8] {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return Array(try AES.GCM.open(box, using: key, authenticating: Self.context(user)))
        } catch {
            // A wrong key and a tampered row look alike to AES-GCM.
            throw .keyFile(
                path: path, reason: "it does not decrypt the secret of '\(user)' (another database's key file, or a damaged row)")
        }
    }

    private static func context(_ user: String) -> [UInt8] {
        Array("twofa totp secret v1\u{0}\(user)".utf8)
    }
}
