import Foundation
import Logging
import Synchronization
import Testing
@testable import CLI

@Suite("JSON log lines")
struct JSONLogHandlerTests {
    /// Lines a handler wrote, in order.
    final class Lines: Sendable {
        let lines = Mutex<[[UInt8]]>([])
        var all: [[UInt8]] { lines.withLock { $0 } }
    }

    private func logger(level: Logger.Level, into lines: Lines, metadata: Logger.Metadata = [:]) -> Logger {
        var logger = Logger(label: "db-operator") { label in
            var handler = JSONLogHandler(label: label)
            handler.output = { line in lines.lines.withLock { $0.append(line) } }
            return handler
        }
        logger.logLevel = level
        for (key, value) in metadata { logger[metadataKey: key] = value }
        return logger
    }

    private func object(_ line: [UInt8]) throws -> [String: String] {
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(line.dropLast().allSatisfy { $0 != UInt8(ascii: "\n") }, "one line per event")
        return try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: String])
    }

    @Test("a line is one JSON object with the fixed fields, the metadata (the event's over the logger's), escapes made, keys sorted")
    func line() throws {
        let lines = Lines()
        let logger = logger(level: .info, into: lines, metadata: ["k8s.namespace": "team-a", "k8s.database": "from-logger"])
        let message = "quote \" backslash \\ newline \n tab \t bell \u{07} ünïcode ✓ /slash"
        logger.info("\(message)", metadata: ["k8s.database": "orders", "level": "spoofed", "error": .stringConvertible(42)])
        let line = try #require(lines.all.first)
        let fields = try object(line)
        #expect(fields["message"] == message)
        #expect(fields["level"] == "info", "metadata cannot replace a fixed field")
        #expect(fields["logger"] == "db-operator")
        #expect(fields["k8s.namespace"] == "team-a")
        #expect(fields["k8s.database"] == "orders")
        #expect(fields["error"] == "42")
        #expect(fields["source"] == "UnitTests", "the module that logged")
        let time = try #require(fields["time"])
        #expect(time.hasSuffix("Z") && time.count == "2026-12-03T08:02:36.989009Z".count)
        // Sorted keys: the order of the keys in the text is their sorted order.
        let text = try #require(String(bytes: line, encoding: .utf8))
        let positions = fields.keys.sorted().map { text.range(of: "\"\($0)\":")!.lowerBound }
        #expect(positions == positions.sorted())
    }

    @Test("the logger's level is honoured: nothing below it is written")
    func level() throws {
        let lines = Lines()
        let logger = logger(level: .warning, into: lines)
        logger.debug("no")
        logger.info("no")
        logger.warning("yes")
        logger.error("also")
        #expect(try lines.all.map { try object($0)["message"] } == ["yes", "also"])
    }
}
