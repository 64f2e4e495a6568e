import Foundation
import Testing
import TwofaServer

/// openapi.json is the API's source of truth: the server's route table and the document name
/// the same operations, and the server serves that very document.
@Suite struct DocumentTests {
    @Test func routesAndDocumentAgree() throws {
        let object = try JSONSerialization.jsonObject(with: Data(TwofaServer.openAPIDocument)) as? [String: Any]
        let paths = try #require(object?["paths"] as? [String: [String: Any]])
        var documented = Set<String>()
        for (path, operations) in paths {
            for method in operations.keys { documented.insert("\(method.uppercased()) \(path)") }
        }
        // /openapi.json documents every other endpoint, not itself.
        let served = Set(TwofaServer.routes).subtracting(["GET /openapi.json"])
        #expect(served == documented, "only served: \(served.subtracting(documented)); only documented: \(documented.subtracting(served))")
    }

    @Test func theServedDocumentIsTheOneInTheRepository() throws {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/TwofaServer/openapi.json")
        #expect(try Data(contentsOf: source) == Data(TwofaServer.openAPIDocument))
    }
}
