import Glibc
import TwofaDomain
import TwofaStorage

/// The time, in UNIX seconds. Injected so tests can stand at any moment.
public protocol UnixClock: Sendable {
    func now() -> Int64
}

public struct SystemClock: UnixClock {
    public init() {}
    public func now() -> Int64 { Int64(time(nil)) }
}

/// Everything the use cases take from outside: where the files are, the time, randomness and
/// the password hashing.
public struct AccountsEnvironment: Sendable {
    /// A SQLite file's path, or a PostgreSQL URI (`postgresql://…`, libpq's syntax).
    public var databasePath: String
    /// The key file as given (`TWOFA_KEY_FILE`, `--key-file`), if it was.
    public var givenKeyFilePath: String?
    public var clock: any UnixClock
    public var random: any RandomSource
    public var hasher: PasswordHasher
    /// Where a use case tells the person something that is not its result (a database upgraded
    /// and copied aside, an audit event that could not be written): the CLI prints it on stderr.
    public var notice: @Sendable (String) -> Void
    /// Where the attempts come from (a PAM module passes `pam service=sshd rhost=…`): added to
    /// the detail of every audit event, escaped (no control or bidirectional character is
    /// stored) and cut to `AccountsEnvironment.auditContextLimit` bytes. Never a secret.
    public var auditContext: String? {
        get { boundedAuditContext }
        set { boundedAuditContext = newValue.map(Self.bound) }
    }
    private var boundedAuditContext: String?
    public static let auditContextLimit = 256
    /// Where an email device's codes go out (`$TWOFA_SENDMAIL`, else `sendmail -t -i`).
    public var mailer: any Mailer
    /// The From of those messages (`$TWOFA_MAIL_FROM`), else `twofa@` and the host name.
    public var mailFrom: String?

    static func bound(_ text: String) -> String {
        var escaped = terminalSafe(text)
        while escaped.utf8.count > auditContextLimit { escaped.removeLast() }
        return escaped
    }

    public init(
        databasePath: String, keyFilePath: String? = nil, clock: any UnixClock = SystemClock(),
        random: any RandomSource = SystemRandom(), hasher: PasswordHasher = .default,
        notice: @escaping @Sendable (String) -> Void = { _ in }, mailer: any Mailer = Sendmail(command: nil),
        mailFrom: String? = nil
    ) {
        self.mailer = mailer
        self.mailFrom = mailFrom
        self.databasePath = databasePath
        self.givenKeyFilePath = keyFilePath
        self.clock = clock
        self.random = random
        self.hasher = hasher
        self.notice = notice
    }
}

extension AccountsEnvironment {
    /// The database as messages name it (a PostgreSQL URI without its password).
    public var databaseForMessages: String { redactedURI(databasePath) }

    /// Whether the accounts live in PostgreSQL rather than a SQLite file.
    public var usesPostgreSQL: Bool { isPostgreSQLURI(databasePath) }

    /// The key file: as given, else (SQLite) the database path plus `.key`. A PostgreSQL database
    /// has no path to sit beside, and every host must use the same key: there it must be given.
    public func keyFilePath() throws(TwofaError) -> String {
        if let givenKeyFilePath { return givenKeyFilePath }
        guard !usesPostgreSQL else {
            throw .keyFile(
                path: "TWOFA_KEY_FILE",
                reason: "a PostgreSQL database needs the key file named: set TWOFA_KEY_FILE (or --key-file) to the key every host shares")
        }
        return databasePath + ".key"
    }
}

/// The lockout policy (RFC 4226 §7.3, NIST SP 800-63B §5.2.2): after 5 consecutive failures,
/// 1 minute, doubling with each further failure, at most 1 hour.
public enum LockoutPolicy {
    public static let threshold = 5
    public static let firstLock: Int64 = 60
    public static let longestLock: Int64 = 3600

    /// When an account with `failures` consecutive failures, the last at `time`, may try again.
    public static func lockedUntil(failures: Int, at time: Int64) -> Int64? {
        guard failures >= threshold else { return nil }
        let doublings = min(failures - threshold, 16)
        return time + min(firstLock << Int64(doublings), longestLock)
    }
}

/// What an enrolment asks for; the secret is made by twofa. An app's codes by time (TOTP) or
/// by counter (HOTP), or codes sent to `email`.
public struct EnrolmentRequest: Sendable {
    public var issuer: String
    public var parameters: TOTPParameters
    public var kind: SecondFactorKind
    public var email: EmailAddress?

    public init(
        issuer: String, parameters: TOTPParameters = .default, kind: SecondFactorKind = .totp, email: EmailAddress? = nil
    ) {
        self.issuer = issuer
        self.parameters = parameters
        self.kind = kind
        self.email = email
    }

    func validate() throws(TwofaError) {
        try parameters.validateForEnrolment()
        guard (kind == .email) == (email != nil) else {
            throw .invalidOption(kind == .email ? "an email device needs --email ADDRESS" : "--email goes with --device email")
        }
        guard !issuer.isEmpty, issuer.utf8.count <= 64 else {
            throw .invalidOption("the issuer must be 1 to 64 bytes")
        }
        // C0, DEL, C1 and bidirectional controls are never stored (they would reach terminals).
        try refuseUnsafeText(issuer, what: "the issuer")
    }
}

/// An enrolment as shown to the person scanning it. Holds the secret: print it only where the
/// contract says (enable-2fa, qr).
public struct Enrolment: Sendable {
    public var user: String
    public var status: TwoFactorState
    public var secret: [UInt8]
    public var issuer: String?
    public var parameters: TOTPParameters
    public var kind: SecondFactorKind = .totp
    /// HOTP: the next counter a code is made for (0 for a new enrolment).
    public var counter: UInt64 = 0
    /// An email device's address; it has no QR code or URI.
    public var email: EmailAddress?
    /// An email device: where its first code went (masked).
    public var delivery: CodeDelivery?

    public var uri: OTPAuthURI {
        OTPAuthURI(issuer: issuer, account: user, secret: secret, parameters: parameters, counter: kind == .hotp ? counter : nil)
    }
}

public enum SecondFactor: String, Sendable {
    case totp
    case hotp
    case email
    case backupCode = "backup_code"
}

public struct LoginResult: Sendable {
    public var user: String
    public var secondFactor: SecondFactor?
}

public struct VerifyResult: Sendable {
    public var user: String
    public var activated: Bool
    /// Shown once, on activation.
    public var backupCodes: [String]?
}

public struct GeneratedCode: Sendable {
    public var code: String
    /// Seconds until a TOTP code changes (0 for HOTP).
    public var expiresIn: Int64
    /// A HOTP code's counter (-1: a TOTP code; a sentinel, not an Optional, which would cost
    /// `code`'s start-up a metadata instantiation).
    public var counter: Int64 = -1
}

/// How the use cases ask for credentials: called only when needed (a pending enrolment's QR
/// needs no password; a user without 2FA needs no code), so the terminal prompts only then.
public struct Credentials {
    public var password: () throws(TwofaError) -> Password
    /// Nil when no code can be had (non-interactive and no --code).
    public var code: () throws(TwofaError) -> String?
    /// Whether `code` asks a person at a terminal (then an email device's code is sent before
    /// the prompt).
    public var prompts: Bool

    public init(
        password: @escaping () throws(TwofaError) -> Password,
        code: @escaping () throws(TwofaError) -> String? = { nil }, prompts: Bool = false
    ) {
        self.password = password
        self.code = code
        self.prompts = prompts
    }
}

extension AccountsEnvironment {
    /// The database every front end uses: `given` (--db), else $TWOFA_DB, else
    /// $XDG_DATA_HOME/twofa/twofa.db, else ~/.local/share/twofa/twofa.db.
    public static func databaseLocation(given: String?, environment: (String) -> String?) throws(TwofaError) -> String {
        if let given {
            guard !given.isEmpty else { throw .usage("--db needs a path") }
            return given
        }
        if let path = environment("TWOFA_DB") { return path }
        if let data = environment("XDG_DATA_HOME"), data.hasPrefix("/") { return data + "/twofa/twofa.db" }
        if let home = environment("HOME") { return home + "/.local/share/twofa/twofa.db" }
        throw .usage("no database given: use --db PATH or set TWOFA_DB")
    }
}

/// This host's name (the default issuer of an enrolment and of access tokens).
public func hostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "twofa" }
    let name = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return name.isEmpty ? "twofa" : name
}
