import ArgumentParser
import Glibc
import TwofaAccounts
import TwofaDomain
import TwofaServer

/// `twofa serve`, as its own executable so `twofa` links no NIO: `twofa serve …` runs this
/// binary (beside it) with the same arguments.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "twofa serve",
        abstract: "Serve the accounts over HTTP: register, two-step login, TOTP enrolment, signed tokens (shared/spec/http.md).")

    @Option(name: .long, help: ArgumentHelp("The database: a SQLite file or a postgresql:// URI (default: $TWOFA_DB, else $XDG_DATA_HOME/twofa/twofa.db, else ~/.local/share/twofa/twofa.db).", valueName: "path"))
    var db: String?

    @Option(name: .long, help: ArgumentHelp("The key file (default: $TWOFA_KEY_FILE, else the database path plus .key; required with PostgreSQL).", valueName: "path"))
    var keyFile: String?

    @Option(help: ArgumentHelp("The address to listen on (default: 127.0.0.1:8080).", valueName: "host:port"))
    var listen: String?

    @Flag(help: "Let anyone register through POST /api/v1/auth/register.")
    var allowSignup = false

    @Option(help: ArgumentHelp("The tokens' iss and the default issuer of enrolments (default: $TWOFA_ISSUER, else the host name).", valueName: "name"))
    var issuer: String?

    @Option(help: ArgumentHelp("Seconds an access token lives (default: 900).", valueName: "seconds"))
    var accessTtl: Int64?

    @Option(help: ArgumentHelp("Seconds a login session and its refresh tokens live (default: 2592000, 30 days).", valueName: "seconds"))
    var refreshTtl: Int64?

    @Option(help: ArgumentHelp("The certificate chain (PEM) to serve HTTPS with.", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("The private key (PEM) of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("An origin allowed to call the API from a browser (repeatable).", valueName: "origin"))
    var corsOrigin: [String] = []

    @Flag(help: "Write the access log as JSON Lines.")
    var json = false

    func configuration() throws(TwofaError) -> ServerConfiguration {
        let environment = { (name: String) -> String? in getenv(name).map { String(cString: $0) } }
        let path = try AccountsEnvironment.databaseLocation(given: db, environment: environment)
        let issuer = issuer ?? environment("TWOFA_ISSUER") ?? hostName()
        guard !issuer.isEmpty, issuer.utf8.count <= 64 else { throw .usage("--issuer must be 1 to 64 bytes") }
        do { try refuseUnsafeText(issuer, what: "the issuer") } catch { throw .usage(error.message) }
        var configuration = ServerConfiguration(
            environment: AccountsEnvironment(
                databasePath: path, keyFilePath: keyFile ?? environment("TWOFA_KEY_FILE"),
                notice: { note in
                    let line = Array("twofa serve: \(note)\n".utf8)
                    line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
                }),
            issuer: issuer)
        if let listen { try configuration.setListen(listen) }
        configuration.allowSignup = allowSignup
        if let accessTtl { try configuration.setLifetime(accessTtl, "--access-ttl", range: 1...86_400) }
        if let refreshTtl { try configuration.setLifetime(refreshTtl, "--refresh-ttl", range: 60...31_536_000) }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw .usage("--tls-cert and --tls-key go together") }
        configuration.tlsCertificate = tlsCert
        configuration.tlsKey = tlsKey
        for origin in corsOrigin { try configuration.addCORSOrigin(origin) }
        configuration.jsonLog = json
        return configuration
    }

    func run() async throws {
        let configuration: ServerConfiguration
        do { configuration = try self.configuration() } catch {
            let line = Array("twofa serve: \(error.message)\n".utf8)
            line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
            throw ExitCode(error.exitCode)
        }
        let code = await TwofaServer.run(configuration)
        if code != 0 { throw ExitCode(code) }
    }
}

// `twofa-serve serve …` (as `twofa serve` runs it) or `twofa-serve …`.
var arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "serve" { arguments.removeFirst() }
let serve: Serve
do {
    serve = try Serve.parse(arguments)
} catch {
    // --help prints its text and exits 0; a usage error is one line and exit 64.
    if Serve.exitCode(for: error) == .success { Serve.exit(withError: error) }
    let first = Serve.message(for: error).split(separator: "\n").first.map(String.init) ?? "usage error"
    let line = Array("twofa serve: \(terminalSafe(first)) (see 'twofa serve --help')\n".utf8)
    line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    exit(64)
}
do {
    try await serve.run()
} catch {
    Serve.exit(withError: error)
}
