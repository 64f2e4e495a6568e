import Foundation
import Testing
@testable import TwofaAccounts
@testable import TwofaStorage
import TwofaDomain

/// A clock the test moves by hand.
final class ManualClock: UnixClock, @unchecked Sendable {
    private let lock = NSLock()
    private var time: Int64
    init(_ time: Int64) { self.time = time }
    func now() -> Int64 { lock.withLock { time } }
    func advance(_ seconds: Int64) { lock.withLock { time += seconds } }
}

/// Accounts on a real SQLite file in a temporary folder, at a time the test sets.
/// Shared by the racing threads of a test: each makes its own Accounts (`twin()`), and the
/// clock is locked.
struct World: @unchecked Sendable {
    let folder: String
    let clock: ManualClock
    let accounts: Accounts
    var database: String { folder + "/twofa.db" }

    init(time: Int64 = 1_700_000_010) throws {
        folder = NSTemporaryDirectory() + "twofa-accounts-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        clock = ManualClock(time)
        accounts = Accounts(environment: AccountsEnvironment(databasePath: folder + "/twofa.db", clock: clock))
    }

    func credentials(_ password: String = "a long passphrase 42", code: String? = nil) -> Credentials {
        Credentials(password: { () throws(TwofaError) in try Password(raw: Array(password.utf8)) }, code: { code })
    }

    /// Registers `name` and turns 2FA on; returns the secret's generator.
    func userWithTwoFactor(_ name: String, parameters: TOTPParameters = .default) throws -> OTPGenerator {
        _ = try accounts.register(name: name, password: try Password(raw: Array("a long passphrase 42".utf8)), enrolment: nil)
        let enrolment = try accounts.enableTwoFactor(
            name: name, request: EnrolmentRequest(issuer: "Test", parameters: parameters), credentials: credentials())
        let generator = try OTPGenerator(secret: enrolment.secret, parameters: parameters)
        // Confirm with the previous step's code, leaving the current and next steps unused.
        let result = try accounts.verify(name: name, code: generator.code(at: clock.now() - parameters.period))
        #expect(result.activated)
        return generator
    }

    func store() throws -> SQLiteAccountStore {
        try #require(try SQLiteAccountStore.open(path: database, create: false))
    }
}

func expectError(_ expected: TwofaError, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("expected \(expected), got success", sourceLocation: sourceLocation)
    } catch let error as TwofaError {
        #expect(error == expected, sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("accounts: codes, replay, lockout")
struct AccountsTests {
    @Test func windowIsOneStepEitherSide() throws {
        let world = try World()
        let totp = try world.userWithTwoFactor("alice")
        let t = world.clock.now()
        expectError(.authenticationFailed) { _ = try world.accounts.verify(name: "alice", code: totp.code(at: t + 60)) }
        #expect(try world.accounts.verify(name: "alice", code: totp.code(at: t)).activated == false)
        #expect(try world.accounts.verify(name: "alice", code: totp.code(at: t + 30)).activated == false)
        world.clock.advance(120)
        // Two steps back is outside the window.
        expectError(.authenticationFailed) { _ = try world.accounts.verify(name: "alice", code: totp.code(at: world.clock.now() - 60)) }
    }

    @Test func aCodeIsAcceptedOnceWhicheverCommand() throws {
        let world = try World()
        let totp = try world.userWithTwoFactor("alice")
        let t = world.clock.now()
        let code = totp.code(at: t)
        let login = try world.accounts.login(name: "alice", credentials: world.credentials(code: code))
        #expect(login.secondFactor == .totp)
        // A used code says so (exit 1 still, JSON code_reused).
        expectError(.codeReused) { _ = try world.accounts.verify(name: "alice", code: code) }
        expectError(.codeReused) {
            try world.accounts.disableTwoFactor(name: "alice", credentials: world.credentials(code: code))
        }
        // The previous step is older than the last accepted one: a replay.
        expectError(.codeReused) { _ = try world.accounts.verify(name: "alice", code: totp.code(at: t - 30)) }
        #expect(try world.store().user(named: "alice")?.totp?.lastStep == Int64(totp.step(at: t)))
    }

    @Test func lockoutDoublesUpToAnHourAndSuccessResets() throws {
        let world = try World()
        _ = try world.accounts.register(name: "alice", password: try Password(raw: Array("a long passphrase 42".utf8)), enrolment: nil)
        for _ in 0..<4 {
            expectError(.authenticationFailed) { _ = try world.accounts.login(name: "alice", credentials: world.credentials("wrong one 123")) }
        }
        #expect(try world.store().user(named: "alice")?.lockedUntil == nil)
        expectError(.authenticationFailed) { _ = try world.accounts.login(name: "alice", credentials: world.credentials("wrong one 123")) }
        // Locked for 60 s: even the right password fails, and does not count.
        expectError(.lockedOut(user: "alice", retryAfter: 60)) { _ = try world.accounts.login(name: "alice", credentials: world.credentials()) }
        world.clock.advance(10)
        expectError(.lockedOut(user: "alice", retryAfter: 50)) { _ = try world.accounts.login(name: "alice", credentials: world.credentials("wrong one 123")) }
        #expect(try world.store().user(named: "alice")?.failedAttempts == 5)
        var expected: Int64 = 120
        for _ in 0..<8 {
            world.clock.advance(3600)
            expectError(.authenticationFailed) { _ = try world.accounts.login(name: "alice", credentials: world.credentials("wrong one 123")) }
            expectError(.lockedOut(user: "alice", retryAfter: expected)) { _ = try world.accounts.login(name: "alice", credentials: world.credentials()) }
            expected = min(expected * 2, 3600)
        }
        world.clock.advance(3600)
        _ = try world.accounts.login(name: "alice", credentials: world.credentials())
        let user = try #require(try world.store().user(named: "alice"))
        #expect(user.failedAttempts == 0 && user.lockedUntil == nil && user.lastLoginAt == world.clock.now())
    }

    @Test func wrongCodesLockToo() throws {
        let world = try World()
        let totp = try world.userWithTwoFactor("alice")
        let wrong = totp.code(at: world.clock.now() + 3600)
        for _ in 0..<5 {
            expectError(.authenticationFailed) { _ = try world.accounts.verify(name: "alice", code: wrong) }
        }
        expectError(.lockedOut(user: "alice", retryAfter: 60)) {
            _ = try world.accounts.verify(name: "alice", code: totp.code(at: world.clock.now()))
        }
    }

    @Test func unknownUsersFailLikeWrongPasswords() throws {
        let world = try World()
        expectError(.authenticationFailed) { _ = try world.accounts.login(name: "nobody", credentials: world.credentials()) }
        expectError(.authenticationFailed) { _ = try world.accounts.verify(name: "nobody", code: "123456") }
        #expect(!FileManager.default.fileExists(atPath: world.database))
        _ = try world.accounts.register(name: "alice", password: try Password(raw: Array("a long passphrase 42".utf8)), enrolment: nil)
        expectError(.authenticationFailed) { _ = try world.accounts.login(name: "nobody", credentials: world.credentials()) }
        expectError(.userNotFound(user: "nobody")) { _ = try world.accounts.currentCode(name: "nobody", at: nil) }
        // verify of a user whose 2FA is off answers as a wrong code does.
        expectError(.authenticationFailed) { _ = try world.accounts.verify(name: "alice", code: "123456") }
    }

    @Test func sealedSecretIsBoundToItsUser() throws {
        let world = try World()
        _ = try world.userWithTwoFactor("alice")
        _ = try world.userWithTwoFactor("bob")
        let store = try world.store()
        let alice = try #require(try store.user(named: "alice"))
        let bob = try #require(try store.user(named: "bob"))
        var stolen = try #require(bob.totp)
        try store.writeTransaction { () throws(TwofaError) in
            stolen.sealedSecret = alice.totp?.sealedSecret ?? []
            try store.setTOTP(userID: bob.id, stolen)
        }
        do {
            _ = try world.accounts.currentCode(name: "bob", at: nil)
            Issue.record("a secret sealed for alice opened for bob")
        } catch {
            #expect(error.exitCode == 74)
        }
        #expect(try world.accounts.currentCode(name: "alice", at: nil).code.count == 6)
    }

    @Test func registerStoresLowerCaseNameAndYescrypt() throws {
        let world = try World()
        let made = try world.accounts.register(name: "Alice.Smith", password: try Password(raw: Array("a long passphrase 42".utf8)), enrolment: nil)
        #expect(made.user == "alice.smith")
        let user = try #require(try world.store().user(named: "alice.smith"))
        #expect(user.passwordHash.hasPrefix("$y$"))
        #expect(user.createdAt == world.clock.now())
        #expect(user.twoFactor == .off)
        expectError(.userExists(user: "alice.smith")) {
            _ = try world.accounts.register(name: "ALICE.SMITH", password: try Password(raw: Array("another passphrase 7".utf8)), enrolment: nil)
        }
    }
}

@Suite("storage: schema and files")
struct SchemaTests {
    @Test func newerSchemaIsRefused() throws {
        let world = try World()
        _ = try world.accounts.register(name: "alice", password: try Password(raw: Array("a long passphrase 42".utf8)), enrolment: nil)
        try world.store().connection.execute("PRAGMA user_version = 99")
        do {
            _ = try SQLiteAccountStore.open(path: world.database, create: false)
            Issue.record("a newer schema was opened")
        } catch {
            #expect(error.exitCode == 74)
            #expect(error.message.contains("newer"))
        }
    }

    @Test func anotherProgramsDatabaseIsNotMigrated() throws {
        let world = try World()
        let store = try #require(try SQLiteAccountStore.open(path: world.database, create: true))
        try store.connection.execute("PRAGMA user_version = 0; CREATE TABLE theirs (x)")
        do {
            _ = try SQLiteAccountStore.open(path: world.database, create: false)
            Issue.record("a foreign database was migrated")
        } catch {
            #expect(error.message.contains("not twofa's"))
        }
    }

    @Test func schemaIsAtTheCurrentVersion() throws {
        let world = try World()
        let store = try #require(try SQLiteAccountStore.open(path: world.database, create: true))
        let statement = try store.connection.prepare("PRAGMA user_version")
        #expect(try statement.step())
        #expect(statement.int64(0) == Int64(Schema.currentVersion))
        #expect(try SQLiteAccountStore.open(path: world.folder + "/missing.db", create: false) == nil)
        #expect(!FileManager.default.fileExists(atPath: world.folder + "/missing.db"))
    }
}
