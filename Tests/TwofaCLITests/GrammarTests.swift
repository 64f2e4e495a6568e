import ArgumentParser
import Foundation
import Testing

@testable import twofa

/// One grammar: the table in Grammar.swift (which the fast path, the check before parsing and
/// the hoisting of global options read) against swift-argument-parser's own declarations, and
/// the fast path's `parse` against the full parser over generated argument vectors, in-process.
@Suite("one grammar")
struct GrammarTests {
    /// swift-argument-parser's description of every command (`--experimental-dump-help`).
    static func declarations() throws -> [[String: Any]] {
        var dump = ""
        do {
            _ = try Twofa.parseAsRoot(["--experimental-dump-help"])
        } catch {
            dump = Twofa.fullMessage(for: error)
        }
        let root = try #require(try JSONSerialization.jsonObject(with: Data(dump.utf8)) as? [String: Any])
        let command = try #require(root["command"] as? [String: Any])
        return try #require(command["subcommands"] as? [[String: Any]])
    }

    @Test func tableMatchesTheDeclarations() throws {
        let declared = try Self.declarations().filter { $0["commandName"] as? String != "help" }
        #expect(declared.map { $0["commandName"] as? String ?? "" } == Grammar.commandNames)
        for command in declared {
            let name = command["commandName"] as? String ?? ""
            let grammar = try #require(Grammar.command(name), "no grammar for \(name)")
            var flags: [String] = []
            var options: [String] = []
            var positionals = 0
            for argument in command["arguments"] as? [[String: Any]] ?? [] {
                let names = (argument["names"] as? [[String: Any]] ?? []).map { name -> String in
                    let kind = name["kind"] as? String
                    #expect(kind == "long" || name["name"] as? String == "h", "\(name): only -h is short")
                    return (kind == "long" ? "--" : "-") + (name["name"] as? String ?? "")
                }.filter { $0.hasPrefix("--") && $0 != "--help" && $0 != "--version" }  // the root's, shown everywhere
                switch argument["kind"] as? String {
                case "flag": flags += names
                case "option": options += names
                case "positional": positionals += 1
                default: Issue.record("\(name): \(argument)")
                }
            }
            #expect(Set(flags) == Set(grammar.allFlags), "\(name) flags")
            #expect(Set(options) == Set(grammar.allOptions), "\(name) options")
            #expect(positionals == grammar.positionals, "\(name) positionals")
        }
    }

    /// What the full parser makes of `arguments`, as the fast path's request; nil when it
    /// refuses them, or reads another command.
    static func fullParse(_ arguments: [String]) -> Request?? {
        guard let command = try? Twofa.parseAsRoot(Grammar.hoistGlobalOptions(arguments)) else { return .some(nil) }
        switch command {
        case let code as Code: return (try? code.request).map { .code($0) } ?? .some(nil)
        case let login as Login: return .login(login.request)
        case let verify as Verify: return .verify(verify.request)
        case let qr as QR: return .qr(qr.request)
        default: return nil
        }
    }

    /// The tokens a generated vector is made of, for one fast-path command: each flag and
    /// option, in plain and odd forms.
    struct Tokens {
        var plain: [[String]] = []
        var odd: [[String]] = []
    }

    static let values: [String: (good: [String], bad: [String])] = [
        "--db": (["x.db"], []), "--at": (["5", "1000000000"], ["soon", "-5"]), "--algorithm": (["sha256"], ["md5"]),
        "--digits": (["8"], ["x"]), "--period": (["60"], ["0x3"]), "--code": (["123456", "12 34"], []),
        "--text": (["hello"], []), "--format": (["ascii", "png"], ["bogus"]), "--output": (["f.png"], []),
        "--counter": (["3", "18446744073709551615"], ["-1", "x", "18446744073709551616"]), "--window": (["2"], ["x"]),
    ]

    static func tokens(_ grammar: CommandGrammar) -> Tokens {
        var tokens = Tokens()
        for flag in grammar.allFlags {
            tokens.plain.append([flag])
            tokens.odd += [[flag, flag], [flag + "=1"]]
        }
        for option in grammar.allOptions {
            let (good, bad) = values[option] ?? (["v"], [])
            for value in good {
                tokens.plain += [[option, value], [option + "=" + value]]
                tokens.odd.append([option, value, option, value])
            }
            for value in bad { tokens.odd += [[option, value], [option + "=" + value]] }
            tokens.odd += [[option], [option + "="], [option, "-x"], [option, "--json"]]
        }
        tokens.odd += [["-x"], ["-dash"], ["-h"], ["--help"], ["--"], ["-"], ["--unknown"], ["extra"], ["help"]]
        return tokens
    }

    /// A small deterministic generator, so a failure names a vector that stays failing.
    struct Generator {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
    }

    @Test(arguments: ["code", "login", "verify", "qr"])
    func fastPathReadsWhatTheFullParserReads(command: String) throws {
        let grammar = try #require(Grammar.command(command))
        let tokens = Self.tokens(grammar)
        var generator = Generator(state: UInt64(command.utf8.count) * 7919)
        var taken = 0
        var plainCount = 0
        for round in 0..<1200 {
            let plainOnly = round % 2 == 0
            var pool = tokens.plain
            if !plainOnly { pool += tokens.odd }
            var words: [[String]] = []
            for _ in 0..<generator.next(6) { words.append(pool[generator.next(pool.count)]) }
            // Plain vectors: each name once, at most one positional.
            if plainOnly {
                var seen: [String] = []
                words = words.filter { token in
                    let name = String(token[0].split(separator: "=")[0])
                    defer { seen.append(name) }
                    return !seen.contains(name)
                }
                if generator.next(2) == 0 { words.insert(["alice"], at: generator.next(words.count + 1)) }
            }
            var arguments = words.flatMap { $0 }
            // Global options before the subcommand, sometimes.
            let leading = generator.next(4) == 0 ? ["--json"] : []
            arguments = leading + [command] + arguments.filter { !leading.contains($0) || !plainOnly }

            // The full parser costs milliseconds a vector: asked only where its answer matters.
            let fast = FastPath.parse(arguments)
            if let fast {
                taken += 1
                let full = Self.fullParse(arguments)
                #expect(full == .some(fast), "\(arguments): the fast path read \(fast), the full parser \(String(describing: full))")
            } else if plainOnly, case .some(.some) = Self.fullParse(arguments) {
                Issue.record("\(arguments): a plain form the full parser takes did not take the fast path")
            }
            if plainOnly { plainCount += 1 }
        }
        // Enough vectors took the fast path for the comparison to mean something (code's many
        // options, most of which exclude others, leave fewer valid random vectors).
        #expect(taken > plainCount / (command == "code" ? 6 : 4), "\(command): only \(taken) vectors took the fast path")
    }

    /// The forms scripts run most must keep taking the fast path.
    @Test func plainFormsTakeTheFastPath() {
        let global = Global(db: nil, json: false, passwordStdin: false)
        #expect(FastPath.parse(["code", "--secret-stdin"]) == .code(CodeRequest(global: global, secretStdin: true)))
        #expect(FastPath.parse(["code", "alice"]) == .code(CodeRequest(global: global, user: "alice")))
        #expect(
            FastPath.parse(["login", "alice", "--password-stdin"])
                == .login(LoginRequest(global: Global(passwordStdin: true), user: "alice", code: CodeInput())))
        #expect(
            FastPath.parse(["--json", "login", "alice", "--password-stdin", "--code", "123456"])
                == .login(LoginRequest(
                    global: Global(json: true, passwordStdin: true), user: "alice", code: CodeInput(given: "123456"))))
        #expect(FastPath.parse(["verify", "alice", "--code-stdin"]) != nil)
        #expect(FastPath.parse(["qr", "--text", "hello", "--format", "ascii"]) != nil)
        // Anything else goes to the full parser.
        for arguments in [["code", "-h"], ["code", "--help"], ["code", "--", "alice"], ["login", "-dash"], ["list"],
                          ["code", "--at", "1", "--at", "2", "alice"], ["login", "alice", "--code"]] {
            #expect(FastPath.parse(arguments) == nil, "\(arguments)")
        }
    }

    @Test func jsonComesFromTheSameWords() {
        #expect(Grammar.wantsJSON(["delete", "bob", "--json"]))
        #expect(Grammar.wantsJSON(Grammar.hoistGlobalOptions(["--json", "delete", "bob"])))
        #expect(!Grammar.wantsJSON(["delete", "bob", "--", "--json"]))
        #expect(!Grammar.wantsJSON(["login", "bob", "--code", "--json"]))
        #expect(!Grammar.wantsJSON(["--db", "--json", "list"]))
    }

    /// Only an exact -h, --help or help prints help; any other word that is not an option is a
    /// usage error (64), in JSON with --json; an unknown subcommand is named, with a suggestion.
    @Test func dashWordsAndUnknownCommandsAreUsageErrors() throws {
        let box = try Sandbox()
        for arguments in [["register", "-dash", "--password-stdin", "--json"], ["delete", "-dash", "--json"],
                          ["--json", "show", "-hello"], ["show", "alice", "-x", "--json"], ["-dash", "--json"]] {
            let run = box.inProcess(arguments, stdin: defaultPassword + "\n")
            #expect(run.status == 64, "\(arguments): \(run.stdout)")
            #expect(run.stdout.isEmpty, "\(arguments)")
            #expect(run.error["code"] as? String == "usage", "\(arguments): \(run.stderr)")
            #expect(!run.stdout.contains("OVERVIEW") && !run.stderr.contains("OVERVIEW"))
        }
        let show = box.inProcess(["show", "-hello"])
        #expect(show.stderr.hasPrefix("twofa: unknown option '-hello'"))
        #expect(show.stderr.contains("after '--'"))
        // After --, a name that starts with '-' is read as a name (and refused as one: 65).
        #expect(box.inProcess(["delete", "--", "-dash"]).status == 65)

        for (arguments, suggestion) in [(["regster", "bob"], "register"), (["--json", "regster"], "register"),
                                        (["lst"], "list"), (["enable2fa", "bob"], "enable-2fa"), (["xyzzy"], nil)] {
            let run = box.inProcess(arguments)
            #expect(run.status == 64, "\(arguments)")
            let message = arguments.contains("--json") ? run.error["message"] as? String ?? "" : run.stderr
            #expect(message.contains("unknown command '\(arguments.first { $0 != "--json" } ?? "")'"), "\(message)")
            #expect(!message.contains("'--json'"))
            if let suggestion { #expect(message.contains("did you mean '\(suggestion)'"), "\(message)") }
        }
        let helpUnknown = box.inProcess(["help", "nosuch"])
        #expect(helpUnknown.status == 64)
        #expect(helpUnknown.stderr.contains("unknown command 'nosuch'"))

        for arguments in [["-h"], ["--help"], ["help"], ["help", "register"], ["show", "-h"], ["show", "--help"]] {
            let run = box.inProcess(arguments)
            #expect(run.status == 0, "\(arguments)")
            #expect(run.stdout.contains("USAGE:"), "\(arguments)")
        }
    }

    @Test func editDistance() {
        #expect(Grammar.editDistance(Array("regster".utf8), Array("register".utf8)) == 1)
        #expect(Grammar.editDistance(Array("rgeister".utf8), Array("register".utf8)) == 1)
        #expect(Grammar.editDistance(Array("".utf8), Array("list".utf8)) == 4)
        #expect(Grammar.nearestCommand(to: "verfiy") == "verify")
        #expect(Grammar.nearestCommand(to: "Delete") == "delete")
        #expect(Grammar.nearestCommand(to: "zzzzzz") == nil)
    }
}
