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
    @Option(help: ArgumentHelp("The time, in UNIX seconds (default: now).", valueName: "unix-time")) var at: Int64?
    @Option(help: ArgumentHelp(onlyWithStdin("the HMAC, sha1, sha256 or sha512 (default: sha1)")))
    var algorithm: OTPAlgorithm?
    @Option(help: ArgumentHelp(onlyWithStdin("6 or 8 digits (default: 6)"))) var digits: Int?
    @Option(help: ArgumentHelp(onlyWithStdin("seconds per code (default: 30)"), valueName: "seconds"))
    var period: Int64?

    var request: CodeRequest {
        CodeRequest(
            global: global.plain, user: user, secretStdin: secretStdin, uriStdin: uriStdin, at: at,
            algorithm: algorithm, digits: digits, period: period)
    }

    func validate() throws { try asValidationError { () throws(TwofaError) in try request.validate() } }
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

    func validate() throws(TwofaError) {
        let sources = (user != nil ? 1 : 0) + (secretStdin ? 1 : 0) + (uriStdin ? 1 : 0)
        guard sources == 1 else { throw .usage("give exactly one of USER, --secret-stdin, --uri-stdin") }
        if !secretStdin && (algorithm != nil || digits != nil || period != nil) {
            throw .usage("--algorithm, --digits and --period go with --secret-stdin (a URI or a user's enrolment has its own)")
        }
    }

    func run(_ context: CommandContext) throws(TwofaError) {
        let result: GeneratedCode
        if let user {
            result = try global.accounts(context).currentCode(name: user, at: at)
        } else {
            var input = try context.readAll(limit: 8192, what: secretStdin ? "the secret" : "the URI")
            defer { wipe(&input) }
            let text = String(decoding: input, as: UTF8.self).trimmingASCIIWhitespace()
            var secret: [UInt8]
            var parameters = TOTPParameters(algorithm: algorithm ?? .sha1, digits: digits ?? 6, period: period ?? 30)
            if secretStdin {
                guard parameters.digits == 6 || parameters.digits == 8 else {
                    throw .invalidOption("--digits must be 6 or 8")
                }
                guard parameters.period > 0 else { throw .invalidOption("--period must be a positive number of seconds") }
                secret = try Base32.decode(text)
            } else {
                let uri = try OTPAuthURI(parsing: text)
                secret = uri.secret
                parameters = uri.parameters
            }
            defer { wipe(&secret) }
            result = try Accounts.code(secret: secret, parameters: parameters, at: at ?? context.clock.now())
        }
        context.result(
            .object([("code", .string(result.code)), ("expires_in", .int(result.expiresIn))]), text: result.code)
    }
}
