import ArgumentParser
import TwofaAccounts
import TwofaDomain

import Glibc

struct Export: ContextualCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write every account as JSON Lines, secrets decrypted: protect the file as the key file.",
        discussion: """
            Refuses to write to a terminal, or to a standard output that is a file group or others \
            may read. --output writes a file of mode 0600 (never through a symlink, nor to a file with \
            other hard links).
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("The file to write (default: standard output).", valueName: "file")) var output: String?
    @Option(help: ArgumentHelp(
        "Write USER's enrolment as a google-authenticator state file instead (pam_google_authenticator reads it).",
        valueName: "user"))
    var googleAuthenticator: String?
    @Option(help: ArgumentHelp(
        "With a google-authenticator file: make N new 8-digit scratch codes (0 to 10, default 0), good once in either place.",
        valueName: "n"))
    var scratchCodes: Int?

    func validate() throws {
        if scratchCodes != nil && googleAuthenticator == nil {
            throw ValidationError("--scratch-codes goes with --google-authenticator USER")
        }
    }

    func run(in context: CommandContext) throws {
        if output == nil {
            if context.stdoutIsTTY {
                throw TwofaError.usage("export writes secrets: redirect standard output or use --output FILE")
            }
            // `export > file` with the umask's 0644: refused before anything is decrypted.
            if let problem = SecureFiles.exposure(ofDescriptor: STDOUT_FILENO) {
                throw TwofaError.file(path: "standard output", reason: problem)
            }
        }
        if let user = googleAuthenticator {
            var bytes = try global.accounts(context).exportGoogleAuthenticator(name: user, scratchCodes: scratchCodes ?? 0)
            defer { wipe(&bytes) }
            if let output {
                try SecureFiles.writePrivate(output, content: bytes)
                let name = try Username.normalize(user)
                context.result(
                    .object([("user", .string(name)), ("output", .string(output))]),
                    text: "Wrote the google-authenticator file of \(name) to \(output).")
            } else {
                // Our own text: a base32 secret, option lines and digits.
                context.trusted(String(decoding: bytes, as: UTF8.self))
            }
            return
        }
        let accounts = try global.accounts(context).exportAccounts()
        var text = ""
        for account in accounts { text += account.jsonLine + "\n" }
        if let output {
            var bytes = Array(text.utf8)
            defer { wipe(&bytes) }
            try SecureFiles.writePrivate(output, content: bytes)
            context.result(
                .object([("exported", .int(accounts.count)), ("output", .string(output))]),
                text: "Exported \(counted(accounts.count, "account")) to \(output).")
        } else {
            context.rawJSON(text)
        }
    }
}

struct Import: ContextualCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create accounts from export's JSON Lines or a CSV file, all or nothing; or take a google-authenticator file for one user.",
        discussion: """
            CSV has a header row with the columns user,password_hash,totp_secret,totp_algorithm,totp_digits,totp_period \
            (any order; all but user and password_hash optional). Password hashes in any crypt(3) format libxcrypt \
            verifies are kept and rehashed to yescrypt at the next successful login.
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The file to read; - is standard input.", valueName: "file")) var file: String?
    @Option(help: "jsonl or csv (default: csv for a .csv file, else jsonl).") var format: ImportFormat?
    @Flag(help: "Check everything; write nothing.") var dryRun = false
    @Option(help: ArgumentHelp("A google-authenticator state file to take for --user.", valueName: "file"))
    var googleAuthenticator: String?
    @Option(help: ArgumentHelp("The existing user who takes the google-authenticator file.", valueName: "user"))
    var user: String?
    @Option(help: ArgumentHelp("The issuer for a google-authenticator import (default: $TWOFA_ISSUER, else the host name).", valueName: "name"))
    var issuer: String?

    func validate() throws {
        if googleAuthenticator != nil {
            guard user != nil, file == nil, format == nil else {
                throw ValidationError("--google-authenticator FILE takes --user USER and no other file or --format")
            }
        } else {
            guard file != nil else { throw ValidationError("give the FILE to import (- for standard input)") }
            guard user == nil, issuer == nil else { throw ValidationError("--user and --issuer go with --google-authenticator") }
        }
    }

    func run(in context: CommandContext) throws {
        let accounts = try global.accounts(context)
        if let path = googleAuthenticator, let user {
            let issuer = issuer ?? context.environment("TWOFA_ISSUER") ?? hostName()
            try refuseUnsafeText(issuer, what: "the issuer")
            let parsed = try GoogleAuthenticatorFile(
                parsing: try SecureFiles.readAll(path, maximumBytes: ImportReader.maximumGoogleAuthenticatorFileBytes))
            try accounts.importGoogleAuthenticator(parsed, name: user, issuer: issuer)
            let name = try Username.normalize(user)
            context.result(
                .object([("user", .string(name)), ("two_factor", .bool(true))]),
                text: "Two-factor authentication is on for \(name), with the google-authenticator secret and \(parsed.scratchCodes.count) scratch codes as backup codes.")
            return
        }
        let path = file ?? "-"
        let input = try SecureFiles.openInput(path)
        defer { if input.descriptor != STDIN_FILENO { close(input.descriptor) } }
        let reader = ImportReader(
            descriptor: input.descriptor, format: format ?? (path == "-" ? .jsonl : ImportFormat.guess(path: path)),
            now: context.clock.now())
        // The bar follows the bytes read, where the size is known (a file, not a pipe).
        let bar = ProgressBar(context: context, enabled: !context.json && context.stderrIsTTY && input.size != nil)
        let count = try accounts.importAccounts(
            dryRun: dryRun, source: path == "-" ? "stdin" : path, next: { () throws(TwofaError) in try reader.next() },
            progress: { _ in bar.update(reader.bytesRead, of: input.size ?? 0) })
        bar.finish()
        context.result(
            .object([("imported", .int(dryRun ? 0 : count))] + (dryRun ? [("checked", .int(count))] : [])),
            text: dryRun
                ? "Checked \(counted(count, "account")); nothing was written (--dry-run)."
                : "Imported \(counted(count, "account")).")
    }
}

extension ImportFormat: ExpressibleByArgument {}

/// `[#####     ]  41%` on stderr, redrawn in place; only on a terminal.
struct ProgressBar {
    let context: CommandContext
    let enabled: Bool

    func update(_ done: Int, of total: Int) {
        guard enabled, total > 0 else { return }
        let width = 30
        let filled = min(done, total) * width / total
        context.writeStandardError(
            "\r[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "]  \(min(done, total) * 100 / total)%")
    }

    func finish() {
        if enabled { context.writeStandardError("\n") }
    }
}
