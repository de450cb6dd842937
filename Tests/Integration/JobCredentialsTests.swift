import Foundation
import KubeClient
import KubeModel
import ObjectStore
import Testing
import TestSupport

/// Operator-wide S3 credentials without plain-text keys in Jobs (#16 item 3): keys
/// from a Secret (`--job-env-from-secret`, `envFrom` in the Job), and web identity
/// (`AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`, STS AssumeRoleWithWebIdentity, as
/// on EKS) against moto's STS and its strict S3, which checks the assumed role's
/// policies and session token on every request.
@Suite("Job credentials: envFrom a Secret, web identity", .serialized)
struct JobCredentialsTests {
    static let services = TestServices.current
    static let operatorNamespace = LifecycleHarness.operatorNamespace

    static func server(_ name: String, host: String, s3: S3Settings, prefix: String) -> DatabaseServer {
        DatabaseServer(
            metadata: ObjectMeta(name: name),
            spec: DatabaseServerSpec(
                driver: "test", connect: ConnectSpec(host: host),
                credentials: CredentialsSpec(username: ValueSource(value: "admin"), password: ValueSource(value: "admin-pw")),
                backupTo: BackupTarget(s3: S3Spec(region: s3.region, bucket: s3.bucket, prefix: prefix, endpoint: s3.endpoint, forcePathStyle: true))))
    }

    @Test(
        "--job-env-from-secret: Jobs in the operator's namespace back up with its keys, no Job holds them, and a tenant's own Jobs do not get them",
        .enabled(if: services.shouldRun(.s3)))
    func keysFromSecret() async throws {
        let s3 = try Self.services.s3()
        let run = String(UUID().uuidString.prefix(6).lowercased())
        try await LifecycleHarness.with(operatorArguments: ["--job-env-from-secret", "dbop-job-env"]) { harness in
            try await EndToEndTests.secret(harness, Self.operatorNamespace, "dbop-job-env", [
                "AWS_ACCESS_KEY_ID": s3.accessKeyID, "AWS_SECRET_ACCESS_KEY": s3.secretAccessKey,
            ])
            _ = try await harness.api.create(Self.server("keys-\(run)", host: "instance-keys-\(run)", s3: s3, prefix: "job-env-\(run)/"))
            let tenant = "keys-\(run)"
            try await harness.makeNamespace(tenant)
            try await harness.createDatabase("app", namespace: tenant, spec: DatabaseSpec(driver: nil, connect: nil, server: "keys-\(run)"))
            try await harness.waitForPhase("app", namespace: tenant, .created)
            try await harness.createBackup("app-1", namespace: tenant, database: "app")
            try await harness.waitForBackup("app-1", namespace: tenant, .completed)

            // An inline Database's Jobs run in its own namespace, which has no such Secret.
            try await harness.createDatabase(
                "inline", namespace: tenant,
                spec: LifecycleHarness.databaseSpec(host: "instance-inline-\(run)", policy: .delete, s3: s3, prefix: "job-env-\(run)/"))
            try await harness.waitForPhase("inline", namespace: tenant, .created)
            try await harness.modifyDatabase("inline", namespace: tenant) { $0.spec.backupTo?.S3?.CredentialsSecret = nil }
            try await harness.createBackup("inline-1", namespace: tenant, database: "inline")
            try await harness.waitForBackup("inline-1", namespace: tenant, .failed)
            #expect(try await harness.backup("inline-1", namespace: tenant)?.status?.conditions?[type: "Ready"]?.reason == "NoS3Credentials")

            // The Jobs name the Secret; none holds the key.
            let jobs = try await harness.api.list(Job.self, namespace: nil)
            #expect(jobs.contains { $0.object.spec?.template.spec.containers.first?.envFrom == [EnvFromSource(secretRef: .init(name: "dbop-job-env", optional: true))] })
            let text = try jobs.map { String(decoding: try JSONEncoder().encode($0.object), as: UTF8.self) }.joined()
            #expect(!text.contains(s3.secretAccessKey))
        }
    }

    @Test(
        "web identity: the Job exchanges its token for a role's keys (STS AssumeRoleWithWebIdentity) and backs up to the strict store; a role without S3 rights is AccessDenied",
        .enabled(if: services.shouldRun(.s3Strict)))
    func webIdentity() async throws {
        let strict = try Self.services.s3Strict()
        let roles = try Self.services.webIdentityRoles()
        let run = String(UUID().uuidString.prefix(6).lowercased())
        try await LifecycleHarness.with(operatorArguments: ["--job-env-from-secret", "dbop-job-env"]) { harness in
            // A projected service-account token, as the kubelet writes it (moto does not verify it).
            let tokenFile = "\(harness.root)/web-identity-token"
            try "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGItb3BlcmF0b3I6ZGItb3BlcmF0b3ItZHJpdmVyIn0.c2lnbmF0dXJl"
                .write(toFile: tokenFile, atomically: true, encoding: .utf8)
            var environment = Secret(metadata: ObjectMeta(name: "dbop-job-env", namespace: Self.operatorNamespace))
            environment.setValue(roles.allowed, for: "AWS_ROLE_ARN")
            environment.setValue(tokenFile, for: "AWS_WEB_IDENTITY_TOKEN_FILE")
            environment.setValue(strict.endpoint, for: "AWS_ENDPOINT_URL_STS")
            let created = try await harness.api.create(environment)
            _ = try await harness.api.create(Self.server("web-\(run)", host: "instance-web-\(run)", s3: strict, prefix: "web-identity-\(run)/"))
            let tenant = "web-\(run)"
            try await harness.makeNamespace(tenant)
            try await harness.createDatabase("app", namespace: tenant, spec: DatabaseSpec(driver: nil, connect: nil, server: "web-\(run)"))
            try await harness.waitForPhase("app", namespace: tenant, .created)
            try await harness.createBackup("app-1", namespace: tenant, database: "app")
            try await harness.waitForBackup("app-1", namespace: tenant, .completed, timeout: .seconds(120))
            let destination = try #require(try await harness.backup("app-1", namespace: tenant)?.status?.destination)
            let store = try CrashConvergenceTests.store(strict)
            let key = String(destination.dropFirst("s3://\(strict.bucket)/".count))
            let stored = try await store.headObject(key: key)
            try await store.shutdown()
            let size = try await harness.backup("app-1", namespace: tenant)?.status?.size
            #expect(stored != nil && stored?.size == size)

            // The same token for a role that may not use S3: the store refuses the assumed role's keys.
            var denied = created.object
            denied.setValue(roles.denied, for: "AWS_ROLE_ARN")
            _ = try await harness.api.update(created, to: denied)
            try await harness.createBackup("app-2", namespace: tenant, database: "app")
            try await harness.waitForBackup("app-2", namespace: tenant, .failed, timeout: .seconds(120))
            let reason = try await harness.backup("app-2", namespace: tenant)?.status?.conditions?[type: "Ready"]?.reason
            #expect(reason == "AccessDenied", "\(reason ?? "none")")
        }
    }
}
