import TwofaDomain
import TwofaStorage

/// The use cases: register, log in, enrol in TOTP, verify, disable, draw the enrolment again,
/// and the current code. The command line calls this API; a server can call the same.
///
/// Each call opens what it needs and no more: `code --secret-stdin` touches no file, a read
/// never creates the database, and the key file is read only where a secret is sealed or opened.
public final class Accounts {
    public let environment: AccountsEnvironment
    var openedStore: (any AccountStore)?

    public init(environment: AccountsEnvironment) {
        self.environment = environment
    }

    /// For tests and other stores: use `store` instead of opening the SQLite file.
    public init(environment: AccountsEnvironment, store: any AccountStore) {
        self.environment = environment
        self.openedStore = store
    }

    private var now: Int64 { environment.clock.now() }

    // MARK: - Opening

    /// The store, creating the database when `create` is set; nil when it does not exist.
    func store(create: Bool) throws(TwofaError) -> (any AccountStore)? {
        if let openedStore { return openedStore }
        let store = try SQLiteAccountStore.open(path: environment.databasePath, create: create)
        openedStore = store
        return store
    }

    /// The named user for an administrative command: exit 4 when there is none.
    func existingUser(_ name: String) throws(TwofaError) -> (any AccountStore, UserRecord) {
        guard let store = try store(create: false), let user = try store.user(named: name) else {
            throw .userNotFound(user: name)
        }
        return (store, user)
    }

    var loadedBox: SecretBox?

    /// The key file, read (or made) once per Accounts.
    func secretBox(for store: (any AccountStore)?) throws(TwofaError) -> SecretBox {
        if let loadedBox { return loadedBox }
        let box = try SecretBox.load(path: environment.keyFilePath, creatingFor: store, random: environment.random)
        loadedBox = box
        return box
    }

    // MARK: - Register

    public struct Registration: Sendable {
        public var user: String
        public var enrolment: Enrolment?
    }

    /// Creates `name` with `password`; with `enrolment`, goes on as `enableTwoFactor` does, in
    /// the same transaction.
    public func register(name rawName: String, password: Password, enrolment request: EnrolmentRequest?)
        throws(TwofaError) -> Registration
    {
        let name = try Username.normalize(rawName)
        try request?.validate()
        try password.checkPolicy(username: name)
        if let existing = try store(create: false), try existing.user(named: name) != nil {
            throw .userExists(user: name)
        }
        let hash = try environment.hasher.hash(password, random: environment.random)
        guard let store = try store(create: true) else { throw .internalError("the database was not created") }
        var enrolment: Enrolment?
        var sealed: [UInt8]?
        if let request {
            let box = try secretBox(for: store)
            let made = try newEnrolment(user: name, request: request)
            sealed = try box.seal(made.secret, user: name)
            enrolment = made
        }
        let time = now
        try store.writeTransaction { () throws(TwofaError) in
            let id = try store.insertUser(name: name, passwordHash: hash, createdAt: time)
            try store.appendAudit(AuditEvent(at: time, event: "register", user: name, ok: true))
            if let enrolment, let sealed {
                try store.setTOTP(userID: id, record(for: enrolment, sealed: sealed, at: time))
                try store.appendAudit(AuditEvent(
                    at: time, event: "enrol", user: name, ok: true, detail: describe(enrolment.parameters)))
            }
        }
        return Registration(user: name, enrolment: enrolment)
    }

    // MARK: - Login

    /// Checks the password and, if 2FA is on, a code. An unknown user costs a password hash
    /// as a known one does and fails the same way.
    public func login(name rawName: String, credentials: Credentials) throws(TwofaError) -> LoginResult {
        let name = try Username.normalize(rawName)
        let store = try store(create: false)
        let found = try store?.user(named: name)
        // A locked account is refused before the password is even asked for.
        if let found { try checkNotLocked(found) }
        var password = try credentials.password()
        guard let store, let user = found else {
            // The same work as for a known user: a hash at the default cost, and (where there
            // is a database) an audit write.
            _ = PasswordHasher.verify(password, against: environment.hasher.dummySetting())
            if let store = openedStore {
                try audit(store, "login", name, ok: false, detail: "unknown user")
            }
            throw .authenticationFailed
        }
        guard PasswordHasher.verify(password, against: user.passwordHash) else {
            try recordFailure(user, store: store, event: "login", detail: "wrong password")
            throw .authenticationFailed
        }
        var secondFactor: SecondFactor?
        if let totp = user.totp, totp.status == .on {
            guard let given = try credentials.code() else {
                try audit(store, "login", user.name, ok: false, detail: "second factor required")
                throw .secondFactorRequired(user: user.name)
            }
            let code = try OTPCode.parse(given)
            secondFactor = try acceptSecondFactor(code, user: user, totp: totp, store: store, event: "login") { _ in }
        } else {
            let time = now
            try store.writeTransaction { () throws(TwofaError) in
                try store.recordLogin(userID: user.id, at: time)
                try store.appendAudit(AuditEvent(at: time, event: "login", user: user.name, ok: true))
            }
        }
        try rehashIfNeeded(&password, user: user, store: store)
        return LoginResult(user: user.name, secondFactor: secondFactor)
    }

    /// A hash in another format (imported from another system) becomes one of ours once the
    /// password is known to be right.
    private func rehashIfNeeded(_ password: inout Password, user: UserRecord, store: any AccountStore)
        throws(TwofaError)
    {
        guard environment.hasher.needsRehash(user.passwordHash) else { return }
        let hash = try environment.hasher.hash(password, random: environment.random)
        try store.writeTransaction { () throws(TwofaError) in
            try store.updatePasswordHash(userID: user.id, hash: hash)
            try store.appendAudit(AuditEvent(at: now, event: "rehash", user: user.name, ok: true))
        }
    }

    // MARK: - Enrolment

    /// Password first; then a new secret, pending until a code confirms it. A pending
    /// enrolment is replaced (the person may have lost the first QR code); 2FA already on is a
    /// conflict.
    public func enableTwoFactor(name rawName: String, request: EnrolmentRequest, credentials: Credentials)
        throws(TwofaError) -> Enrolment
    {
        let name = try Username.normalize(rawName)
        try request.validate()
        let (store, user) = try existingUser(name)
        if user.twoFactor == .on {
            throw .wrongState(user: name, reason: "two-factor authentication is on already; disable it first")
        }
        try checkNotLocked(user)
        try checkPassword(credentials, user: user, store: store, event: "enrol")
        let box = try secretBox(for: store)
        let enrolment = try newEnrolment(user: name, request: request)
        let sealed = try box.seal(enrolment.secret, user: name)
        let time = now
        try store.writeTransaction { () throws(TwofaError) in
            guard let current = try store.user(named: name), current.twoFactor != .on else {
                throw .wrongState(user: name, reason: "two-factor authentication is on already; disable it first")
            }
            try store.setTOTP(userID: current.id, record(for: enrolment, sealed: sealed, at: time))
            try store.setFailures(userID: current.id, count: 0, lockedUntil: nil)
            try store.appendAudit(AuditEvent(
                at: time, event: "enrol", user: name, ok: true, detail: describe(enrolment.parameters)))
        }
        return enrolment
    }

    /// The enrolment to draw again: a pending one freely, an active one only after the
    /// password and a current code (which is then used up).
    public func enrolment(name rawName: String, credentials: Credentials) throws(TwofaError) -> Enrolment {
        let name = try Username.normalize(rawName)
        let (store, user) = try existingUser(name)
        guard let totp = user.totp else {
            throw .wrongState(user: name, reason: "two-factor authentication is off; run 'twofa enable-2fa \(name)'")
        }
        if totp.status == .on {
            try checkNotLocked(user)
            try checkPassword(credentials, user: user, store: store, event: "qr")
            guard let given = try credentials.code() else { throw .secondFactorRequired(user: name) }
            _ = try acceptSecondFactor(try OTPCode.parse(given), user: user, totp: totp, store: store, event: "qr") { _ in }
        }
        let secret = try secretBox(for: store).open(totp.sealedSecret, user: name)
        return Enrolment(user: name, status: totp.status, secret: secret, issuer: totp.issuer, parameters: totp.parameters)
    }

    // MARK: - Verify

    /// Checks a code. A right code for a pending enrolment turns 2FA on and makes the backup
    /// codes, returned this once.
    public func verify(name rawName: String, code given: String) throws(TwofaError) -> VerifyResult {
        let code = try OTPCode.parse(given)
        let name = try Username.normalize(rawName)
        guard let store = try store(create: false), let user = try store.user(named: name) else {
            throw .authenticationFailed
        }
        try checkNotLocked(user)
        guard let totp = user.totp else {
            // Same answer as a wrong code: verify reveals nothing about 2FA being off.
            try recordFailure(user, store: store, event: "verify", detail: "two-factor authentication is off")
            throw .authenticationFailed
        }
        let activating = totp.status == .pending
        var backupCodes: [String]?
        if activating {
            // Only the authenticator's code confirms an enrolment.
            guard case .digits = code else {
                try recordFailure(user, store: store, event: "activate", detail: "not a TOTP code")
                throw .authenticationFailed
            }
            backupCodes = try BackupCodes.generate(random: environment.random)
        }
        _ = try acceptSecondFactor(code, user: user, totp: totp, store: store, event: activating ? "activate" : "verify") {
            (secret) throws(TwofaError) in
            if let backupCodes {
                try store.setTOTPStatus(userID: user.id, .on)
                try store.replaceBackupCodes(userID: user.id, digests: digests(backupCodes, secret: secret, user: name))
            }
        }
        return VerifyResult(user: name, activated: activating, backupCodes: backupCodes)
    }

    // MARK: - Disable

    /// Password and a code turn 2FA off and erase the secret; a pending enrolment needs only
    /// the password.
    public func disableTwoFactor(name rawName: String, credentials: Credentials) throws(TwofaError) {
        let name = try Username.normalize(rawName)
        let (store, user) = try existingUser(name)
        guard let totp = user.totp else {
            throw .wrongState(user: name, reason: "two-factor authentication is off already")
        }
        try checkNotLocked(user)
        try checkPassword(credentials, user: user, store: store, event: "disable")
        if totp.status == .on {
            guard let given = try credentials.code() else { throw .secondFactorRequired(user: name) }
            _ = try acceptSecondFactor(try OTPCode.parse(given), user: user, totp: totp, store: store, event: "disable") {
                _ throws(TwofaError) in
                try store.setTOTP(userID: user.id, nil)
                try store.replaceBackupCodes(userID: user.id, digests: [])
            }
        } else {
            try store.writeTransaction { () throws(TwofaError) in
                try store.setTOTP(userID: user.id, nil)
                try store.setFailures(userID: user.id, count: 0, lockedUntil: nil)
                try store.appendAudit(AuditEvent(at: now, event: "disable", user: name, ok: true, detail: "pending enrolment cancelled"))
            }
        }
    }

    /// The operator's override for a lost device: no password or code; audited.
    public func forceDisableTwoFactor(name rawName: String) throws(TwofaError) {
        let name = try Username.normalize(rawName)
        let (store, user) = try existingUser(name)
        guard user.totp != nil else {
            throw .wrongState(user: name, reason: "two-factor authentication is off already")
        }
        try store.writeTransaction { () throws(TwofaError) in
            try store.setTOTP(userID: user.id, nil)
            try store.replaceBackupCodes(userID: user.id, digests: [])
            try store.appendAudit(AuditEvent(at: now, event: "disable", user: name, ok: true, detail: "forced by the operator"))
        }
    }

    // MARK: - Backup codes, lockout, audit

    /// Password and a current code make a new set of backup codes; the old set stops working.
    public func regenerateBackupCodes(name rawName: String, credentials: Credentials) throws(TwofaError) -> [String] {
        let name = try Username.normalize(rawName)
        let (store, user) = try existingUser(name)
        guard let totp = user.totp, totp.status == .on else {
            throw .wrongState(user: name, reason: "two-factor authentication is not on, so there are no backup codes")
        }
        try checkNotLocked(user)
        try checkPassword(credentials, user: user, store: store, event: "backup_codes")
        guard let given = try credentials.code() else { throw .secondFactorRequired(user: name) }
        let code = try OTPCode.parse(given)
        let codes = try BackupCodes.generate(random: environment.random)
        _ = try acceptSecondFactor(code, user: user, totp: totp, store: store, event: "backup_codes") {
            (secret) throws(TwofaError) in
            try store.replaceBackupCodes(userID: user.id, digests: digests(codes, secret: secret, user: name))
        }
        return codes
    }

    /// Clears the failure count and any lockout.
    public func unlock(name rawName: String) throws(TwofaError) {
        let name = try Username.normalize(rawName)
        let (store, user) = try existingUser(name)
        try store.writeTransaction { () throws(TwofaError) in
            try store.setFailures(userID: user.id, count: 0, lockedUntil: nil)
            try store.appendAudit(AuditEvent(
                at: now, event: "unlock", user: name, ok: true,
                detail: "cleared \(user.failedAttempts) failures"))
        }
    }

    /// The audit log, oldest first; a missing database has an empty one.
    public func auditEvents(user rawUser: String?, since: Int64?, limit: Int?) throws(TwofaError) -> [AuditEvent] {
        let user = try rawUser.map { (name: String) throws(TwofaError) in try Username.normalize(name) }
        if let limit, limit < 0 { throw .invalidOption("--limit must be 0 or more") }
        guard let store = try store(create: false) else { return [] }
        return try store.auditEvents(user: user, since: since, limit: limit)
    }

    // MARK: - Codes

    /// The current code of `name`'s secret (pending or on), as an authenticator would show it.
    public func currentCode(name rawName: String, at time: Int64?) throws(TwofaError) -> GeneratedCode {
        let name = try Username.normalize(rawName)
        let (store, user) = try existingUser(name)
        guard let totp = user.totp else {
            throw .wrongState(user: name, reason: "two-factor authentication is off")
        }
        var secret = try secretBox(for: store).open(totp.sealedSecret, user: name)
        defer { wipe(&secret) }
        return try Self.code(secret: secret, parameters: totp.parameters, at: time ?? now)
    }

    /// The code of any secret at `time` (what `oathtool --totp` prints).
    public static func code(secret: [UInt8], parameters: TOTPParameters, at time: Int64) throws(TwofaError)
        -> GeneratedCode
    {
        guard (0...OTPGenerator.latestTime).contains(time) else {
            throw .invalidOption("--at must be 0 to \(OTPGenerator.latestTime) (UNIX seconds)")
        }
        let generator = try OTPGenerator(secret: secret, parameters: parameters)
        return GeneratedCode(code: generator.code(at: time), expiresIn: generator.expiresIn(at: time))
    }

    // MARK: - Shared steps

    private func newEnrolment(user: String, request: EnrolmentRequest) throws(TwofaError) -> Enrolment {
        let secret = try environment.random.bytes(request.parameters.algorithm.secretLength)
        return Enrolment(user: user, status: .pending, secret: secret, issuer: request.issuer, parameters: request.parameters)
    }

    private func record(for enrolment: Enrolment, sealed: [UInt8], at time: Int64) -> TOTPRecord {
        TOTPRecord(
            status: .pending, sealedSecret: sealed, parameters: enrolment.parameters, issuer: enrolment.issuer,
            lastStep: nil, createdAt: time)
    }

    private func digests(_ codes: [String], secret: [UInt8], user: String) -> [[UInt8]] {
        codes.map { BackupCodes.digest(BackupCodes.normalize($0), secret: secret, user: user) }
    }

    private func describe(_ parameters: TOTPParameters) -> String {
        "\(parameters.algorithm.rawValue), \(parameters.digits) digits, \(parameters.period) s"
    }

    func audit(_ store: any AccountStore, _ event: String, _ user: String?, ok: Bool, detail: String? = nil)
        throws(TwofaError)
    {
        try store.writeTransaction { () throws(TwofaError) in
            try store.appendAudit(AuditEvent(at: now, event: event, user: user, ok: ok, detail: detail))
        }
    }

    /// While locked, every attempt fails without the credentials being checked, and does not
    /// count as a failure (nobody can keep an account locked by hammering it).
    func checkNotLocked(_ user: UserRecord) throws(TwofaError) {
        let time = now
        if let until = user.lockedUntil, until > time {
            throw .lockedOut(user: user.name, retryAfter: until - time)
        }
    }

    func checkPassword(_ credentials: Credentials, user: UserRecord, store: any AccountStore, event: String)
        throws(TwofaError)
    {
        let password = try credentials.password()
        guard PasswordHasher.verify(password, against: user.passwordHash) else {
            try recordFailure(user, store: store, event: event, detail: "wrong password")
            throw .authenticationFailed
        }
    }

    /// Counts a failure in one transaction (parallel failures all count), locking the account
    /// at the threshold.
    private func recordFailure(_ user: UserRecord, store: any AccountStore, event: String, detail: String)
        throws(TwofaError)
    {
        let time = now
        try store.writeTransaction { () throws(TwofaError) in
            guard let current = try store.user(named: user.name) else { return }
            if let until = current.lockedUntil, until > time { return }
            let failures = current.failedAttempts + 1
            let lockedUntil = LockoutPolicy.lockedUntil(failures: failures, at: time)
            try store.setFailures(userID: current.id, count: failures, lockedUntil: lockedUntil)
            try store.appendAudit(AuditEvent(at: time, event: event, user: user.name, ok: false, detail: detail))
            if let lockedUntil {
                try store.appendAudit(AuditEvent(
                    at: time, event: "lockout", user: user.name, ok: true,
                    detail: "\(failures) consecutive failures; locked for \(lockedUntil - time) s"))
            }
        }
    }

    /// Accepts a code once, whichever command presents it. A TOTP code's step must be later
    /// than the last accepted one, checked and recorded by one conditional UPDATE inside the
    /// transaction that also runs `then` (the use case's own writes); a backup code is marked
    /// used the same way. A wrong, used or replayed code counts as a failure.
    private func acceptSecondFactor(
        _ code: GivenCode, user: UserRecord, totp: TOTPRecord, store: any AccountStore, event: String,
        then: ([UInt8]) throws(TwofaError) -> Void
    ) throws(TwofaError) -> SecondFactor {
        var secret = try secretBox(for: store).open(totp.sealedSecret, user: user.name)
        defer { wipe(&secret) }
        let time = now
        var step: UInt64?
        if case .digits(let digits) = code, digits.count == totp.parameters.digits {
            step = try OTPGenerator(secret: secret, parameters: totp.parameters).matchingStep(for: digits, at: time)
        }
        // Digits that are no current TOTP code may be an 8-digit scratch code kept as a backup code.
        let backupDigest = totp.status == .on && step == nil && code.normalized.count >= 8
            ? BackupCodes.digest(code.normalized, secret: secret, user: user.name) : nil
        let accepted: SecondFactor? = try store.writeTransaction { () throws(TwofaError) in
            let factor: SecondFactor
            if let step, step <= UInt64(Int64.max), try store.acceptTOTPStep(userID: user.id, step: Int64(step)) {
                factor = .totp
            } else if let backupDigest, try store.useBackupCode(userID: user.id, digest: backupDigest, at: time) {
                factor = .backupCode
            } else {
                return nil
            }
            try then(secret)
            try store.setFailures(userID: user.id, count: 0, lockedUntil: nil)
            if event == "login" { try store.recordLogin(userID: user.id, at: time) }
            try store.appendAudit(AuditEvent(at: time, event: event, user: user.name, ok: true, detail: factor.rawValue))
            return factor
        }
        guard let accepted else {
            try recordFailure(user, store: store, event: event, detail: "wrong or used code")
            throw .authenticationFailed
        }
        return accepted
    }
}
