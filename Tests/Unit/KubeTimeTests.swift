import Foundation
import KubeModel
import Testing

/// KubeTime writes and reads RFC 3339 by hand (#15: ISO8601DateFormatter was a tenth of
/// the operator's CPU); Foundation's formatter is the reference.
@Suite("Kubernetes timestamps")
struct KubeTimeTests {
    static func reference(fractional: Bool = false) -> ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = fractional ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
        return formatter
    }

    @Test("format and parse agree with ISO8601DateFormatter from 1970 to 2200, leap days and ends of years included")
    func againstFoundation() {
        let formatter = Self.reference()
        var generator = SystemRandomNumberGenerator()
        var instants: [Double] = [0, 951_782_400, 951_868_799, 1_709_164_800, 4_102_444_799, 4_107_542_400 - 1, 7_258_118_400]
        for _ in 0..<5_000 { instants.append(Double(Int64.random(in: 0...7_258_118_400, using: &generator)) + Double.random(in: 0..<1, using: &generator)) }
        for instant in instants {
            let date = Date(timeIntervalSince1970: instant)
            let text = KubeTime.format(date)
            // Truncated, as Go's RFC 3339 is (the formatter rounds a fraction past .9995 up).
            #expect(text == formatter.string(from: Date(timeIntervalSince1970: instant.rounded(.down))), "\(instant)")
            #expect(KubeTime.parse(text) == formatter.date(from: text), "\(text)")
            #expect(KubeTime.parse(text)?.timeIntervalSince1970 == instant.rounded(.down))
        }
    }

    @Test("MicroTime has six digits and reads back to the microsecond")
    func micro() throws {
        let date = Date(timeIntervalSince1970: 1_764_688_620.123456)
        let text = KubeTime.microFormat(date)
        #expect(text.hasPrefix("2025-12-02T15:17:00.12345"))
        #expect(text.count == "2025-12-02T15:17:00.123456Z".count)
        let back = try #require(KubeTime.parse(text))
        #expect(abs(back.timeIntervalSince1970 - date.timeIntervalSince1970) < 0.000_002)
        #expect(KubeTime.parse("2025-12-02T15:17:00.5Z") == Self.reference(fractional: true).date(from: "2025-12-02T15:17:00.500Z"))
    }

    @Test("offsets and lowercase separators are read; anything else is nil")
    func offsetsAndMalformed() {
        #expect(KubeTime.parse("2026-12-02T16:17:00+01:00") == KubeTime.parse("2026-12-02T15:17:00Z"))
        #expect(KubeTime.parse("2026-12-02T10:47:00-04:30") == KubeTime.parse("2026-12-02T15:17:00Z"))
        #expect(KubeTime.parse("2026-12-02t15:17:00z") == KubeTime.parse("2026-12-02T15:17:00Z"))
        for bad in [
            "", "2026-12-02", "2026-12-02T15:17:00", "2026-12-02T15:17Z", "2026-13-02T15:17:00Z", "2026-02-29T00:00:00Z",
            "2026-12-02T24:00:00Z", "2026-12-02T15:60:00Z", "2026-12-02T15:17:00.Z", "2026-12-02T15:17:00Zx", "2026-12-02 15:17:00Z",
            "2026-12-02T15:17:00+0100", "２026-12-02T15:17:00Z", "-026-12-02T15:17:00Z",
        ] {
            #expect(KubeTime.parse(bad) == nil, "\(bad)")
        }
        #expect(KubeTime.parse("2024-02-29T00:00:00Z") != nil)
        #expect(KubeTime.parse("2000-02-29T00:00:00Z") != nil)
        #expect(KubeTime.parse("2100-02-29T00:00:00Z") == nil)
    }
}
