import TwofaDomain
import TwofaStorage

/// A code's message, made inside the deciding transaction and sent once it has committed,
/// with what puts the account back as it was if the mail command fails.
struct PendingMail {
    var message: [UInt8]
    var sentTo: String
    var undo: (any AccountStore) throws(TwofaError) -> Void
}

/// The email device: codes sent by mail. Whether one goes (at most one every 30 s), its
/// digest and its audit line are decided inside the caller's write transaction, so two
/// logins at once never both send; the mail itself goes after the commit, so a slow mail
/// command never holds the database's write lock (every other login would wait on it). A
/// mail that cannot be sent then undoes what the transaction did for it, in a second one:
/// the account is as it was, and the audit log says the code was not sent.
extension Accounts {
    /// Makes `name` a new code (inside the caller's transaction) and leaves its message in
    /// `pendingMail`, unless the last went less than `EmailCodes.resendInterval` seconds ago
    /// (or, by this host's clock, in the future: another host's clock ahead of ours); then
    /// nothing goes and the answer says when the next can. Only the code's keyed digest is
    /// stored, with when it went; it replaces the one before.
    func queueEmailCode(
        _ name: String, userID: Int64, _ totp: TOTPRecord, secret: [UInt8], store: any AccountStore, at time: Int64,
        event: AuditEventName
    ) throws(TwofaError) -> CodeDelivery {
        guard let stored = totp.email, let address = try? EmailAddress(stored) else {
            throw .storage(path: environment.databaseForMessages, reason: "the email device of '\(name)' has no valid address")
        }
        let interval = EmailCodes.resendInterval
        if let sentAt = totp.emailSentAt, time < sentAt + interval {
            return CodeDelivery(sentTo: address.masked, resendIn: max(1, min(interval, sentAt + interval - time)))
        }
        let code = try EmailCodes.generate(random: environment.random)
        let digest = EmailCodes.digest(code, secret: secret, user: name, sentAt: time)
        try store.recordEmailCode(userID: userID, digest: digest, sentAt: time)
        let host = hostName()
        let message = EmailCodeMessage(
            from: environment.mailFrom ?? "twofa@\(host)", to: address, user: name, issuer: totp.issuer, code: code,
            sentAt: time, messageID: hex(try environment.random.bytes(16)), host: host)
        let (previousCode, previousSentAt) = (totp.emailCode, totp.emailSentAt)
        pendingMail = PendingMail(message: message.bytes, sentTo: address.masked) { (store) throws(TwofaError) in
            // The code that never went is no code; the one before it (if any) is in force again.
            if try store.replaceEmailCode(userID: userID, expected: digest, digest: previousCode, sentAt: previousSentAt) {
                try store.appendAudit(AuditEvent(
                    at: time, event: event, user: name, ok: false, detail: "the code to \(address.masked) could not be sent"))
            }
        }
        return CodeDelivery(sentTo: address.masked)
    }

    /// Runs `body` (a write transaction that may queue a code's mail), then sends the mail;
    /// if that fails, undoes the queued change and throws the mail's error (exit 74).
    func sendingMail<T>(_ store: any AccountStore, _ body: () throws(TwofaError) -> T) throws(TwofaError) -> T {
        pendingMail = nil
        let result: T
        do {
            result = try body()
        } catch {
            pendingMail = nil
            throw error
        }
        guard var mail = pendingMail else { return result }
        pendingMail = nil
        defer { wipe(&mail.message) }
        do {
            try environment.mailer.send(mail.message)
        } catch {
            do {
                try store.writeTransaction { () throws(TwofaError) in try mail.undo(store) }
            } catch let undoError {
                environment.notice("the code to \(mail.sentTo) was not sent, and undoing its record failed: \(undoError.message)")
            }
            throw error
        }
        return result
    }

    /// Sends `user` a code in a transaction of its own (before a terminal prompt asks for it).
    func sendEmailCode(_ user: UserRecord, store: any AccountStore, event: AuditEventName) throws(TwofaError) -> CodeDelivery {
        let box = try secretBox(for: store)
        return try sendingMail(store) { () throws(TwofaError) -> CodeDelivery in
            try store.writeTransaction { () throws(TwofaError) -> CodeDelivery in
                guard let current = try store.user(named: user.name), current.id == user.id, let totp = current.totp,
                    totp.kind == .email
                else { throw .authenticationFailed }
                var secret = try box.open(totp.sealedSecret, user: current.name)
                defer { wipe(&secret) }
                let time = environment.clock.now()
                let delivery = try queueEmailCode(
                    current.name, userID: current.id, totp, secret: secret, store: store, at: time, event: event)
                try store.appendAudit(AuditEvent(
                    at: time, event: event, user: current.name, ok: false, detail: "second factor required" + Self.describe(delivery)))
                return delivery
            }
        }
    }

    /// The audit detail of a delivery (never the code).
    static func describe(_ delivery: CodeDelivery) -> String {
        if let wait = delivery.resendIn {
            return "; a code went to \(delivery.sentTo) less than \(EmailCodes.resendInterval) s ago (next in \(wait) s)"
        }
        return "; code sent to \(delivery.sentTo)"
    }
}
