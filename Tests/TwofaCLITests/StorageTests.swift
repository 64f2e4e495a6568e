import Foundation
import Testing
import TwofaDomain
import TwofaStorage

/// The database and key files: where they go, their modes, what is refused.
@Suite("files on disk", .enabled(if: TestStore.isSQLite, "SQLite's files"))
struct FileTests {
    @Test(.enabled(if: TestStore.isSQLite, "SQLite's files")) func databaseAndKeyArePrivate() throws {
        let box = try Sandbox()
        try box.register("alice")
        _ = try box.enable("alice")
        let manager = FileManager.default
        let folderMode = try manager.attributesOfItem(atPath: (box.database as NSString).deletingLastPathComponent)[.posixPermissions] as? Int
        #expect(folderMode == 0o700)
        #expect(try manager.attributesOfItem(atPath: box.database)[.posixPermissions] as? Int == 0o600)
        #expect(try manager.attributesOfItem(atPath: box.keyFile)[.posixPermissions] as? Int == 0o600)
        #expect(try manager.attributesOfItem(atPath: box.keyFile)[.size] as? Int == 32)
        // Bytes 18 and 19 of the header are the file format versions: 2 is WAL.
        let header = try #require(box.fileBytes(box.database)).prefix(20)
        #expect(Array(header.suffix(2)) == [2, 2])
    }

    @Test(.enabled(if: TestStore.isSQLite, "SQLite's files")) func defaultPathFollowsXDG() throws {
        let box = try Sandbox()
        let data = box.folder.appendingPathComponent("xdg").path
        let result = try box.run(
            ["register", "alice", "--password-stdin"], stdin: defaultPassword + "\n",
            environment: ["TWOFA_DB": "", "XDG_DATA_HOME": data])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: data + "/twofa/twofa.db"))
        let explicit = box.folder.appendingPathComponent("explicit.db").path
        #expect(try box.run(["register", "bob", "--password-stdin", "--db", explicit], stdin: defaultPassword + "\n").status == 0)
        #expect(FileManager.default.fileExists(atPath: explicit))
        // Global options may stand before the subcommand as well.
        let before = try box.run(["--db", explicit, "--json", "login", "bob", "--password-stdin"], stdin: defaultPassword + "\n")
        #expect(before.status == 0, "\(before.stderr)")
        #expect(before.json["authenticated"] as? Bool == true)
    }

    @Test(.enabled(if: TestStore.isSQLite, "SQLite's files")) func unsafeDatabaseFilesAreRefused() throws {
        let box = try Sandbox()
        try box.register("alice")
        let link = box.folder.appendingPathComponent("link.db").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: box.database)
        let linked = try box.run(["code", "alice", "--db", link, "--json"])
        #expect(linked.status == 74)
        #expect(linked.error["code"] as? String == "storage_error")

        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: box.database)
        let before = box.snapshot()
        #expect(try box.run(["login", "alice", "--password-stdin"], stdin: defaultPassword + "\n").status == 74)
        #expect(box.snapshot() == before)

        let garbage = box.folder.appendingPathComponent("garbage.db").path
        #expect(FileManager.default.createFile(atPath: garbage, contents: Data(repeating: 0x42, count: 5000), attributes: [.posixPermissions: 0o600]))
        #expect(try box.run(["code", "alice", "--db", garbage]).status == 74)

        let parentIsFile = box.folder.appendingPathComponent("garbage.db/twofa.db").path
        #expect(try box.run(["register", "bob", "--password-stdin", "--db", parentIsFile], stdin: defaultPassword + "\n").status == 74)
    }

    @Test(.enabled(if: TestStore.isSQLite, "SQLite's files")) func keyFileProblemsAre74() throws {
        let box = try Sandbox()
        try box.register("alice")
        _ = try box.enable("alice")
        let key = try #require(box.fileBytes(box.keyFile))
        try FileManager.default.removeItem(atPath: box.keyFile)
        // Sealed secrets without their key: refused, and no new key is made in its place.
        let missing = try box.run(["code", "alice", "--json"])
        #expect(missing.status == 74)
        #expect(missing.error["code"] as? String == "key_file_error")
        try box.register("bob")
        #expect(try box.run(["enable-2fa", "bob", "--password-stdin"], stdin: defaultPassword + "\n").status == 74)
        #expect(!FileManager.default.fileExists(atPath: box.keyFile))

        // Another key: AES-GCM does not open the secret.
        #expect(FileManager.default.createFile(atPath: box.keyFile, contents: Data(repeating: 7, count: 32), attributes: [.posixPermissions: 0o600]))
        #expect(try box.run(["code", "alice"]).status == 74)

        // The right key, but readable by others.
        try FileManager.default.removeItem(atPath: box.keyFile)
        #expect(FileManager.default.createFile(atPath: box.keyFile, contents: key, attributes: [.posixPermissions: 0o640]))
        #expect(try box.run(["code", "alice"]).status == 74)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: box.keyFile)
        #expect(try box.run(["code", "alice"]).status == 0)

        // TWOFA_KEY_FILE names another place.
        let moved = box.folder.appendingPathComponent("elsewhere.key").path
        try FileManager.default.moveItem(atPath: box.keyFile, toPath: moved)
        #expect(try box.run(["code", "alice"], environment: ["TWOFA_KEY_FILE": moved]).status == 0)
    }

    /// The secret appears in the database file in no encoding.
    @Test func secretIsNotStoredInClear() throws {
        let box = try Sandbox()
        try box.register("alice")
        let base32 = try box.enable("alice")
        let raw = Data(try Base32.decode(base32))
        var files = Data()
        for suffix in ["", "-wal"] { files.append(box.fileBytes(box.database + suffix) ?? Data()) }
        for needle in [Data(base32.utf8), Data(base32.lowercased().utf8), raw,
                       Data(raw.map { String(format: "%02x", $0) }.joined().utf8), Data(raw.base64EncodedString().utf8)] {
            #expect(files.range(of: needle) == nil)
        }
    }

    /// Two processes presenting the same valid code: exactly one wins.
    @Test func raceForTheSameCodeHasOneWinner() throws {
        let box = try Sandbox()
        try box.register("alice")
        let secret = try box.enable("alice")
        waitForFreshStep(margin: 10)
        #expect(try box.run(["verify", "alice", "--code", try oathtool(secret: secret, at: now() - 30)]).status == 0)
        let code = try oathtool(secret: secret, at: now())
        let statuses = Statuses()
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            statuses.append((try? box.run(["verify", "alice", "--code", code]))?.status ?? -1)
        }
        #expect(statuses.all.filter { $0 == 0 }.count == 1, "\(statuses.all)")
        #expect(statuses.all.filter { $0 == 1 }.count == 3, "\(statuses.all)")
    }
}

/// Exit statuses gathered from several threads.
final class Statuses: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int32] = []
    func append(_ value: Int32) { lock.withLock { values.append(value) } }
    var all: [Int32] { lock.withLock { values } }
}

/// The stored hash, read through the storage module (the hash is then checked by perl).
func storedPasswordHash(database: String, user: String) throws -> String {
    let store = try #require(try SQLiteAccountStore.open(path: database, create: false))
    return try #require(try store.user(named: user)).passwordHash
}
