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
            BackupCodesCommand.self, Unlock.self, Passwd.self, List.self, Show.self, Delete.self, Audit.self,
            Export.self, Import.self,
        ]
    )
}

/// The entry point: parse, run, and map every failure to its exit code through one table
/// (`TwofaError.exitCode`), as one line on stderr or one JSON object with --json.
@main
enum Main {
    static func main() {
        makeNotDumpable()
        umask(0o077)
        let arguments = hoistGlobalOptions(Array(CommandLine.arguments.dropFirst()))
        Output.json = arguments.prefix(while: { $0 != "--" }).contains("--json")
        do {
            if try FastPath.run(arguments) { Output.finish(status: 0) }
        } catch {
            Output.fail(error)
        }
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
                Output.line(Twofa.fullMessage(for: error))
                Output.finish(status: 0)
            }
            let message = Twofa.message(for: error).split(separator: "\n").first.map(String.init) ?? "usage error"
            let usage = TwofaError.usage(message.isEmpty ? "usage error" : message + " (see 'twofa --help')")
            Output.fail(usage, exitCode: code.rawValue == 0 ? 64 : code.rawValue)
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

/// The global options may come before the subcommand too (`twofa --db X code alice`): they are
/// moved behind the subcommand's name, where each subcommand declares them.
func hoistGlobalOptions(_ arguments: [String]) -> [String] {
    var leading: [String] = []
    var index = 0
    while index < arguments.count {
        let argument = arguments[index]
        if argument == "--json" || argument == "--password-stdin" || argument.hasPrefix("--db=") {
            leading.append(argument)
        } else if argument == "--db", index + 1 < arguments.count {
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
