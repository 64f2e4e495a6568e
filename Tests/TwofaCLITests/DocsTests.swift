import Foundation
import Testing

/// README.md and man/twofa.1 stay true: every subcommand and option the binary has is in the
/// man page, every subcommand in the README, and the man page lints clean.
@Suite("documentation")
struct DocsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func subcommands() throws -> [String] {
        let help = try Sandbox().run(["--help"]).stdout
        let section = help.components(separatedBy: "SUBCOMMANDS:").last ?? ""
        return section.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("  "), !line.hasPrefix("   ") else { return nil }
            return line.split(separator: " ").first.map(String.init)
        }.filter { $0 != "help" && $0 != "See" }
    }

    @Test func manPageHasEveryCommandAndOption() throws {
        let man = try String(contentsOf: Self.root.appendingPathComponent("man/twofa.1"), encoding: .utf8)
        let commands = try Self.subcommands()
        #expect(commands.count == 19, "\(commands)")
        let box = try Sandbox()
        for command in commands {
            #expect(man.contains(".Cm \(command)"), "man page lacks \(command)")
            let help = try box.run([command, "--help"]).stdout
            // The OPTIONS section: each line that starts with a flag names it first.
            let optionLines = (help.components(separatedBy: "OPTIONS:").last ?? "").split(separator: "\n")
                .map { $0.drop(while: { $0 == " " }) }.filter { $0.hasPrefix("-") }
            let options = Set(optionLines.flatMap { line in
                line.split(separator: " ").prefix(2).map { $0.trimmingCharacters(in: CharacterSet(charactersIn: ",")) }
                    .filter { $0.hasPrefix("--") }
            })
            #expect(!options.isEmpty, "\(command) has no options?")
            for option in options where option != "--help" && option != "--version" {
                #expect(man.contains("Fl -\(option.dropFirst(2))"), "man page lacks \(command) \(option)")
            }
        }
        for section in ["EXIT STATUS", "ENVIRONMENT", "FILES", "EXAMPLES"] {
            #expect(man.contains(".Sh \(section)"))
        }
    }

    @Test func readmeHasEveryCommandAndTheExitCodes() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        for command in try Self.subcommands() {
            #expect(readme.contains("twofa \(command)") || readme.contains("`\(command)`"), "README lacks \(command)")
        }
        for code in ["64", "65", "70", "74"] { #expect(readme.contains("| \(code) ")) }
        let ci = try String(contentsOf: Self.root.appendingPathComponent(".ci/run"), encoding: .utf8)
        #expect(ci.contains("scripts/test"))
        #expect(readme.contains("&& scripts/test"))
    }

    /// man(1) at 80 columns, as a reader's terminal shows it: no troff warning (a line that
    /// cannot be broken runs past the margin).
    @Test func manPageFitsEightyColumns() throws {
        let page = try runProcess(
            "/usr/bin/man", ["--warnings", "-l", Self.root.appendingPathComponent("man/twofa.1").path],
            environment: ["MANWIDTH": "80", "PATH": "/usr/bin:/bin", "MANPAGER": "cat", "PAGER": "cat"])
        #expect(page.status == 0, "\(page.stderr)")
        #expect(page.stderr.isEmpty, "\(page.stderr)")
        #expect(page.stdout.split(separator: "\n").allSatisfy { $0.count <= 80 })
    }

    @Test func manPageLintsClean() throws {
        let lint = try runProcess("/usr/bin/mandoc", ["-Tlint", "-W", "warning", Self.root.appendingPathComponent("man/twofa.1").path])
        #expect(lint.status == 0, "\(lint.stdout)\(lint.stderr)")
        #expect(lint.stdout.isEmpty && lint.stderr.isEmpty, "\(lint.stdout)\(lint.stderr)")
    }
}
