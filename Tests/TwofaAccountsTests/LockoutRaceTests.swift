import Foundation
import Testing
@testable import TwofaAccounts
@testable import TwofaStorage
import TwofaDomain

/// A rendezvous for `parties` threads: each `arrive()` blocks until the test calls `open()`;
/// `waitForAll()` returns once every party is waiting. Bounded: nothing waits more than 20 s.
final class Gate: @unchecked Sendable {
    private let parties: Int
    private let lock = NSLock()
    private var arrived = 0
    private let allArrived = DispatchSemaphore(value: 0)
    private let opened = DispatchSemaphore(value: 0)

    init(parties: Int) { self.parties = parties }

    func arrive() {
        let last = lock.withLock { () -> Bool in
            arrived += 1
            return arrived == parties
        }
        if last { allArrived.signal() }
        // Each party takes one signal and passes it on.
        if opened.wait(timeout: .now() + 20) == .success { opened.signal() }
    }

    func waitForAll() -> Bool { allArrived.wait(timeout: .now() + 20) == .success }
    func open() { opened.signal() }
}

/// What each racing attempt answered.
final class Outcomes: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [String] = []
    func append(_ outcome: String) { lock.withLock { results.append(outcome) } }
    var all: [String] { lock.withLock { results } }
    func count(_ outcome: String) -> Int { all.filter { $0 == outcome }.count }
}

func outcome(_ body: () throws -> Void) -> String {
    do {
        try body()
        return "ok"
    } catch let error as TwofaError {
        return error.code
    } catch {
        return "\(error)"
    }
}

let rightPassword = "a long passphrase 42"

extension World {
    /// Another connection to the same database, as another process would have.
    func twin() -> Accounts { Accounts(environment: accounts.environment) }

    func password(_ text: String, after gate: Gate? = nil) -> () throws(TwofaError) -> Password {
        { () throws(TwofaError) in
            gate?.arrive()
            return try Password(raw: Array(text.utf8))
        }
    }

    func lock(_ name: String) {
        for _ in 0..<LockoutPolicy.threshold {
            _ = outcome { _ = try accounts.login(name: name, credentials: credentials("wrong password 1")) }
        }
    }

    func failures(_ name: String) throws -> Int { try #require(try store().user(named: name)).failedAttempts }

    /// Runs `racers` attempts, each on a thread of its own and held at `gate` (where `attempt`
    /// calls `arrive`, directly or through its credentials) until all have arrived and
    /// `meanwhile` has run; then lets them go together and answers what each answered.
    func race(
        _ racers: Int, meanwhile: () -> Void = {}, attempt: @escaping @Sendable (Int, Gate) throws -> Void
    ) -> Outcomes {
        let gate = Gate(parties: racers)
        let outcomes = Outcomes()
        let group = DispatchGroup()
        for index in 0..<racers {
            DispatchQueue.global().async(group: group) { outcomes.append(outcome { try attempt(index, gate) }) }
        }
        #expect(gate.waitForAll())
        meanwhile()
        gate.open()
        #expect(group.wait(timeout: .now() + 60) == .success)
        return outcomes
    }
}

/// Issue 9, point 1 and 2: the verdict of an attempt and the lock decided in one transaction.
/// Each test holds every racing attempt at the point where it has read the account (the
/// credentials are asked for after that read), changes the account under them, and lets them go.
@Suite("lockout: races decided in the writing transaction")
struct LockoutRaceTests {
    /// The attack: attempts started before a lock, let go after it, one of them with the right
    /// password. Before: every wrong one answered 1 and the right one logged in.
    @Test func attemptsThatStartedBeforeTheLockAnswer3() throws {
        let world = try World()
        _ = try world.accounts.register(name: "bob", password: try Password(raw: Array(rightPassword.utf8)), enrolment: nil)
        let racers = 12
        let outcomes = world.race(racers, meanwhile: { world.lock("bob") }) { index, gate in
            let guess = index == 0 ? rightPassword : "wrong password \(index)"
            _ = try world.twin().login(name: "bob", credentials: Credentials(password: world.password(guess, after: gate)))
        }
        #expect(outcomes.count("locked_out") == racers, "\(outcomes.all)")
        // Nothing counted: the lock is the one the five failures made.
        #expect(try world.failures("bob") == LockoutPolicy.threshold)
        let locked = try world.accounts.auditEvents(user: "bob", since: nil, limit: nil).filter { $0.event == "locked" }
        #expect(locked.count == racers)
    }

    /// However many race an unlocked account with wrong passwords, five are told "wrong".
    @Test func atMostFiveWrongVerdictsPerLock() throws {
        let world = try World()
        _ = try world.accounts.register(name: "bob", password: try Password(raw: Array(rightPassword.utf8)), enrolment: nil)
        let outcomes = world.race(16) { index, gate in
            _ = try world.twin().login(
                name: "bob", credentials: Credentials(password: world.password("wrong password \(index)", after: gate)))
        }
        #expect(outcomes.count("authentication_failed") == LockoutPolicy.threshold, "\(outcomes.all)")
        #expect(outcomes.count("locked_out") == 16 - LockoutPolicy.threshold, "\(outcomes.all)")
    }

    /// Right after a lock expires, a burst gets one verdict: the sixth failure locks again.
    @Test func aBurstAfterTheLockExpiresGetsOneVerdict() throws {
        let world = try World()
        _ = try world.accounts.register(name: "bob", password: try Password(raw: Array(rightPassword.utf8)), enrolment: nil)
        world.lock("bob")
        world.clock.advance(LockoutPolicy.firstLock + 1)
        let outcomes = world.race(12) { index, gate in
            _ = try world.twin().login(
                name: "bob", credentials: Credentials(password: world.password("wrong password \(index)", after: gate)))
        }
        #expect(outcomes.count("authentication_failed") == 1, "\(outcomes.all)")
        #expect(outcomes.count("locked_out") == 11, "\(outcomes.all)")
    }

    /// TOTP guesses after the right password: held where the code is asked for.
    @Test func codeGuessesRacingALock() throws {
        let world = try World()
        let totp = try world.userWithTwoFactor("bob")
        let right = totp.code(at: world.clock.now())
        let outcomes = world.race(12, meanwhile: { world.lock("bob") }) { index, gate in
            let guess = index == 0 ? right : String(String(format: "%06d", (Int(right) ?? 0) + index + 1).suffix(6))
            _ = try world.twin().login(
                name: "bob",
                credentials: Credentials(password: world.password(rightPassword), code: { gate.arrive(); return guess }))
        }
        #expect(outcomes.count("locked_out") == 12, "\(outcomes.all)")
    }

    /// Simultaneous verify guesses (verify asks no password): at most five are checked.
    @Test func verifyGuessesRacing() throws {
        let world = try World()
        let totp = try world.userWithTwoFactor("bob")
        let right = Int(totp.code(at: world.clock.now())) ?? 0
        let outcomes = world.race(20) { index, gate in
            let accounts = world.twin()
            gate.arrive()
            _ = try accounts.verify(name: "bob", code: String(String(format: "%06d", right + index + 1).suffix(6)))
        }
        #expect(outcomes.count("authentication_failed") <= LockoutPolicy.threshold, "\(outcomes.all)")
        #expect(outcomes.count("authentication_failed") + outcomes.count("locked_out") == 20, "\(outcomes.all)")
    }

    /// passwd held at the old password while the account locks: the password stays.
    @Test func passwdRacingALock() throws {
        let world = try World()
        _ = try world.accounts.register(name: "bob", password: try Password(raw: Array(rightPassword.utf8)), enrolment: nil)
        let outcomes = world.race(6, meanwhile: { world.lock("bob") }) { _, gate in
            try world.twin().changePassword(
                name: "bob", old: world.password(rightPassword, after: gate), new: world.password("the attacker's new password"))
        }
        #expect(outcomes.count("locked_out") == 6, "\(outcomes.all)")
        try world.accounts.unlock(name: "bob")
        #expect(try world.accounts.login(name: "bob", credentials: world.credentials()).user == "bob")
    }

    /// Point 2: a code accepted without a password does not clear password failures.
    @Test func verifyDoesNotResetPasswordFailures() throws {
        let world = try World()
        let totp = try world.userWithTwoFactor("bob")
        let wrong = { outcome { _ = try world.accounts.login(name: "bob", credentials: world.credentials("wrong password 1")) } }
        for _ in 0..<(LockoutPolicy.threshold - 1) { #expect(wrong() == "authentication_failed") }
        // Whoever holds the phone has a right code accepted...
        world.clock.advance(30)
        #expect(try world.accounts.verify(name: "bob", code: totp.code(at: world.clock.now())).activated == false)
        #expect(try world.failures("bob") == LockoutPolicy.threshold - 1)
        // ...and the next wrong password still locks (before: the count had gone back to 0).
        #expect(wrong() == "authentication_failed")
        expectError(.lockedOut(user: "bob", retryAfter: LockoutPolicy.firstLock)) {
            _ = try world.accounts.login(name: "bob", credentials: world.credentials())
        }
        // A complete success resets the count.
        world.clock.advance(LockoutPolicy.firstLock + 30)
        let result = try world.accounts.login(
            name: "bob", credentials: world.credentials(code: totp.code(at: world.clock.now())))
        #expect(result.secondFactor == .totp)
        #expect(try world.failures("bob") == 0)
    }

    /// Attempts refused while locked are audited as `locked` and not counted.
    @Test func lockedAttemptsAreAuditedNotCounted() throws {
        let world = try World()
        _ = try world.accounts.register(name: "bob", password: try Password(raw: Array(rightPassword.utf8)), enrolment: nil)
        world.lock("bob")
        for _ in 0..<3 {
            expectError(.lockedOut(user: "bob", retryAfter: 60)) {
                _ = try world.accounts.login(name: "bob", credentials: world.credentials())
            }
        }
        #expect(try world.failures("bob") == LockoutPolicy.threshold)
        let events = try world.accounts.auditEvents(user: "bob", since: nil, limit: 3)
        #expect(events.map(\.event) == ["locked", "locked", "locked"])
        #expect(events.allSatisfy { !$0.ok && $0.detail == "login refused while locked" })
    }

    /// Point 5: a name that is no account locks after five failures, as an account does.
    @Test func unknownNamesLockAsAccountsDo() throws {
        let world = try World()
        _ = try world.accounts.register(name: "bob", password: try Password(raw: Array(rightPassword.utf8)), enrolment: nil)
        for name in ["bob", "nobody"] {
            var answers: [String] = []
            for _ in 0..<7 {
                answers.append(outcome { _ = try world.accounts.login(name: name, credentials: world.credentials("wrong password 1")) })
            }
            #expect(answers == Array(repeating: "authentication_failed", count: 5) + ["locked_out", "locked_out"], "\(name)")
        }
        for name in ["carol", "mallory"] {
            if name == "carol" { _ = try world.userWithTwoFactor("carol") }
            var answers: [String] = []
            for _ in 0..<6 { answers.append(outcome { _ = try world.accounts.verify(name: name, code: "000000") }) }
            #expect(answers.suffix(2) == ["authentication_failed", "locked_out"], "\(name): \(answers)")
        }
        // The same message, the same retry time.
        expectError(.lockedOut(user: "nobody", retryAfter: 60)) {
            _ = try world.accounts.login(name: "nobody", credentials: world.credentials())
        }
    }

    /// The table of unknown names stays bounded.
    @Test func unknownNamesAreBounded() throws {
        let world = try World()
        _ = try world.accounts.register(name: "bob", password: try Password(raw: Array(rightPassword.utf8)), enrolment: nil)
        let store = try world.store()
        let time = world.clock.now()
        try store.writeTransaction { () throws(TwofaError) in
            for index in 0..<(UnknownAttempts.rowLimit + 50) {
                try store.setUnknownAttempts(
                    name: "guess\(index)", UnknownAttempts(failedAttempts: 1, lockedUntil: nil, lastAt: time + Int64(index)))
            }
        }
        let count = try store.connection.prepare("SELECT count(*) FROM unknown_attempts")
        #expect(try count.step() && count.int64(0) == Int64(UnknownAttempts.rowLimit))
        // The oldest went; idle rows go after a day.
        #expect(try store.unknownAttempts(name: "guess0") == nil)
        #expect(try store.unknownAttempts(name: "guess\(UnknownAttempts.rowLimit + 49)") != nil)
        try store.writeTransaction { () throws(TwofaError) in
            try store.setUnknownAttempts(
                name: "late", UnknownAttempts(failedAttempts: 1, lockedUntil: nil, lastAt: time + 200_000))
        }
        let after = try store.connection.prepare("SELECT count(*) FROM unknown_attempts")
        #expect(try after.step() && after.int64(0) == 1)
    }

    /// Point 6: hand-edited extreme values are a storage error naming the column, not a trap.
    @Test(arguments: [
        ("UPDATE users SET created_at = -9223372036854775808", "users.created_at"),
        ("UPDATE users SET failed_attempts = 9223372036854775807", "users.failed_attempts"),
        ("UPDATE users SET locked_until = 9223372036854775807", "users.locked_until"),
        ("UPDATE users SET last_login_at = -1", "users.last_login_at"),
        ("UPDATE totp SET last_step = -5", "totp.last_step"),
        ("UPDATE totp SET period = 9223372036854775807", "totp.period"),
        ("UPDATE audit SET at = -9223372036854775808", "audit.at"),
    ])
    func extremeStoredValues(sql: String, column: String) throws {
        let world = try World()
        _ = try world.userWithTwoFactor("bob")
        try world.store().connection.execute(sql)
        let fresh = world.twin()
        var error: TwofaError?
        do {
            if column.hasPrefix("audit") {
                _ = try fresh.auditEvents(user: nil, since: nil, limit: nil)
            } else {
                _ = try fresh.listUsers()
            }
        } catch let thrown {
            error = thrown
        }
        #expect(error?.exitCode == 74, "\(String(describing: error))")
        #expect(error?.message.contains(column) == true, "\(String(describing: error))")
        if !column.hasPrefix("audit") {
            let login = outcome { _ = try world.twin().login(name: "bob", credentials: world.credentials()) }
            #expect(login == "storage_error")
        }
    }
}

/// The audit context a front end passes (the PAM module's service and remote host): added to
/// every event the attempt writes, escaped and bounded.
@Suite("audit context")
struct AuditContextTests {
    @Test func contextIsAddedEscapedAndBounded() throws {
        let world = try World()
        _ = try world.accounts.register(name: "bob", password: try Password(raw: Array(rightPassword.utf8)), enrolment: nil)
        var environment = world.accounts.environment
        environment.auditContext = "pam service=sshd rhost=10.0.0.1\u{1b}]52;c;x\u{7}"
        _ = outcome { _ = try Accounts(environment: environment).login(name: "bob", credentials: world.credentials("wrong password 1")) }
        _ = try Accounts(environment: environment).login(name: "bob", credentials: world.credentials())
        let events = try world.accounts.auditEvents(user: "bob", since: nil, limit: 2)
        #expect(events.map(\.detail) == [
            "wrong password; pam service=sshd rhost=10.0.0.1\\x1b]52;c;x\\x07",
            "pam service=sshd rhost=10.0.0.1\\x1b]52;c;x\\x07",
        ])
        environment.auditContext = String(repeating: "é", count: 1000)
        #expect(environment.auditContext?.utf8.count ?? 0 <= AccountsEnvironment.auditContextLimit)
    }
}
