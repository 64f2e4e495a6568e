import TwofaDomain
import TwofaStorage

/// The email device: codes sent by mail, one a login, decided inside the caller's write
/// transaction so two logins at once never both send, and a mail that cannot be sent rolls
/// the whole transaction back (nothing changes).
extension Accounts {
    /// Sends `name` a new code (inside the caller's transaction), unless the last went less
    /// than `EmailCodes.resendInterval` seconds ago: then nothing is sent and the answer says
    /// when the next can go. Only the code's keyed digest is stored, with when it went; it
    /// replaces the one before.
    func sendEmailCode(
        _ name: String, userID: Int64, _ totp: TOTPRecord, secret: [UInt8], store: any AccountStore, at time: Int64
    ) throws(TwofaError) -> CodeDelivery {
        guard let stored = totp.email, let address = try? EmailAddress(stored) else {
            throw .storage(path: environment.databaseForMessages, reason: "the email device of '\(name)' has no valid address")
        }
        if let sentAt = totp.emailSentAt, time < sentAt + EmailCodes.resendInterval, time >= sentAt {
            return CodeDelivery(sentTo: address.masked, resendIn: sentAt + EmailCodes.resendInterval - time)
        }
        let code = try EmailCodes.generate(random: environment.random)
        try store.recordEmailCode(
            userID: userID, digest: EmailCodes.digest(code, secret: secret, user: name, sentAt: time), sentAt: time)
        let host = hostName()
        let message = EmailCodeMessage(
            from: environment.mailFrom ?? "twofa@\(host)", to: address, user: name, issuer: totp.issuer, code: code,
            sentAt: time, messageID: hex(try environment.random.bytes(16)), host: host)
        var bytes = message.bytes
        defer { wipe(&bytes) }
        try environment.mailer.send(bytes)
        return CodeDelivery(sentTo: address.masked)
    }

    /// Sends `user` a code in a transaction of its own (before a terminal prompt asks for it).
    func sendEmailCode(_ user: UserRecord, store: any AccountStore) throws(TwofaError) -> CodeDelivery {
        let box = try secretBox(for: store)
        return try store.writeTransaction { () throws(TwofaError) -> CodeDelivery in
            guard let current = try store.user(named: user.name), current.id == user.id, let totp = current.totp,
                totp.kind == .email
            else { throw .authenticationFailed }
            var secret = try box.open(totp.sealedSecret, user: current.name)
            defer { wipe(&secret) }
            let time = environment.clock.now()
            let delivery = try sendEmailCode(current.name, userID: current.id, totp, secret: secret, store: store, at: time)
            try store.appendAudit(AuditEvent(
                at: time, event: .login, user: current.name, ok: false, detail: "second factor required" + Self.describe(delivery)))
            return delivery
        }
    }

    /// The audit detail of a delivery (never the code).
    static func describe(_ delivery: CodeDelivery) -> String {
        if let wait = delivery.resendIn { return "; a code went to \(delivery.sentTo) less than 30 s ago (next in \(wait) s)" }
        return "; code sent to \(delivery.sentTo)"
    }
}
