import TwofaDomain

/// The commands scripts run thousands of times (`code`, `login`, `verify`, `qr`) in their
/// plain forms, read without swift-argument-parser: its reflection and dynamic casts cost more
/// than the rest of such a command (see benchmarks/run). Anything unusual (help, an unknown
/// option, a value that does not parse, a failed validation) returns nil, and the full parser
/// then reads the same words and gives its own answer, so both paths agree by construction on
/// everything but the plain forms, and tests run those both ways.
enum FastPath {
    /// The words after `twofa`, split into flags, options and positionals, if every word is one
    /// this command knows. Arrays, not Set or Dictionary: their generic metadata would cost
    /// runtime conformance look-ups (String: Hashable), each a scan of the whole binary's
    /// conformance records, more than these few linear searches.
    private struct Words {
        var flags: [String] = []
        var optionNames: [String] = []
        var optionValues: [String] = []
        var positionals: [String] = []

        init?(_ words: ArraySlice<String>, flags known: [String], options: [String], positionals most: Int) {
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
                } else if word.hasPrefix("-") || positionals.count == most {
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
            Global(db: option("--db"), json: flags.contains("--json"), passwordStdin: flags.contains("--password-stdin"))
        }
    }

    private static let globalFlags = ["--json", "--password-stdin"]
    private static let globalOptions = ["--db"]

    /// Runs the command if it is in a plain form; false to hand it to the full parser.
    static func run(_ arguments: [String]) throws(TwofaError) -> Bool {
        guard let command = arguments.first else { return false }
        let rest = arguments.dropFirst()
        switch command {
        case "code":
            guard let words = Words(
                rest, flags: globalFlags + ["--secret-stdin", "--uri-stdin"],
                options: globalOptions + ["--at", "--algorithm", "--digits", "--period"], positionals: 1)
            else { return false }
            var request = CodeRequest(
                global: words.global, user: words.positionals.first, secretStdin: words.flags.contains("--secret-stdin"),
                uriStdin: words.flags.contains("--uri-stdin"))
            if let text = words.option("--at") { guard let value = Int64(text) else { return false }; request.at = value }
            if let text = words.option("--algorithm") {
                guard let value = OTPAlgorithm(rawValue: text) else { return false }
                request.algorithm = value
            }
            if let text = words.option("--digits") { guard let value = Int(text) else { return false }; request.digits = value }
            if let text = words.option("--period") { guard let value = Int64(text) else { return false }; request.period = value }
            guard (try? request.validate()) != nil else { return false }
            try request.run()
        case "login", "verify":
            guard let words = Words(
                rest, flags: globalFlags + ["--code-stdin"], options: globalOptions + ["--code"], positionals: 1),
                let user = words.positionals.first, let code = words.code
            else { return false }
            if command == "login" {
                try LoginRequest(global: words.global, user: user, code: code).run()
            } else {
                try VerifyRequest(global: words.global, user: user, code: code).run()
            }
        case "qr":
            guard let words = Words(
                rest, flags: globalFlags + ["--invert", "--code-stdin"],
                options: globalOptions + ["--text", "--format", "--output", "--code"], positionals: 1),
                let code = words.code
            else { return false }
            var request = QRRequest(
                global: words.global, user: words.positionals.first, text: words.option("--text"),
                output: words.option("--output"), invert: words.flags.contains("--invert"), code: code)
            if let text = words.option("--format") {
                guard let value = QRFormat(rawValue: text) else { return false }
                request.format = value
            }
            guard (try? request.validate()) != nil else { return false }
            try request.run()
        default:
            return false
        }
        return true
    }
}
