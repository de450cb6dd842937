import Foundation

/// A duration as Go's `time.ParseDuration` writes it: a sequence of decimal numbers,
/// each with a unit — `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h` — as in `2h`, `1h30m`,
/// `1.5h`, `20s`. `spec.ttl` uses it, as Kubernetes tools do.
public enum GoDuration {
    private static let units: [(String, Double)] = [
        ("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("μs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600),
    ]

    /// Seconds, or nil when `text` is not a Go duration. A sign is allowed, as in Go.
    public static func seconds(_ text: String) -> Double? {
        var rest = Substring(text)
        var sign = 1.0
        if rest.first == "-" || rest.first == "+" {
            sign = rest.first == "-" ? -1 : 1
            rest = rest.dropFirst()
        }
        if rest == "0" { return 0 }
        guard !rest.isEmpty else { return nil }
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, number != ".", number.filter({ $0 == "." }).count <= 1, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            // The longest unit that matches ("ms" before "m").
            guard let unit = units.filter({ rest.hasPrefix($0.0) }).max(by: { $0.0.count < $1.0.count }) else { return nil }
            rest = rest.dropFirst(unit.0.count)
            total += value * unit.1
        }
        return sign * total
    }
}

extension Database {
    /// When the Database expires (`spec.ttl` after its creation), or nil without a
    /// valid ttl or a creation time.
    public var expiry: Date? {
        guard let ttl = spec.ttl, let seconds = GoDuration.seconds(ttl), seconds > 0,
            let created = metadata.creationTimestamp.flatMap(KubeTime.parse)
        else { return nil }
        return created.addingTimeInterval(seconds)
    }
}
