import Foundation
import Testing

/// Issue 10, "Read-only databases work": CI jobs mount fixtures read-only, and a 0400 database
/// is a common way to hand one out. Read-only commands work there; write commands answer 74
/// "read-only" before checking anything; export says its audit event could not be written.
@Suite("read-only databases", .enabled(if: TestStore.isSQLite, "SQLite's files"))
struct ReadOnlyTests {
    /// A database with alice (2FA on) and bob, and the key file.
    func fixture() throws -> (Sandbox, String) {
        let box = try Sandbox()
        try box.register("alice")
        let secret = try box.enable("alice")
        waitForFreshStep()
        let activation = try box.run(["verify", "alice", "--code", try oathtool(secret: secret, at: now() - 30)])
        #expect(activation.status == 0, "\(activation.stderr)")
        try box.register("bob")
        return (box, secret)
    }

    /// Runs twofa in a private mount namespace where the database's folder is mounted read-only
    /// onto itself (the mount goes with the namespace, whatever happens to the test).
    func runOnReadOnlyMount(_ box: Sandbox, _ arguments: [String], stdin: String? = nil) throws -> TwofaRun {
        let folder = (box.database as NSString).deletingLastPathComponent
        return try runProcess(
            "/usr/bin/unshare",
            ["-m", "/bin/bash", "-c", #"mount --bind -o ro "$0" "$0" && exec "$@""#, folder, Sandbox.binary.path]
                + arguments,
            stdin: stdin.map { Data($0.utf8) },
            environment: ["PATH": "/usr/bin:/bin", "HOME": box.folder.path, "TWOFA_DB": box.database])
    }

    /// Runs twofa as `nobody`, for a 0400 file (root would write it anyway).
    func runAsNobody(_ box: Sandbox, _ arguments: [String], stdin: String? = nil) throws -> TwofaRun {
        try runProcess(
            "/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", Sandbox.binary.path] + arguments,
            stdin: stdin.map { Data($0.utf8) },
            environment: ["PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "TWOFA_DB": box.database])
    }

    func readCommandsWork(_ run: ([String], String?) throws -> TwofaRun, secret: String) throws {
        let list = try run(["list", "--json"], nil)
        #expect(list.status == 0, "list: \(list.stderr)")
        #expect(list.stdout.contains("\"alice\"") && list.stdout.contains("\"bob\""))
        let show = try run(["show", "alice", "--json"], nil)
        #expect(show.status == 0, "show: \(show.stderr)")
        let t = now()
        let code = try run(["code", "alice", "--at", String(t)], nil)
        #expect(code.status == 0, "code: \(code.stderr)")
        #expect(code.stdout == (try oathtool(secret: secret, at: t)) + "\n")
        let audit = try run(["audit", "--json"], nil)
        #expect(audit.status == 0, "audit: \(audit.stderr)")
        #expect(audit.stdout.contains("\"activate\""))
        // export works and says that its audit event could not be written.
        let export = try run(["export"], nil)
        #expect(export.status == 0, "export: \(export.stderr)")
        #expect(export.stdout.contains("\"alice\"") && export.stdout.contains(secret))
        #expect(export.stderr.contains("could not be written"), "export: \(export.stderr)")
    }

    func writeCommandsRefuse(_ box: Sandbox, _ run: ([String], String?) throws -> TwofaRun) throws {
        let before = box.snapshot()
        let attempts: [([String], String?)] = [
            (["register", "carol", "--password-stdin", "--json"], defaultPassword + "\n"),
            // A login must record its step or its failure: refused before the password is read,
            // so a wrong one is not counted anywhere, and a right one is not half done.
            (["login", "bob", "--password-stdin", "--json"], "wrong password 1\n"),
            (["login", "bob", "--password-stdin", "--json"], defaultPassword + "\n"),
            (["unlock", "bob", "--json"], nil),
            (["delete", "bob", "--json"], nil),
        ]
        for (arguments, stdin) in attempts {
            let result = try run(arguments, stdin)
            #expect(result.status == 74, "\(arguments): \(result.status) \(result.stderr)")
            #expect((result.error["message"] as? String ?? "").contains("read-only"), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
        #expect(box.snapshot() == before)
    }

    @Test func onAReadOnlyMount() throws {
        let (box, secret) = try fixture()
        try readCommandsWork({ try runOnReadOnlyMount(box, $0, stdin: $1) }, secret: secret)
        try writeCommandsRefuse(box) { try runOnReadOnlyMount(box, $0, stdin: $1) }
    }

    @Test func aFileOnlyItsOwnerMayRead() throws {
        let (box, secret) = try fixture()
        let folder = (box.database as NSString).deletingLastPathComponent
        for path in [folder, box.database, box.keyFile] + ["-wal", "-shm"].map({ box.database + $0 })
        where FileManager.default.fileExists(atPath: path) {
            #expect(lchown(path, 65534, 65534) == 0)
        }
        for path in [box.database, box.keyFile] {
            try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: path)
        }
        try readCommandsWork({ try runAsNobody(box, $0, stdin: $1) }, secret: secret)
        try writeCommandsRefuse(box) { try runAsNobody(box, $0, stdin: $1) }
    }

    /// A read never migrates; on a read-only mount, an old schema reads as it is.
    @Test func anOldSchemaOnAReadOnlyMount() throws {
        let box = try Sandbox()
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        try FileManager.default.createDirectory(
            atPath: (box.database as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        for (name, target) in [("twofa-v1.db", box.database), ("twofa-v1.db.key", box.keyFile)] {
            try FileManager.default.copyItem(at: fixtures.appendingPathComponent(name), to: URL(fileURLWithPath: target))
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: target)
        }
        let list = try runOnReadOnlyMount(box, ["list", "--json"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.contains("\"alice\""))
        let login = try runOnReadOnlyMount(box, ["login", "bob", "--password-stdin"], stdin: defaultPassword + "\n")
        #expect(login.status == 74, "\(login.stderr)")
        #expect(login.stderr.contains("read-only"), "\(login.stderr)")
    }
}
