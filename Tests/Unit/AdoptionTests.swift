import DriverProtocol
import SQLSupport
import Testing

/// The rule that decides who may take a recorded database (`Adoption.decide`).
@Suite("Adoption of retained databases")
struct AdoptionTests {
    let instance = ConnectionSettings(host: "db", port: 5432, user: "admin", password: "x", tlsMode: .disable)

    func target(uid: String = "new-uid", namespace: String = "shop", name: String = "orders", cluster: String = "cluster-a", user: String = "shop_orders", adopt: Bool = false) -> DatabaseTarget {
        DatabaseTarget(
            instance: instance, databaseName: "shop_orders", username: user,
            owner: OwnerRecord(uid: uid, namespace: namespace, name: name, cluster: cluster, createdAt: "2026-12-01T10:00:00Z"), adopt: adopt)
    }

    func record(uid: String = "old-uid", namespace: String = "shop", name: String = "orders", cluster: String = "cluster-a") -> OwnerRecord {
        OwnerRecord(uid: uid, namespace: namespace, name: name, cluster: cluster, createdAt: "2026-11-01T10:00:00Z")
    }

    @Test("the same resource is ours; with another user it is a conflict")
    func sameResource() {
        #expect(Adoption.decide(record: record(uid: "new-uid"), recordedUser: "shop_orders", target: target()) == .ours)
        guard case .conflict(let message) = Adoption.decide(record: record(uid: "new-uid"), recordedUser: "other", target: target()) else {
            Issue.record("expected a conflict")
            return
        }
        #expect(message.contains("was created with user other"))
    }

    @Test("same cluster, namespace and name under another UID (a Retain, then re-created) is adopted")
    func retainedInThisCluster() {
        #expect(Adoption.decide(record: record(), recordedUser: "shop_orders", target: target()) == .adopt)
    }

    @Test("another namespace or name is never adopted, not even with spec.adopt")
    func otherResource() {
        for other in [record(namespace: "thief"), record(name: "payments")] {
            for adopt in [false, true] {
                guard case .conflict(let message) = Adoption.decide(record: other, recordedUser: "shop_orders", target: target(adopt: adopt)) else {
                    Issue.record("expected a conflict for \(other)")
                    continue
                }
                #expect(message.contains("is managed for \(other.namespace)/\(other.name)"))
            }
        }
    }

    @Test("another cluster, a record without a cluster, or an operator that cannot tell its cluster: adopted only with spec.adopt")
    func otherCluster() {
        let cases: [(OwnerRecord, DatabaseTarget, String)] = [
            (record(cluster: "cluster-b"), target(), "of another cluster (cluster-b)"),
            (record(cluster: ""), target(), "whose cluster was not recorded"),
            (record(), target(cluster: ""), "cannot tell its own cluster"),
        ]
        for (recorded, wanted, why) in cases {
            guard case .conflict(let message) = Adoption.decide(record: recorded, recordedUser: "shop_orders", target: wanted) else {
                Issue.record("expected a conflict: \(why)")
                continue
            }
            #expect(message.contains(why) && message.contains("spec.adopt: true"), "\(message)")
            var adopting = wanted
            adopting.adopt = true
            #expect(Adoption.decide(record: recorded, recordedUser: "shop_orders", target: adopting) == .adopt)
        }
    }

    @Test("a retained database is adopted only with the user it was created with")
    func otherUser() {
        guard case .conflict(let message) = Adoption.decide(record: record(), recordedUser: "shop_orders", target: target(user: "renamed")) else {
            Issue.record("expected a conflict")
            return
        }
        #expect(message.contains("adopted only with the same user"))
    }
}
