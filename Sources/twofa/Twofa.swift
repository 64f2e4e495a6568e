import ArgumentParser
import TwofaDomain

import Glibc

struct Twofa: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "twofa",
        abstract: "User accounts with passwords and TOTP two-factor authentication, in a SQLite file or PostgreSQL.",
        discussion: """
            Passwords come from a no-echo prompt on a terminal or, with --password-stdin, from the \
            first line of standard input; never from the command line. With --json, every result \
            is one JSON object on standard output, and every failure one on standard error. The \
            database is --db, else $TWOFA_DB, else $XDG_DATA_HOME/twofa/twofa.db, else \
            ~/.local/share/twofa/twofa.db (a postgresql:// URI names a PostgreSQL database).
            """,
        version: version,
        subcommands: [
            Register.self, Login.self, EnableTwoFactor.self, Verify.self, Disable.self, QR.self, Code.self,
            BackupCodesCommand.self, Unlock.self, Passwd.self, List.self, Show.self, Delete.self, Audit.self,
            Export.self, Import.self, Rekey.self, CheckKey.self, Serve.self,
        ]
    )
}

/// The entry point: the one place that exits the process, with the status `run` gives.
@main
enum Main {
    static func main() {
        makeNotDumpable()
        umask(0o077)
        let status = run(Array(CommandLine.arguments.dropFirst()), in: .process)
        exit(status)
    }

    /// Reads the words after `twofa`, runs the command with `context`, and gives the exit
    /// status; every failure maps to its status through one table (`TwofaError.exitCode`), and
    /// is reported as one line on stderr, or one JSON object with --json. Tests call this
    /// in-process with a context of their own (InProcessTests).
    static func run(_ words: [String], in context: CommandContext) -> Int32 {
        defer { context.flush() }
        if let request = FastPath.parse(words) {
            context.json = request.global.json
            do throws(TwofaError) {
                try request.run(context)
                return 0
            } catch {
                return context.report(error)
            }
        }
        let arguments = Grammar.hoistGlobalOptions(words)
        // The server parses its own options (twofa-serve); nothing here stands between.
        if arguments.first == "serve" { return context.report(Serve.launch(arguments, context: context)) }
        context.json = Grammar.wantsJSON(arguments)
        do throws(TwofaError) {
            try Grammar.check(arguments)
        } catch {
            return context.report(error, exitCode: 64)
        }
        if Grammar.isVersionRequest(arguments) {
            context.result(.object([("version", .string(Twofa.version))]), text: Twofa.version)
            return 0
        }
        do {
            var command = try Twofa.parseAsRoot(arguments)
            if let contextual = command as? any ContextualCommand {
                try contextual.run(in: context)
            } else {
                try command.run()
            }
            return 0
        } catch let error as TwofaError {
            return context.report(error)
        } catch {
            let code = Twofa.exitCode(for: error)
            if code == .success {
                // --help and the like.
                context.line(Twofa.fullMessage(for: error))
                return 0
            }
            let message = Twofa.message(for: error).split(separator: "\n").first.map(String.init) ?? "usage error"
            let usage = TwofaError.usage(message.isEmpty ? "usage error" : message + " (see 'twofa --help')")
            return context.report(usage, exitCode: code.rawValue == 0 ? 64 : code.rawValue)
        }
    }
}

/// prctl(PR_SET_DUMPABLE, 0) before anything is read: no core file, and no ptrace, no
/// /proc/PID/mem or /proc/PID/environ for other users (the kernel makes the process's /proc
/// files root's), while the process holds a password or a secret. prctl is variadic in C, which
/// Swift does not import, so it is called through its address with the five integer arguments
/// the kernel takes (on Linux, variadic integer arguments travel in the same registers as fixed
/// ones, on x86-64 and AArch64 alike). Should it fail, core files are at least switched off.
func makeNotDumpable() {
    typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
    let prSetDumpable: Int32 = 4  // <linux/prctl.h>
    if let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "prctl"),
        unsafeBitCast(symbol, to: Prctl.self)(prSetDumpable, 0, 0, 0, 0) == 0
    {
        return
    }
    var none = rlimit(rlim_cur: 0, rlim_max: 0)
    _ = setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &none)
}
