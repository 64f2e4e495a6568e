import Foundation
import Testing

/// HOTP (issue 14): `code --hotp` as `oathtool --hotp` prints it, the enrolment's look-ahead
/// and counter, and files made by the real `google-authenticator -c`.
@Suite struct HOTPTests {
    func randomHex(_ bytes: Int = 20) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    func oathtool(_ arguments: [String]) throws -> TwofaRun {
        try runProcess("/usr/bin/oathtool", arguments)
    }

    func hotp(_ secret: String, base32: Bool = true, counter: UInt64, digits: Int = 6) throws -> String {
        try oathtool(["--hotp"] + (base32 ? ["-b"] : []) + ["-c", String(counter), "--digits=\(digits)", secret]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func codesWindowsAndChecksAsOathtool() throws {
        let box = try Sandbox()
        for round in 0..<10 {
            let secret = randomHex(round % 2 == 0 ? 20 : 32)
            let counter = round == 9 ? UInt64(Int64.max) : UInt64.random(in: 0...5_000_000_000)
            let digits = [6, 7, 8][round % 3]
            let ours = try box.run(
                ["code", "--secret-stdin", "--hex", "--hotp", "--counter", String(counter), "--digits", String(digits)],
                stdin: secret + "\n")
            let theirs = try oathtool(["--hotp", "-c", String(counter), "--digits=\(digits)", secret])
            #expect(ours.status == 0 && theirs.status == 0, "\(ours.stderr)\(theirs.stderr)")
            #expect(ours.stdout == theirs.stdout, "\(secret) at counter \(counter), \(digits) digits")
            let window = round % 4 + 1
            let list = try box.run(
                ["code", "--secret-stdin", "--hex", "--hotp", "--counter", String(counter), "--window", String(window)],
                stdin: secret + "\n")
            #expect(list.stdout == (try oathtool(["--hotp", "-c", String(counter), "-w", String(window), secret])).stdout)
            // --check: the offset from the counter, as oathtool prints it; past the window, exit 1.
            let offset = UInt64(round % 3)
            let code = try hotp(secret, base32: false, counter: counter + offset)
            let checked = try box.run(
                ["code", "--secret-stdin", "--hex", "--hotp", "--counter", String(counter), "--window", "2", "--check", code],
                stdin: secret + "\n")
            let oathChecked = try oathtool(["--hotp", "-c", String(counter), "-w", "2", secret, code])
            #expect(checked.status == 0 && checked.stdout == oathChecked.stdout, "\(checked.stderr)")
            let beyond = try box.run(
                ["code", "--secret-stdin", "--hex", "--hotp", "--counter", String(counter + 3), "--window", "2", "--check", code],
                stdin: secret + "\n")
            #expect(beyond.status == 1)
        }
        // A HOTP URI takes its counter from the URI unless --counter says otherwise.
        let uri = "otpauth://hotp/ACME:alice?secret=JBSWY3DPEHPK3PXP&issuer=ACME&counter=42"
        let fromURI = try box.run(["code", "--uri-stdin", "--hotp", "--json"], stdin: uri + "\n")
        #expect(fromURI.json["code"] as? String == (try hotp("JBSWY3DPEHPK3PXP", counter: 42)))
        #expect(fromURI.json["counter"] as? Int == 42)
        let moved = try box.run(["code", "--uri-stdin", "--hotp", "--counter", "7"], stdin: uri + "\n")
        #expect(moved.stdout == (try hotp("JBSWY3DPEHPK3PXP", counter: 7)) + "\n")
        #expect(try box.run(["code", "--uri-stdin"], stdin: uri + "\n").status == 65)
        #expect(try box.run(["code", "--secret-stdin", "--counter", "3"], stdin: "JBSWY3DPEHPK3PXP\n").status == 64)
        #expect(try box.run(["code", "--secret-stdin", "--hotp", "--at", "5"], stdin: "JBSWY3DPEHPK3PXP\n").status == 64)
    }

    @Test func enrolmentLookAheadAndCounter() throws {
        let box = try Sandbox()
        try box.register("hana")
        let enrolled = try box.run(["enable-2fa", "hana", "--type", "hotp", "--password-stdin", "--json"], stdin: defaultPassword + "\n")
        #expect(enrolled.status == 0, "\(enrolled.stderr)")
        let secret = try #require(enrolled.json["secret"] as? String)
        #expect(enrolled.json["otpauth_uri"] as? String == "otpauth://hotp/Example:hana?secret=\(secret)&issuer=Example&counter=0")
        #expect(enrolled.json["type"] as? String == "hotp" && enrolled.json["counter"] as? Int == 0)
        // The URI as an app reads it: zbarimg decodes the drawn QR code.
        let image = box.folder.appendingPathComponent("hotp.png").path
        #expect(try box.run(["qr", "hana", "--format", "png", "--output", image]).status == 0)
        let decoded = try runProcess("/usr/bin/zbarimg", ["--raw", "-q", "-Sbinary", image])
        #expect(decoded.stdout == enrolled.json["otpauth_uri"] as? String)

        let activated = try box.run(["verify", "hana", "--code", try hotp(secret, counter: 0), "--json"])
        #expect(activated.status == 0 && activated.json["activated"] as? Bool == true, "\(activated.stderr)")
        let replay = try box.run(["verify", "hana", "--code", try hotp(secret, counter: 0), "--json"])
        #expect(replay.status == 1 && replay.error["code"] as? String == "code_reused")
        // Next is 1: 10 is the furthest the look-ahead takes; then 11 is next, and 21 too far.
        let far = try box.run(
            ["login", "hana", "--password-stdin", "--code-stdin", "--json"], stdin: defaultPassword + "\n" + (try hotp(secret, counter: 10)) + "\n")
        #expect(far.status == 0 && far.json["second_factor"] as? String == "hotp", "\(far.stderr)")
        #expect(try box.run(["verify", "hana", "--code", try hotp(secret, counter: 21)]).status == 1)
        #expect(try box.run(["verify", "hana", "--code", try hotp(secret, counter: 5)]).status == 1)
        let shown = try box.run(["show", "hana", "--json"])
        #expect(shown.json["type"] as? String == "hotp" && shown.json["device"] as? String == "app")
        #expect(shown.json["counter"] as? Int == 11)
        #expect(try box.run(["code", "hana"]).stdout == (try hotp(secret, counter: 11)) + "\n")
        #expect(try box.run(["verify", "hana", "--code", try hotp(secret, counter: 20)]).status == 0)
        // Export carries the counter; an import elsewhere goes on from it.
        let exported = try box.run(["export"])
        #expect(exported.stdout.contains(#""type":"hotp","counter":21"#))
        let other = try Sandbox()
        #expect(try other.run(["import", "-"], stdin: exported.stdout).status == 0)
        #expect(try other.run(["verify", "hana", "--code", try hotp(secret, counter: 20)]).status == 1)
        #expect(try other.run(["verify", "hana", "--code", try hotp(secret, counter: 21)]).status == 0)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/google-authenticator")))
    func realGoogleAuthenticatorCounterFilesImport() throws {
        let box = try Sandbox()
        try box.register("gus")
        let file = box.folder.appendingPathComponent("google_authenticator").path
        let made = try runProcess(
            "/usr/bin/google-authenticator",
            ["-c", "-f", "-q", "-w", "3", "-e", "3", "-r", "3", "-R", "30", "-s", file, "-l", "gus", "-i", "Example"],
            stdin: Data())
        #expect(made.status == 0, "\(made.stderr)")
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.contains("\" HOTP_COUNTER 1"))
        let secret = lines[0]
        let scratch = lines.filter { $0.count == 8 && $0.allSatisfy(\.isNumber) }
        let imported = try box.run(["import", "--google-authenticator", file, "--user", "gus", "--json"])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(try box.run(["show", "gus", "--json"]).json["counter"] as? Int == 1)
        // HOTP_COUNTER 1 is the next counter google-authenticator's module accepts: so here.
        #expect(try box.run(["verify", "gus", "--code", try hotp(secret, counter: 0)]).status == 1)
        let login = try box.run(
            ["login", "gus", "--password-stdin", "--code-stdin", "--json"], stdin: defaultPassword + "\n" + (try hotp(secret, counter: 1)) + "\n")
        #expect(login.status == 0 && login.json["second_factor"] as? String == "hotp", "\(login.stderr)")
        let backup = try box.run(
            ["login", "gus", "--password-stdin", "--code-stdin", "--json"], stdin: defaultPassword + "\n" + scratch[0] + "\n")
        #expect(backup.status == 0 && backup.json["second_factor"] as? String == "backup_code", "\(backup.stderr)")
    }
}
