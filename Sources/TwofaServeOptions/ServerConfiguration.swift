import Glibc
import TwofaAccounts
import TwofaDomain

/// What `twofa serve` was asked for (http.md, "Starting it"), checked: bad values are usage
/// errors (exit 64) before anything is opened.
public struct ServeConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var allowSignup = false
    /// `iss` of access tokens and the default issuer of `2fa/setup`.
    public var issuer: String
    public var lifetimes = TokenLifetimes()
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// Origins allowed to call the API from a browser (exact `scheme://host[:port]`).
    public var corsOrigins: Set<String> = []
    /// The access log as JSON Lines.
    public var jsonLog = false
    public var environment: AccountsEnvironment

    public init(environment: AccountsEnvironment, issuer: String) {
        self.environment = environment
        self.issuer = issuer
    }

    /// `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (every address of the loopback's family: no, the
    /// host is required; an empty host is refused).
    public mutating func setListen(_ value: String) throws(TwofaError) {
        let hostPart: Substring
        let portPart: Substring
        if value.hasPrefix("[") {
            guard let close = value.firstIndex(of: "]"), value[value.index(after: close)...].hasPrefix(":") else {
                throw .usage("--listen takes HOST:PORT or [IPv6]:PORT, not '\(terminalSafe(value))'")
            }
            hostPart = value[value.index(after: value.startIndex)..<close]
            portPart = value[value.index(close, offsetBy: 2)...]
        } else {
            guard let colon = value.lastIndex(of: ":") else {
                throw .usage("--listen takes HOST:PORT, not '\(terminalSafe(value))'")
            }
            hostPart = value[..<colon]
            portPart = value[value.index(after: colon)...]
        }
        guard !hostPart.isEmpty, let port = Int(portPart), (0...65535).contains(port) else {
            throw .usage("--listen takes HOST:PORT with a port from 0 to 65535, not '\(terminalSafe(value))'")
        }
        host = String(hostPart)
        self.port = port
    }

    public mutating func addCORSOrigin(_ origin: String) throws(TwofaError) {
        let lower = origin.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), !origin.hasSuffix("/"),
            origin.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }), origin != "*"
        else {
            throw .usage("--cors-origin takes an origin such as https://app.example.com, not '\(terminalSafe(origin))'")
        }
        corsOrigins.insert(origin)
    }

    public mutating func setLifetime(_ value: Int64, _ option: String, range: ClosedRange<Int64>) throws(TwofaError) {
        guard range.contains(value) else {
            throw .usage("\(option) must be \(range.lowerBound) to \(range.upperBound) seconds")
        }
        switch option {
        case "--access-ttl": lifetimes.access = value
        default: lifetimes.refresh = value
        }
    }

    /// One line on stderr, prefixed as every twofa message is.
    public static func say(_ message: String) {
        let line = Array("twofa serve: \(message)\n".utf8)
        line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }

    /// Whether the address is a loopback one (no warning without TLS there).
    public var isLoopback: Bool {
        host == "localhost" || host.hasPrefix("127.") || host == "::1"
    }

    public var scheme: String { tlsCertificate == nil ? "http" : "https" }
}
