import TwofaDomain
import TwofaStorage

/// One user as `list` and `show` report it: never a secret.
public struct UserSummary: Sendable {
    public var user: String
    public var createdAt: Int64
    public var twoFactor: TwoFactorState
    public var locked: Bool
    public var lockedUntil: Int64?
    public var lastLoginAt: Int64?
    public var failedAttempts: Int
    /// Only from `show`.
    public var backupCodesLeft: Int?
    public var passwordScheme: String
    /// The second factor's kind (nil when 2FA is off).
    public var kind: SecondFactorKind?
    /// An email device's address, masked (`a***@example.com`).
    public var maskedEmail: String?
    /// A HOTP enrolment's next counter.
    public var counter: UInt64?
}

extension Accounts {
    private func summary(_ user: UserRecord) -> UserSummary {
        let time = environment.clock.now()
        let locked = (user.lockedUntil ?? 0) > time
        return UserSummary(
            user: user.name, createdAt: user.createdAt, twoFactor: user.twoFactor, locked: locked,
            lockedUntil: locked ? user.lockedUntil : nil, lastLoginAt: user.lastLoginAt,
            failedAttempts: user.failedAttempts, backupCodesLeft: nil,
            passwordScheme: PasswordHasher.scheme(of: user.passwordHash), kind: user.totp?.kind,
            maskedEmail: user.totp?.email.map { (try? EmailAddress($0))?.masked ?? "***" },
            counter: user.totp?.kind == .hotp ? user.totp?.nextCounter : nil)
    }

    /// Every user, by name; a missing database has none.
    public func listUsers() throws(TwofaError) -> [UserSummary] {
        guard let store = try store(create: false, access: .read) else { return [] }
        return try store.allUsers().map(summary)
    }

    public func showUser(name rawName: String) throws(TwofaError) -> UserSummary {
        let name = try Username.normalize(rawName)
        let (store, user) = try existingUser(name, access: .read)
        var result = summary(user)
        result.backupCodesLeft = try store.backupCodesLeft(userID: user.id)
        return result
    }

    /// The old password (or `force`, audited) and a new one that passes the policy. Every
    /// session of the user ends, but `keepingSession` (the HTTP caller's).
    public func changePassword(
        name rawName: String, old: (() throws(TwofaError) -> Password)?, new: () throws(TwofaError) -> Password,
        keepingSession: String? = nil
    ) throws(TwofaError) {
        let name = try Username.normalize(rawName)
        let (store, user) = try existingUser(name)
        guard let old else {
            try PasswordHasher.loadLibrary()
            let hash = try newHash(new, name: name)
            try store.writeTransaction { () throws(TwofaError) in
                try store.updatePasswordHash(userID: user.id, hash: hash)
                try store.setFailures(userID: user.id, count: 0, lockedUntil: nil)
                try store.deleteSessions(userID: user.id, except: nil)
                try store.appendAudit(AuditEvent(
                    at: environment.clock.now(), event: .passwd, user: name, ok: true, detail: "forced by the operator"))
            }
            return
        }
        let (oldPassword, matched, _) = try ask(Credentials(password: old), for: user, store: store, event: .passwd, code: false)
        // The new password is asked for (and hashed) only after the old one was right; the
        // verdict and the lock are still decided in the writing transaction below.
        let hash = matched ? try newHash(new, name: name) : nil
        try attempt(
            user, store: store, event: .passwd, password: oldPassword, passwordMatched: matched, code: nil, rule: .none,
            completeSuccess: true
        ) { (current, _, _) throws(TwofaError) in
            // Only when the password changed meanwhile to the one given as the old.
            guard let hash else { throw .authenticationFailed }
            try store.updatePasswordHash(userID: current.id, hash: hash)
            try store.deleteSessions(userID: current.id, except: keepingSession)
            try store.appendAudit(AuditEvent(at: environment.clock.now(), event: .passwd, user: name, ok: true))
        }
    }

    private func newHash(_ new: () throws(TwofaError) -> Password, name: String) throws(TwofaError) -> String {
        let password = try new()
        try password.checkPolicy(username: name)
        return try environment.hasher.hash(password, random: environment.random)
    }

    /// Removes the user and every secret of theirs; the audit log keeps the event.
    public func deleteUser(name rawName: String) throws(TwofaError) {
        let name = try Username.normalize(rawName)
        let (store, user) = try existingUser(name)
        try store.writeTransaction { () throws(TwofaError) in
            try store.deleteUser(userID: user.id)
            try store.appendAudit(AuditEvent(at: environment.clock.now(), event: .delete, user: name, ok: true))
        }
    }
}
