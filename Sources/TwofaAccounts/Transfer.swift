import Glibc
import TwofaDomain
import TwofaStorage

extension Accounts {
    /// Every account with its secret decrypted: a file the operator must protect.
    public func exportAccounts() throws(TwofaError) -> [TransferredAccount] {
        guard let store = try store(create: false, access: .read) else { return [] }
        let accounts = try store.allAccounts()
        let box = accounts.contains(where: { $0.totp != nil }) ? try secretBox(for: store) : nil
        var result: [TransferredAccount] = []
        result.reserveCapacity(accounts.count)
        for account in accounts {
            var totp: TransferredTOTP?
            if let record = account.totp, let box {
                totp = TransferredTOTP(
                    secret: try box.open(record.sealedSecret, user: account.name), issuer: record.issuer,
                    parameters: record.parameters, status: record.status, lastStep: record.lastStep, kind: record.kind,
                    email: try record.email.map { (text: String) throws(TwofaError) in try EmailAddress(text) })
            }
            result.append(TransferredAccount(
                user: account.name, passwordHash: account.passwordHash, createdAt: account.createdAt, totp: totp,
                backupCodeDigests: account.backupCodeDigests))
        }
        let detail = result.count == 1 ? "1 account" : "\(result.count) accounts"
        if store.isReadOnly {
            // The export is what was asked for; the missing audit line is said, not fatal.
            environment.notice("the database is read-only: the audit event of this export (\(detail)) could not be written")
        } else {
            try self.audit(store, .export, nil, ok: true, detail: detail)
        }
        return result
    }

    /// Creates the accounts `next` reads, all or nothing, in one transaction, a batch of
    /// prepared inserts at a time, so memory stays bounded however many there are: any that
    /// exists already (or comes twice) is a conflict and nothing is imported. With `dryRun`,
    /// everything is checked, the database is only read, and the accounts go into a private
    /// temporary database that is dropped (the same inserts and constraints, nothing kept).
    /// `progress` is told the number done after each batch.
    public func importAccounts(
        dryRun: Bool, source: String, next: () throws(TwofaError) -> TransferredAccount?,
        progress: (Int) -> Void = { _ in }
    ) throws(TwofaError) -> Int {
        // The source (a file name) goes into the audit log escaped, never with raw controls.
        let source = terminalSafe(source)
        // The first account is read before the database is made: a file that is wrong from its
        // first line (or /dev/zero) leaves no database behind where there was none.
        // libcrypt judges the imported hashes: a missing one is an error here, not a stop.
        try PasswordHasher.loadLibrary()
        let first = try next()
        if dryRun {
            let existing = try store(create: false, access: .read)
            return try importAccounts(
                into: try SQLiteAccountStore.scratch(), existing: existing, dryRun: true, source: source, first: first,
                next: next, progress: progress)
        }
        if openedStore == nil, !environment.usesPostgreSQL, !SecureFiles.exists(environment.databasePath) {
            return try importIntoNewDatabase(source: source, first: first, next: next, progress: progress)
        }
        guard let target = try store(create: true) else { throw .internalError("the database was not created") }
        return try importAccounts(
            into: target, existing: nil, dryRun: false, source: source, first: first, next: next, progress: progress)
    }

    /// Where there is no database yet, the import builds one under a temporary name beside it
    /// and links it into place only once every account is in: an import that fails at its
    /// last line leaves no database behind, as it leaves an existing one untouched.
    private func importIntoNewDatabase(
        source: String, first: TransferredAccount?, next: () throws(TwofaError) -> TransferredAccount?,
        progress: (Int) -> Void
    ) throws(TwofaError) -> Int {
        let path = environment.databasePath
        let temporary = path + ".import-" + hex(try environment.random.bytes(8))
        func removeTemporary() {
            for suffix in ["", "-wal", "-shm", "-journal"] { _ = unlink(temporary + suffix) }
        }
        let count: Int
        do throws(TwofaError) {
            guard let store = try SQLiteAccountStore.open(path: temporary, create: true) else {
                throw TwofaError.internalError("the database was not created")
            }
            count = try importAccounts(
                into: store, existing: nil, dryRun: false, source: source, first: first, next: next, progress: progress)
            try store.checkpointAndClose()
            // link(2) fails if the name was taken meanwhile: never replace a database.
            guard link(temporary, path) == 0 else {
                let reason = errno == EEXIST
                    ? "it was created by another process while this import ran; nothing was imported: run the import again"
                    : "cannot put the imported database in place (\(SecureFiles.describe(errno)))"
                throw TwofaError.storage(path: path, reason: reason)
            }
        } catch {
            removeTemporary()
            throw error
        }
        removeTemporary()
        return count
    }

    private func importAccounts(
        into target: any AccountStore, existing: (any AccountStore)?, dryRun: Bool, source: String,
        first: TransferredAccount?, next: () throws(TwofaError) -> TransferredAccount?, progress: (Int) -> Void
    ) throws(TwofaError) -> Int {
        var first = first
        let time = environment.clock.now()
        var box: SecretBox?
        return try target.writeTransaction { () throws(TwofaError) -> Int in
            var done = 0
            var batch: [AccountRecord] = []
            var events: [AuditEvent] = []
            func flush() throws(TwofaError) {
                try target.insertAccounts(batch)
                if !dryRun { try target.appendAudit(events) }
                done += batch.count
                batch.removeAll(keepingCapacity: true)
                events.removeAll(keepingCapacity: true)
                progress(done)
            }
            while true {
                let account: TransferredAccount
                if let pending = first {
                    account = pending
                    first = nil
                } else if let read = try next() {
                    account = read
                } else {
                    break
                }
                if let existing, try existing.user(named: account.user) != nil { throw .userExists(user: account.user) }
                var totp: TOTPRecord?
                if let t = account.totp {
                    let sealed: [UInt8]
                    if dryRun {
                        // Nothing is kept, so nothing is encrypted (and no key file is made).
                        sealed = [UInt8](repeating: 0, count: 48)
                    } else {
                        if box == nil { box = try secretBox(for: target) }
                        guard let box else { throw .internalError("no key for the secrets") }
                        sealed = try box.seal(t.secret, user: account.user)
                    }
                    totp = TOTPRecord(
                        status: t.status, sealedSecret: sealed, parameters: t.parameters, issuer: t.issuer,
                        lastStep: t.lastStep, createdAt: time, kind: t.kind, email: t.email?.text)
                }
                batch.append(AccountRecord(
                    name: account.user, passwordHash: account.passwordHash, createdAt: account.createdAt, totp: totp,
                    backupCodeDigests: account.backupCodeDigests))
                events.append(AuditEvent(at: time, event: .imported, user: account.user, ok: true, detail: "from \(source)"))
                if batch.count == 5000 { try flush() }
            }
            try flush()
            return done
        }
    }

    /// All of `accounts`, as `importAccounts(dryRun:source:next:progress:)` does.
    public func importAccounts(_ accounts: [TransferredAccount], dryRun: Bool, source: String) throws(TwofaError) -> Int {
        var iterator = accounts.makeIterator()
        return try importAccounts(dryRun: dryRun, source: source, next: { iterator.next() })
    }

    /// Takes a google-authenticator state file's secret, step and scratch codes for an existing
    /// user, whose 2FA is then on: their authenticator entry and scratch codes keep working.
    public func importGoogleAuthenticator(_ file: GoogleAuthenticatorFile, name rawName: String, issuer: String)
        throws(TwofaError)
    {
        let name = try Username.normalize(rawName)
        try refuseUnsafeText(issuer, what: "the issuer")
        let (store, user) = try existingUser(name)
        if user.twoFactor == .on {
            throw .wrongState(user: name, reason: "two-factor authentication is on already; disable it first")
        }
        let box = try secretBox(for: store)
        let parameters = TOTPParameters(algorithm: .sha1, digits: 6, period: file.period)
        let sealed = try box.seal(file.secret, user: name)
        let digests = file.scratchCodes.map { BackupCodes.digest($0, secret: file.secret, user: name) }
        let time = environment.clock.now()
        try store.writeTransaction { () throws(TwofaError) in
            // A HOTP file's HOTP_COUNTER is the next counter it accepts: the one before counts as used.
            let lastCounter = file.counter.flatMap { $0 == 0 ? nil : Int64($0 - 1) }
            try store.setTOTP(userID: user.id, TOTPRecord(
                status: .on, sealedSecret: sealed, parameters: parameters, issuer: issuer, lastStep: lastCounter,
                createdAt: time, kind: file.counter == nil ? .totp : .hotp))
            try store.replaceBackupCodes(userID: user.id, digests: digests)
            let ignored = file.ignoredOptions.isEmpty ? "" : "; ignored \(file.ignoredOptions.joined(separator: ", "))"
            try store.appendAudit(AuditEvent(
                at: time, event: .imported, user: name, ok: true,
                detail: "google-authenticator \(file.counter == nil ? "" : "HOTP ")file, \(file.scratchCodes.count) scratch codes\(ignored)"))
        }
    }

    /// A google-authenticator state file for `name`'s active enrolment, which
    /// `pam_google_authenticator` accepts, so a host can move back. Scratch codes are stored
    /// only as digests: `scratchCodes` new 8-digit ones are made, added to the user's backup
    /// codes (so each works once in either place) and written. Only SHA1, 6 digits and 30 s
    /// fit the format.
    public func exportGoogleAuthenticator(name rawName: String, scratchCodes: Int) throws(TwofaError) -> [UInt8] {
        let name = try Username.normalize(rawName)
        guard (0...10).contains(scratchCodes) else { throw .invalidOption("--scratch-codes must be 0 to 10") }
        let (store, user) = try existingUser(name)
        guard let totp = user.totp, totp.status == .on else {
            throw .wrongState(user: name, reason: "two-factor authentication is not on: nothing to export")
        }
        guard totp.kind != .email else {
            throw .invalidOption("'\(name)' gets codes by email: a google-authenticator file holds an app's secret")
        }
        guard totp.parameters.algorithm == .sha1, totp.parameters.digits == 6,
            totp.kind == .hotp || totp.parameters.period == 30
        else {
            throw .invalidOption(
                "a google-authenticator file holds SHA1, 6-digit, 30 s codes only; '\(name)' has \(totp.parameters.algorithm.rawValue), \(totp.parameters.digits) digits, \(totp.parameters.period) s")
        }
        var secret = try secretBox(for: store).open(totp.sealedSecret, user: name)
        defer { wipe(&secret) }
        var codes: [String] = []
        while codes.count < scratchCodes {
            let bytes = try environment.random.bytes(4)
            guard let code = GoogleAuthenticatorFile.scratchCode(bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }) else {
                continue
            }
            if !codes.contains(code) { codes.append(code) }
        }
        let digests = codes.map { BackupCodes.digest($0, secret: secret, user: name) }
        try store.writeTransaction { () throws(TwofaError) in
            try store.addBackupCodes(userID: user.id, digests: digests)
            try store.appendAudit(AuditEvent(
                at: environment.clock.now(), event: .export, user: name, ok: true,
                detail: "google-authenticator file, \(codes.count) new scratch codes"))
        }
        // A HOTP enrolment carries its next counter, and twofa's look-ahead as its window.
        var text = totp.kind == .hotp
            // pam_google_authenticator reads HOTP_COUNTER 0 as no counter at all: from 1.
            ? Base32.encode(secret) + "\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE \(OTPGenerator.hotpLookAhead + 1)\n\" HOTP_COUNTER \(max(totp.nextCounter, 1))\n"
            : Base32.encode(secret) + "\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n"
        for code in codes { text += code + "\n" }
        return Array(text.utf8)
    }
}
