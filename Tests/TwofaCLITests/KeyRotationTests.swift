import Foundation
import Testing

/// `rekey` and `check-key` (issue 14, Authelia's `storage encryption change-key` and `check`).
@Suite(.serialized) struct KeyRotationTests {
    static let hash = "$6$saltsalt$/CNB1VPvnlzTLlaaFv9cBrwVTsKp7qyvlJccsxhBeG0oR0HHkknwoZkpe2oYFO2yW97g.poWH2EAdF2ql7PQa."

    /// The key file's bytes, copied to a private folder (no KEYFILE.new beside it), and whether
    /// `check-key` with it opens every secret.
    func opensEverything(_ box: Sandbox, keyBytes: Data) throws -> Bool {
        let folder = box.folder.appendingPathComponent("keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let copy = folder.appendingPathComponent("key")
        #expect(FileManager.default.createFile(atPath: copy.path, contents: keyBytes, attributes: [.posixPermissions: 0o600]))
        return try box.run(["check-key", "--key-file", copy.path, "--json"]).status == 0
    }

    @Test func codesWorkAfterARekeyAndTheOldKeyOpensNothing() throws {
        let box = try Sandbox()
        try box.register("amy")
        let secret = try box.enable("amy")
        #expect(try box.run(["verify", "amy", "--code", try oathtool(secret: secret, at: now() - 30)]).status == 0)
        let before = try #require(box.fileBytes(box.keyFile))
        let rotated = try box.run(["rekey", "--json"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        #expect(rotated.json["rekeyed"] as? Int == 1 && rotated.json["old_key_file"] as? String == box.keyFile + ".old")
        #expect(box.fileBytes(box.keyFile) != before && box.fileBytes(box.keyFile + ".old") == before)
        let mode = try FileManager.default.attributesOfItem(atPath: box.keyFile + ".old")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // The same codes, from the same secret, under the new key.
        let time = now()
        #expect(try box.run(["code", "amy", "--at", String(time)]).stdout.trimmingCharacters(in: .newlines)
            == (try oathtool(secret: secret, at: time)))
        waitForFreshStep()
        let login = try box.run(
            ["login", "amy", "--password-stdin", "--code", try oathtool(secret: secret, at: now())], stdin: defaultPassword + "\n")
        #expect(login.status == 0, "\(login.stderr)")
        #expect(try box.run(["check-key", "--json"]).json["failed"] as? [String] == [])
        // The old key opens nothing now.
        #expect(try !opensEverything(box, keyBytes: before))
        let old = try box.run(["check-key", "--key-file", box.keyFile + ".old", "--json"])
        #expect(old.status == 74 && old.json["failed"] as? [String] == ["amy"], "\(old.stdout)\(old.stderr)")
        #expect(try box.run(["audit", "--json"]).stdout.contains("\"rekey\""))
    }

    /// A server running through a rotation reads the new key: what it seals afterwards opens
    /// with the key in place, and the signing keys it verifies with were re-encrypted too.
    @Test func aRunningServerFollowsTheRotation() throws {
        let box = try Sandbox()
        try box.register("cy")
        let server = try ServerProcess(box)
        let login = try server.call("POST", "/api/v1/auth/login", json: ["username": "cy", "password": defaultPassword])
        let token = try #require(login["access_token"])
        #expect(try box.run(["rekey"]).status == 0)
        let setup = try server.call("POST", "/api/v1/2fa/setup", token: token)
        #expect(setup.status == 200, "\(setup.text)")
        let check = try box.run(["check-key", "--json"])
        #expect(check.status == 0 && check.json["failed"] as? [String] == [], "\(check.stdout)\(check.stderr)")
        let code = try box.run(["code", "cy"])
        #expect(code.status == 0, "\(code.stderr)")
        #expect(server.stop() == 0)
    }

    @Test func aGivenNewKeyIsPutInPlace() throws {
        let box = try Sandbox()
        try box.register("bo")
        _ = try box.enable("bo")
        let folder = box.folder.appendingPathComponent("new")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let newKey = folder.appendingPathComponent("key")
        let bytes = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
        #expect(FileManager.default.createFile(atPath: newKey.path, contents: bytes, attributes: [.posixPermissions: 0o600]))
        #expect(try box.run(["rekey", "--new-key-file", newKey.path]).status == 0)
        #expect(box.fileBytes(box.keyFile) == bytes)
        #expect(try box.run(["rekey", "--new-key-file", newKey.path]).status == 65, "the key in use already")
        #expect(try box.run(["rekey", "--new-key-file", folder.appendingPathComponent("none").path]).status == 74)
        chmod(newKey.path, 0o644)
        #expect(try box.run(["rekey", "--new-key-file", newKey.path]).status == 74, "a readable key file is refused")
        #expect(try box.run(["check-key"]).status == 0)
    }

    /// The attack on availability: `kill -9` in the middle of a rotation of 20,000 users. At
    /// every moment exactly one key opens every secret, and the next command finds it.
    @Test func killNineDuringARekeyLeavesOneKeyThatOpensEverything() throws {
        for round in 0..<3 {
            let box = try Sandbox()
            var csv = "user,password_hash,totp_secret\n"
            let letters = Array("ABCDEFGHIJ")
            for index in 0..<20_000 { csv += "user\(index),\(Self.hash),JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PX\(letters[index % 10])\n" }
            let file = box.folder.appendingPathComponent("users.csv")
            try csv.write(to: file, atomically: true, encoding: .utf8)
            #expect(try box.run(["import", file.path]).status == 0)
            let before = try #require(box.fileBytes(box.keyFile))
            let process = Process()
            process.executableURL = Sandbox.binary
            process.arguments = ["rekey"]
            process.environment = box.environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Kill it at a point of the rotation (bounded waits on the files it makes).
            let deadline = Date().addingTimeInterval(30)
            let marker = round == 2 ? box.keyFile + ".old" : box.keyFile + ".new"
            while !FileManager.default.fileExists(atPath: marker) && process.isRunning && Date() < deadline { usleep(500) }
            if round == 1 { usleep(UInt32.random(in: 1_000...200_000)) }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            var keys: [Data] = [before]
            for suffix in ["", ".new", ".old"] {
                if let bytes = box.fileBytes(box.keyFile + suffix), !keys.contains(bytes) { keys.append(bytes) }
            }
            let opening = try keys.filter { try opensEverything(box, keyBytes: $0) }
            #expect(opening.count == 1, "round \(round): \(opening.count) keys open everything")
            // Killed as KEYFILE.new appeared, it had not committed; killed after KEYFILE.old, it had.
            if round == 0 { #expect(opening.first == before) }
            if round == 2 { #expect(opening.first != before) }
            // The next command finds that key (finishing the rotation if it had committed).
            let check = try box.run(["check-key", "--json"])
            #expect(check.status == 0 && check.json["checked"] as? Int == 20_000, "round \(round): \(check.stderr)")
            #expect(box.fileBytes(box.keyFile) == opening.first)
            #expect(!FileManager.default.fileExists(atPath: box.keyFile + ".new"))
            let code = try box.run(["code", "user7", "--at", "1234567890"])
            #expect(code.stdout.trimmingCharacters(in: .newlines) == (try oathtool(secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXH", at: 1_234_567_890)))
        }
    }
}
