import Glibc
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
    /// An email device's code, queued by a transaction, sent once it has committed.
    var pendingMail: PendingMail?

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

    private var openedAccess: SQLiteAccountStore.Access?

    /// The store, creating the database when `create` is set; nil when it does not exist. A
    /// read (`access: .read`) works on a read-only database and never migrates; a write refuses
    /// a read-only database before anything is checked, and migrates an older schema after
    /// copying it aside (said through `environment.notice`, and audited).
    func store(create: Bool, access: SQLiteAccountStore.Access = .write) throws(TwofaError) -> (any AccountStore)? {
        if let openedStore, openedAccess == nil || openedAccess == .write || access == .read { return openedStore }
        let store: any AccountStore
        /// What a migration this open made says, and what the audit log keeps of it.
        var upgrade: (notice: String, detail: String)?
        if environment.usesPostgreSQL {
            guard let opened = try PostgreSQLAccountStore.open(uri: environment.databasePath, create: create, access: access)
            else { return nil }
            if let migration = opened.migration {
                // No copy: a PostgreSQL database is backed up with pg_dump, by its operator.
                let schema = "schema version \(migration.from) to \(migration.to)"
                upgrade = ("upgraded the database from \(schema)", schema)
            }
            store = opened
        } else {
            guard let opened = try SQLiteAccountStore.open(path: environment.databasePath, create: create, access: access)
            else { return nil }
            if let migration = opened.migration {
                let schema = "schema version \(migration.from) to \(migration.to)"
                upgrade = (
                    "upgraded the database \(environment.databasePath) from \(schema); the old one was copied to \(migration.backup)",
                    "\(schema); copy of the old database: \(migration.backup)")
            }
            store = opened
        }
        store.auditContext = environment.auditContext
        openedStore = store
        openedAccess = access
        if let upgrade {
            environment.notice(upgrade.notice)
            try audit(store, .upgrade, nil, ok: true, detail: upgrade.detail)
        }
        return store
    }

    /// The named user for an administrative command: exit 4 when there is none.
    func existingUser(_ name: String, access: SQLiteAccountStore.Access = .write) throws(TwofaError)
        -> (any AccountStore, UserRecord)
    {
        guard let store = try store(create: false, access: access), let user = try store.user(named: name) else {
            throw .userNotFound(user: name)
        }
        return (store, user)
    }

    var loadedBox: SecretBox?
    /// The key file the box was read from (device, inode, modification time): a long-lived
    /// Accounts (a server's) reads the key again once `rekey` or an operator replaced it.
    var loadedKeyFile: [Int64]?

    /// The key file, read (or made) once per Accounts, and again when the file changed.
    func secretBox(for store: (any AccountStore)?) throws(TwofaError) -> SecretBox {
        let path = try environment.keyFilePath()
        let current = Self.fileStamp(path)
        if let loadedBox, current != nil, current == loadedKeyFile { return loadedBox }
        // A rekey killed after its commit and before its rename leaves KEYFILE.new in force.
        if let store, SecureFiles.exists(path + ".new") { try finishInterruptedRekey(store: store, path: path, waiting: false) }
        let box = try SecretBox.load(path: path, creatingFor: store, random: environment.random)
        loadedBox = box
        // Stamped anew only when the file was just made.
        loadedKeyFile = current ?? Self.fileStamp(path)
        return box
    }

    static func fileStamp(_ path: String) -> [Int64]? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return [Int64(info.st_dev), Int64(info.st_ino), Int64(info.st_mtim.tv_sec), Int64(info.st_mtim.tv_nsec)]
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
        try PasswordHasher.loadLibrary()
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
        try sendingMail(store) { () throws(TwofaError) in try store.writeTransaction { () throws(TwofaError) in
            let id = try store.insertUser(name: name, passwordHash: hash, createdAt: time)
            try store.appendAudit(AuditEvent(at: time, event: .register, user: name, ok: true))
            if var made = enrolment, let sealed {
                let record = record(for: made, sealed: sealed, at: time)
                try store.setTOTP(userID: id, record)
                try store.appendAudit(AuditEvent(at: time, event: .enrol, user: name, ok: true, detail: describe(made)))
                if made.kind == .email {
                    made.delivery = try queueEmailCode(
                        name, userID: id, record, secret: made.secret, store: store, at: time, event: .enrol)
                    enrolment = made
                    // Unsent, the registration is undone as a whole (the user is as new as it gets).
                    pendingMail?.undo = { (store) throws(TwofaError) in
                        guard let current = try store.user(named: name), current.id == id else { return }
                        try store.deleteUser(userID: id)
                        try store.appendAudit(AuditEvent(
                            at: time, event: .register, user: name, ok: false,
                            detail: "undone: the code to \(made.email?.masked ?? "") could not be sent"))
                    }
                }
            }
        } }
        return Registration(user: name, enrolment: enrolment)
    }

    // MARK: - Login

    /// Checks the password and, if 2FA is on, a code. An unknown user costs what a known one
    /// does, fails the same way and locks the same way.
    public func login(name rawName: String, credentials: Credentials) throws(TwofaError) -> LoginResult {
        try PasswordHasher.loadLibrary()
        let name = try Username.normalize(rawName)
        let store = try store(create: false)
        guard let store, let user = try store.user(named: name) else {
            try rejectUnknownName(name, store: store, credentials: credentials, event: .login)
        }
        let (password, matched, code) = try ask(credentials, for: user, store: store, event: .login, code: user.twoFactor == .on)
        let secondFactor = try attempt(
            user, store: store, event: .login, password: password, passwordMatched: matched, code: code,
            rule: .ifOn, completeSuccess: true
        ) { (current, factor, _) throws(TwofaError) -> SecondFactor? in
            try store.recordLogin(userID: current.id, at: now)
            try store.appendAudit(AuditEvent(at: now, event: .login, user: current.name, ok: true, detail: factor?.rawValue))
            return factor
        }
        try rehashIfNeeded(password, user: user, store: store)
        return LoginResult(user: user.name, secondFactor: secondFactor)
    }

    /// A hash in another format (imported from another system) becomes one of ours once the
    /// password is known to be right.
    func rehashIfNeeded(_ password: Password, user: UserRecord, store: any AccountStore)
        throws(TwofaError)
    {
        guard environment.hasher.needsRehash(user.passwordHash) else { return }
        let hash = try environment.hasher.hash(password, random: environment.random)
        try store.writeTransaction { () throws(TwofaError) in
            // Only the hash the password was checked against is replaced (a `passwd` in
            // between wins).
            guard let current = try store.user(named: user.name), current.passwordHash == user.passwordHash else { return }
            try store.updatePasswordHash(userID: user.id, hash: hash)
            try store.appendAudit(AuditEvent(at: now, event: .rehash, user: user.name, ok: true))
        }
    }

    // MARK: - Enrolment

    /// Password first; then a new secret, pending until a code confirms it. A pending
    /// enrolment is replaced (the person may have lost the first QR code); 2FA already on is a
    /// conflict.
    public func enableTwoFactor(name rawName: String, request: EnrolmentRequest, credentials: Credentials)
        throws(TwofaError) -> Enrolment
    {
        try enableTwoFactor(name: rawName, request: request, credentials: Optional(credentials))
    }

    /// Without `credentials`, for a signed-in session of the user's (the HTTP API): no
    /// password is asked, and a locked account is still refused.
    func enableTwoFactor(name rawName: String, request: EnrolmentRequest, credentials: Credentials?)
        throws(TwofaError) -> Enrolment
    {
        let name = try Username.normalize(rawName)
        try request.validate()
        let (store, user) = try existingUser(name)
        let alreadyOn = TwofaError.wrongState(user: name, reason: "two-factor authentication is on already; disable it first")
        if user.twoFactor == .on { throw alreadyOn }
        var password: Password?
        var matched = false
        if let credentials {
            let asked = try ask(credentials, for: user, store: store, event: .enrol, code: false)
            password = asked.password
            matched = asked.matched
        } else {
            try refuse(ifLocked: user.name, until: user.lockedUntil, store: store, event: .enrol)
        }
        let box = try secretBox(for: store)
        var enrolment = try newEnrolment(user: name, request: request)
        let sealed = try box.seal(enrolment.secret, user: name)
        let time = now
        enrolment.delivery = try attempt(
            user, store: store, event: .enrol, password: password, passwordMatched: matched, code: nil, rule: .none,
            // A session's enrolment proves no password: it leaves the failure count as it is.
            completeSuccess: credentials != nil
        ) { (current, _, _) throws(TwofaError) -> CodeDelivery? in
            guard current.twoFactor != .on else { throw alreadyOn }
            // A pending email enrolment made again keeps the pace of one mail every 30 s.
            if enrolment.kind == .email, let sentAt = current.totp?.emailSentAt, time < sentAt + EmailCodes.resendInterval {
                throw .wrongState(
                    user: name,
                    reason: "a code went by email less than \(EmailCodes.resendInterval) s ago; try again in \(sentAt + EmailCodes.resendInterval - time) s")
            }
            var record = record(for: enrolment, sealed: sealed, at: time)
            // The pace of mails outlives an enrolment replaced by one of another kind.
            if enrolment.kind != .email { record.emailSentAt = current.totp?.emailSentAt }
            try store.setTOTP(userID: current.id, record)
            try store.appendAudit(AuditEvent(at: time, event: .enrol, user: name, ok: true, detail: describe(enrolment)))
            guard enrolment.kind == .email else { return nil }
            let delivery = try queueEmailCode(
                name, userID: current.id, record, secret: enrolment.secret, store: store, at: time, event: .enrol)
            // Unsent, the enrolment before it (if any) is back.
            let previous = current.totp
            pendingMail?.undo = { (store) throws(TwofaError) in
                guard let now = try store.user(named: name), now.id == current.id, now.totp?.sealedSecret == sealed else { return }
                try store.setTOTP(userID: current.id, previous)
                try store.appendAudit(AuditEvent(
                    at: time, event: .enrol, user: name, ok: false,
                    detail: "undone: the code to \(enrolment.email?.masked ?? "") could not be sent"))
            }
            return delivery
        }
        return enrolment
    }

    /// The enrolment to draw again: a pending one freely, an active one only after the
    /// password and a current code (which is then used up).
    public func enrolment(name rawName: String, credentials: Credentials) throws(TwofaError) -> Enrolment {
        let name = try Username.normalize(rawName)
        let (store, user) = try existingUser(name)
        let off = TwofaError.wrongState(user: name, reason: "two-factor authentication is off; run 'twofa enable-2fa \(name)'")
        guard let totp = user.totp else { throw off }
        guard totp.kind != .email else {
            throw .wrongState(user: name, reason: "codes come by email: there is no QR code to draw")
        }
        guard totp.status == .on else {
            let secret = try secretBox(for: store).open(totp.sealedSecret, user: name)
            return Self.enrolment(name, totp, secret: secret)
        }
        let (password, matched, code) = try ask(credentials, for: user, store: store, event: .qr, code: true)
        return try attempt(
            user, store: store, event: .qr, password: password, passwordMatched: matched, code: code, rule: .ifOn,
            completeSuccess: true
        ) { (current, factor, secret) throws(TwofaError) -> Enrolment in
            guard let totp = current.totp, let secret else { throw off }
            try store.appendAudit(AuditEvent(at: now, event: .qr, user: name, ok: true, detail: factor?.rawValue))
            return Self.enrolment(name, totp, secret: secret)
        }
    }

    /// An enrolment as stored, to draw again (a HOTP one at its next counter).
    static func enrolment(_ name: String, _ totp: TOTPRecord, secret: [UInt8]) -> Enrolment {
        Enrolment(
            user: name, status: totp.status, secret: secret, issuer: totp.issuer, parameters: totp.parameters,
            kind: totp.kind, counter: totp.nextCounter)
    }

    // MARK: - Verify

    /// Checks a code. A right code for a pending enrolment turns 2FA on and makes the backup
    /// codes, returned this once. No password is asked, so an accepted code does not clear the
    /// failure count: whoever holds only the phone must not be able to reset password guesses.
    public func verify(name rawName: String, code given: String) throws(TwofaError) -> VerifyResult {
        let code = try OTPCode.parse(given)
        let name = try Username.normalize(rawName)
        let store = try store(create: false)
        guard let store, let user = try store.user(named: name) else {
            try refuseIfUnknownNameLocked(name, store: store, event: .verify)
            // The work a known user's code costs: the key file read and checked, a secret
            // opened, the window's codes computed.
            if store != nil { try dummySecondFactorWork(code) }
            try failUnknownName(name, store: store, event: .verify)
        }
        try refuse(ifLocked: user.name, until: user.lockedUntil, store: store, event: .verify)
        return try attempt(
            user, store: store, event: user.twoFactor == .pending ? .activate : .verify, password: nil,
            passwordMatched: false, code: code, rule: .always, completeSuccess: false
        ) { (current, factor, secret) throws(TwofaError) -> VerifyResult in
            guard let totp = current.totp, let secret else { throw .authenticationFailed }
            var backupCodes: [String]?
            if totp.status == .pending {
                let codes = try BackupCodes.generate(random: environment.random)
                try store.setTOTPStatus(userID: current.id, .on)
                try store.replaceBackupCodes(userID: current.id, digests: digests(codes, secret: secret, user: name))
                backupCodes = codes
            }
            try store.appendAudit(AuditEvent(
                at: now, event: backupCodes == nil ? .verify : .activate, user: name, ok: true, detail: factor?.rawValue))
            return VerifyResult(user: name, activated: backupCodes != nil, backupCodes: backupCodes)
        }
    }

    // MARK: - Disable

    /// Password and a code turn 2FA off and erase the secret; a pending enrolment needs only
    /// the password.
    /// Every session of the user ends but `keepingSession` (the HTTP caller's).
    public func disableTwoFactor(name rawName: String, credentials: Credentials, keepingSession: String? = nil)
        throws(TwofaError)
    {
        let name = try Username.normalize(rawName)
        let (store, user) = try existingUser(name)
        let off = TwofaError.wrongState(user: name, reason: "two-factor authentication is off already")
        guard let totp = user.totp else { throw off }
        let (password, matched, code) = try ask(
            credentials, for: user, store: store, event: .disable, code: totp.status == .on)
        try attempt(
            user, store: store, event: .disable, password: password, passwordMatched: matched, code: code,
            rule: .ifOn, completeSuccess: true
        ) { (current, factor, _) throws(TwofaError) in
            guard current.totp != nil else { throw off }
            try store.setTOTP(userID: current.id, nil)
            try store.replaceBackupCodes(userID: current.id, digests: [])
            try store.deleteSessions(userID: current.id, except: keepingSession)
            try store.appendAudit(AuditEvent(
                at: now, event: .disable, user: name, ok: true,
                detail: factor?.rawValue ?? "pending enrolment cancelled"))
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
            try store.deleteSessions(userID: user.id, except: nil)
            try store.appendAudit(AuditEvent(at: now, event: .disable, user: name, ok: true, detail: "forced by the operator"))
        }
    }

    // MARK: - Backup codes, lockout, audit

    /// Password and a current code make a new set of backup codes; the old set stops working.
    public func regenerateBackupCodes(name rawName: String, credentials: Credentials) throws(TwofaError) -> [String] {
        let name = try Username.normalize(rawName)
        let (store, user) = try existingUser(name)
        let notOn = TwofaError.wrongState(user: name, reason: "two-factor authentication is not on, so there are no backup codes")
        guard let totp = user.totp, totp.status == .on else { throw notOn }
        let (password, matched, code) = try ask(credentials, for: user, store: store, event: .backupCodes, code: true)
        return try attempt(
            user, store: store, event: .backupCodes, password: password, passwordMatched: matched, code: code,
            rule: .ifOn, completeSuccess: true
        ) { (current, factor, secret) throws(TwofaError) -> [String] in
            guard current.totp?.status == .on, let secret else { throw notOn }
            let codes = try BackupCodes.generate(random: environment.random)
            try store.replaceBackupCodes(userID: current.id, digests: digests(codes, secret: secret, user: name))
            try store.appendAudit(AuditEvent(at: now, event: .backupCodes, user: name, ok: true, detail: factor?.rawValue))
            return codes
        }
    }

    /// Clears the failure count and any lockout.
    public func unlock(name rawName: String) throws(TwofaError) {
        let name = try Username.normalize(rawName)
        let (store, user) = try existingUser(name)
        try store.writeTransaction { () throws(TwofaError) in
            try store.setFailures(userID: user.id, count: 0, lockedUntil: nil)
            try store.appendAudit(AuditEvent(
                at: now, event: .unlock, user: name, ok: true,
                detail: "cleared \(user.failedAttempts) failures"))
        }
    }

    /// The audit log, oldest first; a missing database has an empty one.
    public func auditEvents(user rawUser: String?, since: Int64?, limit: Int?) throws(TwofaError) -> [AuditEvent] {
        let user = try rawUser.map { (name: String) throws(TwofaError) in try Username.normalize(name) }
        if let limit, limit < 0 { throw .invalidOption("--limit must be 0 or more") }
        guard let store = try store(create: false, access: .read) else { return [] }
        return try store.auditEvents(user: user, since: since, limit: limit)
    }

    // MARK: - Codes

    /// The current code of `name`'s secret (pending or on), as an authenticator would show it.
    /// A HOTP enrolment's code is the one at its next counter (nothing is used up).
    public func currentCode(name rawName: String, at time: Int64?) throws(TwofaError) -> GeneratedCode {
        var (secret, parameters, counter) = try openedSecret(name: rawName)
        defer { wipe(&secret) }
        if let counter { return try Self.hotpCode(secret: secret, parameters: parameters, counter: counter) }
        return try Self.code(secret: secret, parameters: parameters, at: time ?? now)
    }

    /// `count` codes of `name`'s secret from the step at `time` on (`code --window`), or from
    /// a HOTP enrolment's next counter on.
    public func codes(name rawName: String, at time: Int64, count: Int) throws(TwofaError) -> [GeneratedCode] {
        var (secret, parameters, counter) = try openedSecret(name: rawName)
        defer { wipe(&secret) }
        if let counter { return try Self.hotpCodes(secret: secret, parameters: parameters, counter: counter, count: count) }
        return try Self.codes(secret: secret, parameters: parameters, at: time, count: count)
    }

    /// How many steps from `time` `code` is `name`'s code, looking `window` steps either side
    /// (`code --check`, as `oathtool KEY CODE`), or, for HOTP, how many counters past the
    /// next one; nil when it is none of them. Nothing is used up.
    public func offset(name rawName: String, of code: String, at time: Int64, window: Int) throws(TwofaError) -> Int? {
        var (secret, parameters, counter) = try openedSecret(name: rawName)
        defer { wipe(&secret) }
        if let counter {
            return try Self.hotpOffset(secret: secret, parameters: parameters, of: code, counter: counter, window: window)
        }
        return try Self.offset(secret: secret, parameters: parameters, of: code, at: time, window: window)
    }

    /// The secret, its parameters and, for HOTP, the next counter.
    private func openedSecret(name rawName: String) throws(TwofaError) -> ([UInt8], TOTPParameters, UInt64?) {
        let name = try Username.normalize(rawName)
        guard let store = try store(create: false, access: .read), let enrolment = try store.enrolmentForCodes(named: name)
        else { throw .userNotFound(user: name) }
        guard let totp = enrolment else {
            throw .wrongState(user: name, reason: "two-factor authentication is off")
        }
        guard totp.kind != .email else {
            throw .wrongState(user: name, reason: "codes come by email (sent at login): there is none to show")
        }
        return (
            try secretBox(for: store).open(totp.sealedSecret, user: name), totp.parameters,
            totp.kind == .hotp ? totp.nextCounter : nil
        )
    }

    /// The HOTP code at `counter` (what `oathtool --hotp -c COUNTER` prints).
    public static func hotpCode(secret: [UInt8], parameters: TOTPParameters, counter: UInt64) throws(TwofaError)
        -> GeneratedCode
    {
        let generator = try OTPGenerator(secret: secret, parameters: parameters)
        return GeneratedCode(code: generator.hotp(counter: counter), expiresIn: 0, counter: Int64(clamping: counter))
    }

    /// `count` HOTP codes from `counter` on.
    public static func hotpCodes(secret: [UInt8], parameters: TOTPParameters, counter: UInt64, count: Int)
        throws(TwofaError) -> [GeneratedCode]
    {
        let generator = try OTPGenerator(secret: secret, parameters: parameters)
        var codes: [GeneratedCode] = []
        for index in 0..<UInt64(max(count, 1)) {
            let (value, overflow) = counter.addingReportingOverflow(index)
            if overflow { break }
            codes.append(GeneratedCode(code: generator.hotp(counter: value), expiresIn: 0, counter: Int64(clamping: value)))
        }
        return codes
    }

    /// How many counters past `counter` `code` is, looking `window` ahead (as `oathtool --hotp
    /// -c COUNTER -w WINDOW KEY CODE`); nil when it is none of them.
    public static func hotpOffset(secret: [UInt8], parameters: TOTPParameters, of given: String, counter: UInt64, window: Int)
        throws(TwofaError) -> Int?
    {
        let digits = given.filter { $0 != " " }
        guard digits.count == parameters.digits, digits.utf8.allSatisfy({ (48...57).contains($0) }) else {
            throw .malformedCode("malformed code: give \(parameters.digits) digits")
        }
        let generator = try OTPGenerator(secret: secret, parameters: parameters)
        guard let found = generator.matchingCounter(for: digits, from: counter, lookAhead: UInt64(max(window, 0))) else {
            return nil
        }
        return Int(found - counter)
    }

    /// `count` codes from the step at `time` on, each with its seconds left counted from `time`.
    public static func codes(secret: [UInt8], parameters: TOTPParameters, at time: Int64, count: Int)
        throws(TwofaError) -> [GeneratedCode]
    {
        var codes: [GeneratedCode] = []
        for index in 0..<max(count, 1) {
            let moment = time + Int64(index) * parameters.period
            var generated = try code(secret: secret, parameters: parameters, at: moment)
            generated.expiresIn += Int64(index) * parameters.period
            codes.append(generated)
        }
        return codes
    }

    public static func offset(secret: [UInt8], parameters: TOTPParameters, of given: String, at time: Int64, window: Int)
        throws(TwofaError) -> Int?
    {
        guard (0...OTPGenerator.latestTime).contains(time) else {
            throw .invalidOption("--at must be 0 to \(OTPGenerator.latestTime) (UNIX seconds)")
        }
        let digits = given.filter { $0 != " " }
        guard digits.count == parameters.digits, digits.utf8.allSatisfy({ (48...57).contains($0) }) else {
            throw .malformedCode("malformed code: give \(parameters.digits) digits")
        }
        let generator = try OTPGenerator(secret: secret, parameters: parameters)
        guard let step = generator.matchingStep(for: digits, at: time, window: UInt64(max(window, 0))) else { return nil }
        let current = UInt64(max(time, 0)) / UInt64(parameters.period)
        return Int(step >= current ? step - current : current - step)
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
        var parameters = request.parameters
        if request.kind == .email { parameters = .default }
        var enrolment = Enrolment(user: user, status: .pending, secret: secret, issuer: request.issuer, parameters: parameters)
        enrolment.kind = request.kind
        enrolment.email = request.email
        return enrolment
    }

    private func record(for enrolment: Enrolment, sealed: [UInt8], at time: Int64) -> TOTPRecord {
        TOTPRecord(
            status: .pending, sealedSecret: sealed, parameters: enrolment.parameters, issuer: enrolment.issuer,
            lastStep: nil, createdAt: time, kind: enrolment.kind, email: enrolment.email?.text)
    }

    private func digests(_ codes: [String], secret: [UInt8], user: String) -> [[UInt8]] {
        codes.map { BackupCodes.digest(BackupCodes.normalize($0), secret: secret, user: user) }
    }

    private func describe(_ enrolment: Enrolment) -> String {
        let parameters = enrolment.parameters
        switch enrolment.kind {
        case .totp: return "\(parameters.algorithm.rawValue), \(parameters.digits) digits, \(parameters.period) s"
        case .hotp: return "hotp, \(parameters.algorithm.rawValue), \(parameters.digits) digits"
        case .email: return "email device \(enrolment.email?.masked ?? "")"
        }
    }

    func audit(_ store: any AccountStore, _ event: AuditEventName, _ user: String?, ok: Bool, detail: String? = nil)
        throws(TwofaError)
    {
        try store.writeTransaction { () throws(TwofaError) in
            try store.appendAudit(AuditEvent(at: now, event: event, user: user, ok: ok, detail: detail))
        }
    }

    // MARK: - Attempts: the verdict and the lock decided in one write transaction

    /// How a use case takes the second factor.
    enum CodeRule {
        /// None (enrolment, password change).
        case none
        /// A code when 2FA is on (login, disable, qr, backup-codes).
        case ifOn
        /// The code is the credential (verify): 2FA off fails as a wrong code does.
        case always
    }

    /// What a transaction decided: the use case's result, or the refusal to throw once the
    /// transaction has committed (so the failure it counted and audited is kept).
    enum Decision<T> {
        case done(T)
        case refused(TwofaError)
    }

    /// Checks a password against a stored hash. A wrong password costs at least one hash at the
    /// default scheme and cost, whatever the stored hash's scheme (an imported `$2b$05$` hash
    /// would otherwise answer faster than an unknown user's dummy hash does).
    func checkPassword(_ password: Password, against storedHash: String) -> Bool {
        let result = PasswordHasher.verifyCostingDefault(password, against: storedHash, hasher: environment.hasher)
        return result.matched
    }

    /// The credentials of an attempt on `user`, asked for in the order a person expects: none
    /// while the account is locked (refused, audited, exit 3), then the password, checked
    /// against the hash read now (`attempt` checks again if it changed meanwhile), then, only
    /// after a right password and where `code` says, the code.
    func ask(
        _ credentials: Credentials, for user: UserRecord, store: any AccountStore, event: AuditEventName, code: Bool
    ) throws(TwofaError) -> (password: Password, matched: Bool, code: GivenCode?) {
        try PasswordHasher.loadLibrary()
        try refuse(ifLocked: user.name, until: user.lockedUntil, store: store, event: event)
        let password = try credentials.password()
        let matched = checkPassword(password, against: user.passwordHash)
        var given: GivenCode?
        if matched, code, credentials.prompts, let totp = user.totp, totp.kind == .email, totp.status == .on {
            // A person at a terminal is sent the code before being asked for it.
            let delivery = try sendEmailCode(user, store: store, event: event)
            environment.notice(
                delivery.resendIn == nil
                    ? "a code was sent to \(delivery.sentTo)"
                    : "a code went to \(delivery.sentTo) less than \(EmailCodes.resendInterval) s ago: use that one")
        }
        if matched, code, let text = try credentials.code() { given = try OTPCode.parse(text) }
        return (password, matched, given)
    }

    /// Throws exit 3, audited (not counted: a failure it is not), when `name` (an account or a
    /// name that is no account) is locked; before any credential is asked for.
    func refuse(ifLocked name: String, until: Int64?, store: any AccountStore, event: AuditEventName)
        throws(TwofaError)
    {
        let time = now
        guard let until, until > time else { return }
        throw try store.writeTransaction { () throws(TwofaError) in
            try lockedRefusal(name, until: until, store: store, event: event, at: time)
        }
    }

    /// Audits an attempt refused while `name` is locked (inside the caller's transaction) and
    /// answers the error it ends in.
    private func lockedRefusal(_ name: String, until: Int64, store: any AccountStore, event: AuditEventName, at time: Int64)
        throws(TwofaError) -> TwofaError
    {
        try store.appendAudit(AuditEvent(
            at: time, event: .locked, user: name, ok: false, detail: "\(event.rawValue) refused while locked"))
        return .lockedOut(user: name, retryAfter: until - time)
    }

    /// One attempt on an account, decided in one write transaction on the row as it is then:
    /// the lock (an attempt that began before a lock and ends after it is refused, exit 3,
    /// whatever its credentials, and changes nothing but the audit log), the password (checked
    /// again if it changed meanwhile), the code (a TOTP step accepted by one conditional UPDATE,
    /// a backup code used once), the failure count, and `action`, the use case's own writes.
    /// So however many processes race one account, at most `LockoutPolicy.threshold` of them
    /// are told "wrong" before it locks.
    @discardableResult
    func attempt<T>(
        _ snapshot: UserRecord, store: any AccountStore, event: AuditEventName, password: Password?, passwordMatched: Bool,
        code: GivenCode?, rule: CodeRule, completeSuccess: Bool,
        precheck: (_ current: UserRecord) throws(TwofaError) -> Void = { _ throws(TwofaError) in },
        onFailure: (_ current: UserRecord) throws(TwofaError) -> Void = { _ throws(TwofaError) in },
        action: (_ current: UserRecord, _ factor: SecondFactor?, _ secret: [UInt8]?) throws(TwofaError) -> T
    ) throws(TwofaError) -> T {
        // The key file is read before the transaction, where a secret may have to be opened.
        var box = snapshot.totp != nil && rule != .none ? try secretBox(for: store) : nil
        // An email device's code, queued inside the transaction, goes once it has committed.
        let decision: Decision<T> = try sendingMail(store) { () throws(TwofaError) -> Decision<T> in
            try store.writeTransaction { () throws(TwofaError) -> Decision<T> in
                let time = now
                guard let current = try store.user(named: snapshot.name), current.id == snapshot.id else {
                    // Deleted (or deleted and made anew) while this attempt ran.
                    return .refused(.authenticationFailed)
                }
                if let until = current.lockedUntil, until > time {
                    return .refused(try lockedRefusal(current.name, until: until, store: store, event: event, at: time))
                }
                // What the use case checks before any credential (a login token still alive).
                try precheck(current)
                /// A failure counted against the account, and against whatever `onFailure` keeps.
                func fail(_ detail: String, _ error: TwofaError = .authenticationFailed) throws(TwofaError) -> Decision<T> {
                    let answer = try countFailure(current, store: store, event: event, detail: detail, at: time, error: error)
                    try onFailure(current)
                    return .refused(answer)
                }
                if let password {
                    var matched = passwordMatched
                    if current.passwordHash != snapshot.passwordHash {
                        matched = checkPassword(password, against: current.passwordHash)
                    }
                    guard matched else { return try fail("wrong password") }
                }
                var factor: SecondFactor?
                var secret: [UInt8]?
                defer { if secret != nil { wipe(&secret!) } }
                if rule != .none {
                    if let totp = current.totp, totp.status == .on || rule == .always {
                        guard let code else {
                            // An email device is sent a code now (or was, less than 30 s ago).
                            var delivery: CodeDelivery?
                            if totp.kind == .email {
                                if box == nil { box = try secretBox(for: store) }
                                guard let box else { throw .internalError("no key for the secret") }
                                var opened = try box.open(totp.sealedSecret, user: current.name)
                                defer { wipe(&opened) }
                                delivery = try queueEmailCode(
                                    current.name, userID: current.id, totp, secret: opened, store: store, at: time, event: event)
                            }
                            try store.appendAudit(AuditEvent(
                                at: time, event: event, user: current.name, ok: false,
                                detail: "second factor required" + (delivery.map { Self.describe($0) } ?? "")))
                            return .refused(.secondFactorRequired(user: current.name, delivery: delivery))
                        }
                        if box == nil { box = try secretBox(for: store) }
                        guard let box else { throw .internalError("no key for the secret") }
                        let opened = try box.open(totp.sealedSecret, user: current.name)
                        secret = opened
                        switch try check(code, totp: totp, secret: opened, user: current, store: store, at: time) {
                        case .accepted(let accepted):
                            factor = accepted
                        case .reused:
                            return try fail("used code", .codeReused)
                        case .wrong:
                            return try fail("wrong code")
                        }
                    } else if rule == .always {
                        // Same answer as a wrong code: verify reveals nothing about 2FA being off.
                        return try fail("two-factor authentication is off")
                    }
                }
                let result = try action(current, factor, secret)
                if completeSuccess { try store.setFailures(userID: current.id, count: 0, lockedUntil: nil) }
                return .done(result)
            }
        }
        switch decision {
        case .done(let result): return result
        case .refused(let error): throw error
        }
    }

    enum CodeCheck {
        case accepted(SecondFactor)
        case reused
        case wrong
    }

    /// A code against the enrolment as it is inside the transaction: a TOTP code within the
    /// window whose step is later than the last accepted one (recorded by one conditional
    /// UPDATE), else, for an active enrolment, an unused backup code (marked used the same way).
    private func check(
        _ code: GivenCode, totp: TOTPRecord, secret: [UInt8], user: UserRecord, store: any AccountStore, at time: Int64
    ) throws(TwofaError) -> CodeCheck {
        var matchedUsedStep = false
        if case .digits(let digits) = code {
            switch totp.kind {
            case .totp where digits.count == totp.parameters.digits:
                let generator = try OTPGenerator(secret: secret, parameters: totp.parameters)
                if let step = generator.matchingStep(for: digits, at: time), step <= UInt64(Int64.max) {
                    if try store.acceptTOTPStep(userID: user.id, step: Int64(step)) { return .accepted(.totp) }
                    matchedUsedStep = true
                }
            case .hotp where digits.count == totp.parameters.digits:
                // The next counter and 9 beyond it; the counter moves past the one accepted.
                let generator = try OTPGenerator(secret: secret, parameters: totp.parameters)
                if let counter = generator.matchingCounter(for: digits, from: totp.nextCounter), counter <= UInt64(Int64.max) {
                    if try store.acceptTOTPStep(userID: user.id, step: Int64(counter)) { return .accepted(.hotp) }
                    matchedUsedStep = true
                } else if let last = totp.lastStep, constantTimeEquals(Array(generator.hotp(counter: UInt64(last)).utf8), Array(digits.utf8)) {
                    matchedUsedStep = true
                }
            case .email where digits.count == EmailCodes.digits:
                // Only the newest code sent, for 10 minutes, once.
                if let stored = totp.emailCode, let sentAt = totp.emailSentAt, time < sentAt + EmailCodes.lifetime {
                    let digest = EmailCodes.digest(digits, secret: secret, user: user.name, sentAt: sentAt)
                    if constantTimeEquals(digest, stored) {
                        if try store.useEmailCode(userID: user.id, digest: digest) { return .accepted(.email) }
                        matchedUsedStep = true
                    }
                }
            default:
                break
            }
        }
        // Digits that are no current TOTP code may be an 8-digit scratch code kept as a backup code.
        if totp.status == .on, !matchedUsedStep, code.normalized.count >= 8 {
            let digest = BackupCodes.digest(code.normalized, secret: secret, user: user.name)
            if try store.useBackupCode(userID: user.id, digest: digest, at: time) { return .accepted(.backupCode) }
        }
        return matchedUsedStep ? .reused : .wrong
    }

    /// Counts a failure of `user` (inside the caller's transaction), locking the account at the
    /// threshold; answers the error the attempt then throws.
    private func countFailure(
        _ user: UserRecord, store: any AccountStore, event: AuditEventName, detail: String, at time: Int64,
        error: TwofaError = .authenticationFailed
    ) throws(TwofaError) -> TwofaError {
        let failures = user.failedAttempts + 1
        let lockedUntil = try auditFailure(user.name, failures: failures, store: store, event: event, detail: detail, at: time)
        try store.setFailures(userID: user.id, count: failures, lockedUntil: lockedUntil)
        return error
    }

    /// Audits the `failures`-th consecutive failure of `name` and, where it reaches the
    /// threshold, the lockout it brings; answers when the lock ends (nil: no lock).
    private func auditFailure(
        _ name: String, failures: Int, store: any AccountStore, event: AuditEventName, detail: String, at time: Int64
    ) throws(TwofaError) -> Int64? {
        let lockedUntil = LockoutPolicy.lockedUntil(failures: failures, at: time)
        try store.appendAudit(AuditEvent(at: time, event: event, user: name, ok: false, detail: detail))
        if let lockedUntil {
            try store.appendAudit(AuditEvent(
                at: time, event: .lockout, user: name, ok: true,
                detail: "\(failures) consecutive failures; locked for \(lockedUntil - time) s"))
        }
        return lockedUntil
    }

    // MARK: - Names that are no account

    /// A name that is no account locks after the same failures as an account does, so neither
    /// the answers nor their number tell the two apart. Without a database there is nothing to
    /// tell apart (and nothing is created).
    private func refuseIfUnknownNameLocked(_ name: String, store: (any AccountStore)?, event: AuditEventName) throws(TwofaError) {
        guard let store, let attempts = try store.unknownAttempts(name: name) else { return }
        try refuse(ifLocked: name, until: attempts.lockedUntil, store: store, event: event)
    }

    /// A login attempt on a name that is no account: refused while the name is locked, else the
    /// password is taken and hashed as an account's would be, and the failure recorded.
    func rejectUnknownName(
        _ name: String, store: (any AccountStore)?, credentials: Credentials, event: AuditEventName
    ) throws(TwofaError) -> Never {
        try refuseIfUnknownNameLocked(name, store: store, event: event)
        let password = try credentials.password()
        _ = PasswordHasher.verify(password, against: environment.hasher.dummySetting())
        try failUnknownName(name, store: store, event: event)
    }

    /// Records the failure of a name that is no account, in one transaction with its lock
    /// decision, and throws what a wrong password would.
    private func failUnknownName(_ name: String, store: (any AccountStore)?, event: AuditEventName) throws(TwofaError) -> Never {
        guard let store else { throw .authenticationFailed }
        let error: TwofaError = try store.writeTransaction { () throws(TwofaError) -> TwofaError in
            let time = now
            let previous = try store.unknownAttempts(name: name)
            if let until = previous?.lockedUntil, until > time {
                return try lockedRefusal(name, until: until, store: store, event: event, at: time)
            }
            let failures = (previous?.failedAttempts ?? 0) + 1
            let lockedUntil = try auditFailure(name, failures: failures, store: store, event: event, detail: "unknown user", at: time)
            try store.setUnknownAttempts(
                name: name, UnknownAttempts(failedAttempts: failures, lockedUntil: lockedUntil, lastAt: time))
            return .authenticationFailed
        }
        throw error
    }

    /// What checking a code costs a known user, spent for an unknown one: the key file read and
    /// checked (a key file that a known user's code would be refused for is refused here too),
    /// a sealed secret opened, and the window's codes computed.
    private func dummySecondFactorWork(_ code: GivenCode) throws(TwofaError) {
        let box = try SecretBox.loadExisting(path: try environment.keyFilePath())
        var secret = [UInt8](repeating: 0, count: OTPAlgorithm.sha1.secretLength)
        if let box, let sealed = try? box.seal(secret, user: "") { _ = try? box.open(sealed, user: "") }
        if let generator = try? OTPGenerator(secret: secret, parameters: .default) {
            _ = generator.matchingStep(for: code.normalized, at: now)
        }
        wipe(&secret)
    }
}
