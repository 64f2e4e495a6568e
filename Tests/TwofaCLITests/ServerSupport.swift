import Foundation
import Testing

/// `twofa serve` running as a child process (the binary under test, which runs twofa-serve
/// beside it), on a port the kernel picks; its stderr collected. The listening line is waited
/// for (bounded), never slept for.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var collected = Data()
    private let listening = DispatchSemaphore(value: 0)
    private(set) var port = 0
    var base: String { "\(scheme)://127.0.0.1:\(port)" }
    let scheme: String
    /// The host of --listen, as the listening line names it.
    let host: String

    init(
        _ box: Sandbox, _ arguments: [String] = [], environment: [String: String] = [:], scheme: String = "http",
        listen: String = "127.0.0.1:0"
    ) throws {
        self.scheme = scheme
        let host = String(listen.split(separator: ":").dropLast().joined(separator: ":"))
        self.host = host
        process.executableURL = Sandbox.binary
        process.arguments = ["serve", "--listen", listen] + arguments
        var env = box.environment
        env.merge(environment) { $1 }
        process.environment = env
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        errors.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.lock()
            self.collected.append(data)
            let text = String(decoding: self.collected, as: UTF8.self)
            self.lock.unlock()
            if self.port == 0, let range = text.range(of: "listening on \(scheme)://\(host):") {
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                if let port = Int(digits), text[range.upperBound...].dropFirst(digits.count).first == "\n" {
                    self.port = port
                    self.listening.signal()
                }
            }
        }
        try process.run()
        if listening.wait(timeout: .now() + 30) == .timedOut {
            process.terminate()
            Issue.record("twofa serve did not listen within 30 s: \(stderr)")
        }
    }

    var stderr: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: collected, as: UTF8.self)
    }

    /// SIGTERM (or `signal`), and the exit status (bounded wait).
    func stop(_ signal: Int32 = SIGTERM) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            Issue.record("twofa serve did not stop within 20 s of SIGTERM")
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    @discardableResult
    func call(
        _ method: String, _ path: String, json: Any? = nil, body: String? = nil, token: String? = nil,
        headers: [String: String] = [:]
    ) throws -> HTTPReply {
        var payload = body
        var allHeaders = headers
        if let json {
            payload = String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self)
            allHeaders["Content-Type"] = allHeaders["Content-Type"] ?? "application/json"
        }
        if let token { allHeaders["Authorization"] = "Bearer \(token)" }
        return try curl(method, base + path, body: payload, headers: allHeaders)
    }
}

/// An HTTP answer as curl received it.
struct HTTPReply {
    var status: Int
    /// Lower-cased names.
    var headers: [String: String]
    var body: Data
    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    subscript(_ key: String) -> String? { json[key] as? String }
}

/// One request with curl (a real HTTP client, and the one the README's session uses).
func curl(_ method: String, _ url: String, body: String? = nil, headers: [String: String] = [:], extra: [String] = [])
    throws -> HTTPReply
{
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("curl-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let headerFile = folder.appendingPathComponent("headers").path
    let bodyFile = folder.appendingPathComponent("body").path
    var arguments = ["-s", "-S", "--max-time", "60", "-X", method, "-D", headerFile, "-o", bodyFile, "-w", "%{http_code}"]
    for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
    if body != nil { arguments += ["--data-binary", "@-"] }
    arguments += extra + [url]
    let result = try runProcess("/usr/bin/curl", arguments, stdin: body.map { Data($0.utf8) })
    #expect(result.status == 0, "curl \(method) \(url): \(result.stderr)")
    var headerMap: [String: String] = [:]
    let headerText = (try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? ""
    for line in headerText.split(separator: "\r\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headerMap[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return HTTPReply(
        status: Int(result.stdout) ?? -1, headers: headerMap, body: FileManager.default.contents(atPath: bodyFile) ?? Data())
}
