import Foundation
import Testing

/// oathtool's conveniences on `twofa code` (issue 14): the same output as `oathtool` for random
/// secrets, option by option.
@Suite struct OathtoolOptionsTests {
    func randomHex(_ bytes: Int = 20) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    func twofa(_ box: Sandbox, _ arguments: [String], secret: String) throws -> TwofaRun {
        try box.run(["code", "--secret-stdin", "--hex"] + arguments, stdin: secret + "\n")
    }

    func oathtool(_ arguments: [String]) throws -> TwofaRun {
        try runProcess("/usr/bin/oathtool", arguments)
    }

    @Test func hexSecretsDigitsAndAlgorithmsAsOathtool() throws {
        let box = try Sandbox()
        for round in 0..<12 {
            let secret = randomHex(round % 3 == 0 ? 32 : 20)
            let time = Int64.random(in: 0...4_000_000_000)
            let algorithm = ["sha1", "sha256", "sha512"][round % 3]
            let digits = [6, 7, 8][round / 3 % 3]
            let ours = try twofa(box, ["--at", String(time), "--algorithm", algorithm, "--digits", String(digits)], secret: secret)
            let theirs = try oathtool(["--totp=\(algorithm)", "--digits=\(digits)", "-N", "@\(time)", secret])
            #expect(ours.status == 0 && theirs.status == 0, "\(ours.stderr)\(theirs.stderr)")
            #expect(ours.stdout == theirs.stdout, "\(secret) at \(time), \(algorithm), \(digits) digits")
        }
        let badHex = try box.run(["code", "--secret-stdin", "--hex"], stdin: "abc\n")
        #expect(badHex.status == 65)
        let nine = try twofa(box, ["--digits", "9"], secret: randomHex())
        #expect(nine.status == 65)
        let hexWithUser = try box.run(["code", "alice", "--hex"])
        #expect(hexWithUser.status == 64)
    }

    @Test func windowPrintsTheFollowingCodesAsOathtool() throws {
        let box = try Sandbox()
        for window in [0, 1, 3, 7] {
            let secret = randomHex()
            let time = Int64.random(in: 0...4_000_000_000)
            let ours = try twofa(box, ["--at", String(time), "--window", String(window)], secret: secret)
            let theirs = try oathtool(["--totp", "-w", String(window), "-N", "@\(time)", secret])
            #expect(ours.stdout == theirs.stdout && ours.stdout.split(separator: "\n").count == window + 1)
            let json = try twofa(box, ["--at", String(time), "--window", String(window), "--json"], secret: secret)
            #expect((json.json["codes"] as? [String])?.joined(separator: "\n") == theirs.stdout.trimmingCharacters(in: .newlines))
        }
    }

    @Test func checkPrintsTheOffsetAsOathtool() throws {
        let box = try Sandbox()
        let secret = randomHex()
        let time = Int64(1_800_000_015)
        for steps in -3...3 {
            let code = try oathtool(["--totp", "-N", "@\(time + Int64(steps) * 30)", secret]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let ours = try twofa(box, ["--at", String(time), "--window", "2", "--check", code], secret: secret)
            let theirs = try oathtool(["--totp", "-w", "2", "-N", "@\(time)", secret, code])
            if abs(steps) <= 2 {
                #expect(ours.status == 0 && ours.stdout == theirs.stdout, "\(steps): \(ours.stdout) vs \(theirs.stdout)")
            } else {
                #expect(ours.status == 1 && theirs.status != 0, "\(steps)")
            }
        }
        // The default window is one step either side.
        let next = try oathtool(["--totp", "-N", "@\(time + 30)", secret]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let json = try twofa(box, ["--at", String(time), "--check", next, "--json"], secret: secret)
        #expect(json.status == 0 && json.json["offset"] as? Int == 1 && json.json["valid"] as? Bool == true)
        #expect(try twofa(box, ["--at", String(time), "--check", "12ab56"], secret: secret).status == 65)
    }

    @Test func atTakesRFC3339() throws {
        let box = try Sandbox()
        let secret = randomHex()
        let plain = try twofa(box, ["--at", "1234567890"], secret: secret)
        for form in ["2009-02-13T23:31:30Z", "2009-02-14T00:31:30+01:00", "2009-02-13t23:31:30.5z"] {
            #expect(try twofa(box, ["--at", form], secret: secret).stdout == plain.stdout, "\(form)")
        }
        let theirs = try oathtool(["--totp", "-N", "2009-02-13 23:31:30 UTC", secret])
        #expect(plain.stdout == theirs.stdout)
        #expect(try twofa(box, ["--at", "yesterday"], secret: secret).status == 64)
    }

    /// A stored user's codes through the same options (nothing is used up by --check).
    @Test func storedUsersToo() throws {
        let box = try Sandbox()
        try box.register("olga")
        let secret = try box.enable("olga")
        let time = now()
        let codes = try box.run(["code", "olga", "--at", String(time), "--window", "2"])
        let theirs = try runProcess("/usr/bin/oathtool", ["--totp", "-b", "-w", "2", "-N", "@\(time)", secret])
        #expect(codes.status == 0 && codes.stdout == theirs.stdout)
        let first = String(codes.stdout.split(separator: "\n")[0])
        #expect(try box.run(["code", "olga", "--at", String(time), "--check", first]).stdout == "0\n")
        #expect(try box.run(["code", "olga", "--at", String(time), "--check", first]).status == 0)
    }
}
