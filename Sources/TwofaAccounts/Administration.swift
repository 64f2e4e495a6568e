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
}

extension Accounts {
    private func summary(_ user: UserRecord) -> UserSummary {
        let time = environment.clock.now()
        let locked = (user.lockedUntil ?? 0) > time
        return UserSummary(
            user: user.name, createdAt: user.createdAt, twoFactor: user.twoFactor, locked: locked,
            lockedUntil: locked ? user.lockedUntil : nil, lastLoginAt: user.lastLoginAt,
            failedAttempts: user.failedAttempts, backupCodesLeft: nil,
            passwordScheme: PasswordHasher.scheme(of: user.passwordHash))
    }

    /// Every user, by name; a missing database has none.
    public func listUsers() throws(TwofaError) -> [UserSummary] {
        guard let store = try store(create: false) else { return [] }
        return try store.allUsers().map(summary)
    }

    public func showUser(name rawName: String) throws(TwofaError) -> UserSummary {
        let name = try Username.normalize(rawName)
        let (store, user) = try existingUser(name)
        var result = summary(user)
        result.backupCodesLeft = try store.backupCodesLeft(userID: user.id)
        return result
    }

    /// The old password (or `force`, audited) and a new one that passes the policy.
    public func changePassword(
        name rawName: String, old: (() throws(TwofaError) -> Password)?, new: () throws(TwofaError) -> Password
    ) throws(TwofaError) {
        let name = try Username.normalize(rawName)
        let (store, user) = try existingUser(name)
        if let old {
            try checkNotLocked(user)
            try checkPassword(Credentials(password: old), user: user, store: store, event: "passwd")
        }
        let password = try new()
        try password.checkPolicy(username: name)
        let hash = try environment.hasher.hash(password, random: environment.random)
        try store.writeTransaction { () throws(TwofaError) in
            try store.updatePasswordHash(userID: user.id, hash: hash)
            try store.setFailures(userID: user.id, count: 0, lockedUntil: nil)
            try store.appendAudit(AuditEvent(
                at: environment.clock.now(), event: "passwd", user: name, ok: true,
                detail: old == nil ? "forced by the operator" : nil))
        }
    }

    /// Removes the user and every secret of theirs; the audit log keeps the event.
    public func deleteUser(name rawName: String) throws(TwofaError) {
        let name = try Username.normalize(rawName)
        let (store, user) = try existingUser(name)
        try store.writeTransaction { () throws(TwofaError) in
            try store.deleteUser(userID: user.id)
            try store.appendAudit(AuditEvent(at: environment.clock.now(), event: "delete", user: name, ok: true))
        }
    }
}
