import ArgumentParser
import TwofaDomain

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct Twofa: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "twofa",
        abstract: "User accounts with passwords and TOTP two-factor authentication, in a SQLite file.",
        discussion: """
            Passwords come from a no-echo prompt on a terminal or, with --password-stdin, from the \
            first line of standard input; never from the command line. With --json, every result \
            is one JSON object on standard output, and every failure one on standard error.
            """,
        version: version,
        subcommands: [
            Register.self, Login.self, EnableTwoFactor.self, Verify.self, Disable.self, QR.self, Code.self,
            BackupCodesCommand.self, Unlock.self, Audit.self,
        ]
    )
}

/// The entry point: parse, run, and map every failure to its exit code through one table
/// (`TwofaError.exitCode`), as one line on stderr or one JSON object with --json.
@main
enum Main {
    static func main() {
        umask(0o077)
        let arguments = Array(CommandLine.arguments.dropFirst())
        Output.json = arguments.prefix(while: { $0 != "--" }).contains("--json")
        do {
            var command = try Twofa.parseAsRoot(arguments)
            try command.run()
            Output.finish(status: 0)
        } catch let error as TwofaError {
            Output.fail(error)
        } catch {
            let code = Twofa.exitCode(for: error)
            if code == .success {
                // --help, --version and the like.
                print(Twofa.fullMessage(for: error))
                Output.finish(status: 0)
            }
            let message = Twofa.message(for: error).split(separator: "\n").first.map(String.init) ?? "usage error"
            let usage = TwofaError.usage(message.isEmpty ? "usage error" : message + " (see 'twofa --help')")
            Output.fail(usage, exitCode: code.rawValue == 0 ? 64 : code.rawValue)
        }
    }
}
