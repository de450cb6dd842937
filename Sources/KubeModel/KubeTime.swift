import Foundation

/// Kubernetes timestamps: `metav1.Time` (RFC 3339, seconds) and `metav1.MicroTime`
/// (RFC 3339 with microseconds).
public enum KubeTime {
    public static func now() -> String { format(Date()) }

    public static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// `MicroTime` of now, as a Lease's `renewTime`.
    public static func microNow() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        // The formatter writes milliseconds; MicroTime has six digits.
        return formatter.string(from: Date()).replacingOccurrences(of: "Z", with: "000Z")
    }

    /// Parses `Time` or `MicroTime`.
    public static func parse(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
}
