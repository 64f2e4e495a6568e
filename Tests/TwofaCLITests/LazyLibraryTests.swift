import Foundation
import Testing

/// libqrencode, zlib and libcrypt are opened on first use (issue 10): `code` starts without
/// them, the commands that need them still work, and one that cannot load them says which
/// library, exit 74, rather than crash. Checked on the binary itself, through the dynamic
/// loader's own trace (LD_DEBUG=libs, on stderr).
@Suite("shared libraries load on first use")
struct LazyLibraryTests {
    static let lazy = ["libqrencode.so.4", "libz.so.1", "libcrypt.so.1"]

    /// The libraries the loader opened in this run, by the names it searched for.
    static func loaded(_ run: TwofaRun) -> Set<String> {
        var names = Set<String>()
        for line in run.stderr.split(separator: "\n") {
            guard let range = line.range(of: "find library=") else { continue }
            names.insert(String(line[range.upperBound...].prefix { $0 != " " && $0 != ";" }))
        }
        return names
    }

    @Test("code --secret-stdin and code USER load none of them")
    func codeLoadsNone() throws {
        let box = try Sandbox()
        try box.register("alice")
        _ = try box.enable("alice")
        let trace = ["LD_DEBUG": "libs"]
        for (arguments, stdin) in [(["code", "--secret-stdin"], "JBSWY3DPEHPK3PXP\n"), (["code", "alice"], nil)] {
            let run = try box.run(arguments, stdin: stdin, environment: trace)
            #expect(run.status == 0, "\(arguments): \(run.stderr)")
            #expect(run.stdout.count == 7, "\(arguments): \(run.stdout)")
            let names = Self.loaded(run)
            #expect(names.contains("libc.so.6"), "no loader trace for \(arguments): \(run.stderr)")
            for library in Self.lazy {
                #expect(!names.contains(library), "\(arguments) loaded \(library)")
                #expect(!run.stderr.contains(library), "\(arguments) mentions \(library)")
            }
        }
    }

    @Test("qr, a PNG file and register load what they use, and work")
    func usersLoadTheirs() throws {
        let box = try Sandbox()
        let trace = ["LD_DEBUG": "libs"]
        let qr = try box.run(["qr", "--text", "x", "--format", "ascii"], environment: trace)
        #expect(qr.status == 0, "\(qr.stderr)")
        #expect(qr.stdout.contains("##"))
        #expect(Self.loaded(qr).contains("libqrencode.so.4"))
        #expect(!Self.loaded(qr).contains("libcrypt.so.1"))

        let png = box.folder.appendingPathComponent("x.png").path
        let image = try box.run(["qr", "--text", "x", "--format", "png", "--output", png], environment: trace)
        #expect(image.status == 0, "\(image.stderr)")
        #expect(Self.loaded(image).isSuperset(of: ["libqrencode.so.4", "libz.so.1"]))
        #expect(box.fileBytes(png)?.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))

        let register = try box.run(
            ["register", "alice", "--password-stdin", "--json"], stdin: defaultPassword + "\n", environment: trace)
        #expect(register.status == 0, "\(register.stderr)")
        #expect(Self.loaded(register).contains("libcrypt.so.1"))
        let login = try box.run(["login", "alice", "--password-stdin"], stdin: defaultPassword + "\n")
        #expect(login.status == 0, "\(login.stderr)")
    }

    @Test("a library that cannot be loaded is named, exit 74, and nothing is counted against the account")
    func missingLibrary() throws {
        let box = try Sandbox()
        try box.register("alice")
        // Empty files by the libraries' sonames, found first through LD_LIBRARY_PATH: dlopen
        // refuses them ("file too short"), as it would a missing or broken library.
        let fake = box.folder.appendingPathComponent("fake-libraries")
        try FileManager.default.createDirectory(at: fake, withIntermediateDirectories: true)
        for library in Self.lazy {
            #expect(FileManager.default.createFile(atPath: fake.appendingPathComponent(library).path, contents: Data()))
        }
        let broken = ["LD_LIBRARY_PATH": fake.path]

        let qr = try box.run(["qr", "--text", "x", "--json"], environment: broken)
        #expect(qr.status == 74)
        #expect(qr.error["code"] as? String == "file_error")
        #expect((qr.error["message"] as? String ?? "").contains("libqrencode.so.4"), "\(qr.stderr)")
        #expect(qr.stdout.isEmpty)

        let register = try box.run(
            ["register", "bob", "--password-stdin"], stdin: defaultPassword + "\n", environment: broken)
        #expect(register.status == 74)
        #expect(register.stderr.hasPrefix("twofa: libcrypt.so.1: "), "\(register.stderr)")

        // A login that cannot hash stops before judging the password: no failure is recorded.
        for _ in 0..<6 {
            let login = try box.run(["login", "alice", "--password-stdin"], stdin: "wrong password 12\n", environment: broken)
            #expect(login.status == 74)
            #expect(login.stderr.contains("libcrypt.so.1"), "\(login.stderr)")
        }
        let login = try box.run(["login", "alice", "--password-stdin"], stdin: defaultPassword + "\n")
        #expect(login.status == 0, "\(login.stderr)")

        // code needs none of them.
        let code = try box.run(["code", "--secret-stdin"], stdin: "JBSWY3DPEHPK3PXP\n", environment: broken)
        #expect(code.status == 0, "\(code.stderr)")
    }
}
