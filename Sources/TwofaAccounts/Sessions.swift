import Crypto
import TwofaDomain
import TwofaStorage

/// How long the HTTP API's tokens live (http.md, "Starting it").
public struct TokenLifetimes: Sendable {
    /// Access tokens (JWTs), in seconds.
    public var access: Int64 = 900
    /// Refresh tokens, and the session itself: it ends this long after its login.
    public var refresh: Int64 = 30 * 86_400
    /// The token between a login's password and its code.
    public var login: Int64 = 300

    public init(access: Int64 = 900, refresh: Int64 = 30 * 86_400, login: Int64 = 300) {
        self.access = access
        self.refresh = refresh
        self.login = login
    }
}

/// What a complete login (or a refresh) hands out: the claims of an access token for the
/// front end to sign, and the refresh token, shown this once (only its SHA-256 is stored).
public struct SessionGrant: Sendable {
    public var user: String
    public var sessionID: String
    /// RFC 8176: `["pwd"]` or `["pwd", "otp"]`.
    public var methods: [String]
    public var refreshToken: String
    public var issuedAt: Int64
    /// The access token's `exp`: its lifetime, never past the session's end.
    public var expiresAt: Int64
    /// The access token's `jti`.
    public var tokenID: String
    /// Which second factor completed the login, if one did.
    public var secondFactor: SecondFactor?
}

/// The answer to a login's first step.
public enum SignInStep: Sendable {
    /// 2FA off or pending: signed in.
    case signedIn(SessionGrant)
    /// 2FA on: the code comes next, with this token (shown this once).
    /// `delivery`: an email device's code went out (or went less than 30 s ago).
    case codeNeeded(user: String, loginToken: String, expiresIn: Int64, delivery: CodeDelivery?)
}

/// A session found alive: the access token's subject checked against it.
public struct LiveSession: Sendable {
    public var id: String
    public var user: String
    public var methods: [String]
    public var createdAt: Int64
    public var lastLoginAt: Int64?
    public var twoFactor: TwoFactorState
}

/// An Ed25519 key that signs access tokens, opened with the key file.
public struct SigningKey: Sendable {
    public var kid: String
    /// The 32-byte seed (RFC 8032).
    public var privateKey: [UInt8]
    public var publicKey: [UInt8]
}

/// The HTTP API's sessions, on the same accounts, lockout and replay rules as the command line:
/// a login here is `attempt`, in the store's write transaction, as `login` is.
extension Accounts {
    private var time: Int64 { environment.clock.now() }

    /// A random token of `bytes` bytes, in hex.
    private func randomToken(_ bytes: Int) throws(TwofaError) -> String {
        var raw = try environment.random.bytes(bytes)
        defer { wipe(&raw) }
        return hex(raw)
    }

    /// What is stored of a token: its SHA-256 (the tokens are 256 random bits: no slow hash
    /// is needed to keep them from being guessed back).
    static func digest(_ token: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(token.utf8)))
    }

    /// A new session and its first refresh token (inside the caller's transaction).
    private func newSession(
        _ user: UserRecord, store: any AccountStore, factor: SecondFactor?, lifetimes: TokenLifetimes, at now: Int64
    ) throws(TwofaError) -> SessionGrant {
        let methods = factor == nil ? ["pwd"] : ["pwd", "otp"]
        let session = SessionRecord(
            id: try randomToken(16), userID: user.id, user: user.name, methods: methods.joined(separator: " "), createdAt: now,
            expiresAt: now + lifetimes.refresh)
        let refresh = try randomToken(32)
        try store.insertSession(session, refreshDigest: Self.digest(refresh))
        return SessionGrant(
            user: user.name, sessionID: session.id, methods: methods, refreshToken: refresh, issuedAt: now,
            expiresAt: min(now + lifetimes.access, session.expiresAt), tokenID: try randomToken(16), secondFactor: factor)
    }

    /// A login's first step: the password. An unknown user costs, answers and locks as a wrong
    /// password does (the command line's `login` path, shared).
    public func signIn(name rawName: String, password given: Password, lifetimes: TokenLifetimes = TokenLifetimes())
        throws(TwofaError) -> SignInStep
    {
        try PasswordHasher.loadLibrary()
        let name = try Username.normalize(rawName)
        let credentials = Credentials(password: { given })
        let store = try store(create: false)
        guard let store, let user = try store.user(named: name) else {
            try rejectUnknownName(name, store: store, credentials: credentials, event: .login)
        }
        let (password, matched, _) = try ask(credentials, for: user, store: store, event: .login, code: false)
        // The key file is read before the transaction, where an email device's code is made.
        let box = user.totp?.kind == .email ? try secretBox(for: store) : nil
        let step = try attempt(
            user, store: store, event: .login, password: password, passwordMatched: matched, code: nil, rule: .none,
            completeSuccess: false
        ) { (current, _, _) throws(TwofaError) -> SignInStep in
            let now = time
            if current.twoFactor == .on, let totp = current.totp {
                let loginToken = try randomToken(32)
                try store.insertLoginToken(digest: Self.digest(loginToken), userID: current.id, expiresAt: now + lifetimes.login)
                // An email device is sent its code now; a mail that fails undoes the whole step.
                var delivery: CodeDelivery?
                if totp.kind == .email {
                    guard let box else { throw .internalError("no key for the email device") }
                    var secret = try box.open(totp.sealedSecret, user: current.name)
                    defer { wipe(&secret) }
                    delivery = try queueEmailCode(
                        current.name, userID: current.id, totp, secret: secret, store: store, at: now, event: .login)
                }
                try store.appendAudit(AuditEvent(
                    at: now, event: .login, user: current.name, ok: false,
                    detail: "password right; second factor required" + (delivery.map { Self.describe($0) } ?? "")))
                return .codeNeeded(user: current.name, loginToken: loginToken, expiresIn: lifetimes.login, delivery: delivery)
            }
            try store.recordLogin(userID: current.id, at: now)
            try store.appendAudit(AuditEvent(at: now, event: .login, user: current.name, ok: true))
            return .signedIn(try newSession(current, store: store, factor: nil, lifetimes: lifetimes, at: now))
        }
        try rehashIfNeeded(password, user: user, store: store)
        return step
    }

    /// A login's second step: the login token and a code (TOTP or backup code). A locked
    /// account is refused before anything else; then a dead token; then the code, whose failure
    /// counts toward the account's lockout and the token's own limit.
    public func completeSignIn(loginToken: String, code given: String?, lifetimes: TokenLifetimes = TokenLifetimes())
        throws(TwofaError) -> SessionGrant
    {
        let digest = Self.digest(loginToken)
        guard let store = try store(create: false), let record = try store.loginToken(digest: digest),
            let user = try store.user(named: record.user), user.id == record.userID
        else { throw .invalidToken }
        try refuse(ifLocked: user.name, until: user.lockedUntil, store: store, event: .login)
        let alive = { (token: LoginTokenRecord) -> Bool in
            token.usedAt == nil && token.expiresAt > self.time && token.failures < LoginTokenRecord.failureLimit
        }
        guard alive(record) else { throw .invalidToken }
        guard let given else {
            throw .secondFactorRequired(user: user.name, delivery: nil)
        }
        let code = try OTPCode.parse(given)
        return try attempt(
            user, store: store, event: .login, password: nil, passwordMatched: true, code: code, rule: .ifOn,
            completeSuccess: true,
            precheck: { (_) throws(TwofaError) in
                // Single use: of two racing requests with one token, one goes on.
                guard let current = try store.loginToken(digest: digest), alive(current) else { throw .invalidToken }
            },
            onFailure: { (_) throws(TwofaError) in
                guard let current = try store.loginToken(digest: digest) else { return }
                try store.updateLoginToken(digest: digest, failures: current.failures + 1, usedAt: nil)
            }
        ) { (current, factor, _) throws(TwofaError) -> SessionGrant in
            let now = time
            try store.updateLoginToken(digest: digest, failures: record.failures, usedAt: now)
            try store.recordLogin(userID: current.id, at: now)
            try store.appendAudit(AuditEvent(at: now, event: .login, user: current.name, ok: true, detail: factor?.rawValue))
            return try newSession(current, store: store, factor: factor, lifetimes: lifetimes, at: now)
        }
    }

    /// A new token pair for a refresh token, which is then used up. A used one presented again
    /// revokes its whole session (a stolen copy dies with its first reuse).
    public func refreshSession(token: String, lifetimes: TokenLifetimes = TokenLifetimes()) throws(TwofaError)
        -> SessionGrant
    {
        let digest = Self.digest(token)
        guard let store = try store(create: false) else { throw .invalidToken }
        let decision: Decision<SessionGrant> = try store.writeTransaction { () throws(TwofaError) -> Decision<SessionGrant> in
            let now = time
            guard let record = try store.refreshToken(digest: digest) else { return .refused(.invalidToken) }
            let session = record.session
            if record.usedAt != nil {
                try store.deleteSession(id: session.id)
                try store.appendAudit(AuditEvent(
                    at: now, event: .revoke, user: session.user, ok: true,
                    detail: "a used refresh token was presented again: every token of that login ended"))
                return .refused(.invalidToken)
            }
            guard session.expiresAt > now else {
                try store.deleteSession(id: session.id)
                return .refused(.invalidToken)
            }
            let next = try randomToken(32)
            try store.rotateRefreshToken(digest: digest, next: Self.digest(next), sessionID: session.id, at: now)
            let methods = session.methods.split(separator: " ").map(String.init)
            return .done(SessionGrant(
                user: session.user, sessionID: session.id, methods: methods, refreshToken: next, issuedAt: now,
                expiresAt: min(now + lifetimes.access, session.expiresAt), tokenID: try randomToken(16), secondFactor: nil))
        }
        switch decision {
        case .done(let grant): return grant
        case .refused(let error): throw error
        }
    }

    /// The session `id` if it is alive and belongs to `user` (an access token's `sid` and
    /// `sub`): one indexed read, which also gives what `/me` answers.
    public func liveSession(id: String, user: String) throws(TwofaError) -> LiveSession? {
        guard let store = try store(create: false), let session = try store.session(id: id), session.user == user,
            session.expiresAt > time, let account = session.account
        else { return nil }
        return LiveSession(
            id: session.id, user: session.user, methods: session.methods.split(separator: " ").map(String.init),
            createdAt: account.createdAt, lastLoginAt: account.lastLoginAt, twoFactor: account.twoFactor)
    }

    /// Ends a session (logout): every token of that login stops working at once.
    public func signOut(sessionID: String, user: String) throws(TwofaError) {
        guard let store = try store(create: false) else { return }
        try store.writeTransaction { () throws(TwofaError) in
            try store.deleteSession(id: sessionID)
            try store.appendAudit(AuditEvent(at: time, event: .logout, user: user, ok: true))
        }
    }

    /// A new enrolment for a signed-in user (the session stands for the password), replacing a
    /// pending one; 2FA already on is a conflict.
    public func enableTwoFactor(sessionUser name: String, request: EnrolmentRequest) throws(TwofaError) -> Enrolment {
        try enableTwoFactor(name: name, request: request, credentials: nil)
    }

    /// The enrolment waiting for its first code (the API's QR image): none pending is a conflict.
    public func pendingEnrolment(name rawName: String) throws(TwofaError) -> Enrolment {
        let name = try Username.normalize(rawName)
        let (store, user) = try existingUser(name, access: .read)
        guard let totp = user.totp, totp.status == .pending else {
            throw .wrongState(user: name, reason: "no enrolment is pending; POST /api/v1/2fa/setup first")
        }
        let secret = try secretBox(for: store).open(totp.sealedSecret, user: name)
        return Enrolment(user: name, status: totp.status, secret: secret, issuer: totp.issuer, parameters: totp.parameters)
    }

    /// The keys that sign access tokens, oldest first; the first is made (and sealed with the
    /// key file) when there is none. Every instance sharing the database signs and verifies alike.
    public func signingKeys() throws(TwofaError) -> [SigningKey] {
        guard let store = try store(create: true) else { throw .internalError("the database was not created") }
        let box = try secretBox(for: store)
        var records = try store.signingKeys()
        if records.isEmpty {
            var seed = try environment.random.bytes(32)
            defer { wipe(&seed) }
            let key: Curve25519.Signing.PrivateKey
            do { key = try Curve25519.Signing.PrivateKey(rawRepresentation: seed) } catch {
                throw .internalError("cannot make an Ed25519 key")
            }
            let publicKey = Array(key.publicKey.rawRepresentation)
            let kid = String(hex(Array(SHA256.hash(data: publicKey))).prefix(16))
            let record = SigningKeyRecord(
                kid: kid, sealedPrivateKey: try box.seal(seed, user: Self.signingKeyContext(kid)), publicKey: publicKey,
                createdAt: time)
            try store.writeTransaction { () throws(TwofaError) in
                // Another instance may have made one meanwhile: theirs is kept.
                guard try store.signingKeys().isEmpty else { return }
                try store.insertSigningKey(record)
            }
            records = try store.signingKeys()
        }
        return try records.map { (record) throws(TwofaError) -> SigningKey in
            SigningKey(
                kid: record.kid, privateKey: try box.open(record.sealedPrivateKey, user: Self.signingKeyContext(record.kid)),
                publicKey: record.publicKey)
        }
    }

    /// What a signing key is sealed with, beside the key file: no username can be it.
    static func signingKeyContext(_ kid: String) -> String { "\u{1}signing key \(kid)" }
}

extension Accounts {
    /// Whether the database answers (the server's health check): a read of the signing keys.
    public func ping() throws(TwofaError) {
        guard let store = try store(create: false) else {
            throw .storage(path: environment.databaseForMessages, reason: "it does not exist")
        }
        _ = try store.signingKeys()
    }
}
