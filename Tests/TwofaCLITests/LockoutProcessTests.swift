import Foundation
import Testing

/// A twofa process started with a stdin pipe the test holds open, so it waits at its first
/// read of stdin (the password), having read the account already.
final class WaitingProcess: @unchecked Sendable {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let errors = Pipe()

    init(_ box: Sandbox, _ arguments: [String]) throws {
        process.executableURL = Sandbox.binary
        process.arguments = arguments
        process.environment = box.environment
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
    }

    /// Whether the process is blocked in read(2) on its standard input, by /proc/PID/syscall
    /// (the syscall number, then its first argument, the descriptor).
    var isWaitingOnStdin: Bool {
        guard let text = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/syscall", encoding: .utf8) else {
            return false
        }
        let fields = text.split(separator: " ")
        #if arch(x86_64)
        let read = "0"
        #else
        let read = "63"
        #endif
        return fields.count > 1 && fields[0] == read && fields[1] == "0x0"
    }

    /// Writes the lines, closes stdin, waits for the exit (bounded by the caller's timeout).
    func finish(_ lines: String) -> Int32 {
        try? input.fileHandleForWriting.write(contentsOf: Data(lines.utf8))
        try? input.fileHandleForWriting.close()
        _ = output.fileHandleForReading.readDataToEndOfFile()
        _ = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// Polls `condition` until it holds, for at most `seconds`: a barrier, not a sleep that hopes.
func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

@Suite("lockout races between processes")
struct LockoutProcessTests {
    /// Issue 9's reproduction, as the attacker ran it: 40 `login --password-stdin` processes
    /// left waiting on stdin, the account locked by 5 wrong logins, then 39 wrong passwords and
    /// the right one. Before: 39 answered 1 and one printed "Authenticated bob." (exit 0).
    @Test func fortyWaitingLoginsAfterALock() throws {
        let box = try Sandbox()
        try box.register("bob")
        let waiting = try (0..<40).map { _ in try WaitingProcess(box, ["login", "bob", "--password-stdin", "--json"]) }
        #expect(waitUntil(seconds: 30) { waiting.allSatisfy(\.isWaitingOnStdin) }, "not every process reached its read")
        for _ in 0..<5 {
            #expect(try box.run(["login", "bob", "--password-stdin"], stdin: "wrong password 0\n").status == 1)
        }
        let statuses = Statuses()
        DispatchQueue.concurrentPerform(iterations: waiting.count) { index in
            statuses.append(waiting[index].finish((index == 0 ? defaultPassword : "wrong password \(index)") + "\n"))
        }
        #expect(statuses.all.sorted() == Array(repeating: 3, count: 40), "\(statuses.all.sorted())")
        let show = try box.run(["show", "bob", "--json"])
        #expect(show.json["failed_attempts"] as? Int == 5)
    }

    /// 30 waiting logins let go at once on an unlocked account: five verdicts, then the lock.
    @Test func thirtyRacingGuessesGetFiveVerdicts() throws {
        let box = try Sandbox()
        try box.register("bob")
        let waiting = try (0..<30).map { _ in try WaitingProcess(box, ["login", "bob", "--password-stdin"]) }
        #expect(waitUntil(seconds: 30) { waiting.allSatisfy(\.isWaitingOnStdin) }, "not every process reached its read")
        let statuses = Statuses()
        DispatchQueue.concurrentPerform(iterations: waiting.count) { index in
            statuses.append(waiting[index].finish("wrong password \(index)\n"))
        }
        let all = statuses.all
        #expect(all.filter { $0 == 1 }.count == 5, "\(all.sorted())")
        #expect(all.filter { $0 == 3 }.count == 25, "\(all.sorted())")
    }
}
