import Foundation
import KubeModel

/// RFC 3339 timestamps with second precision, as `metav1.Time` serialises.
enum Timestamp {
    static func now() -> String { KubeTime.now() }

    static func format(_ date: Date) -> String { KubeTime.format(date) }

    static func parse(_ text: String) -> Date? { KubeTime.parse(text) }

    /// A short age as kubectl prints it: 5s, 3m, 2h, 4d.
    static func humanAge(since text: String, now: Date = Date()) -> String {
        guard let date = parse(text) else { return "<unknown>" }
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        switch seconds {
        case ..<120: return "\(seconds)s"
        case ..<(120 * 60): return "\(seconds / 60)m"
        case ..<(48 * 3600): return "\(seconds / 3600)h"
        default: return "\(seconds / 86400)d"
        }
    }
}
