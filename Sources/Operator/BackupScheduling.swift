import Foundation
import KubeModel

// The pure decisions of backup schedules (SPEC section 14): when a five-field cron
// schedule runs in an IANA time zone, which Backup a schedule makes now, and which
// of its Backups retention keeps. No I/O: the BackupSchedule controller
// (`DatabaseOperator+Schedules`) feeds these the clock, the schedule's status and its
// Backups, and the Database controller asks `retentionExpired` for its Jobs.

/// A cron schedule: five fields (minute, hour, day of month, month, day of week) with
/// `*`, lists, ranges, steps and month/day names, or `@hourly`, `@daily` (`@midnight`),
/// `@weekly`, `@monthly`, `@yearly` (`@annually`). Day of month and day of week, when
/// both are restricted, match either (as every cron does).
public struct CronSchedule: Sendable, Equatable, CustomStringConvertible {
    public let minutes: Set<Int>
    public let hours: Set<Int>
    public let daysOfMonth: Set<Int>
    public let months: Set<Int>
    /// 0 = Sunday ... 6 = Saturday (7 is read as Sunday).
    public let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool
    public let description: String

    /// Why a schedule cannot be read; the message names the field.
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    static let macros = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    public init(parsing text: String) throws(ParseError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let expanded = Self.macros[trimmed.lowercased()] ?? trimmed
        let fields = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw ParseError(description: "\"\(text)\" is not a cron schedule: five fields (minute hour day-of-month month day-of-week) or @hourly, @daily, @weekly, @monthly, @yearly")
        }
        minutes = try Self.field(fields[0], name: "minute", range: 0...59)
        hours = try Self.field(fields[1], name: "hour", range: 0...23)
        daysOfMonth = try Self.field(fields[2], name: "day of month", range: 1...31)
        months = try Self.field(fields[3], name: "month", range: 1...12, names: Self.monthNames, firstNameValue: 1)
        daysOfWeek = Set(try Self.field(fields[4], name: "day of week", range: 0...7, names: Self.dayNames, firstNameValue: 0).map { $0 % 7 })
        dayOfMonthRestricted = !fields[2].hasPrefix("*") && fields[2] != "?"
        dayOfWeekRestricted = !fields[4].hasPrefix("*") && fields[4] != "?"
        description = trimmed
    }

    private static func field(_ text: String, name: String, range: ClosedRange<Int>, names: [String] = [], firstNameValue: Int = 0) throws(ParseError) -> Set<Int> {
        func value(_ token: Substring) throws(ParseError) -> Int {
            if let number = Int(token), range.contains(number) { return number }
            if let index = names.firstIndex(of: token.lowercased()) { return index + firstNameValue }
            throw ParseError(description: "\(name) field: \"\(token)\" is not in \(range.lowerBound)-\(range.upperBound)\(names.isEmpty ? "" : " or a name")")
        }
        var result: Set<Int> = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2, !pieces[0].isEmpty else { throw ParseError(description: "\(name) field: \"\(part)\" is not a value, range or step") }
            var step = 1
            if pieces.count == 2 {
                guard let parsed = Int(pieces[1]), parsed > 0 else { throw ParseError(description: "\(name) field: the step in \"\(part)\" is not a positive number") }
                step = parsed
            }
            let lower: Int, upper: Int
            if pieces[0] == "*" || pieces[0] == "?" {
                (lower, upper) = (range.lowerBound, range.upperBound)
            } else if let dash = pieces[0].firstIndex(of: "-") {
                lower = try value(pieces[0][..<dash])
                upper = try value(pieces[0][pieces[0].index(after: dash)...])
                guard lower <= upper else { throw ParseError(description: "\(name) field: the range \"\(pieces[0])\" runs backwards") }
            } else {
                lower = try value(pieces[0])
                upper = pieces.count == 2 ? range.upperBound : lower
            }
            result.formUnion(stride(from: lower, through: upper, by: step))
        }
        return result
    }

    /// Whether a local date (its day, month and weekday) is a day the schedule runs on.
    func matchesDay(day: Int, month: Int, weekday: Int) -> Bool {
        guard months.contains(month) else { return false }
        switch (dayOfMonthRestricted, dayOfWeekRestricted) {
        case (true, true): return daysOfMonth.contains(day) || daysOfWeek.contains(weekday)
        case (true, false): return daysOfMonth.contains(day)
        case (false, true): return daysOfWeek.contains(weekday)
        case (false, false): return true
        }
    }

    /// The first run strictly after `date`, with the wall clock of `timeZone`.
    ///
    /// Daylight saving as ISC cron (most Linux distributions) does it, not as
    /// Kubernetes' CronJob: a run whose local time does not exist (the hour skipped
    /// in spring) happens at the instant the clock jumps, not never; a local time that
    /// happens twice (the hour repeated in autumn) runs once, the first time. Nil when
    /// nothing matches within eight years (e.g. February 30th).
    public func next(after date: Date, in timeZone: TimeZone) -> Date? {
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        // The wall clock as if it were UTC, from the minute after `date`'s.
        let wallNow = date.addingTimeInterval(TimeInterval(timeZone.secondsFromGMT(for: date)))
        let startMinute = floor(wallNow.timeIntervalSince1970 / 60) * 60 + 60
        let start = Date(timeIntervalSince1970: startMinute)
        var day = utc.startOfDay(for: start)
        let sortedHours = hours.sorted(), sortedMinutes = minutes.sorted()
        for _ in 0..<(366 * 8) {
            let parts = utc.dateComponents([.day, .month, .weekday], from: day)
            if matchesDay(day: parts.day!, month: parts.month!, weekday: parts.weekday! - 1) {
                for hour in sortedHours {
                    for minute in sortedMinutes {
                        let wall = day.addingTimeInterval(TimeInterval(hour * 3600 + minute * 60))
                        guard wall >= start else { continue }
                        if let instant = Self.instant(ofWall: wall, in: timeZone), instant > date { return instant }
                    }
                }
            }
            day = day.addingTimeInterval(86400)
        }
        return nil
    }

    /// The instant a wall-clock time (given as if UTC) happens in `timeZone`: the
    /// earlier one when it happens twice, the jump itself when it never happens.
    static func instant(ofWall wall: Date, in timeZone: TimeZone) -> Date? {
        // Offsets in force a day before and a day after cover any one transition.
        let offsets = Set([-86400.0, 0, 86400].map { TimeInterval(timeZone.secondsFromGMT(for: wall.addingTimeInterval($0))) })
        let candidates = offsets.map { wall.addingTimeInterval(-$0) }.filter { candidate in
            candidate.addingTimeInterval(TimeInterval(timeZone.secondsFromGMT(for: candidate))) == wall
        }
        if let earliest = candidates.min() { return earliest }
        // In the gap: the clock jumps over this time; the run happens at the jump.
        let guess = wall.addingTimeInterval(-(offsets.min() ?? 0))
        return timeZone.nextDaylightSavingTimeTransition(after: guess.addingTimeInterval(-2 * 86400)).flatMap { transition in
            transition <= guess.addingTimeInterval(2 * 86400) ? transition : nil
        }
    }
}

/// What a schedule does now (`BackupScheduling.decide`).
public enum ScheduleDecision: Equatable, Sendable {
    /// Make the Backup `name` for the run due at `scheduledTime`; `missed` earlier runs
    /// were not made (reported, not stacked).
    case createBackup(name: String, scheduledTime: Date, missed: Int, next: Date?)
    /// The run due at `scheduledTime` is skipped: the previous Backup is still going.
    case skipRunning(scheduledTime: Date, missed: Int, next: Date?)
    /// Nothing due; look again at `next`.
    case wait(next: Date?)
    /// `suspend: true`: no runs.
    case suspended
}

/// Which Backups retention keeps, and the schedule's decision now.
public enum BackupScheduling {
    /// A Backup of the schedule as retention and the decision see it.
    public struct BackupFacts: Equatable, Sendable {
        public var name: String
        /// When it was scheduled (its name's time) or created.
        public var time: Date
        public var completed: Bool
        public var finished: Bool

        public init(name: String, time: Date, completed: Bool, finished: Bool) {
            self.name = name
            self.time = time
            self.completed = completed
            self.finished = finished
        }
    }

    /// `spec.retention`, counted as restic's `forget --keep-*` does.
    public typealias Retention = BackupRetention

    /// The Backup name of a run: `<schedule>-<yyyymmddhhmm>` in UTC.
    public static func backupName(schedule: String, scheduledTime: Date) -> String {
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        let parts = utc.dateComponents([.year, .month, .day, .hour, .minute], from: scheduledTime)
        return schedule + "-" + String(format: "%04d%02d%02d%02d%02d", parts.year!, parts.month!, parts.day!, parts.hour!, parts.minute!)
    }

    /// The decision now: the latest run due since `lastScheduleTime` (or the
    /// schedule's creation), at most one Backup for it whatever was missed, none while
    /// the previous one is still going.
    public static func decide(
        schedule name: String, cron: CronSchedule, timeZone: TimeZone, suspend: Bool, lastScheduleTime: Date?, created: Date,
        backups: [BackupFacts], now: Date
    ) -> ScheduleDecision {
        if suspend { return .suspended }
        var due: Date?
        var count = 0
        var cursor = lastScheduleTime ?? created
        // Walk the runs since the last one; a schedule far behind is counted up to a bound.
        while count < 10_000, let run = cron.next(after: cursor, in: timeZone), run <= now {
            due = run
            count += 1
            cursor = run
        }
        let next = cron.next(after: max(now, due ?? now), in: timeZone)
        guard let due else { return .wait(next: next) }
        if backups.contains(where: { !$0.finished }) { return .skipRunning(scheduledTime: due, missed: count - 1, next: next) }
        return .createBackup(name: backupName(schedule: name, scheduledTime: due), scheduledTime: due, missed: count - 1, next: next)
    }

    /// The Backups retention deletes: Completed ones no rule keeps. The newest
    /// Completed one is always kept; unfinished and failed ones are not counted or
    /// deleted here; no rule at all keeps everything. Days, weeks (ISO) and months are
    /// those of `timeZone`.
    public static func expired(_ backups: [BackupFacts], retention: Retention, timeZone: TimeZone) -> [String] {
        guard !retention.isEmpty else { return [] }
        let completed = backups.filter(\.completed).sorted { ($0.time, $0.name) > ($1.time, $1.name) }
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = timeZone
        var kept: Set<String> = []
        if let newest = completed.first { kept.insert(newest.name) }
        kept.formUnion(completed.prefix(max(0, retention.keepLast ?? 0)).map(\.name))
        func keep(_ limit: Int?, bucket: (Date) -> String) {
            guard let limit, limit > 0 else { return }
            var seen: Set<String> = []
            for backup in completed {
                let key = bucket(backup.time)
                if seen.contains(key) { continue }
                seen.insert(key)
                kept.insert(backup.name)
                if seen.count == limit { break }
            }
        }
        keep(retention.keepDaily) { date in
            let parts = calendar.dateComponents([.year, .month, .day], from: date)
            return "\(parts.year!)-\(parts.month!)-\(parts.day!)"
        }
        keep(retention.keepWeekly) { date in
            let parts = calendar.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date)
            return "\(parts.yearForWeekOfYear!)-W\(parts.weekOfYear!)"
        }
        keep(retention.keepMonthly) { date in
            let parts = calendar.dateComponents([.year, .month], from: date)
            return "\(parts.year!)-\(parts.month!)"
        }
        return completed.filter { !kept.contains($0.name) }.map(\.name)
    }
}

extension BackupRetention {
    /// No rule: everything is kept.
    var isEmpty: Bool { [keepLast, keepDaily, keepWeekly, keepMonthly].allSatisfy { $0 == nil } }
}

// MARK: From the resources

extension BackupScheduling {
    /// A schedule's cron and time zone, or what is wrong with them.
    public static func parse(_ spec: BackupScheduleSpec, name: String = "") -> Result<(CronSchedule, TimeZone), SpecError> {
        // Backups are named <schedule>-<yyyymmddhhmm>, and a name has at most 253 characters.
        guard name.count <= 240 else { return .failure(SpecError(message: "metadata.name: at most 240 characters (its Backups add 13)")) }
        let cron: CronSchedule
        do {
            cron = try CronSchedule(parsing: spec.schedule)
        } catch {
            return .failure(SpecError(message: "spec.schedule: \(error.description)"))
        }
        let zoneName = spec.timeZone ?? "UTC"
        guard let zone = TimeZone(identifier: zoneName) else {
            return .failure(SpecError(message: "spec.timeZone: \"\(zoneName)\" is not an IANA time zone of this system's database (e.g. Europe/Amsterdam, UTC)"))
        }
        return .success((cron, zone))
    }

    public struct SpecError: Error, Sendable {
        public var message: String
    }

    /// The schedule's Backups as `BackupScheduling` sees them: the run's time from
    /// the annotation (else the creation time).
    public static func scheduleFacts(_ backups: [Resource<Backup>]) -> [BackupScheduling.BackupFacts] {
        backups.map { backup in
            let time = backup.metadata.annotations?[AnnotationKey.scheduledTime].flatMap(KubeTime.parse)
                ?? backup.metadata.creationTimestamp.flatMap(KubeTime.parse) ?? .distantPast
            return BackupScheduling.BackupFacts(
                name: backup.name, time: time, completed: backup.phase == .completed, finished: backup.phase?.isFinished ?? false)
        }
    }

    /// Whether `backup` was made by `schedule` (its label, and the schedule as owner).
    public static func made(_ backup: Resource<Backup>, by schedule: Resource<BackupSchedule>) -> Bool {
        backup.metadata.labels?[LabelKey.schedule] == LabelValue.valid(schedule.name)
            && backup.metadata.ownerReferences?.contains { $0.uid == schedule.metadata.uid } == true
    }

    /// The Backups of a Database that retention deletes, oldest first: for each
    /// schedule of the Database with a retention, the Completed Backups it made that
    /// no rule keeps.
    public static func retentionExpired(database: String, backups: [Resource<Backup>], schedules: [Resource<BackupSchedule>]) -> [String] {
        var expired: [(Date, String)] = []
        for schedule in schedules where schedule.object.spec.database == database {
            guard let retention = schedule.object.spec.retention, case .success(let (_, zone)) = parse(schedule.object.spec) else { continue }
            let own = backups.filter { made($0, by: schedule) }
            let facts = scheduleFacts(own)
            let names = Set(BackupScheduling.expired(facts, retention: retention, timeZone: zone))
            expired += facts.filter { names.contains($0.name) }.map { ($0.time, $0.name) }
        }
        return expired.sorted { $0 < $1 }.map(\.1)
    }
}
