import ArgumentParser
import Glibc
import TwofaAccounts
import TwofaDomain

/// Where the accounts are: the global options of both executables, `twofa` and `twofa-serve`.
public struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The database: a SQLite file or a postgresql:// URI (default: $TWOFA_DB, else $XDG_DATA_HOME/twofa/twofa.db, else ~/.local/share/twofa/twofa.db).",
        valueName: "path"))
    public var db: String?

    @Option(name: .long, help: ArgumentHelp(
        "The key file that encrypts TOTP secrets (default: $TWOFA_KEY_FILE, else the database path plus .key; required with PostgreSQL).",
        valueName: "path"))
    public var keyFile: String?

    public init() {}
}

/// The options of `twofa serve` (http.md, "Starting it"), declared once: `twofa` shows them in
/// its help and completions, `twofa-serve` parses them. The database, the key file and --json
/// are the global options.
public struct ServeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The address to listen on (default: 127.0.0.1:8080).", valueName: "host:port"))
    var listen: String?

    @Flag(help: "Let anyone register through POST /api/v1/auth/register.")
    var allowSignup = false

    @Option(help: ArgumentHelp(
        "The tokens' iss and the default issuer of enrolments (default: $TWOFA_ISSUER, else the host name).",
        valueName: "name"))
    var issuer: String?

    @Option(help: ArgumentHelp("Seconds an access token lives (default: 900).", valueName: "seconds"))
    var accessTtl: Int64?

    @Option(help: ArgumentHelp(
        "Seconds a login session and its refresh tokens live (default: 2592000, 30 days).", valueName: "seconds"))
    var refreshTtl: Int64?

    @Option(help: ArgumentHelp("The certificate chain (PEM) to serve HTTPS with.", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("The private key (PEM) of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("An origin allowed to call the API from a browser (repeatable).", valueName: "origin"))
    var corsOrigin: [String] = []

    public init() {}

    /// The server's configuration from these options, the global ones and the environment;
    /// anything wrong is a usage error (exit 64).
    public func configuration(db: String?, keyFile: String?, jsonLog: Bool) throws(TwofaError) -> ServeConfiguration {
        let environment = { (name: String) -> String? in getenv(name).map { String(cString: $0) } }
        let path = try AccountsEnvironment.databaseLocation(given: db, environment: environment)
        let issuer = issuer ?? environment("TWOFA_ISSUER") ?? hostName()
        guard !issuer.isEmpty, issuer.utf8.count <= 64 else { throw .usage("--issuer must be 1 to 64 bytes") }
        do { try refuseUnsafeText(issuer, what: "the issuer") } catch { throw .usage(error.message) }
        var configuration = ServeConfiguration(
            environment: AccountsEnvironment(
                databasePath: path, keyFilePath: keyFile ?? environment("TWOFA_KEY_FILE"),
                notice: { note in ServeConfiguration.say(note) }, mailer: Sendmail(command: environment("TWOFA_SENDMAIL")),
                mailFrom: environment("TWOFA_MAIL_FROM")),
            issuer: issuer)
        if let listen { try configuration.setListen(listen) }
        configuration.allowSignup = allowSignup
        if let accessTtl { try configuration.setLifetime(accessTtl, "--access-ttl", range: 1...86_400) }
        if let refreshTtl { try configuration.setLifetime(refreshTtl, "--refresh-ttl", range: 60...31_536_000) }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw .usage("--tls-cert and --tls-key go together") }
        configuration.tlsCertificate = tlsCert
        configuration.tlsKey = tlsKey
        for origin in corsOrigin { try configuration.addCORSOrigin(origin) }
        configuration.jsonLog = jsonLog
        return configuration
    }
}
