import TwofaDomain

/// A user's second factor as stored (the `totp` table, named for its first kind): the secret
/// only sealed (AES-GCM), never in clear. A HOTP enrolment's secret makes its codes; an email
/// device's keys the digests of the codes it is sent and of its backup codes.
public struct TOTPRecord: Equatable, Sendable {
    public var status: TwoFactorState
    public var sealedSecret: [UInt8]
    public var parameters: TOTPParameters
    public var issuer: String?
    /// The last time step accepted (TOTP) or the last counter accepted (HOTP), so no code is
    /// accepted twice (RFC 6238 §5.2, RFC 4226 §7.2).
    public var lastStep: Int64?
    public var createdAt: Int64
    public var kind: SecondFactorKind
    /// An email device's address.
    public var email: String?
    /// The newest code sent by email: its digest (`EmailCodes.digest`), nil once used.
    public var emailCode: [UInt8]?
    /// When the newest code was sent.
    public var emailSentAt: Int64?

    public init(
        status: TwoFactorState, sealedSecret: [UInt8], parameters: TOTPParameters, issuer: String?,
        lastStep: Int64? = nil, createdAt: Int64, kind: SecondFactorKind = .totp, email: String? = nil,
        emailCode: [UInt8]? = nil, emailSentAt: Int64? = nil
    ) {
        self.status = status
        self.sealedSecret = sealedSecret
        self.parameters = parameters
        self.issuer = issuer
        self.lastStep = lastStep
        self.createdAt = createdAt
        self.kind = kind
        self.email = email
        self.emailCode = emailCode
        self.emailSentAt = emailSentAt
    }

    /// A HOTP enrolment's next counter (the one after the last accepted).
    public var nextCounter: UInt64 { lastStep.map { UInt64($0) + 1 } ?? 0 }
}

public struct UserRecord: Equatable, Sendable {
    public var id: Int64
    /// Lower case.
    public var name: String
    /// crypt(3) hash in any format libxcrypt verifies.
    public var passwordHash: String
    /// UNIX seconds.
    public var createdAt: Int64
    public var lastLoginAt: Int64?
    public var failedAttempts: Int
    public var lockedUntil: Int64?
    public var totp: TOTPRecord?

    public var twoFactor: TwoFactorState { totp?.status ?? .off }
}

/// What a store reads back is checked against the ranges twofa writes: a hand-edited or damaged
/// value outside them is a storage error naming the column, never a trap further on.
enum StoredRange {
    /// UNIX seconds up to 9999-12-31T23:59:59Z.
    static let time: ClosedRange<Int64> = 0...OTPGenerator.latestTime
    static let failures: ClosedRange<Int64> = 0...1_000_000_000
    /// A HOTP counter (RFC 4226's is 8 bytes; twofa keeps it to a signed 64-bit column).
    static let counter: ClosedRange<Int64> = 0...Int64.max

    static func error(path: String, column: String, user: String, value: String, range: ClosedRange<Int64>) -> TwofaError {
        .storage(
            path: path,
            reason: "the column \(column) of '\(user)' holds \(value), outside \(range.lowerBound) to \(range.upperBound); restore it from a backup or correct it")
    }
}

/// Consecutive failures of a name that is no account.
public struct UnknownAttempts: Equatable, Sendable {
    public var failedAttempts: Int
    public var lockedUntil: Int64?
    /// When the last failure was.
    public var lastAt: Int64

    /// The table is bounded: a name idle for a day is forgotten, and at most this many are kept.
    public static let idleLimit: Int64 = 86_400
    public static let rowLimit = 10_000

    public init(failedAttempts: Int, lockedUntil: Int64?, lastAt: Int64) {
        self.failedAttempts = failedAttempts
        self.lockedUntil = lockedUntil
        self.lastAt = lastAt
    }
}

/// What an audit event records. Code branches on these, never on strings; what is stored is
/// the raw value.
public enum AuditEventName: String, Sendable, CaseIterable {
    case register, login, enrol, activate, verify, disable, lockout, locked, unlock, passwd, delete, export, rehash, qr
    case imported = "import"
    case backupCodes = "backup_codes"
    case upgrade
    /// The key file changed (`rekey`), or an interrupted change was finished.
    case rekey
    /// The HTTP API: a session ended by its user, or revoked (a refresh token used twice).
    case logout
    case revoke
}

/// One line of the audit log: never a password, a secret or a code.
public struct AuditEvent: Equatable, Sendable {
    public var at: Int64
    /// The name as stored (a newer twofa may have written one this one does not know).
    public var event: String
    public var user: String?
    public var ok: Bool
    public var detail: String?

    /// The name, if this twofa knows it.
    public var name: AuditEventName? { AuditEventName(rawValue: event) }

    public init(at: Int64, event: AuditEventName, user: String?, ok: Bool, detail: String? = nil) {
        self.init(at: at, storedName: event.rawValue, user: user, ok: ok, detail: detail)
    }

    /// An event as read back from the store.
    public init(at: Int64, storedName: String, user: String?, ok: Bool, detail: String? = nil) {
        self.at = at
        self.event = storedName
        self.user = user
        self.ok = ok
        self.detail = detail
    }
}

/// A whole account as export writes it and import reads it, with the secret still sealed.
public struct AccountRecord: Sendable {
    public var name: String
    public var passwordHash: String
    public var createdAt: Int64
    public var totp: TOTPRecord?
    /// Digests of the unused backup codes.
    public var backupCodeDigests: [[UInt8]]

    public init(name: String, passwordHash: String, createdAt: Int64, totp: TOTPRecord?, backupCodeDigests: [[UInt8]]) {
        self.name = name
        self.passwordHash = passwordHash
        self.createdAt = createdAt
        self.totp = totp
        self.backupCodeDigests = backupCodeDigests
    }
}

/// What the use cases need from a database. SQLite implements it; another store (PostgreSQL)
/// can stand beside it.
///
/// Reads outside `writeTransaction` see a consistent snapshot but may be stale by the time the
/// caller acts; anything decided from a read and then written goes inside one transaction.
public protocol AccountStore: SessionStore {
    /// Whether the store can only be read (a read-only file or mount, opened by a read-only
    /// command).
    var isReadOnly: Bool { get }
    /// Where the attempts come from, added to the detail of every audit event this store
    /// writes (`pam service=sshd rhost=…`, from `--audit-detail`); already escaped and bounded.
    var auditContext: String? { get set }

    /// Runs `body` as one write transaction, taken before the first read (no other writer can
    /// come in between), committed if `body` returns and rolled back if it throws.
    func writeTransaction<T>(_ body: () throws(TwofaError) -> T) throws(TwofaError) -> T

    func user(named name: String) throws(TwofaError) -> UserRecord?
    /// Only what the codes of `name`'s enrolment need (`code USER`, every start of which pays
    /// for the statement's width): nil when there is no such user, `.some(nil)` when 2FA is
    /// off. The record's issuer, creation time and email state are not read.
    func enrolmentForCodes(named name: String) throws(TwofaError) -> TOTPRecord??
    /// Throws `.userExists` when the name is taken.
    func insertUser(name: String, passwordHash: String, createdAt: Int64) throws(TwofaError) -> Int64
    func updatePasswordHash(userID: Int64, hash: String) throws(TwofaError)
    /// Replaces (or with nil, erases) the TOTP enrolment.
    func setTOTP(userID: Int64, _ totp: TOTPRecord?) throws(TwofaError)
    func setTOTPStatus(userID: Int64, _ status: TwoFactorState) throws(TwofaError)
    /// Records `step` as used if it is later than the last accepted step; false if it is not
    /// (a replay, or another process won with the same code). One conditional UPDATE. A HOTP
    /// counter is accepted the same way.
    func acceptTOTPStep(userID: Int64, step: Int64) throws(TwofaError) -> Bool
    /// Keeps the digest of the code just sent by email, and when it went (the one before
    /// stops working).
    func recordEmailCode(userID: Int64, digest: [UInt8], sentAt: Int64) throws(TwofaError)
    /// Uses up the email code with this digest; false if it is not the one stored (used
    /// already, or another process won with it). One conditional UPDATE.
    func useEmailCode(userID: Int64, digest: [UInt8]) throws(TwofaError) -> Bool
    /// Puts back `digest` and `sentAt` where the stored code is still `expected` (a code whose
    /// mail could not be sent); false if it changed meanwhile.
    func replaceEmailCode(userID: Int64, expected: [UInt8], digest: [UInt8]?, sentAt: Int64?) throws(TwofaError) -> Bool
    /// Sets the last login, clears the failure count and any lockout.
    func recordLogin(userID: Int64, at time: Int64) throws(TwofaError)
    func setFailures(userID: Int64, count: Int, lockedUntil: Int64?) throws(TwofaError)
    /// The failures recorded against a name that is no account (so it locks as an account
    /// does), or nil when there are none.
    func unknownAttempts(name: String) throws(TwofaError) -> UnknownAttempts?
    /// Records them, and prunes the table: rows idle for `UnknownAttempts.idleLimit` seconds
    /// go, and only the newest `UnknownAttempts.rowLimit` are kept.
    func setUnknownAttempts(name: String, _ attempts: UnknownAttempts) throws(TwofaError)
    /// Replaces the user's backup codes (digests only) with `digests`; empty erases them.
    func replaceBackupCodes(userID: Int64, digests: [[UInt8]]) throws(TwofaError)
    /// Adds backup codes beside the user's others (scratch codes written to a google-authenticator file).
    func addBackupCodes(userID: Int64, digests: [[UInt8]]) throws(TwofaError)
    /// Marks the unused backup code with this digest used; false if there is none.
    func useBackupCode(userID: Int64, digest: [UInt8], at time: Int64) throws(TwofaError) -> Bool
    func backupCodesLeft(userID: Int64) throws(TwofaError) -> Int
    /// Audit events, oldest first: with `limit`, the newest `limit` of those that match.
    func auditEvents(user: String?, since: Int64?, limit: Int?) throws(TwofaError) -> [AuditEvent]
    /// Every user, by name.
    func allUsers() throws(TwofaError) -> [UserRecord]
    /// Every account with its sealed secret and unused backup-code digests, by name.
    func allAccounts() throws(TwofaError) -> [AccountRecord]
    /// Inserts accounts with prepared statements reused for each (call inside a transaction);
    /// a name that exists is `.userExists`.
    func insertAccounts(_ accounts: [AccountRecord]) throws(TwofaError)
    /// Removes the user and, by cascade, their enrolment and backup codes.
    func deleteUser(userID: Int64) throws(TwofaError)
    /// Whether any sealed secret is stored (then the key file must exist).
    func hasSealedSecrets() throws(TwofaError) -> Bool
    /// Every sealed value (TOTP secrets by user, then signing keys), for a key rotation.
    func sealedValues() throws(TwofaError) -> [SealedValue]
    /// Replaces one sealed value (inside a write transaction).
    func updateSealedValue(_ value: SealedValue) throws(TwofaError)
    func appendAudit(_ event: AuditEvent) throws(TwofaError)
    /// Many events through one prepared statement.
    func appendAudit(_ events: [AuditEvent]) throws(TwofaError)
}

extension AccountStore {
    /// The whole user's enrolment (a store with no narrower read).
    public func enrolmentForCodes(named name: String) throws(TwofaError) -> TOTPRecord?? {
        guard let user = try user(named: name) else { return nil }
        return .some(user.totp)
    }
}

// MARK: - Sessions of the HTTP API

/// A login session: what every token of one login belongs to. It ends at `expiresAt` (its
/// login plus the refresh lifetime; refreshing does not move it) or when its row goes (logout,
/// reuse of a refresh token, a password change, 2FA disabled, the user deleted).
public struct SessionRecord: Equatable, Sendable {
    /// Random, 128 bits, hex: the access tokens' `sid`.
    public var id: String
    public var userID: Int64
    /// The user's name (read with the session, for the token's `sub` to be checked against).
    public var user: String
    /// RFC 8176 methods, space separated: `pwd` or `pwd otp`.
    public var methods: String
    public var createdAt: Int64
    public var expiresAt: Int64
    /// The account as read with the session (what `/me` answers, from the same indexed read).
    public var account: (createdAt: Int64, lastLoginAt: Int64?, twoFactor: TwoFactorState)?

    public init(id: String, userID: Int64, user: String, methods: String, createdAt: Int64, expiresAt: Int64) {
        self.id = id
        self.userID = userID
        self.user = user
        self.methods = methods
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    public static func == (a: SessionRecord, b: SessionRecord) -> Bool {
        a.id == b.id && a.userID == b.userID && a.user == b.user && a.methods == b.methods && a.createdAt == b.createdAt
            && a.expiresAt == b.expiresAt
    }
}

/// A refresh token as stored: only its SHA-256, the session it belongs to, and whether it was
/// used (a used one presented again revokes the session).
public struct RefreshTokenRecord: Equatable, Sendable {
    public var session: SessionRecord
    public var usedAt: Int64?
}

/// The token between a login's password step and its code step: only its SHA-256.
public struct LoginTokenRecord: Equatable, Sendable {
    public var userID: Int64
    public var user: String
    public var expiresAt: Int64
    /// Wrong codes given with it; at `LoginTokenRecord.failureLimit` it is dead.
    public var failures: Int
    public var usedAt: Int64?

    public static let failureLimit = 5
}

/// A key that signs access tokens: the Ed25519 private key sealed with the key file.
public struct SigningKeyRecord: Equatable, Sendable {
    public var kid: String
    public var sealedPrivateKey: [UInt8]
    public var publicKey: [UInt8]
    public var createdAt: Int64

    public init(kid: String, sealedPrivateKey: [UInt8], publicKey: [UInt8], createdAt: Int64) {
        self.kid = kid
        self.sealedPrivateKey = sealedPrivateKey
        self.publicKey = publicKey
        self.createdAt = createdAt
    }
}

/// What the HTTP API's sessions need from a store, beside the accounts.
public protocol SessionStore: AnyObject {
    /// Inserts a session and its first refresh token (call inside a write transaction); prunes
    /// sessions and login tokens that have expired by `session.createdAt`.
    func insertSession(_ session: SessionRecord, refreshDigest: [UInt8]) throws(TwofaError)
    /// The session, if it has not been ended (its expiry is the caller's to check): one
    /// indexed read on a prepared statement.
    func session(id: String) throws(TwofaError) -> SessionRecord?
    func refreshToken(digest: [UInt8]) throws(TwofaError) -> RefreshTokenRecord?
    /// Marks the refresh token used and adds its successor to the same session.
    func rotateRefreshToken(digest: [UInt8], next: [UInt8], sessionID: String, at time: Int64) throws(TwofaError)
    func deleteSession(id: String) throws(TwofaError)
    /// Ends every session of the user but `except`.
    func deleteSessions(userID: Int64, except: String?) throws(TwofaError)
    func insertLoginToken(digest: [UInt8], userID: Int64, expiresAt: Int64) throws(TwofaError)
    func loginToken(digest: [UInt8]) throws(TwofaError) -> LoginTokenRecord?
    func updateLoginToken(digest: [UInt8], failures: Int, usedAt: Int64?) throws(TwofaError)
    func signingKeys() throws(TwofaError) -> [SigningKeyRecord]
    func insertSigningKey(_ key: SigningKeyRecord) throws(TwofaError)
}

/// One value sealed with the key file: a user's TOTP secret or a signing key.
public struct SealedValue: Equatable, Sendable {
    public enum Owner: Equatable, Sendable {
        case user(id: Int64, name: String)
        case signingKey(kid: String)
    }

    public var owner: Owner
    public var sealed: [UInt8]

    public init(owner: Owner, sealed: [UInt8]) {
        self.owner = owner
        self.sealed = sealed
    }
}
