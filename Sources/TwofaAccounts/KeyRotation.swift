import Glibc
import TwofaDomain
import TwofaStorage

public struct RekeyResult: Sendable {
    public var rekeyed: Int
    public var oldKeyFile: String
}

public struct KeyCheck: Sendable {
    public var checked: Int
    /// Accounts whose secret the key file does not open (and `signing key KID` for keys).
    public var failed: [String]
}

/// Key rotation (Authelia's `storage encryption change-key` and `check`): every sealed value
/// re-encrypted under a new key in one transaction, the new key put in place only after the
/// commit, the old kept aside.
///
/// The steps, and what a `kill -9` between any two leaves:
/// 1. the new key written to KEYFILE.new (0600): the database and KEYFILE still agree;
/// 2. one write transaction re-encrypts every value: before its commit, nothing changed;
/// 3. the old key copied to KEYFILE.old (0600);
/// 4. KEYFILE.new renamed over KEYFILE (atomic).
/// After 2 and before 4, KEYFILE.new is the key: the next command that needs the key finds it,
/// sees that it (and not KEYFILE) opens the database, and finishes steps 3 and 4 (audited).
/// A stale KEYFILE.new (killed before the commit) is removed the same way. Rotations and
/// recoveries hold an exclusive lock on KEYFILE.lock, so two never interleave.
extension Accounts {
    public func rekey(newKeyFile: String?) throws(TwofaError) -> RekeyResult {
        guard let store = try store(create: false) else {
            throw .storage(path: environment.databaseForMessages, reason: "it does not exist")
        }
        let path = try environment.keyFilePath()
        let makeError = { (reason: String) in TwofaError.keyFile(path: path, reason: reason) }
        guard let lock = try KeyFileLock(path: path) else { throw makeError("cannot lock it") }
        defer { lock.release() }
        if SecureFiles.exists(path + ".new") { try finishInterruptedRekey(store: store, path: path, lock: false) }
        guard var oldBytes = try SecureFiles.read(path, maximumBytes: 4096, makeError), oldBytes.count == SecretBox.keyLength
        else { throw makeError("it is missing or not a \(SecretBox.keyLength)-byte key: nothing to rotate from") }
        defer { wipe(&oldBytes) }
        var newBytes: [UInt8]
        if let newKeyFile {
            let fileError = { (reason: String) in TwofaError.keyFile(path: newKeyFile, reason: reason) }
            guard let given = try SecureFiles.read(newKeyFile, maximumBytes: 4096, fileError) else {
                throw fileError("it does not exist")
            }
            guard given.count == SecretBox.keyLength else {
                throw fileError("it holds \(given.count) bytes, not a \(SecretBox.keyLength)-byte key")
            }
            newBytes = given
        } else {
            newBytes = try environment.random.bytes(SecretBox.keyLength)
        }
        defer { wipe(&newBytes) }
        guard newBytes != oldBytes else { throw .invalidOption("the new key is the key in use already") }
        let old = SecretBox(key: oldBytes, path: path)
        let new = SecretBox(key: newBytes, path: path + ".new")
        // 1.
        try SecureFiles.createExclusive(path + ".new", content: newBytes, makeError)
        // 2.
        let count: Int
        do {
            count = try store.writeTransaction { () throws(TwofaError) -> Int in
                let values = try store.sealedValues()
                for var value in values {
                    let context = Self.sealingContext(value.owner)
                    var plain = try old.open(value.sealed, user: context)
                    defer { wipe(&plain) }
                    value.sealed = try new.seal(plain, user: context)
                    try store.updateSealedValue(value)
                }
                try store.appendAudit(AuditEvent(
                    at: environment.clock.now(), event: .rekey, user: nil, ok: true,
                    detail: "\(values.count) secrets re-encrypted under a new key; the old key kept as \(path).old"))
                return values.count
            }
        } catch {
            unlink(path + ".new")
            throw error
        }
        // 3. and 4.
        try putNewKeyInPlace(path: path, oldBytes: oldBytes)
        loadedBox = nil
        loadedKeyFile = nil
        return RekeyResult(rekeyed: count, oldKeyFile: path + ".old")
    }

    /// Decrypts every sealed value with the key file; names each that does not open.
    public func checkKey() throws(TwofaError) -> KeyCheck {
        guard let store = try store(create: false, access: .read) else { return KeyCheck(checked: 0, failed: []) }
        let path = try environment.keyFilePath()
        let values = try store.sealedValues()
        guard !values.isEmpty else { return KeyCheck(checked: 0, failed: []) }
        guard let box = try secretBoxIfPresent(store: store, path: path) else {
            throw .keyFile(path: path, reason: "it is missing, and the database holds encrypted secrets")
        }
        var failed: [String] = []
        for value in values {
            do {
                var plain = try box.open(value.sealed, user: Self.sealingContext(value.owner))
                wipe(&plain)
            } catch {
                switch value.owner {
                case .user(_, let name): failed.append(name)
                case .signingKey(let kid): failed.append("signing key \(kid)")
                }
            }
        }
        return KeyCheck(checked: values.count, failed: failed)
    }

    private func secretBoxIfPresent(store: any AccountStore, path: String) throws(TwofaError) -> SecretBox? {
        if SecureFiles.exists(path + ".new") { try finishInterruptedRekey(store: store, path: path) }
        return try SecretBox.loadExisting(path: path)
    }

    static func sealingContext(_ owner: SealedValue.Owner) -> String {
        switch owner {
        case .user(_, let name): name
        case .signingKey(let kid): signingKeyContext(kid)
        }
    }

    /// KEYFILE.new was left by a rekey that was killed: if it is the key that opens every
    /// sealed value, the rekey committed, and it is put in place; if KEYFILE opens every one,
    /// the rekey never committed, and KEYFILE.new goes. Anything else (a mix) changes nothing
    /// and is exit 74. `lock: false` when the caller holds the lock already; `waiting: false`
    /// skips the recovery while another process holds it (a rotation is running: it finishes
    /// its own), so a command inside a write transaction never waits on a rotation that waits
    /// for that transaction.
    func finishInterruptedRekey(store: any AccountStore, path: String, lock: Bool = true, waiting: Bool = true)
        throws(TwofaError)
    {
        var held: KeyFileLock?
        if lock {
            guard let taken = try KeyFileLock(path: path, waiting: waiting) else { return }
            held = taken
        }
        defer { held?.release() }
        guard SecureFiles.exists(path + ".new") else { return }
        let makeError = { (reason: String) in TwofaError.keyFile(path: path + ".new", reason: reason) }
        let values = try store.sealedValues()
        guard !values.isEmpty else {
            unlink(path + ".new")
            return
        }
        func opensEvery(_ box: SecretBox) -> Bool {
            values.allSatisfy { value in
                guard var plain = try? box.open(value.sealed, user: Self.sealingContext(value.owner)) else { return false }
                wipe(&plain)
                return true
            }
        }
        if let current = try SecretBox.loadExisting(path: path), opensEvery(current) {
            unlink(path + ".new")
            return
        }
        guard var newBytes = try SecureFiles.read(path + ".new", maximumBytes: 4096, makeError),
            newBytes.count == SecretBox.keyLength
        else { throw makeError("a rekey was interrupted, and this file is not a key: restore the key file from your backup") }
        defer { wipe(&newBytes) }
        guard opensEvery(SecretBox(key: newBytes, path: path + ".new")) else {
            throw makeError("a rekey was interrupted, and neither this file nor \(path) opens every secret: keep both, and run 'twofa check-key --key-file' with each")
        }
        var oldBytes = try SecureFiles.read(path, maximumBytes: 4096) { TwofaError.keyFile(path: path, reason: $0) } ?? []
        defer { wipe(&oldBytes) }
        try putNewKeyInPlace(path: path, oldBytes: oldBytes)
        environment.notice("finished a key rotation that was interrupted: \(path) is the new key; the old one is \(path).old")
        try audit(store, .rekey, nil, ok: true, detail: "an interrupted rekey finished: \(path).new put in place")
    }

    /// Steps 3 and 4: the old key aside as KEYFILE.old, KEYFILE.new renamed over KEYFILE.
    private func putNewKeyInPlace(path: String, oldBytes: [UInt8]) throws(TwofaError) {
        if oldBytes.count == SecretBox.keyLength { try SecureFiles.writePrivate(path + ".old", content: oldBytes) }
        guard rename(path + ".new", path) == 0 else {
            throw .keyFile(path: path, reason: "cannot put the new key in place (\(SecureFiles.describe(errno))); it is \(path).new")
        }
    }
}

/// flock(2) on KEYFILE.lock, held for a rotation or a recovery.
struct KeyFileLock {
    private let descriptor: Int32

    /// The lock, waited for; nil without `waiting` when another process holds it.
    init?(path: String, waiting: Bool = true) throws(TwofaError) {
        let lockPath = path + ".lock"
        try SecureFiles.checkFolder(of: lockPath) { TwofaError.keyFile(path: lockPath, reason: $0) }
        descriptor = open(lockPath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw .keyFile(path: lockPath, reason: "cannot open it (\(SecureFiles.describe(errno)))")
        }
        while flock(descriptor, LOCK_EX | (waiting ? 0 : LOCK_NB)) != 0 {
            if errno == EWOULDBLOCK {
                close(descriptor)
                return nil
            }
            guard errno == EINTR else {
                close(descriptor)
                throw .keyFile(path: lockPath, reason: "cannot lock it (\(SecureFiles.describe(errno)))")
            }
        }
    }

    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
