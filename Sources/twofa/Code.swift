import ArgumentParser
import TwofaAccounts
import TwofaDomain

struct Code: ContextualCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the current code of a secret or URI on stdin, or of a user's secret (as oathtool --totp does).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The user whose enrolment gives the code.") var user: String?
    @Flag(help: "Read a base32 secret from standard input.") var secretStdin = false
    @Flag(help: "Read an otpauth:// URI from standard input.") var uriStdin = false
    @Option(help: ArgumentHelp(
        "The time, in UNIX seconds or RFC 3339 (2026-11-30T12:00:00Z; default: now).", valueName: "time"))
    var at: String?
    @Option(help: ArgumentHelp(onlyWithStdin("the HMAC, sha1, sha256 or sha512 (default: sha1)")))
    var algorithm: OTPAlgorithm?
    @Option(help: ArgumentHelp(onlyWithStdin("6, 7 or 8 digits (default: 6)"))) var digits: Int?
    @Option(help: ArgumentHelp(onlyWithStdin("seconds per code (default: 30)"), valueName: "seconds"))
    var period: Int64?
    @Flag(help: ArgumentHelp(onlyWithStdin("the secret is hex, as oathtool takes it, not base32"))) var hex = false
    @Flag(help: "HOTP (RFC 4226, by counter) instead of TOTP, for a secret or URI on stdin, as oathtool --hotp.")
    var hotp = false
    @Option(help: ArgumentHelp("With --hotp: the counter (default: 0, or the URI's).", valueName: "n"))
    var counter: UInt64?
    @Option(help: ArgumentHelp(
        "Also print the codes of the N steps after; when checking a code, the steps either side to look at (default 1).",
        valueName: "n"))
    var window: Int?
    @Option(help: ArgumentHelp(
        "Check CODE instead of printing one: print its offset in steps and exit 0, or exit 1.", valueName: "code"))
    var check: String?

    var request: CodeRequest {
        get throws {
            try asValidationError { () throws(TwofaError) -> CodeRequest in
                CodeRequest(
                    global: global.plain, user: user, secretStdin: secretStdin, uriStdin: uriStdin,
                    at: try at.map(CodeRequest.time), algorithm: algorithm, digits: digits, period: period, hex: hex,
                    window: window, check: check, hotp: hotp, counter: counter)
            }
        }
    }

    func validate() throws {
        let request = try self.request
        try asValidationError { () throws(TwofaError) in try request.validate() }
    }
    func run(in context: CommandContext) throws { try request.run(context) }
}

/// Help for the options that only a base32 secret on standard input takes.
private func onlyWithStdin(_ text: String) -> String {
    "With --" + "secret-stdin: " + text + "."
}

/// What `code` does, apart from reading its arguments (shared with the fast path).
struct CodeRequest: Equatable {
    var global: Global
    var user: String?
    var secretStdin = false
    var uriStdin = false
    var at: Int64?
    var algorithm: OTPAlgorithm?
    var digits: Int?
    var period: Int64?
    /// The secret on stdin is hex (oathtool's form).
    var hex = false
    /// With `check`, the steps either side to look at (default 1); else how many codes after.
    var window: Int?
    /// A code to check rather than print one.
    var check: String?
    /// HOTP from a secret or URI on stdin, at `counter`.
    var hotp = false
    var counter: UInt64?

    /// `--at`: UNIX seconds or an RFC 3339 time.
    static func time(_ text: String) throws(TwofaError) -> Int64 {
        // A number out of range (-1) is the range check's to refuse (65), later.
        if let seconds = Int64(text) { return seconds }
        guard let time = Timestamp.parse(text) else {
            throw .usage("--at takes UNIX seconds or an RFC 3339 time such as 2026-11-30T12:00:00Z")
        }
        return time
    }

    func validate() throws(TwofaError) {
        let sources = (user != nil ? 1 : 0) + (secretStdin ? 1 : 0) + (uriStdin ? 1 : 0)
        guard sources == 1 else { throw .usage("give exactly one of USER, --secret-stdin, --uri-stdin") }
        if !secretStdin && (algorithm != nil || digits != nil || period != nil || hex) {
            throw .usage("--algorithm, --digits, --period and --hex go with --secret-stdin (a URI or a user's enrolment has its own)")
        }
        if let window, !(0...1000).contains(window) { throw .usage("--window must be 0 to 1000") }
        if counter != nil && !hotp { throw .usage("--counter goes with --hotp") }
        if hotp {
            guard user == nil else { throw .usage("--hotp goes with --secret-stdin or --uri-stdin (a user's enrolment has its own type)") }
            guard period == nil, at == nil else { throw .usage("--period and --at belong to TOTP, not --hotp") }
        }
    }

    func run(_ context: CommandContext) throws(TwofaError) {
        let time = at ?? context.clock.now()
        let codes: CodeSource
        if let user {
            codes = .user(try global.accounts(context), user)
        } else {
            var input = try context.readAll(limit: 8192, what: secretStdin ? "the secret" : "the URI")
            defer { wipe(&input) }
            let text = String(decoding: input, as: UTF8.self).trimmingASCIIWhitespace()
            var parameters = TOTPParameters(algorithm: algorithm ?? .sha1, digits: digits ?? 6, period: period ?? 30)
            let secret: [UInt8]
            var startCounter = counter ?? 0
            if secretStdin {
                guard (6...8).contains(parameters.digits) else { throw .invalidOption("--digits must be 6, 7 or 8") }
                guard parameters.period > 0 else { throw .invalidOption("--period must be a positive number of seconds") }
                secret = hex ? try Base16.decode(text) : try Base32.decode(text)
            } else {
                let uri = try OTPAuthURI(parsing: text)
                guard (uri.counter != nil) == hotp else {
                    throw .invalidURI(hotp
                        ? "this is a TOTP URI: drop --hotp"
                        : "this is a HOTP (counter-based) URI: add --hotp")
                }
                secret = uri.secret
                parameters = uri.parameters
                startCounter = counter ?? uri.counter ?? 0
            }
            codes = hotp ? .hotp(secret, parameters, startCounter) : .secret(secret, parameters)
        }
        if let check {
            // As `oathtool KEY CODE`: the distance in steps of the match, or exit 1.
            guard let offset = try codes.offset(of: check, at: time, window: window ?? 1) else {
                throw .authenticationFailed
            }
            context.result(.object([("valid", .bool(true)), ("offset", .int(offset))]), text: String(offset))
            return
        }
        guard let window else {
            // The common case on its own path: no array of codes is made, so `code` starts as
            // before --window existed (the first array of a type costs a metadata lookup).
            let result = try codes.code(at: time)
            if result.counter >= 0 {
                context.result(.object([("code", .string(result.code)), ("counter", .int(result.counter))]), text: result.code)
                return
            }
            context.result(
                .object([("code", .string(result.code)), ("expires_in", .int(result.expiresIn))]), text: result.code)
            return
        }
        let list = try codes.codes(at: time, count: window + 1)
        guard let first = list.first else { throw .internalError("no code") }
        let fields: [(String, JSON)] = [
            ("code", .string(first.code)),
            first.counter >= 0 ? ("counter", .int(first.counter)) : ("expires_in", .int(first.expiresIn)),
            ("codes", .array(list.map { .string($0.code) })),
        ]
        // A loop, not `joined(separator:)`: the unspecialised generic costs a runtime
        // conformance scan (190,000 instructions, callgrind).
        var text = first.code
        for next in list.dropFirst() { text += "\n" + next.code }
        context.result(.object(fields), text: text)
    }
}

/// Where `code` takes its codes from: a user's enrolment, or a secret it was given.
enum CodeSource {
    case user(Accounts, String)
    case secret([UInt8], TOTPParameters)
    /// HOTP codes from this counter on.
    case hotp([UInt8], TOTPParameters, UInt64)

    func code(at time: Int64) throws(TwofaError) -> GeneratedCode {
        switch self {
        case .user(let accounts, let name): try accounts.currentCode(name: name, at: time)
        case .secret(let secret, let parameters): try Accounts.code(secret: secret, parameters: parameters, at: time)
        case .hotp(let secret, let parameters, let counter):
            try Accounts.hotpCode(secret: secret, parameters: parameters, counter: counter)
        }
    }

    func codes(at time: Int64, count: Int) throws(TwofaError) -> [GeneratedCode] {
        switch self {
        case .user(let accounts, let name): try accounts.codes(name: name, at: time, count: count)
        case .secret(let secret, let parameters): try Accounts.codes(secret: secret, parameters: parameters, at: time, count: count)
        case .hotp(let secret, let parameters, let counter):
            try Accounts.hotpCodes(secret: secret, parameters: parameters, counter: counter, count: count)
        }
    }

    func offset(of code: String, at time: Int64, window: Int) throws(TwofaError) -> Int? {
        switch self {
        case .user(let accounts, let name): try accounts.offset(name: name, of: code, at: time, window: window)
        case .secret(let secret, let parameters):
            try Accounts.offset(secret: secret, parameters: parameters, of: code, at: time, window: window)
        case .hotp(let secret, let parameters, let counter):
            try Accounts.hotpOffset(secret: secret, parameters: parameters, of: code, counter: counter, window: window)
        }
    }
}
