import Foundation
import Testing

/// The prompts on a terminal, driven through a pseudo-terminal made by the test (CI has none of
/// its own): the password is asked for with echo off, the code with echo on.
@Suite("terminal prompts", .enabled(if: TestStore.isSQLite, "SQLite's files"))
struct TerminalTests {
    /// Runs twofa on a new pty, answering each prompt as it appears; returns the exit status
    /// and everything the terminal showed.
    static func onTerminal(_ box: Sandbox, _ arguments: [String], answers: [(String, String)]) throws -> (Int32, String) {
        let driver = """
            import os, pty, select, sys, time
            argv, answers = sys.argv[1:-1], [a.split("\\t", 1) for a in sys.argv[-1].split("\\n") if a]
            pid, fd = pty.fork()
            if pid == 0:
                os.execv(argv[0], argv)
            shown, seen = b"", 0
            deadline = time.time() + 30
            while time.time() < deadline:
                ready, _, _ = select.select([fd], [], [], 0.1)
                if ready:
                    try:
                        chunk = os.read(fd, 4096)
                    except OSError:
                        break
                    if not chunk:
                        break
                    shown += chunk
                if answers and answers[0][0].encode() in shown[seen:]:
                    seen = len(shown)
                    os.write(fd, (answers.pop(0)[1] + "\\n").encode())
            _, status = os.waitpid(pid, 0)
            sys.stdout.write(shown.decode(errors="replace"))
            sys.exit(os.waitstatus_to_exitcode(status))
            """
        let script = answers.map { "\($0.0)\t\($0.1)" }.joined(separator: "\n")
        let result = try runProcess(
            "/usr/bin/python3", ["-c", driver, Sandbox.binary.path] + arguments + [script],
            environment: ["TWOFA_DB": box.database, "TWOFA_ISSUER": "Tty", "HOME": box.folder.path, "TERM": "xterm"])
        return (result.status, result.stdout)
    }

    @Test func promptsHideThePasswordAndShowTheCode() throws {
        let box = try Sandbox()
        let secretPassword = "a hidden passphrase 31"
        let (registered, shown) = try Self.onTerminal(
            box, ["register", "alice", "--enable-2fa"],
            answers: [("Password for alice", secretPassword), ("Repeat the password", secretPassword)])
        #expect(registered == 0, "\(shown)")
        #expect(shown.contains("Registered alice."))
        #expect(!shown.contains(secretPassword), "the password was echoed")
        // On a terminal the QR code is drawn in ANSI colours, black on white.
        #expect(shown.contains("\u{1B}[30;47m"))

        let code = try box.run(["code", "alice"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let (verified, verifyShown) = try Self.onTerminal(box, ["verify", "alice"], answers: [("Code for alice", code)])
        #expect(verified == 0, "\(verifyShown)")
        #expect(verifyShown.contains(code))  // a code is echoed: it is used up once accepted

        let (mismatch, mismatchShown) = try Self.onTerminal(
            box, ["register", "bob"],
            answers: [("Password for bob", secretPassword), ("Repeat the password", secretPassword + "x")])
        #expect(mismatch == 65, "\(mismatchShown)")
        #expect(mismatchShown.contains("the two passwords differ"))
    }
}
