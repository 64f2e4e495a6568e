import FoundationEssentials
import Hummingbird
import NIOCore
import TwofaAccounts
import TwofaDomain

/// The endpoints of http.md, each a thin call into the use cases (`Accounts`): the same login,
/// lockout and replay decisions as the command line, made in the store's write transaction.
struct Endpoints: Sendable {
    let pool: AccountsPool
    let tokens: AccessTokens
    let configuration: ServeConfiguration

    /// The endpoint table of http.md: method, path, and whether a bearer token is needed.
    /// openapi.json documents exactly these (a test compares the two).
    static let table: [(method: HTTPRequest.Method, path: String, authenticated: Bool)] = [
        (.post, "/api/v1/auth/register", false),
        (.post, "/api/v1/auth/login", false),
        (.post, "/api/v1/auth/login/2fa", false),
        (.post, "/api/v1/auth/refresh", false),
        (.post, "/api/v1/auth/logout", true),
        (.post, "/api/v1/auth/password", true),
        (.get, "/api/v1/users/me", true),
        (.post, "/api/v1/2fa/setup", true),
        (.get, "/api/v1/2fa/qrcode", true),
        (.post, "/api/v1/2fa/verify", true),
        (.post, "/api/v1/2fa/disable", true),
        (.post, "/api/v1/2fa/backup-codes", true),
        (.get, "/healthz", false),
        (.get, "/.well-known/jwks.json", false),
        (.get, "/openapi.json", false),
    ]

    var all: [Endpoint] {
        Self.table.map { Endpoint(method: $0.method, path: $0.path, authenticated: $0.authenticated, handler: handler($0.path)) }
    }

    private func handler(_ path: String) -> @Sendable (Call) async throws(TwofaError) -> Reply {
        switch path {
        case "/api/v1/auth/register": register
        case "/api/v1/auth/login": login
        case "/api/v1/auth/login/2fa": loginCode
        case "/api/v1/auth/refresh": refresh
        case "/api/v1/auth/logout": logout
        case "/api/v1/auth/password": password
        case "/api/v1/users/me": me
        case "/api/v1/2fa/setup": setup
        case "/api/v1/2fa/qrcode": qrcode
        case "/api/v1/2fa/verify": verify
        case "/api/v1/2fa/disable": disable
        case "/api/v1/2fa/backup-codes": backupCodes
        case "/healthz": health
        case "/.well-known/jwks.json": jwks
        default: openAPI
        }
    }

    // MARK: - Bodies

    struct RegisterBody: Decodable {
        var username: String
        var password: String
        var enable_2fa: Bool?
    }

    struct Credentials: Decodable {
        var username: String
        var password: String
    }

    struct CodeStep: Decodable {
        var login_token: String
        var code: String?
    }

    struct RefreshBody: Decodable {
        var refresh_token: String
    }

    struct PasswordChange: Decodable {
        var old_password: String
        var new_password: String
    }

    struct SetupBody: Decodable {
        var issuer: String?
        var algorithm: String?
        var digits: Int?
        var period: Int64?
    }

    struct CodeBody: Decodable {
        var code: String
    }

    struct PasswordAndCode: Decodable {
        var password: String
        var code: String?
    }

    // MARK: - Auth

    func register(_ call: Call) async throws(TwofaError) -> Reply {
        guard configuration.allowSignup else {
            return .problem(403, "signup_closed", "sign-up is closed: an operator registers users with 'twofa register'")
        }
        let body = try decode(RegisterBody.self, call)
        let password = try Password(raw: Array(body.password.utf8))
        let request = body.enable_2fa == true ? EnrolmentRequest(issuer: configuration.issuer) : nil
        let registration = try await pool.run(.hashing) { (accounts) throws(TwofaError) in
            try accounts.register(name: body.username, password: password, enrolment: request)
        }
        var fields: [(String, JSON)] = [("user", .string(registration.user)), ("created", .bool(true))]
        if let enrolment = registration.enrolment { fields += Self.enrolmentFields(enrolment) }
        return .json(201, .object(fields), user: registration.user)
    }

    func login(_ call: Call) async throws(TwofaError) -> Reply {
        let body: Credentials
        // The OAuth2 password form FastAPI clients send; a JSON body sent with the form's type
        // (what `curl -d` does) is still read as JSON.
        if let type = call.request.headers[.contentType], type.lowercased().hasPrefix("application/x-www-form-urlencoded"),
            call.body.readableBytesView.first(where: { $0 != 0x20 && $0 != 0x0a && $0 != 0x0d && $0 != 0x09 }) != UInt8(ascii: "{")
        {
            do {
                body = try URLEncodedFormDecoder().decode(Credentials.self, from: String(buffer: call.body))
            } catch {
                throw .malformedRequest("the form needs username and password")
            }
        } else {
            body = try decode(Credentials.self, call)
        }
        let password = try Password(raw: Array(body.password.utf8))
        let lifetimes = configuration.lifetimes
        let step = try await pool.run(.hashing) { (accounts) throws(TwofaError) in
            try accounts.signIn(name: body.username, password: password, lifetimes: lifetimes)
        }
        switch step {
        case .signedIn(let grant):
            return try await tokenPair(grant)
        case .codeNeeded(let user, let loginToken, let expiresIn, let delivery):
            // An email device's code went out: `sent_to` says where (`resend_in` when the last
            // went less than 30 s ago and none was sent now).
            return .json(
                200,
                .object([
                    ("two_factor_required", .bool(true)), ("login_token", .string(loginToken)), ("expires_in", .int(expiresIn)),
                ] + (delivery?.jsonFields ?? [])), user: user)
        }
    }

    func loginCode(_ call: Call) async throws(TwofaError) -> Reply {
        let body = try decode(CodeStep.self, call)
        let lifetimes = configuration.lifetimes
        let grant = try await pool.run(.quick) { (accounts) throws(TwofaError) in
            try accounts.completeSignIn(loginToken: body.login_token, code: body.code, lifetimes: lifetimes)
        }
        return try await tokenPair(grant, extra: grant.secondFactor.map { [("second_factor", .string($0.rawValue))] } ?? [])
    }

    func refresh(_ call: Call) async throws(TwofaError) -> Reply {
        let body = try decode(RefreshBody.self, call)
        let lifetimes = configuration.lifetimes
        let grant = try await pool.run(.quick) { (accounts) throws(TwofaError) in
            try accounts.refreshSession(token: body.refresh_token, lifetimes: lifetimes)
        }
        return try await tokenPair(grant)
    }

    func logout(_ call: Call) async throws(TwofaError) -> Reply {
        let caller = try caller(call)
        try await pool.run(.quick) { (accounts) throws(TwofaError) in
            try accounts.signOut(sessionID: caller.session.id, user: caller.user)
        }
        return Reply(status: .noContent, contentType: nil, user: caller.user)
    }

    func password(_ call: Call) async throws(TwofaError) -> Reply {
        let caller = try caller(call)
        let body = try decode(PasswordChange.self, call)
        let old = try Password(raw: Array(body.old_password.utf8))
        let new = try Password(raw: Array(body.new_password.utf8))
        try await pool.run(.hashing) { (accounts) throws(TwofaError) in
            try accounts.changePassword(
                name: caller.user, old: { () throws(TwofaError) in old }, new: { () throws(TwofaError) in new },
                keepingSession: caller.session.id)
        }
        return .json(200, .object([("password_changed", .bool(true))]), user: caller.user)
    }

    /// The access token (signed here) and the refresh token of a grant.
    private func tokenPair(_ grant: SessionGrant, extra: [(String, JSON)] = []) async throws(TwofaError) -> Reply {
        let access = try await tokens.sign(grant)
        return .json(
            200,
            .object([
                ("access_token", .string(access)), ("refresh_token", .string(grant.refreshToken)),
                ("token_type", .string("Bearer")), ("expires_in", .int(grant.expiresAt - grant.issuedAt)),
            ] + extra), user: grant.user)
    }

    // MARK: - The signed-in user

    func me(_ call: Call) async throws(TwofaError) -> Reply {
        let session = try caller(call).session
        return .json(
            200,
            .object([
                ("user", .string(session.user)), ("two_factor", .string(session.twoFactor.rawValue)),
                ("created_at", .string(Timestamp.format(session.createdAt))),
                ("last_login_at", session.lastLoginAt.map { .string(Timestamp.format($0)) } ?? .null),
                ("amr", .array(session.methods.map { .string($0) })),
            ]), user: session.user)
    }

    func setup(_ call: Call) async throws(TwofaError) -> Reply {
        let caller = try caller(call)
        let body = call.body.readableBytes == 0 ? SetupBody() : try decode(SetupBody.self, call)
        var parameters = TOTPParameters.default
        if let name = body.algorithm {
            guard let algorithm = OTPAlgorithm(rawValue: name.lowercased()) else {
                throw .invalidOption("algorithm must be sha1, sha256 or sha512")
            }
            parameters.algorithm = algorithm
        }
        if let digits = body.digits { parameters.digits = digits }
        if let period = body.period { parameters.period = period }
        let request = EnrolmentRequest(issuer: body.issuer ?? configuration.issuer, parameters: parameters)
        let enrolment = try await pool.run(.quick) { (accounts) throws(TwofaError) in
            try accounts.enableTwoFactor(sessionUser: caller.user, request: request)
        }
        return .json(200, .object([("user", .string(enrolment.user))] + Self.enrolmentFields(enrolment)), user: caller.user)
    }

    func qrcode(_ call: Call) async throws(TwofaError) -> Reply {
        let caller = try caller(call)
        let format = call.request.uri.queryParameters.get("format").map { String($0) } ?? "png"
        guard format == "png" || format == "svg" else { throw .invalidOption("format must be png or svg") }
        let enrolment = try await pool.run(.quick) { (accounts) throws(TwofaError) in
            try accounts.pendingEnrolment(name: caller.user)
        }
        let code = try QRCode(encoding: enrolment.uri.string)
        if format == "svg" {
            return Reply(status: .ok, body: Array(QRImage.svg(code).utf8), contentType: "image/svg+xml", user: caller.user)
        }
        return Reply(status: .ok, body: try QRImage.png(code), contentType: "image/png", user: caller.user)
    }

    func verify(_ call: Call) async throws(TwofaError) -> Reply {
        let caller = try caller(call)
        let body = try decode(CodeBody.self, call)
        let result = try await pool.run(.quick) { (accounts) throws(TwofaError) in
            try accounts.verify(name: caller.user, code: body.code)
        }
        var fields: [(String, JSON)] = [("valid", .bool(true)), ("activated", .bool(result.activated))]
        if let codes = result.backupCodes { fields.append(("backup_codes", .array(codes.map { .string($0) }))) }
        return .json(200, .object(fields), user: caller.user)
    }

    func disable(_ call: Call) async throws(TwofaError) -> Reply {
        let caller = try caller(call)
        let body = try decode(PasswordAndCode.self, call)
        let credentials = try Self.credentials(body)
        try await pool.run(.hashing) { (accounts) throws(TwofaError) in
            try accounts.disableTwoFactor(name: caller.user, credentials: credentials(), keepingSession: caller.session.id)
        }
        return .json(200, .object([("two_factor", .string("off"))]), user: caller.user)
    }

    func backupCodes(_ call: Call) async throws(TwofaError) -> Reply {
        let caller = try caller(call)
        let body = try decode(PasswordAndCode.self, call)
        let credentials = try Self.credentials(body)
        let codes = try await pool.run(.hashing) { (accounts) throws(TwofaError) in
            try accounts.regenerateBackupCodes(name: caller.user, credentials: credentials())
        }
        return .json(200, .object([("backup_codes", .array(codes.map { .string($0) }))]), user: caller.user)
    }

    // MARK: - Public documents

    func health(_ call: Call) async throws(TwofaError) -> Reply {
        try await pool.run(.quick) { (accounts) throws(TwofaError) in try accounts.ping() }
        return .json(200, .object([("status", .string("ok"))]))
    }

    func jwks(_ call: Call) async throws(TwofaError) -> Reply {
        var reply = Reply.json(200, tokens.jwks)
        reply.contentType = "application/jwk-set+json"
        reply.headers[.cacheControl] = "public, max-age=300"
        return reply
    }

    func openAPI(_ call: Call) async throws(TwofaError) -> Reply {
        var reply = Reply(status: .ok, body: PackageResources.openapi_json)
        reply.headers[.cacheControl] = "public, max-age=300"
        return reply
    }

    // MARK: - Shared steps

    private func caller(_ call: Call) throws(TwofaError) -> Caller {
        guard let caller = call.caller else { throw .invalidToken }
        return caller
    }

    /// The password and code of a body, for the use cases to ask for when they need them.
    private static func credentials(_ body: PasswordAndCode) throws(TwofaError) -> @Sendable () -> TwofaAccounts.Credentials {
        let password = try Password(raw: Array(body.password.utf8))
        let code = body.code
        return {
            TwofaAccounts.Credentials(password: { () throws(TwofaError) in password }, code: { () throws(TwofaError) in code })
        }
    }

    /// The keys of the command line's `enable-2fa` JSON.
    static func enrolmentFields(_ enrolment: Enrolment) -> [(String, JSON)] {
        [
            ("status", .string(enrolment.status.rawValue)),
            ("secret", .string(Base32.encode(enrolment.secret))),
            ("otpauth_uri", .string(enrolment.uri.string)),
            ("algorithm", .string(enrolment.parameters.algorithm.rawValue)),
            ("digits", .int(enrolment.parameters.digits)),
            ("period", .int(enrolment.parameters.period)),
        ]
    }

    /// A JSON body as `T`: not JSON, a field missing or of the wrong type is 400 (the value's
    /// own rules are the use case's, 422).
    private func decode<T: Decodable>(_ type: T.Type, _ call: Call) throws(TwofaError) -> T {
        let bytes = Data(call.body.readableBytesView)
        do {
            return try JSONDecoder().decode(T.self, from: bytes)
        } catch let DecodingError.keyNotFound(key, _) {
            throw .malformedRequest("the body lacks \"\(key.stringValue)\"")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw .malformedRequest(field.isEmpty ? "the body must be a JSON object" : "\"\(field)\" has the wrong type")
        } catch {
            throw .malformedRequest("the body is not JSON")
        }
    }
}
