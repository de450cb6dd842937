import Foundation
import Operator
import Testing

/// The pure schedule decisions: cron parsing, the next run in a time zone across
/// daylight saving changes, which Backup a schedule makes now, and retention.
@Suite("Backup schedules: cron, time zones, the decision, retention")
struct BackupSchedulingTests {
    static func date(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }
    static let utc = TimeZone(identifier: "UTC")!
    static let amsterdam = TimeZone(identifier: "Europe/Amsterdam")!
    static let losAngeles = TimeZone(identifier: "America/Los_Angeles")!

    static func cron(_ text: String) throws -> CronSchedule { try CronSchedule(parsing: text) }

    @Test("fields: *, lists, ranges, steps, names, 7 as Sunday, and the @ forms")
    func parsing() throws {
        let every = try Self.cron("*/15 9-17 * jan,JUL mon-fri")
        #expect(every.minutes == [0, 15, 30, 45])
        #expect(every.hours == Set(9...17))
        #expect(every.months == [1, 7])
        #expect(every.daysOfWeek == [1, 2, 3, 4, 5])
        #expect(try Self.cron("0 0 * * 7").daysOfWeek == [0])
        #expect(try Self.cron("5/20 * * * *").minutes == [5, 25, 45])
        #expect(try Self.cron("1,2,10-12/2 * * * *").minutes == [1, 2, 10, 12])
        let daily = try Self.cron("@daily"), midnight = try Self.cron("0 0 * * *")
        #expect(daily.minutes == midnight.minutes && daily.hours == midnight.hours && daily.daysOfMonth == midnight.daysOfMonth && daily.daysOfWeek == midnight.daysOfWeek)
        #expect(daily.next(after: Self.date("2026-12-02T10:00:00Z"), in: Self.utc) == Self.date("2026-12-03T00:00:00Z"))
        #expect(try Self.cron("@hourly").minutes == [0] && (try Self.cron("@hourly")).hours == Set(0...23))
        #expect(try Self.cron("@weekly").daysOfWeek == [0])
    }

    @Test("malformed schedules are errors that name the field", arguments: [
        ("* * * *", "five fields"), ("60 * * * *", "minute"), ("* 24 * * *", "hour"), ("* * 0 * *", "day of month"),
        ("* * * 13 *", "month"), ("* * * * 8", "day of week"), ("10-5 * * * *", "backwards"), ("*/0 * * * *", "step"),
        ("* * * foo *", "month"), ("@sometimes", "five fields"), ("1,,2 * * * *", "minute"),
    ])
    func malformed(_ text: String, _ named: String) {
        #expect { try CronSchedule(parsing: text) } throws: { error in
            "\(error)".contains(named)
        }
    }

    @Test("next run in UTC: steps, the next day, day of month OR day of week, monthly, never")
    func nextInUTC() throws {
        #expect(try Self.cron("*/15 * * * *").next(after: Self.date("2026-12-02T10:07:30Z"), in: Self.utc) == Self.date("2026-12-02T10:15:00Z"))
        #expect(try Self.cron("*/15 * * * *").next(after: Self.date("2026-12-02T10:15:00Z"), in: Self.utc) == Self.date("2026-12-02T10:30:00Z"), "strictly after")
        #expect(try Self.cron("0 3 * * *").next(after: Self.date("2026-12-02T03:00:00Z"), in: Self.utc) == Self.date("2026-12-03T03:00:00Z"))
        // The 13th or a Friday: 2026-12-04 is a Friday, before the 13th.
        #expect(try Self.cron("0 0 13 * 5").next(after: Self.date("2026-12-02T00:00:00Z"), in: Self.utc) == Self.date("2026-12-04T00:00:00Z"))
        #expect(try Self.cron("0 0 13 * *").next(after: Self.date("2026-12-02T00:00:00Z"), in: Self.utc) == Self.date("2026-12-13T00:00:00Z"))
        #expect(try Self.cron("@monthly").next(after: Self.date("2026-12-02T00:00:00Z"), in: Self.utc) == Self.date("2027-01-01T00:00:00Z"))
        #expect(try Self.cron("0 0 29 2 *").next(after: Self.date("2026-12-02T00:00:00Z"), in: Self.utc) == Self.date("2028-02-29T00:00:00Z"))
        #expect(try Self.cron("0 0 30 2 *").next(after: Self.date("2026-12-02T00:00:00Z"), in: Self.utc) == nil)
    }

    @Test("a time zone's wall clock: 03:00 in Amsterdam is 02:00 UTC in winter, 01:00 in summer")
    func wallClock() throws {
        let nightly = try Self.cron("0 3 * * *")
        #expect(nightly.next(after: Self.date("2026-12-02T12:00:00Z"), in: Self.amsterdam) == Self.date("2026-12-03T02:00:00Z"))
        #expect(nightly.next(after: Self.date("2026-07-01T12:00:00Z"), in: Self.amsterdam) == Self.date("2026-07-02T01:00:00Z"))
    }

    @Test("spring forward: a run in the skipped hour happens when the clock jumps, once; the next day as usual (Amsterdam, Los Angeles)")
    func springForward() throws {
        // Amsterdam, 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC.
        let half = try Self.cron("30 2 * * *")
        let jump = try #require(half.next(after: Self.date("2026-03-28T12:00:00Z"), in: Self.amsterdam))
        #expect(jump == Self.date("2026-03-29T01:00:00Z"))
        #expect(half.next(after: jump, in: Self.amsterdam) == Self.date("2026-03-30T00:30:00Z"))
        // Every 15 minutes through the gap: 01:45 CET, then the jump (03:00 CEST), then 03:15.
        let quarter = try Self.cron("*/15 * * * *")
        #expect(quarter.next(after: Self.date("2026-03-29T00:45:00Z"), in: Self.amsterdam) == Self.date("2026-03-29T01:00:00Z"))
        #expect(quarter.next(after: Self.date("2026-03-29T01:00:00Z"), in: Self.amsterdam) == Self.date("2026-03-29T01:15:00Z"))
        // Los Angeles, 2026-03-08: 02:00 PST becomes 03:00 PDT at 10:00 UTC.
        let two = try Self.cron("0 2 * * *")
        #expect(two.next(after: Self.date("2026-03-07T12:00:00Z"), in: Self.losAngeles) == Self.date("2026-03-08T10:00:00Z"))
        #expect(two.next(after: Self.date("2026-03-08T10:00:00Z"), in: Self.losAngeles) == Self.date("2026-03-09T09:00:00Z"))
    }

    @Test("fall back: a local time that happens twice runs once, the first time (Amsterdam, Los Angeles)")
    func fallBack() throws {
        // Amsterdam, 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC; 02:30 happens at 00:30 and 01:30 UTC.
        let half = try Self.cron("30 2 * * *")
        let first = try #require(half.next(after: Self.date("2026-10-24T12:00:00Z"), in: Self.amsterdam))
        #expect(first == Self.date("2026-10-25T00:30:00Z"))
        #expect(half.next(after: first, in: Self.amsterdam) == Self.date("2026-10-26T01:30:00Z"), "not again at the second 02:30")
        // Los Angeles, 2026-11-01: 02:00 PDT becomes 01:00 PST at 09:00 UTC; 01:30 happens at 08:30 and 09:30 UTC.
        let early = try Self.cron("30 1 * * *")
        let once = try #require(early.next(after: Self.date("2026-10-31T20:00:00Z"), in: Self.losAngeles))
        #expect(once == Self.date("2026-11-01T08:30:00Z"))
        #expect(early.next(after: once, in: Self.losAngeles) == Self.date("2026-11-02T09:30:00Z"))
    }

    @Test("a zone whose clock jumps at midnight (Cairo): the daily run happens at the jump, and the day's later runs are not lost")
    func midnightGap() throws {
        let cairo = try #require(TimeZone(identifier: "Africa/Cairo"))
        let transition = try #require(cairo.nextDaylightSavingTimeTransition(after: Self.date("2025-04-20T00:00:00Z")))
        // Only meaningful where the tz database has Egypt's 2025 change at local midnight.
        try #require(transition == Self.date("2025-04-24T22:00:00Z"), "tz database: \(transition)")
        #expect(try Self.cron("0 0 * * *").next(after: Self.date("2025-04-24T12:00:00Z"), in: cairo) == transition)
        let everyTwo = try Self.cron("0 */2 * * *")
        #expect(everyTwo.next(after: Self.date("2025-04-24T21:30:00Z"), in: cairo) == transition)
        #expect(everyTwo.next(after: transition, in: cairo) == Self.date("2025-04-24T23:00:00Z"), "02:00 EEST the same day")
    }

    static let created = date("2026-12-01T00:00:00Z")

    @Test("the decision: suspended; nothing due; one Backup for the latest run, missed ones counted not stacked; none while one is running")
    func decision() throws {
        let hourly = try Self.cron("@hourly")
        func decide(last: Date?, now: Date, backups: [BackupScheduling.BackupFacts] = [], suspend: Bool = false) -> ScheduleDecision {
            BackupScheduling.decide(
                schedule: "nightly", cron: hourly, timeZone: Self.utc, suspend: suspend, lastScheduleTime: last, created: Self.created, backups: backups, now: now)
        }
        #expect(decide(last: nil, now: Self.date("2026-12-01T05:30:00Z"), suspend: true) == .suspended)
        #expect(decide(last: Self.date("2026-12-01T05:00:00Z"), now: Self.date("2026-12-01T05:30:00Z")) == .wait(next: Self.date("2026-12-01T06:00:00Z")))
        #expect(
            decide(last: Self.date("2026-12-01T05:00:00Z"), now: Self.date("2026-12-01T06:00:10Z"))
                == .createBackup(name: "nightly-202612010600", scheduledTime: Self.date("2026-12-01T06:00:00Z"), missed: 0, next: Self.date("2026-12-01T07:00:00Z")))
        // Down from 02:00 to 05:10: runs at 03:00, 04:00 and 05:00 were due; one Backup, for 05:00.
        #expect(
            decide(last: Self.date("2026-12-01T02:00:00Z"), now: Self.date("2026-12-01T05:10:00Z"))
                == .createBackup(name: "nightly-202612010500", scheduledTime: Self.date("2026-12-01T05:00:00Z"), missed: 2, next: Self.date("2026-12-01T06:00:00Z")))
        // Never run: counted from the schedule's creation.
        if case .createBackup(_, let time, let missed, _) = decide(last: nil, now: Self.date("2026-12-01T02:30:00Z")) {
            #expect(time == Self.date("2026-12-01T02:00:00Z") && missed == 1)
        } else {
            Issue.record("a run was due")
        }
        let running = BackupScheduling.BackupFacts(name: "nightly-202612010500", time: Self.date("2026-12-01T05:00:00Z"), completed: false, finished: false)
        #expect(
            decide(last: Self.date("2026-12-01T05:00:00Z"), now: Self.date("2026-12-01T06:00:05Z"), backups: [running])
                == .skipRunning(scheduledTime: Self.date("2026-12-01T06:00:00Z"), missed: 0, next: Self.date("2026-12-01T07:00:00Z")))
    }

    static func backup(_ time: String, completed: Bool = true) -> BackupScheduling.BackupFacts {
        .init(name: "b-\(time)", time: date(time), completed: completed, finished: true)
    }

    @Test("retention as restic counts it: last N; newest of each of N days, ISO weeks, months; the newest Completed always; failed ones not counted")
    func retention() {
        let backups = [
            Self.backup("2026-12-02T03:00:00Z"), Self.backup("2026-12-02T01:00:00Z"), Self.backup("2026-12-01T03:00:00Z"),
            Self.backup("2026-11-30T03:00:00Z"), Self.backup("2026-11-23T03:00:00Z"), Self.backup("2026-10-15T03:00:00Z"),
            Self.backup("2026-12-02T04:00:00Z", completed: false),
        ]
        func expired(_ retention: BackupScheduling.Retention, zone: TimeZone = Self.utc) -> Set<String> {
            Set(BackupScheduling.expired(backups, retention: retention, timeZone: zone))
        }
        #expect(expired(.init()) == [], "no rule keeps everything")
        #expect(expired(.init(keepLast: 2)) == ["b-2026-12-01T03:00:00Z", "b-2026-11-30T03:00:00Z", "b-2026-11-23T03:00:00Z", "b-2026-10-15T03:00:00Z"])
        #expect(expired(.init(keepLast: 0)) == Set(backups.filter(\.completed).map(\.name)).subtracting(["b-2026-12-02T03:00:00Z"]), "the newest stays")
        // Two days: the newest of Dec 2 (03:00) and of Dec 1.
        #expect(expired(.init(keepDaily: 2)) == ["b-2026-12-02T01:00:00Z", "b-2026-11-30T03:00:00Z", "b-2026-11-23T03:00:00Z", "b-2026-10-15T03:00:00Z"])
        // ISO weeks: Dec 2 and Dec 1 and Nov 30 are one week (Monday Nov 30); Nov 23 the week before.
        #expect(expired(.init(keepWeekly: 2)) == ["b-2026-12-02T01:00:00Z", "b-2026-12-01T03:00:00Z", "b-2026-11-30T03:00:00Z", "b-2026-10-15T03:00:00Z"])
        // Months: December's newest, November's newest (the 30th), October's.
        #expect(expired(.init(keepMonthly: 3)) == ["b-2026-12-02T01:00:00Z", "b-2026-12-01T03:00:00Z", "b-2026-11-23T03:00:00Z"])
        // Rules add up: the last one, and the newest of two months.
        #expect(expired(.init(keepLast: 1, keepMonthly: 2)) == ["b-2026-12-02T01:00:00Z", "b-2026-12-01T03:00:00Z", "b-2026-11-23T03:00:00Z", "b-2026-10-15T03:00:00Z"])
        // Days are the zone's: 05:00 and 07:00 UTC on Dec 2 are still Dec 1 in Los Angeles, 09:00 is Dec 2.
        let evening = [Self.backup("2026-12-02T05:00:00Z"), Self.backup("2026-12-02T07:00:00Z"), Self.backup("2026-12-02T09:00:00Z")]
        #expect(Set(BackupScheduling.expired(evening, retention: .init(keepDaily: 2), timeZone: Self.utc)) == ["b-2026-12-02T05:00:00Z", "b-2026-12-02T07:00:00Z"])
        #expect(BackupScheduling.expired(evening, retention: .init(keepDaily: 2), timeZone: Self.losAngeles) == ["b-2026-12-02T05:00:00Z"])
        #expect(BackupScheduling.backupName(schedule: "nightly", scheduledTime: Self.date("2026-03-29T01:00:00Z")) == "nightly-202603290100")
    }
}
