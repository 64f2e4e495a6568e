import Foundation
import Testing

/// CI tests the binary the README installs (issue 10): the README's test command builds the
/// release binary as its install command does and points the end-to-end tests at it, and
/// `.ci/run` runs exactly those commands.
@Suite("the shipped binary under test")
struct ShippedBinaryTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let releaseBuild = "swift build -c release --static-swift-stdlib"
    static let testRun = "scripts/test"

    /// The one-line command in the ```sh block under `heading`, split at `&&`.
    static func commands(under heading: String, in readme: String) -> [String] {
        guard let section = readme.components(separatedBy: "\n" + heading + "\n").dropFirst().first,
            let block = section.components(separatedBy: "```sh\n").dropFirst().first,
            let line = block.split(separator: "\n").first
        else { return [] }
        return line.components(separatedBy: "&&").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// `.ci/run` with its continuation lines joined and runs of blanks made one.
    static func ciScript() throws -> String {
        let text = try String(contentsOf: root.appendingPathComponent(".ci/run"), encoding: .utf8)
        return text.replacingOccurrences(of: "\\\n", with: " ").split(separator: " ", omittingEmptySubsequences: true)
            .joined(separator: " ")
    }

    @Test("README's install and test commands, and .ci/run, build and test the release binary")
    func ciRunsTheReadme() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let install = Self.commands(under: "## Install and run", in: readme)
        let test = Self.commands(under: "## Run the tests", in: readme)
        #expect(install.contains(Self.releaseBuild), "\(install)")
        #expect(test.last == Self.testRun, "\(test)")
        // scripts/test builds the release binary as the install command does and tests it.
        let script = try String(contentsOf: Self.root.appendingPathComponent("scripts/test"), encoding: .utf8)
        #expect(script.contains(Self.releaseBuild))
        #expect(script.contains("TWOFA_BIN=$PWD/.build/release/twofa"))
        let ci = try Self.ciScript()
        for command in test {
            #expect(ci.contains(command), ".ci/run lacks: \(command)")
        }
        // What the install command installs, the tests install too.
        let installed = Set(install.first { $0.hasPrefix("apt-get install") }?.split(separator: " ") ?? [])
        let tested = Set(test.first { $0.hasPrefix("apt-get install") }?.split(separator: " ") ?? [])
        #expect(!installed.isEmpty && installed.isSubset(of: tested))
    }

    @Test("the release link flags are the ones the README's build uses")
    func releaseFlags() throws {
        let manifest = try String(contentsOf: Self.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        for flag in ["pack-relative-relocs", "--no-export-dynamic", "--as-needed", "StaticRuntime"] {
            #expect(manifest.contains(flag), "Package.swift lacks \(flag)")
        }
        #expect(manifest.contains(".when(configuration: .release)"))
    }
}
