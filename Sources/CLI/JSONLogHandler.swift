import Foundation
import KubeModel
import Logging

/// One JSON object per line on standard error: `time`, `level`, `logger`, `message`,
/// `source` and the metadata with its dotted keys — what log collectors in a cluster
/// parse. Values are strings; nothing here ever formats a password (callers never log one).
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [String: String] = [
            "time": KubeTime.microFormat(Date()), "level": event.level.rawValue, "logger": label,
            "message": "\(event.message)", "source": event.source,
        ]
        let merged = metadata.merging(metadataProvider?.get() ?? [:]) { $1 }.merging(event.metadata ?? [:]) { $1 }
        for (key, value) in merged where fields[key] == nil { fields[key] = "\(value)" }
        guard let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else { return }
        FileHandle.standardError.write(data + Data("\n".utf8))
    }

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

