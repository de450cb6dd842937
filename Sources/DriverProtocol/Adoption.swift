/// Who may take a database that the bookkeeping records for a resource: the pure
/// rule behind `create` (SPEC section 2.4, "Adoption"). Names are unique in a
/// cluster, so a record of the same cluster, namespace and name under another UID
/// is a resource that no longer exists (deleted with `deletionPolicy: Retain`): a
/// new resource of that name adopts its database. Nothing is adopted across
/// namespaces, and across clusters (or from a record that names none) only with
/// `spec.adopt: true`.
public enum Adoption {
    /// What `create` does with a database recorded as `record`'s.
    public enum Decision: Sendable, Hashable {
        /// Recorded for this very resource.
        case ours
        /// Retained by an earlier resource; record it as the target's.
        case adopt
        /// Someone else's: the message says whose and why.
        case conflict(String)
    }

    public static func decide(record: OwnerRecord, recordedUser: String, target: DatabaseTarget) -> Decision {
        let database = target.databaseName
        if record.uid == target.owner.uid {
            guard recordedUser == target.username else {
                return .conflict("database \(database) was created with user \(recordedUser), not \(target.username)")
            }
            return .ours
        }
        guard record.namespace == target.owner.namespace, record.name == target.owner.name else {
            return .conflict("database \(database) is managed for \(record.namespace)/\(record.name)")
        }
        let sameCluster = !record.cluster.isEmpty && record.cluster == target.owner.cluster
        guard sameCluster || target.adopt else {
            let whose = record.cluster.isEmpty
                ? "an earlier \(record.namespace)/\(record.name) (uid \(record.uid)) whose cluster was not recorded"
                : target.owner.cluster.isEmpty
                    ? "\(record.namespace)/\(record.name) (uid \(record.uid)) of cluster \(record.cluster), and this operator cannot tell its own cluster (it could not read namespace kube-system)"
                    : "\(record.namespace)/\(record.name) (uid \(record.uid)) of another cluster (\(record.cluster))"
            return .conflict("database \(database) is retained for \(whose); set spec.adopt: true to take it over on purpose")
        }
        guard recordedUser == target.username else {
            return .conflict("database \(database) was created with user \(recordedUser), not \(target.username); it is adopted only with the same user")
        }
        return .adopt
    }
}
