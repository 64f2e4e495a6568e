/// The terminal checks and the environment for code that has no context of its own yet
/// (Transfer.swift): the process's context, which is `main`'s. New code asks the context it is
/// given (Context.swift).
enum Terminal {
    static var stdinIsTTY: Bool { CommandContext.process.stdinIsTTY }
    static var stdoutIsTTY: Bool { CommandContext.process.stdoutIsTTY }
    static var stderrIsTTY: Bool { CommandContext.process.stderrIsTTY }

    static func environment(_ name: String) -> String? { CommandContext.process.environment(name) }
}
