import Foundation
import Testing
@testable import TwofaAccounts
@testable import TwofaStorage
import TwofaDomain

/// A mailer that keeps what it is handed, or fails as a broken sendmail would.
final class CapturingMailer: Mailer, @unchecked Sendable {
    private let lock = NSLock()
    private var sent: [String] = []
    var fails = false

    func send(_ message: [UInt8]) throws(TwofaError) {
        lock.lock()
        defer { lock.unlock() }
        if fails { throw .mail(reason: "sendmail exited with status 75") }
        sent.append(String(decoding: message, as: UTF8.self))
    }

    var messages: [String] { lock.withLock { sent } }

    /// The code in the newest message's body.
    var lastCode: String? {
        guard let body = messages.last?.components(separatedBy: "\n\n").dropFirst().joined(separator: "\n\n") else { return nil }
        return body.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.count == 6 && $0.allSatisfy(\.isNumber) }
    }
}

/// The error `body` throws, or nil.
func caught(_ body: () throws(TwofaError) -> Void) -> TwofaError? {
    do throws(TwofaError) {
        try body()
        return nil
    } catch {
        return error
    }
}

extension World {
    /// Accounts on the same database and clock, sending mail through `mailer`.
    func accounts(mailer: CapturingMailer) -> Accounts {
        Accounts(environment: AccountsEnvironment(databasePath: database, clock: clock, mailer: mailer))
    }
}

@Suite("HOTP and the email device, in the use cases")
struct DeviceUseCaseTests {
    let passphrase = "a long passphrase 42"

    func password() throws -> Password { try Password(raw: Array(passphrase.utf8)) }

    @Test("HOTP: the look-ahead of 9, the counter moved past the accepted code, no replay")
    func hotpCounter() throws {
        let world = try World()
        _ = try world.accounts.register(name: "hana", password: try password(), enrolment: nil)
        let enrolment = try world.accounts.enableTwoFactor(
            name: "hana", request: EnrolmentRequest(issuer: "Test", kind: .hotp), credentials: world.credentials())
        #expect(enrolment.uri.string.hasPrefix("otpauth://hotp/Test:hana?"))
        #expect(enrolment.uri.string.hasSuffix("&counter=0"))
        let generator = try OTPGenerator(secret: enrolment.secret, parameters: .default)
        #expect(try world.accounts.verify(name: "hana", code: generator.hotp(counter: 0)).activated)
        // The same code again: used.
        expectError(.codeReused) { _ = try world.accounts.verify(name: "hana", code: generator.hotp(counter: 0)) }
        // Next is 1: 1 + 9 = 10 is the furthest accepted; 11 is not.
        expectError(.authenticationFailed) { _ = try world.accounts.verify(name: "hana", code: generator.hotp(counter: 11)) }
        let login = try world.accounts.login(
            name: "hana", credentials: world.credentials(code: generator.hotp(counter: 10)))
        #expect(login.secondFactor == .hotp)
        // Everything up to 10 is behind the counter now.
        for counter in UInt64(1)...10 {
            #expect(throws: TwofaError.self) { _ = try world.accounts.verify(name: "hana", code: generator.hotp(counter: counter)) }
            try world.accounts.unlock(name: "hana")
        }
        #expect(try world.accounts.currentCode(name: "hana", at: nil).code == generator.hotp(counter: 11))
        #expect(try world.accounts.currentCode(name: "hana", at: nil).counter == 11)
        #expect(try world.accounts.verify(name: "hana", code: generator.hotp(counter: 11)).user == "hana")
        #expect(try world.store().user(named: "hana")?.totp?.lastStep == 11)
    }

    @Test("Email: enrolment sends a code that confirms it; a login without a code sends one, which works once")
    func emailFlow() throws {
        let world = try World()
        let mailer = CapturingMailer()
        let accounts = world.accounts(mailer: mailer)
        _ = try accounts.register(name: "eve", password: try password(), enrolment: nil)
        let enrolment = try accounts.enableTwoFactor(
            name: "eve", request: EnrolmentRequest(issuer: "Test", kind: .email, email: try EmailAddress("eve@example.com")),
            credentials: world.credentials())
        #expect(enrolment.delivery == CodeDelivery(sentTo: "e***@example.com"))
        #expect(mailer.messages.count == 1)
        #expect(mailer.messages[0].contains("\nTo: eve@example.com\n"))
        let first = try #require(mailer.lastCode)
        // Stored only as a keyed digest: the code is nowhere in the database file.
        let stored = try Data(contentsOf: URL(fileURLWithPath: world.database))
            + ((try? Data(contentsOf: URL(fileURLWithPath: world.database + "-wal"))) ?? Data())
        #expect(stored.range(of: Data(first.utf8)) == nil)
        #expect(try accounts.verify(name: "eve", code: first).activated)
        // Used: its digest is erased, so it is a wrong code from then on.
        expectError(.authenticationFailed) { _ = try accounts.verify(name: "eve", code: first) }

        world.clock.advance(31)
        let required = caught { () throws(TwofaError) in _ = try accounts.login(name: "eve", credentials: world.credentials()) }
        #expect(required == .secondFactorRequired(user: "eve", delivery: CodeDelivery(sentTo: "e***@example.com")))
        #expect(required?.exitCode == 2)
        #expect(mailer.messages.count == 2)
        let second = try #require(mailer.lastCode)
        let login = try accounts.login(name: "eve", credentials: world.credentials(code: second))
        #expect(login.secondFactor == .email)
        expectError(.authenticationFailed) { _ = try accounts.login(name: "eve", credentials: world.credentials(code: second)) }
        #expect(try world.store().user(named: "eve")?.failedAttempts == 1)
        // No code to show or draw: they come by email.
        #expect(throws: TwofaError.self) { _ = try accounts.currentCode(name: "eve", at: nil) }
        #expect(throws: TwofaError.self) { _ = try accounts.enrolment(name: "eve", credentials: world.credentials()) }
    }

    @Test("Email: one send every 30 s; only the newest code works; a code dies after 10 minutes")
    func emailPaceAndLifetime() throws {
        let (world, mailer, accounts) = try activeEmailUser()
        world.clock.advance(30)
        expectSecondFactor(accounts, world, delivery: CodeDelivery(sentTo: "e***@example.com"))
        let older = try #require(mailer.lastCode)
        // 29 s later: nothing is sent, and the answer says when the next can go.
        world.clock.advance(29)
        expectSecondFactor(accounts, world, delivery: CodeDelivery(sentTo: "e***@example.com", resendIn: 1))
        #expect(mailer.messages.count == 2)
        world.clock.advance(1)
        expectSecondFactor(accounts, world, delivery: CodeDelivery(sentTo: "e***@example.com"))
        #expect(mailer.messages.count == 3)
        let newest = try #require(mailer.lastCode)
        if older != newest {
            expectError(.authenticationFailed) { _ = try accounts.login(name: "eve", credentials: world.credentials(code: older)) }
        }
        // At 10 minutes the newest is dead too.
        world.clock.advance(EmailCodes.lifetime)
        expectError(.authenticationFailed) { _ = try accounts.login(name: "eve", credentials: world.credentials(code: newest)) }
        world.clock.advance(1)
        expectSecondFactor(accounts, world, delivery: CodeDelivery(sentTo: "e***@example.com"))
        world.clock.advance(EmailCodes.lifetime - 1)
        #expect(try accounts.login(name: "eve", credentials: world.credentials(code: try #require(mailer.lastCode))).secondFactor == .email)
    }

    @Test("Email: a mailer that fails is exit 74; the account is as it was, and the audit log says so")
    func failingMailChangesNothing() throws {
        let (world, mailer, accounts) = try activeEmailUser()
        world.clock.advance(60)
        let before = try world.store().user(named: "eve")
        mailer.fails = true
        let failed = caught { () throws(TwofaError) in _ = try accounts.login(name: "eve", credentials: world.credentials()) }
        #expect(failed?.exitCode == 74)
        #expect(failed?.code == "mail_error")
        #expect(try world.store().user(named: "eve") == before)
        let last = try accounts.auditEvents(user: "eve", since: nil, limit: 1)
        #expect(last.first?.detail == "the code to e***@example.com could not be sent" && last.first?.ok == false)
        // Nothing went, so nothing holds the next one back.
        mailer.fails = false
        expectSecondFactor(accounts, world, delivery: CodeDelivery(sentTo: "e***@example.com"))
        #expect(try accounts.login(name: "eve", credentials: world.credentials(code: try #require(mailer.lastCode))).secondFactor == .email)
        // A new enrolment that cannot send is undone, and the one before it is back.
        mailer.fails = true
        _ = try accounts.register(name: "fay", password: try password(), enrolment: nil)
        _ = try accounts.enableTwoFactor(name: "fay", request: EnrolmentRequest(issuer: "Test"), credentials: world.credentials())
        let pending = try world.store().user(named: "fay")?.totp
        #expect(throws: TwofaError.self) {
            _ = try accounts.enableTwoFactor(
                name: "fay", request: EnrolmentRequest(issuer: "Test", kind: .email, email: try EmailAddress("fay@example.com")),
                credentials: world.credentials())
        }
        #expect(try world.store().user(named: "fay")?.totp == pending)
        // And a registration with one is undone as a whole.
        #expect(throws: TwofaError.self) {
            _ = try accounts.register(
                name: "gus", password: try password(),
                enrolment: EnrolmentRequest(issuer: "Test", kind: .email, email: try EmailAddress("gus@example.com")))
        }
        #expect(try world.store().user(named: "gus") == nil)
    }

    @Test("Email: a mail command that never finishes is killed with what it started, after its time limit")
    func aHangingMailCommandIsKilled() throws {
        let world = try World()
        let script = world.folder + "/hang"
        let pidFile = world.folder + "/child.pid"
        // Closes stderr (so only the process's own exit can end the wait), starts a child, waits.
        try "#!/bin/sh\nexec 2>&-\nsleep 60 &\necho $! > \(pidFile)\nwait\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o700)
        let started = Date()
        let error = caught { () throws(TwofaError) in try Sendmail(command: script, timeLimit: 1).send(Array("To: a@b\n\nx\n".utf8)) }
        #expect(error?.code == "mail_error")
        #expect(error?.message.contains("did not finish within 1 s") == true)
        #expect(Date().timeIntervalSince(started) < 10)
        let child = try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let pid = try #require(Int32(child))
        // The whole process group went: the grandchild is gone (reaped by init, or a zombie on its way).
        let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: " ").dropFirst(2).first
        #expect(state == nil || state == "Z", "sleep \(pid) still \(String(describing: state))")
    }

    @Test("Email: the HTTP login step sends the code and says where; the code step takes it")
    func emailThroughSessions() throws {
        let (world, mailer, accounts) = try activeEmailUser()
        world.clock.advance(30)
        guard case .codeNeeded(_, let token, _, let delivery) = try accounts.signIn(name: "eve", password: try password()) else {
            Issue.record("no code step")
            return
        }
        #expect(delivery == CodeDelivery(sentTo: "e***@example.com"))
        #expect(mailer.messages.count == 2)
        let code = try #require(mailer.lastCode)
        let grant = try accounts.completeSignIn(loginToken: token, code: code)
        #expect(grant.secondFactor == .email)
    }

    /// eve, with an email device confirmed by the code that went out at enrolment.
    private func activeEmailUser() throws -> (World, CapturingMailer, Accounts) {
        let world = try World()
        let mailer = CapturingMailer()
        let accounts = world.accounts(mailer: mailer)
        _ = try accounts.register(name: "eve", password: try password(), enrolment: nil)
        _ = try accounts.enableTwoFactor(
            name: "eve", request: EnrolmentRequest(issuer: "Test", kind: .email, email: try EmailAddress("eve@example.com")),
            credentials: world.credentials())
        _ = try accounts.verify(name: "eve", code: try #require(mailer.lastCode))
        return (world, mailer, accounts)
    }

    private func expectSecondFactor(
        _ accounts: Accounts, _ world: World, delivery: CodeDelivery, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        expectError(.secondFactorRequired(user: "eve", delivery: delivery), {
            _ = try accounts.login(name: "eve", credentials: world.credentials())
        }, sourceLocation: sourceLocation)
    }
}
