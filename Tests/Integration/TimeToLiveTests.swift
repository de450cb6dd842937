import Foundation
import KubeClient
import KubeModel
import SQLSupport
import Testing
import TestSupport

/// `spec.ttl` (SPEC section 13): the operator deletes the Database when it runs out,
/// and the deletion policy applies — a database per CI run that cleans itself up.
@Suite("Time to live", .serialized)
struct TimeToLiveTests {
    static let services = TestServices.current

    @Test("test driver: status.expiresAt; gone and dropped by itself; a long ttl waits and a shortened one takes effect; a bad ttl is refused or InvalidSpec")
    func testDriver() async throws {
        let run = String(UUID().uuidString.prefix(6).lowercased())
        try await LifecycleHarness.with(rbac: true) { harness in
            let ns = "ttl-\(run)"
            try await harness.makeNamespace(ns)
            var spec = LifecycleHarness.databaseSpec(host: "instance-ttl-\(run)", policy: .delete, s3: nil)
            // Long enough to be Created however slow the machine; then shortened.
            spec.ttl = "1h"
            try await harness.createDatabase("short", namespace: ns, spec: spec)
            try await harness.createDatabase("long", namespace: ns, spec: spec)
            // Not a duration: the CRD's schema refuses it; a negative one is the operator's InvalidSpec.
            spec.ttl = "a while"
            await #expect(throws: KubeError.self) { try await harness.createDatabase("bad", namespace: ns, spec: spec) }
            spec.ttl = "-5m"
            try await harness.createDatabase("bad", namespace: ns, spec: spec)
            try await harness.waitForPhase("short", namespace: ns, .created)
            try await harness.waitForPhase("long", namespace: ns, .created)
            let short = try #require(try await harness.database("short", namespace: ns))
            let created = try #require(short.metadata.creationTimestamp.flatMap(KubeTime.parse))
            try await eventually("status.expiresAt") { try await harness.database("short", namespace: ns)?.status?.expiresAt != nil }
            let expiresAt = try #require(try await harness.database("short", namespace: ns)?.status?.expiresAt.flatMap(KubeTime.parse))
            #expect(expiresAt.timeIntervalSince(created) == 3600)
            #expect(harness.instanceRecord(host: "instance-ttl-\(run)", database: "ttl_\(run)_short") != nil)
            // Shortened: it expires then (here at once: it is older than 2 s by now), and is dropped.
            try await harness.modifyDatabase("short", namespace: ns) { $0.spec.ttl = "2s" }
            try await harness.waitUntilGone("short", namespace: ns, timeout: .seconds(120))
            #expect(harness.instanceRecord(host: "instance-ttl-\(run)", database: "ttl_\(run)_short") == nil, "dropped")
            #expect(try await harness.api.list(Event.self, namespace: ns).contains { $0.object.involvedObject.name == "short" && $0.object.reason == "Expired" })
            #expect(try await harness.database("long", namespace: ns)?.phase == .created, "not before its time")
            try await eventually("the bad ttl to be reported") {
                let ready = try await harness.database("bad", namespace: ns)?.status?.conditions?[type: "Ready"]
                return ready?.reason == "InvalidSpec" && ready?.message.contains("spec.ttl") == true
            }
        }
    }

    @Test(
        "both drivers on real servers: a ttl shortened to 20s once Created, gone and dropped by itself",
        .enabled(if: services.shouldRun(.postgresql) && services.shouldRun(.mysql)))
    func realServers() async throws {
        let drivers = [try EndToEndTests.Driver(engine: Engine.postgresql), try EndToEndTests.Driver(engine: Engine.mysql)]
        for driver in drivers { try await driver.engine.prepare() }
        let run = String(UUID().uuidString.prefix(6).lowercased())
        try await LifecycleHarness.with(rbac: true) { harness in
            let ns = "ttl-real-\(run)"
            _ = try await harness.api.create(Namespace(metadata: ObjectMeta(name: ns)))
            try await harness.prepareForJobs(ns)
            for driver in drivers {
                try await EndToEndTests.secret(harness, ns, "\(driver.name)-admin", ["password": driver.login.password])
                let spec = DatabaseSpec(
                    driver: driver.name, connect: ConnectSpec(host: driver.login.host, port: driver.login.port, sslMode: .disable),
                    credentials: CredentialsSpec(
                        username: ValueSource(value: driver.login.user),
                        password: ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: "\(driver.name)-admin", key: "password")))),
                    ttl: "1h")
                try await harness.createDatabase(driver.name, namespace: ns, spec: spec)
            }
            // Created however slow the machine (a ttl shorter than the creation would delete a
            // Creating Database, as it should), then shortened: they go by themselves.
            for driver in drivers { try await harness.waitForPhase(driver.name, namespace: ns, .created, timeout: .seconds(180)) }
            for driver in drivers { try await harness.modifyDatabase(driver.name, namespace: ns) { $0.spec.ttl = "20s" } }
            try await eventually(timeout: .seconds(240), "both to be gone by themselves") {
                for driver in drivers where try await harness.database(driver.name, namespace: ns) != nil { return false }
                return true
            }
            let events = try await harness.api.list(Event.self, namespace: ns).map(\.object)
            let reasons = { (name: String) in Set(events.filter { $0.involvedObject.name == name }.compactMap(\.reason)) }
            for driver in drivers {
                #expect(reasons(driver.name).isSuperset(of: ["Created", "Expired"]), "\(driver.name) was Created, then expired: \(reasons(driver.name))")
                let expected = "ttl_real_\(run)_\(driver.name)"
                #expect(!(try await driver.engine.inventory(driver.login).contains("db:\(expected)")), "\(expected) is dropped")
            }
        }
    }
}
