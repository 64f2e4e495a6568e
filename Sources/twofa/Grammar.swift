import TwofaDomain

/// One subcommand's words as swift-argument-parser declares them (its `@Flag`s, `@Option`s and
/// `@Argument`s, besides the global options): the one table that the fast path (FastPath.swift),
/// the check before parsing and the hoisting of global options read. GrammarTests checks it,
/// in-process, against the declarations themselves (`--experimental-dump-help`) and against
/// the full parser over generated argument vectors.
struct CommandGrammar {
    var name: String
    /// Long flags (no value), the global ones not included.
    var flags: [String] = []
    /// Long options that take a value (`--name value` or `--name=value`), the global ones not included.
    var options: [String] = []
    /// How many positionals it takes at most.
    var positionals = 0

    var allFlags: [String] { Grammar.globalFlags + flags }
    var allOptions: [String] { Grammar.globalOptions + options }
}

/// The words of a command line, before either parser reads them. Arrays and a switch, not Set
/// or Dictionary: their generic metadata would cost runtime conformance look-ups (String:
/// Hashable), each a scan of the whole binary's conformance records, on the fast path too.
enum Grammar {
    static let globalFlags = ["--json", "--password-stdin"]
    static let globalOptions = ["--db", "--key-file"]

    /// Every subcommand, in the order of `Twofa.configuration.subcommands`.
    static let commandNames = [
        "register", "login", "enable-2fa", "verify", "disable", "qr", "code", "backup-codes", "unlock", "passwd",
        "list", "show", "delete", "audit", "export", "import", "rekey", "check-key", "serve",
    ]

    private static let enrolmentOptions = [
        "--issuer", "--algorithm", "--digits", "--period", "--type", "--device", "--email", "--qr",
    ]

    static func command(_ name: String) -> CommandGrammar? {
        switch name {
        case "register":
            CommandGrammar(name: name, flags: ["--enable-2fa", "--invert"], options: enrolmentOptions, positionals: 1)
        case "login", "verify":
            CommandGrammar(name: name, flags: ["--code-stdin"], options: ["--code", "--audit-detail"], positionals: 1)
        case "backup-codes":
            CommandGrammar(name: name, flags: ["--code-stdin"], options: ["--code"], positionals: 1)
        case "enable-2fa":
            CommandGrammar(name: name, flags: ["--invert"], options: enrolmentOptions, positionals: 1)
        case "disable":
            CommandGrammar(name: name, flags: ["--code-stdin", "--force"], options: ["--code"], positionals: 1)
        case "qr":
            CommandGrammar(
                name: name, flags: ["--invert", "--code-stdin"], options: ["--text", "--format", "--output", "--code"],
                positionals: 1)
        case "code":
            CommandGrammar(
                name: name, flags: ["--secret-stdin", "--uri-stdin", "--hex", "--hotp"],
                options: ["--at", "--algorithm", "--digits", "--period", "--window", "--check", "--counter"],
                positionals: 1)
        case "unlock", "show", "delete":
            CommandGrammar(name: name, positionals: 1)
        case "passwd":
            CommandGrammar(name: name, flags: ["--force"], positionals: 1)
        case "list":
            CommandGrammar(name: name)
        case "audit":
            CommandGrammar(name: name, options: ["--user", "--since", "--limit"])
        case "export":
            CommandGrammar(name: name, options: ["--output", "--google-authenticator", "--scratch-codes"])
        case "import":
            CommandGrammar(
                name: name, flags: ["--dry-run"], options: ["--format", "--google-authenticator", "--user", "--issuer"],
                positionals: 1)
        case "rekey":
            CommandGrammar(name: name, options: ["--new-key-file"])
        case "check-key":
            CommandGrammar(name: name)
        case "serve":
            CommandGrammar(
                name: name, flags: ["--allow-signup"],
                options: ["--listen", "--issuer", "--access-ttl", "--refresh-ttl", "--tls-cert", "--tls-key", "--cors-origin"])
        default:
            nil
        }
    }

    static let positiveLimit = "--limit must be a positive number"

    /// The global options may come before the subcommand too (`twofa --db X code alice`): they
    /// are moved behind the subcommand's name, where each subcommand declares them.
    static func hoistGlobalOptions(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if globalFlags.contains(argument) || isGlobalOptionWithValue(argument) {
                leading.append(argument)
            } else if globalOptions.contains(argument), index + 1 < arguments.count {
                leading += [argument, arguments[index + 1]]
                index += 1
            } else {
                break
            }
            index += 1
        }
        guard !leading.isEmpty, index < arguments.count, !arguments[index].hasPrefix("-") else { return arguments }
        return [arguments[index]] + leading + arguments[(index + 1)...]
    }

    /// `--db=PATH` and the like: a global option and its value in one word.
    private static func isGlobalOptionWithValue(_ word: String) -> Bool {
        globalOptions.contains { word.hasPrefix($0 + "=") }
    }

    /// Where the words after the global options start (the subcommand, or a root option).
    private static func firstCommandWord(_ arguments: [String]) -> Int {
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            if globalFlags.contains(word) || isGlobalOptionWithValue(word) {
                index += 1
            } else if globalOptions.contains(word) {
                index += 2
            } else {
                break
            }
        }
        return index
    }

    /// Whether `--json` is given as a flag (before any `--`, and not as the value of an
    /// option): how a usage error is reported, before or when the parser fails.
    static func wantsJSON(_ arguments: [String]) -> Bool {
        let start = firstCommandWord(arguments)
        let grammar = start < arguments.count ? command(arguments[start]) : nil
        let options = grammar?.allOptions ?? globalOptions
        var previous = ""
        for word in arguments {
            if word == "--" { break }
            if word == "--json" && !options.contains(previous) { return true }
            previous = word
        }
        return false
    }

    /// `twofa [global options] --version`.
    static func isVersionRequest(_ arguments: [String]) -> Bool {
        let start = firstCommandWord(arguments)
        guard start < arguments.count, arguments[start] == "--version" else { return false }
        return firstCommandWord(Array(arguments[(start + 1)...])) == arguments.count - start - 1
    }

    /// What swift-argument-parser would read wrongly, refused first as usage errors (exit 64):
    /// - a subcommand that does not exist (also after `help`): "unknown command", with the
    ///   nearest name suggested;
    /// - a word that starts with a single '-' (other than `-h` and `-`): twofa declares no short
    ///   options, and the parser reads `-dash` as `-d -a -s -h`, help, exit 0. A username that
    ///   starts with '-' goes last, after `--` (where it is then an invalid username, exit 65).
    ///   After an option that takes a value, such a word is a value that should have been
    ///   written `--option=-3`.
    static func check(_ arguments: [String]) throws(TwofaError) {
        let start = firstCommandWord(arguments)
        guard start < arguments.count else { return }
        let first = arguments[start]
        if first == "help" {
            if start + 1 < arguments.count {
                let next = arguments[start + 1]
                if !next.hasPrefix("-"), command(next) == nil { throw unknownCommand(next) }
            }
            return
        }
        if first.hasPrefix("-") {
            if isShortWord(first) && first != "-h" { throw unknownShortOption(first, command: nil) }
            return
        }
        guard let grammar = command(first) else { throw unknownCommand(first) }
        var previous = ""
        for word in arguments[(start + 1)...] {
            if word == "--" { break }
            if isShortWord(word) {
                if grammar.allOptions.contains(previous) {
                    if previous == "--limit", Int(word) != nil { throw .usage(positiveLimit) }
                    throw .usage("\(previous) needs a value; write \(previous)=\(word) for one that starts with '-'")
                }
                if word != "-h" { throw unknownShortOption(word, command: first) }
            }
            previous = word
        }
    }

    /// `-x`, `-dash`, `-3`: one dash and more after it.
    private static func isShortWord(_ word: String) -> Bool {
        word.hasPrefix("-") && !word.hasPrefix("--") && word != "-"
    }

    private static func unknownShortOption(_ word: String, command: String?) -> TwofaError {
        let hint = command == nil ? "" : "; a name that starts with '-' goes last, after '--'"
        return .usage("unknown option '\(word)'\(hint) (see 'twofa \(command.map { $0 + " " } ?? "")--help')")
    }

    private static func unknownCommand(_ word: String) -> TwofaError {
        let suggestion = nearestCommand(to: word).map { "; did you mean '\($0)'?" } ?? ""
        return .usage("unknown command '\(word)'\(suggestion) (see 'twofa --help')")
    }

    /// The subcommand nearest to `word` by edit distance, if near enough to be a typo.
    static func nearestCommand(to word: String) -> String? {
        var best: (name: String, distance: Int)?
        for name in commandNames + ["help"] {
            let distance = editDistance(Array(word.lowercased().utf8), Array(name.utf8))
            if distance < best?.distance ?? Int.max { best = (name, distance) }
        }
        guard let best, best.distance <= max(1, min(3, best.name.utf8.count / 3)) else { return nil }
        return best.name
    }

    /// Levenshtein distance, with a transposition as one edit (`rgeister`).
    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var before = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], before[j - 2] + 1)
                }
            }
            (before, previous, current) = (previous, current, before)
        }
        return previous[b.count]
    }
}
