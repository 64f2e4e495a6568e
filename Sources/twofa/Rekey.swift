import ArgumentParser
import TwofaAccounts
import TwofaDomain

struct Rekey: ContextualCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-encrypt every secret under a new key file, in one transaction; the old key is kept as KEYFILE.old.")

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("The new key (32 bytes, mode 0600; default: a new random one).", valueName: "file"))
    var newKeyFile: String?

    func run(in context: CommandContext) throws {
        let result = try global.accounts(context).rekey(newKeyFile: newKeyFile)
        context.result(
            .object([("rekeyed", .int(result.rekeyed)), ("old_key_file", .string(result.oldKeyFile))]),
            text: "Re-encrypted \(result.rekeyed) secrets under the new key; the old key is \(terminalSafe(result.oldKeyFile)).")
    }
}

struct CheckKey: ContextualCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-key",
        abstract: "Decrypt every secret with the key file; name each account whose secret does not open (exit 74).")

    @OptionGroup var global: GlobalOptions

    func run(in context: CommandContext) throws {
        let check = try global.accounts(context).checkKey()
        let object = JSON.object([("checked", .int(check.checked)), ("failed", .array(check.failed.map { .string($0) }))])
        guard check.failed.isEmpty else {
            if context.json { context.result(object, text: "") }
            throw TwofaError.keyFile(
                path: try global.accounts(context).environment.keyFilePath(),
                reason: "it does not open the secrets of \(check.failed.count) of \(check.checked): "
                    + check.failed.prefix(10).map { terminalSafe($0) }.joined(separator: ", ")
                    + (check.failed.count > 10 ? ", …" : ""))
        }
        context.result(object, text: "The key file opens all \(check.checked) secrets.")
    }
}
