import Hummingbird
import Logging
import NIOCore
import TwofaAccounts
import TwofaDomain

/// An answer before it becomes an HTTP response.
struct Reply: Sendable {
    var status: HTTPResponse.Status
    var body: [UInt8] = []
    var contentType: String? = "application/json"
    var headers = HTTPFields()
    /// The user the access log names: a token's subject, or the account of a successful login
    /// or register; never a name from a failed attempt.
    var user: String?

    /// A JSON body ends with a newline, so a curl session at a terminal reads line by line.
    static func json(_ status: Int, _ value: JSON, user: String? = nil) -> Reply {
        Reply(status: HTTPResponse.Status(code: status), body: Array((value.serialized + "\n").utf8), user: user)
    }

    /// `{"error": {"code", "message"}}`, the CLI's JSON error object.
    static func problem(
        _ status: Int, _ code: String, _ message: String, retryAfter: Int64? = nil, headers: HTTPFields = [:],
        extra: [(String, JSON)] = []
    ) -> Reply {
        var fields: [(String, JSON)] = [("code", .string(code)), ("message", .string(message))]
        if let retryAfter { fields.append(("retry_after", .int(retryAfter))) }
        fields += extra
        var reply = json(status, .object([("error", .object(fields))]))
        reply.headers = headers
        return reply
    }

    /// The API's answer to a use case's error (http.md, "Errors"): the status from the one
    /// table (`TwofaError.httpStatus`), and the headers the status calls for.
    static func error(_ error: TwofaError) -> Reply {
        var headers = HTTPFields()
        var message = error.message
        switch error {
        case .lockedOut(let user, let retryAfter):
            headers[.retryAfter] = String(retryAfter)
            message = "'\(user)' is locked after too many failures: retry in \(retryAfter) s"
        case .invalidToken:
            headers[.wwwAuthenticate] = "Bearer"
        case .secondFactorRequired(let user, _):
            message = "'\(user)' has two-factor authentication on: give a code"
        case .internalError:
            // Details of a bug stay in the server's log, not in the answer.
            message = "internal error"
        case .storage, .keyFile, .file:
            // Paths, hosts and account names are for the operator (the server's log), not for
            // whoever asks.
            message = "the accounts cannot be reached now: try again later"
        case .mail:
            // The mail command's path and complaint (relay hosts, addresses) likewise.
            message = "the code could not be sent now: try again later"
        default:
            break
        }
        return problem(
            error.httpStatus, error.code, message, retryAfter: error.retryAfter, headers: headers,
            extra: error.delivery?.jsonFields ?? [])
    }
}

/// Who called, from a verified access token whose session is alive.
struct Caller: Sendable {
    var claims: AccessClaims
    var session: LiveSession
    var user: String { session.user }
}

/// One request as a handler sees it: the collected body and, on an authenticated route, the
/// caller.
struct Call: Sendable {
    var request: Request
    var body: ByteBuffer
    var caller: Caller?
}

/// One row of the endpoint table.
struct Endpoint: Sendable {
    var method: HTTPRequest.Method
    var path: String
    var authenticated: Bool
    var handler: @Sendable (Call) async throws(TwofaError) -> Reply
}

/// The whole HTTP surface: routing (an exact path table: 404 for an unknown path, 405 with
/// `Allow` for a known one), the body limit, bearer authentication, CORS, the error mapping and
/// the access log, around the endpoints.
struct TwofaResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    static let bodyLimit = 64 * 1024

    let routes: [String: [HTTPRequest.Method: Endpoint]]
    let tokens: AccessTokens
    let pool: AccountsPool
    let configuration: ServeConfiguration
    let logger: Logger

    init(endpoints: [Endpoint], tokens: AccessTokens, pool: AccountsPool, configuration: ServeConfiguration, logger: Logger) {
        var routes: [String: [HTTPRequest.Method: Endpoint]] = [:]
        for endpoint in endpoints { routes[endpoint.path, default: [:]][endpoint.method] = endpoint }
        self.routes = routes
        self.tokens = tokens
        self.pool = pool
        self.configuration = configuration
        self.logger = logger
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        var reply: Reply
        var caller: Caller?
        do {
            reply = try await route(request, caller: &caller)
        } catch {
            // What an operator must see to act: a bug, or a database or key file failing (the
            // messages carry paths and reasons, never a credential).
            if case .internalError(let detail) = error { logger.error("internal error: \(detail)") }
            if error.exitCode == 74 { logger.warning("\(error.message)") }
            reply = .error(error)
            // A failed request of a signed-in user is logged under the token's subject.
            reply.user = caller?.user
        }
        if let origin = request.headers[.origin], configuration.corsOrigins.contains(origin) {
            reply.headers[.accessControlAllowOrigin] = origin
            reply.headers[values: .vary] = ["Origin"]
        }
        var headers = reply.headers
        if let contentType = reply.contentType, !reply.body.isEmpty { headers[.contentType] = contentType }
        if headers[.cacheControl] == nil { headers[.cacheControl] = "no-store" }
        headers[.contentLength] = String(reply.body.count)
        let elapsed = ContinuousClock.now - started
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        var metadata: Logger.Metadata = [
            "method": .string(request.method.rawValue), "path": .string(request.uri.path),
            "status": .string(String(reply.status.code)), "duration_ms": .string(Self.format(milliseconds)),
        ]
        if let user = reply.user { metadata["user"] = .string(user) }
        logger.info("request", metadata: metadata)
        var buffer = ByteBuffer()
        buffer.writeBytes(reply.body)
        return Response(status: reply.status, headers: headers, body: ResponseBody(byteBuffer: buffer))
    }

    /// Milliseconds with three decimals.
    static func format(_ milliseconds: Double) -> String {
        let thousandths = Int((milliseconds * 1000).rounded())
        let fraction = String(thousandths % 1000)
        return "\(thousandths / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }

    private func route(_ request: Request, caller authenticated: inout Caller?) async throws(TwofaError) -> Reply {
        let path = request.uri.path
        guard let methods = routes[path] else {
            return .problem(404, "not_found", "no such endpoint: see /openapi.json")
        }
        if request.method == .options, let origin = request.headers[.origin], configuration.corsOrigins.contains(origin),
            request.headers[.accessControlRequestMethod] != nil
        {
            var reply = Reply(status: .noContent, contentType: nil)
            reply.headers[.accessControlAllowMethods] = "GET, POST, PUT"
            reply.headers[.accessControlAllowHeaders] = "Authorization, Content-Type"
            reply.headers[.accessControlMaxAge] = "600"
            return reply
        }
        guard let endpoint = methods[request.method] else {
            let allow = methods.keys.map(\.rawValue).sorted().joined(separator: ", ")
            var headers = HTTPFields()
            headers[.allow] = allow
            return .problem(
                405, "method_not_allowed", "\(terminalSafe(request.method.rawValue)) is not allowed here; use \(allow)",
                headers: headers)
        }
        let body = try await collectBody(request)
        if endpoint.authenticated { authenticated = try await authenticate(request) }
        return try await endpoint.handler(Call(request: request, body: body, caller: authenticated))
    }

    private static let tooLarge = TwofaError.payloadTooLarge(limit: bodyLimit)

    /// The body, at most 64 KiB: decided from `Content-Length` where given, before reading.
    private func collectBody(_ request: Request) async throws(TwofaError) -> ByteBuffer {
        if let length = request.headers[.contentLength], let size = Int(length), size > Self.bodyLimit {
            throw Self.tooLarge
        }
        do {
            return try await request.body.collect(upTo: Self.bodyLimit)
        } catch {
            throw Self.tooLarge
        }
    }

    /// `Authorization: Bearer <access token>`: the signature (once per token), the expiry, and
    /// the session alive (one indexed read).
    private func authenticate(_ request: Request) async throws(TwofaError) -> Caller {
        guard let header = request.headers[.authorization], header.count > 7,
            header.prefix(7).lowercased() == "bearer "
        else { throw .invalidToken }
        let token = String(header.dropFirst(7)).trimmingASCIIWhitespace()
        let now = configuration.environment.clock.now()
        guard let claims = await tokens.verify(token, now: now) else { throw .invalidToken }
        let session = try await pool.run(.quick) { (accounts) throws(TwofaError) in
            try accounts.liveSession(id: claims.sid, user: claims.sub)
        }
        guard let session else { throw .invalidToken }
        return Caller(claims: claims, session: session)
    }
}
