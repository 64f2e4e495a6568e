import Glibc
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import TwofaAccounts
import TwofaDomain
@_exported import TwofaServeOptions

/// `twofa serve`: checks the database, the key file and the TLS files, then serves until
/// SIGTERM or SIGINT, finishing the requests in flight (at most 10 s).
public enum TwofaServer {
    /// Every route, as `METHOD /path` (for the test that holds openapi.json to them).
    public static var routes: [String] { Endpoints.table.map { "\($0.method.rawValue) \($0.path)" } }

    /// The OpenAPI document served at /openapi.json.
    public static var openAPIDocument: [UInt8] { PackageResources.openapi_json }

    /// Runs the server; answers the exit code (0 after a graceful shutdown; 74 when the database
    /// or key is unusable at start; 70 when the address cannot be bound).
    public static func run(_ configuration: ServeConfiguration) async -> Int32 {
        let handler = AccessLogHandler(json: configuration.jsonLog)
        var logger = Logger(label: "twofa serve") { _ in handler }
        logger.logLevel = .info
        var quiet = Logger(label: "twofa serve (hummingbird)") { _ in handler }
        quiet.logLevel = .warning

        let cores = System.coreCount
        let pool = AccountsPool(
            environment: configuration.environment, hashingThreads: max(cores, 2), quickThreads: max(cores, 2))
        defer { Task { await pool.shutdown() } }
        let tokens: AccessTokens
        do {
            try PasswordHasher.loadLibrary()
            let keys = try pool.runHere { (accounts) throws(TwofaError) in try accounts.signingKeys() }
            tokens = try await AccessTokens(keys: keys, issuer: configuration.issuer)
        } catch {
            say(error.message)
            return error.exitCode
        }

        // Idle connections are closed after 30 s: slow or silent clients cannot hold sockets
        // (nor a graceful shutdown) for ever.
        let http1 = HTTP1Channel.Configuration(idleTimeout: .seconds(30))
        var server: HTTPServerBuilder = .http1(configuration: http1)
        if let certificate = configuration.tlsCertificate, let key = configuration.tlsKey {
            do {
                var tls = TLSConfiguration.makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
                tls.minimumTLSVersion = .tlsv12
                server = try .tls(.http1(configuration: http1), tlsConfiguration: tls)
            } catch {
                say("cannot use --tls-cert \(terminalSafe(certificate)) and --tls-key \(terminalSafe(key)): \(terminalSafe(String(describing: error)))")
                return 74
            }
        }
        if !configuration.isLoopback && configuration.tlsCertificate == nil {
            say("warning: listening on \(configuration.host) without TLS: tokens and passwords cross the network in clear; use --tls-cert and --tls-key, or a reverse proxy that terminates TLS")
        }

        let endpoints = Endpoints(pool: pool, tokens: tokens, configuration: configuration)
        let responder = TwofaResponder(
            endpoints: endpoints.all, tokens: tokens, pool: pool, configuration: configuration, logger: logger)
        let scheme = configuration.scheme
        let app = Application(
            responder: responder, server: server,
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
                say("listening on \(scheme)://\(host):\(port)")
            },
            logger: quiet)
        var group = ServiceGroupConfiguration(
            services: [.init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet)
        group.maximumGracefulShutdownDuration = Duration.seconds(10)
        do {
            try await ServiceGroup(configuration: group).run()
        } catch {
            let reason = Self.reason(error)
            say("cannot listen on \(configuration.host):\(configuration.port): \(reason)")
            return 70
        }
        await pool.shutdown()
        return 0
    }

    /// What went wrong with the socket, in a few words.
    static func reason(_ error: any Error) -> String {
        if let io = error as? IOError {
            switch io.errnoCode {
            case EADDRINUSE: return "the port is taken (another process listens there)"
            case EACCES: return "permission denied (ports below 1024 need privileges)"
            case EADDRNOTAVAIL: return "no such address on this host"
            default: return terminalSafe(String(cString: strerror(io.errnoCode)))
            }
        }
        return terminalSafe(String(describing: error))
    }

    static func say(_ message: String) { ServeConfiguration.say(message) }
}
