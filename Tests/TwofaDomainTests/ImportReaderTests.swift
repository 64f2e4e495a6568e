import Foundation
import Testing
@testable import TwofaDomain


/// The CSV reader against Python's `csv` module (strict mode) as the oracle, and the import
/// reader's streaming.
@Suite("import files: CSV against Python's csv, streaming")
struct ImportReaderTests {
    /// Rows as twofa's reader assembles them from lines, or nil if it refuses the input.
    func twofaRows(_ text: String) -> [[String]]? {
        var records = CSVRecords()
        var rows: [[String]] = []
        // Split at LF bytes, as the line reader does (a Character "\n" would not split "\r\n").
        let lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            let atEnd = index == lines.count - 1
            if atEnd && line.isEmpty { break }  // the text ended with a line break
            do {
                if let row = try records.feed(Array(line), row: rows.count + 1, atEnd: atEnd) { rows.append(row) }
            } catch {
                return nil
            }
        }
        return records.isInsideQuotes ? nil : rows
    }

    /// Rows as Python's csv.reader(strict=True) reads them, or nil if it raises.
    func pythonRows(_ text: String) throws -> [[String]]? {
        let script = """
            import csv, io, json, sys
            data = sys.stdin.buffer.read().decode()
            try:
                print(json.dumps(list(csv.reader(io.StringIO(data, newline=''), strict=True))))
            except csv.Error:
                print("null")
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        try input.fileHandleForWriting.write(contentsOf: Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return try JSONSerialization.jsonObject(with: data, options: .fragmentsAllowed) as? [[String]]
    }

    @Test(arguments: [
        "a,b,c\n1,2,3\n",
        "a,b\n\"x\"\"y\",z\n",  // a doubled quote
        "a,b\n\"line one\nline two\",z\n",  // a line break inside quotes
        "a,b\r\n1,2\r\n",  // CRLF
        "a,b\r\n\"x\r\ny\",2\r\n",  // CRLF inside quotes
        "a,b\n1,2",  // no line break at the end
        "a,b\n\"\",\n",  // empty fields, quoted and not
        "a,b\n,\n",
        "a,b,c\n1,\"2,3\",4\n",  // a comma inside quotes
        "a\n\"unclosed\n",  // refused by both
        "a,b\n\"x\"y,z\n",  // text after a closing quote: refused by both (strict)
        "a,b\nx\"y,z\n",  // a quote inside an unquoted field
        "user,password_hash\nalice,\"$y$j9T$a\"\n",
    ])
    func csvMatchesPython(text: String) throws {
        let ours = twofaRows(text)
        let python = try pythonRows(text)
        if text.contains("x\"y,z") && python != nil {
            // Python's strict mode accepts a quote inside an unquoted field; twofa refuses it
            // (RFC 4180 allows quotes only around a whole field).
            #expect(ours == nil)
            return
        }
        #expect(ours == python, "\(text.debugDescription): twofa \(String(describing: ours)), python \(String(describing: python))")
    }

    /// Records stream: a million-row CSV is never held whole (the reader answers one account at
    /// a time), and a line over the limit stops reading at once.
    @Test func linesOverTheLimitStopAtOnce() throws {
        let long = [UInt8](repeating: UInt8(ascii: "x"), count: ImportReader.maximumLineBytes + 1)
        let reader = ImportReader(bytes: long, format: .jsonl, now: 0)
        do {
            _ = try reader.next()
            Issue.record("a line over the limit was read")
        } catch {
            #expect(error.exitCode == 65)
            #expect(error.message.contains("64 KiB"), "\(error.message)")
        }
    }

    @Test func jsonLinesStreamOneAccountAtATime() throws {
        let hash = "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
        let text = (0..<3).map { #"{"user":"u\#($0)","password_hash":"\#(hash)"}"# }.joined(separator: "\r\n") + "\n\n"
        let reader = ImportReader(bytes: Array(text.utf8), format: .jsonl, now: 0)
        #expect(try reader.next()?.user == "u0")
        #expect(try reader.next()?.user == "u1")
        #expect(try reader.next()?.user == "u2")
        #expect(try reader.next() == nil)
    }
}
