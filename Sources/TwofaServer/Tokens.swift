import Crypto
import FoundationEssentials
import JWTKit
import Synchronization
import TwofaAccounts
import TwofaDomain

/// The claims of an access token (http.md, "Tokens").
struct AccessClaims: JWTPayload, Equatable {
    var iss: String
    var sub: String
    var iat: Int64
    var exp: Int64
    var jti: String
    var sid: String
    var amr: [String]

    /// Expiry is checked by `AccessTokens` against its own clock, with no leeway.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Signs access tokens with the database's Ed25519 keys (jwt-kit) and verifies them, each
/// token's signature once: a verified token is kept (by its SHA-256, never the token itself)
/// until its `exp`, in a bounded table.
final class AccessTokens: Sendable {
    private let keys: JWTKeyCollection
    private let signingKid: String
    let issuer: String
    /// The JWKS document (RFC 7517), made once.
    let jwks: JSON
    private let verified = Mutex<[SHA256Digest: AccessClaims]>([:])
    static let cacheLimit = 50_000

    init(keys signingKeys: [SigningKey], issuer: String) async throws(TwofaError) {
        guard let newest = signingKeys.last else { throw .internalError("no signing key") }
        let collection = JWTKeyCollection()
        var published: [JSON] = []
        for key in signingKeys {
            do {
                let backing = try Curve25519.Signing.PrivateKey(rawRepresentation: key.privateKey)
                await collection.add(eddsa: EdDSA.PrivateKey(backing: backing), kid: JWKIdentifier(string: key.kid))
            } catch {
                throw .internalError("a stored signing key is not an Ed25519 key")
            }
            published.append(.object([
                ("kty", .string("OKP")), ("crv", .string("Ed25519")), ("alg", .string("EdDSA")), ("use", .string("sig")),
                ("kid", .string(key.kid)), ("x", .string(Self.base64URL(key.publicKey))),
            ]))
        }
        keys = collection
        signingKid = newest.kid
        self.issuer = issuer
        jwks = .object([("keys", .array(published))])
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        text = String(text.compactMap { character -> Character? in
            switch character {
            case "+": "-"
            case "/": "_"
            case "=": nil
            default: character
            }
        })
        return text
    }

    func sign(_ grant: SessionGrant) async throws(TwofaError) -> String {
        let claims = AccessClaims(
            iss: issuer, sub: grant.user, iat: grant.issuedAt, exp: grant.expiresAt, jti: grant.tokenID,
            sid: grant.sessionID, amr: grant.methods)
        do {
            return try await keys.sign(claims, kid: JWKIdentifier(string: signingKid))
        } catch {
            throw .internalError("cannot sign the access token")
        }
    }

    /// The claims of a token this server (or another sharing its database) signed, not
    /// expired at `now` (no leeway: from its `exp` second it is refused); nil for any other.
    func verify(_ token: String, now: Int64) async -> AccessClaims? {
        guard token.utf8.count <= 4096 else { return nil }
        let digest = SHA256.hash(data: Array(token.utf8))
        if let claims = verified.withLock({ $0[digest] }) {
            return claims.exp > now ? claims : nil
        }
        // The signature by one of this database's keys is the check: every instance on the
        // database signs with them, whatever issuer name each was started with.
        guard let claims = try? await keys.verify(token, as: AccessClaims.self) else { return nil }
        guard claims.exp > now else { return nil }
        verified.withLock { table in
            if table.count >= Self.cacheLimit {
                table = table.filter { $0.value.exp > now }
                if table.count >= Self.cacheLimit { table.removeAll(keepingCapacity: true) }
            }
            table[digest] = claims
        }
        return claims
    }
}
