import Foundation
import Testing
@testable import TwofaAccounts
@testable import TwofaStorage
import TwofaDomain

/// The HTTP API's sessions, on the use cases' own clock: lifetimes, single use, revocation,
/// and the races where single use is decided (inside the writing transaction).
@Suite("sessions: tokens, lifetimes and races")
struct SessionTests {
    let password = { () throws -> Password in try Password(raw: Array(rightPassword.utf8)) }

    func signedIn(_ step: SignInStep) throws -> SessionGrant {
        guard case .signedIn(let grant) = step else {
            Issue.record("expected a session, got \(step)")
            throw TwofaError.internalError("no session")
        }
        return grant
    }

    @Test func lifetimesAreTheContractsAndRefreshingDoesNotExtendTheSession() throws {
        let world = try World()
        _ = try world.accounts.register(name: "ann", password: try password(), enrolment: nil)
        let lifetimes = TokenLifetimes(access: 900, refresh: 3600)
        let grant = try signedIn(try world.accounts.signIn(name: "ann", password: try password(), lifetimes: lifetimes))
        #expect(grant.expiresAt == grant.issuedAt + 900 && grant.methods == ["pwd"])
        #expect(grant.refreshToken.count == 64 && grant.sessionID.count == 32)
        #expect(try world.accounts.liveSession(id: grant.sessionID, user: "ann") != nil)
        #expect(try world.accounts.liveSession(id: grant.sessionID, user: "bob") == nil, "sub must match the session")
        world.clock.advance(3000)
        let refreshed = try world.accounts.refreshSession(token: grant.refreshToken, lifetimes: lifetimes)
        #expect(refreshed.sessionID == grant.sessionID)
        #expect(refreshed.expiresAt == grant.issuedAt + 3600, "an access token never outlives its session")
        world.clock.advance(600)
        #expect(try world.accounts.liveSession(id: grant.sessionID, user: "ann") == nil)
        expectError(.invalidToken) { _ = try world.accounts.refreshSession(token: refreshed.refreshToken, lifetimes: lifetimes) }
        // Only digests are stored.
        let rows = try world.store().connection.prepare("SELECT count(*) FROM refresh_tokens")
        #expect(try rows.step())
        let stored = try world.store().connection.prepare("SELECT hex(digest) FROM refresh_tokens")
        while try stored.step() { #expect(stored.text(0).lowercased() != grant.refreshToken) }
    }

    @Test func loginTokensLiveFiveMinutesAndDieAfterFiveWrongCodes() throws {
        let world = try World()
        let totp = try world.userWithTwoFactor("bea")
        guard case .codeNeeded(_, let token, let expiresIn, _) = try world.accounts.signIn(name: "bea", password: try password())
        else { Issue.record("2FA on must ask for a code"); return }
        #expect(expiresIn == 300)
        world.clock.advance(300)
        expectError(.invalidToken) { _ = try world.accounts.completeSignIn(loginToken: token, code: totp.code(at: world.clock.now())) }
        guard case .codeNeeded(_, let second, _, _) = try world.accounts.signIn(name: "bea", password: try password()) else { return }
        for _ in 0..<4 {
            expectError(.authenticationFailed) { _ = try world.accounts.completeSignIn(loginToken: second, code: "000000") }
        }
        #expect(try world.failures("bea") == 4)
        // A fresh login token after an unlock: the old one counted its own failures.
        try world.accounts.unlock(name: "bea")
        expectError(.authenticationFailed) { _ = try world.accounts.completeSignIn(loginToken: second, code: "000000") }
        try world.accounts.unlock(name: "bea")
        expectError(.invalidToken) { _ = try world.accounts.completeSignIn(loginToken: second, code: totp.code(at: world.clock.now())) }
        expectError(.invalidToken) { _ = try world.accounts.completeSignIn(loginToken: "not a token", code: "123456") }
    }

    /// The attack: a stolen refresh token raced against its owner's. One refresh wins; the
    /// other is a reuse, which revokes the session, the winner's new tokens with it.
    @Test func racingRefreshesOfOneTokenGetOneAnswerAndRevokeTheSession() throws {
        let world = try World()
        _ = try world.accounts.register(name: "cat", password: try password(), enrolment: nil)
        let grant = try signedIn(try world.accounts.signIn(name: "cat", password: try password()))
        let racers = 8
        let outcomes = world.race(racers) { _, gate in
            let twin = world.twin()
            gate.arrive()
            _ = try twin.refreshSession(token: grant.refreshToken)
        }
        #expect(outcomes.count("ok") == 1, "\(outcomes.all)")
        #expect(outcomes.count("invalid_token") == racers - 1)
        #expect(try world.accounts.liveSession(id: grant.sessionID, user: "cat") == nil)
    }

    /// One login token, raced with the right code: one session, the rest refused as a used
    /// token (decided inside the transaction, before the code is looked at).
    @Test func racingCodeStepsOfOneLoginTokenMakeOneSession() throws {
        let world = try World()
        let totp = try world.userWithTwoFactor("dot")
        guard case .codeNeeded(_, let token, _, _) = try world.accounts.signIn(name: "dot", password: try password()) else { return }
        let code = totp.code(at: world.clock.now())
        let outcomes = world.race(8) { _, gate in
            let twin = world.twin()
            gate.arrive()
            _ = try twin.completeSignIn(loginToken: token, code: code)
        }
        #expect(outcomes.count("ok") == 1, "\(outcomes.all)")
        #expect(outcomes.count("invalid_token") == 7, "\(outcomes.all)")
        #expect(try world.failures("dot") == 0, "a used token counts no failure")
    }

    @Test func signingKeysAreMadeOnceSealedAndSharedByEveryInstance() throws {
        let world = try World()
        let first = try world.accounts.signingKeys()
        let second = try world.twin().signingKeys()
        #expect(first.count == 1 && first[0].kid == second[0].kid && first[0].privateKey == second[0].privateKey)
        let stored = try world.store().signingKeys()
        #expect(stored.count == 1 && stored[0].sealedPrivateKey != first[0].privateKey && stored[0].sealedPrivateKey.count > 32)
        // The key file is now needed: a missing one is not silently replaced.
        try FileManager.default.removeItem(atPath: world.database + ".key")
        expectError(.keyFile(path: world.database + ".key", reason: "it is missing, and the database holds encrypted secrets: restore the key file from your backup (TWOFA_KEY_FILE names another place)")) {
            _ = try world.twin().signingKeys()
        }
    }
}

