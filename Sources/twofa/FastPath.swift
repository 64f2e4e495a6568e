import TwofaDomain

/// A command of the fast path, read and ready to run.
enum Request: Equatable {
    case code(CodeRequest)
    case login(LoginRequest)
    case verify(VerifyRequest)
    case qr(QRRequest)

    var global: Global {
        switch self {
        case .code(let request): request.global
        case .login(let request): request.global
        case .verify(let request): request.global
        case .qr(let request): request.global
        }
    }

    func run(_ context: CommandContext) throws(TwofaError) {
        switch self {
        case .code(let request): try request.run(context)
        case .login(let request): try request.run(context)
        case .verify(let request): try request.run(context)
        case .qr(let request): try request.run(context)
        }
    }
}

/// The commands scripts run thousands of times (`code`, `login`, `verify`, `qr`) in their
/// plain forms, read without swift-argument-parser: its reflection and dynamic casts cost more
/// than the rest of such a command (see benchmarks/run). `parse` is a pure function of the
/// words; anything unusual (help, an unknown or repeated option, a `-x` word, `--`, a value
/// that does not parse, a failed validation) gives nil, and the full parser then reads the
/// same words and gives its own answer. The names come from the one table in Grammar.swift;
/// GrammarTests checks, in-process over generated argument vectors, that whatever `parse`
/// reads the full parser reads alike, and that the plain forms do take this path.
enum FastPath {
    /// The words after the subcommand, split into flags, options and positionals, if every
    /// word is one this command knows.
    private struct Words {
        var flags: [String] = []
        var optionNames: [String] = []
        var optionValues: [String] = []
        var positionals: [String] = []

        init?(_ words: ArraySlice<String>, _ grammar: CommandGrammar) {
            let known = grammar.allFlags
            let options = grammar.allOptions
            var index = words.startIndex
            while index < words.endIndex {
                let word = words[index]
                index += 1
                if word.hasPrefix("--") {
                    var name = word
                    var value: String?
                    if let equals = word.firstIndex(of: "=") {
                        name = String(word[..<equals])
                        value = String(word[word.index(after: equals)...])
                        // `--code=` is a missing value to the full parser.
                        guard value != "" else { return nil }
                    }
                    if known.contains(name), value == nil {
                        guard !flags.contains(name) else { return nil }
                        flags.append(name)
                    } else if options.contains(name) {
                        if value == nil {
                            guard index < words.endIndex, !words[index].hasPrefix("-") else { return nil }
                            value = words[index]
                            index += 1
                        }
                        guard !optionNames.contains(name) else { return nil }
                        optionNames.append(name)
                        optionValues.append(value ?? "")
                    } else {
                        return nil
                    }
                } else if word.hasPrefix("-") || positionals.count == grammar.positionals {
                    return nil
                } else {
                    positionals.append(word)
                }
            }
        }

        func option(_ name: String) -> String? {
            optionNames.firstIndex(of: name).map { optionValues[$0] }
        }

        /// --code or --code-stdin; nil when both are given (the full parser's usage error).
        var code: CodeInput? {
            let input = CodeInput(given: option("--code"), stdin: flags.contains("--code-stdin"))
            return (try? input.validate()) == nil ? nil : input
        }

        var global: Global {
            Global(
                db: option("--db"), json: flags.contains("--json"), passwordStdin: flags.contains("--password-stdin"),
                keyFile: option("--key-file"))
        }
    }

    /// The request, if the words after `twofa` are a plain form of a fast-path command; nil to
    /// hand them to the full parser. No side effects.
    static func parse(_ arguments: [String]) -> Request? {
        let arguments = Grammar.hoistGlobalOptions(arguments)
        guard let command = arguments.first, command == "code" || command == "login" || command == "verify"
            || command == "qr", let grammar = Grammar.command(command),
            let words = Words(arguments.dropFirst(), grammar)
        else { return nil }
        switch command {
        case "code":
            var request = CodeRequest(
                global: words.global, user: words.positionals.first, secretStdin: words.flags.contains("--secret-stdin"),
                uriStdin: words.flags.contains("--uri-stdin"))
            if let text = words.option("--at") { guard let value = try? CodeRequest.time(text) else { return nil }; request.at = value }
            request.hex = words.flags.contains("--hex")
            if let text = words.option("--window") { guard let value = Int(text) else { return nil }; request.window = value }
            request.check = words.option("--check")
            request.hotp = words.flags.contains("--hotp")
            if let text = words.option("--counter") { guard let value = UInt64(text) else { return nil }; request.counter = value }
            if let text = words.option("--algorithm") {
                guard let value = OTPAlgorithm(rawValue: text) else { return nil }
                request.algorithm = value
            }
            if let text = words.option("--digits") { guard let value = Int(text) else { return nil }; request.digits = value }
            if let text = words.option("--period") { guard let value = Int64(text) else { return nil }; request.period = value }
            guard (try? request.validate()) != nil else { return nil }
            return .code(request)
        case "login", "verify":
            guard let user = words.positionals.first, let code = words.code else { return nil }
            let detail = words.option("--audit-detail")
            return command == "login"
                ? .login(LoginRequest(global: words.global, user: user, code: code, auditDetail: detail))
                : .verify(VerifyRequest(global: words.global, user: user, code: code, auditDetail: detail))
        default:
            guard let code = words.code else { return nil }
            var request = QRRequest(
                global: words.global, user: words.positionals.first, text: words.option("--text"),
                output: words.option("--output"), invert: words.flags.contains("--invert"), code: code)
            if let text = words.option("--format") {
                guard let value = QRFormat(rawValue: text) else { return nil }
                request.format = value
            }
            guard (try? request.validate()) != nil else { return nil }
            return .qr(request)
        }
    }
}
