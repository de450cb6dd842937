import KubeModel

/// Names inside the instance (SPEC section 2.4): the default database name is
/// `<namespace>_<name>` normalised to `[a-z0-9_]`, shortened to the engine's limit by
/// keeping a prefix and appending `_` and 8 hex characters of the SHA-256 of the full
/// name; the user name defaults to the database name, shortened the same way.
public enum InstanceNames {
    /// The bookkeeping database on every instance; no resource may resolve to it.
    public static let bookkeepingDatabase = "db_operator"
    /// Bookkeeping columns added after the first release (cluster and adoption);
    /// each engine adds those an older table lacks.
    public static let adoptionColumns = ["cluster_id", "owner_created", "adopted_from_uid", "adopted_from_created", "adopted_from_cluster"]

    /// The database and user names for a resource, or a message saying why the
    /// given names cannot be used.
    public static func derive(
        namespace: String, name: String, databaseName: String?, username: String?, limits: NameLimits
    ) -> Result<(database: String, user: String), InvalidName> {
        let full = "\(namespace)_\(name)"
        let database: String
        if let given = databaseName {
            guard !given.isEmpty else { return .failure(InvalidName(message: "spec.databaseName is empty")) }
            guard given.utf8.count <= limits.database else {
                return .failure(InvalidName(message: "spec.databaseName is \(given.utf8.count) bytes; the engine allows \(limits.database)"))
            }
            database = given
        } else {
            database = shorten(normalise(full), limit: limits.database, hashOf: full)
        }
        guard database != bookkeepingDatabase else {
            return .failure(InvalidName(message: "the database name \(bookkeepingDatabase) is reserved for the operator's bookkeeping"))
        }
        let user: String
        if let given = username {
            guard !given.isEmpty else { return .failure(InvalidName(message: "spec.username is empty")) }
            guard given.utf8.count <= limits.user else {
                return .failure(InvalidName(message: "spec.username is \(given.utf8.count) bytes; the engine allows \(limits.user)"))
            }
            user = given
        } else if databaseName != nil {
            user = shorten(database, limit: limits.user, hashOf: database)
        } else {
            user = shorten(normalise(full), limit: limits.user, hashOf: full)
        }
        return .success((database, user))
    }

    /// Lower case, every character outside `[a-z0-9_]` replaced by `_`.
    public static func normalise(_ name: String) -> String {
        String(String.UnicodeScalarView(name.lowercased().unicodeScalars.map { scalar in
            switch scalar {
            case "a"..."z", "0"..."9", "_": scalar
            default: "_"
            }
        }))
    }

    /// `name` if it fits, else a prefix and `_` plus 8 hex of SHA-256(`hashOf`).
    public static func shorten(_ name: String, limit: Int, hashOf full: String) -> String {
        guard name.utf8.count > limit else { return name }
        let digest = ShortHash.sha256Hex8(full)
        // Normalised names are ASCII, so bytes and characters agree; given names may
        // not be, so cut on a character boundary.
        var prefix = ""
        for character in name {
            guard prefix.utf8.count + character.utf8.count <= limit - 9 else { break }
            prefix.append(character)
        }
        return "\(prefix)_\(digest)"
    }
}

/// Why a resource's names cannot be used inside the instance.
public struct InvalidName: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
