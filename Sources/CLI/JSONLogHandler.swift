import Foundation
import KubeModel
import Logging

/// One JSON object per line on standard error: `time`, `level`, `logger`, `message`,
/// `source` and the metadata with its dotted keys — what log collectors in a cluster
/// parse. Values are strings; keys are sorted; a metadata key named like one of the
/// fixed fields is left out. Nothing here ever formats a password (callers never log one).
///
/// The line is written by KubeModel's JSON writer, not JSONSerialization: that one sorts
/// its keys with ICU's collation and bridges every value through NSString, and at the
/// debug level (a line per decision) it was a third of the operator's CPU.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    /// Where a line goes (standard error; a test collects them).
    var output: @Sendable ([UInt8]) -> Void = { line in FileHandle.standardError.write(Data(line)) }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        output(line(event, time: Date()))
    }

    /// The event's line, newline included.
    func line(_ event: LogEvent, time: Date) -> [UInt8] {
        var fields: [String: JSONValue] = [
            "time": .string(KubeTime.microFormat(time)), "level": .string(event.level.rawValue), "logger": .string(label),
            "message": .string("\(event.message)"), "source": .string(event.source),
        ]
        for source in [metadata, metadataProvider?.get() ?? [:], event.metadata ?? [:]] {
            for (key, value) in source where !Self.fixedFields.contains(key) { fields[key] = .string("\(value)") }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        JSONValue.object(fields).write(to: &bytes)
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    private static let fixedFields: Set<String> = ["time", "level", "logger", "message", "source"]

    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        log(event: LogEvent(level: level, message: message, metadata: metadata, source: source))
    }

    struct LogEvent {
        var level: Logger.Level
        var message: Logger.Message
        var metadata: Logger.Metadata?
        var source: String
    }
}
