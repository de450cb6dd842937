// The fake Kubernetes API server (SPEC section 7): an honest stand-in for
// kube-apiserver in tests and in `db-operator dev`.
//
// It does: discovery (/version, /api, /api/v1, /apis, /apis/<group>[/<version>]),
// OpenAPI v3 documents (/openapi/v3), Table responses; namespaces, secrets,
// configmaps, events, serviceaccounts, pods (read-only), batch/v1 jobs, apps/v1
// deployments (stored; no controller), coordination.k8s.io/v1 leases, RBAC's Roles,
// ClusterRoles and bindings, and CustomResourceDefinitions, whose resources are
// then served and pruned, defaulted and validated by their OpenAPI v3 schema;
// uid, creationTimestamp, generateName, one global resourceVersion counter,
// generation bumped by spec changes, 409 on a stale resourceVersion, the status
// subresource, finalizers and deletionTimestamp, ownerReference garbage collection
// (Background, Foreground, Orphan), namespace and CRD deletion that cleans up what
// they contain; get, list (label and field selectors, limit/continue), watch
// (resourceVersion, allowWatchBookmarks, timeoutSeconds, 410 Expired for a
// compacted version), create, update, patch (merge, JSON, strategic merge for
// built-ins), delete and deletecollection; Status errors with the real reasons and
// codes; bearer tokens with per-token users and groups; service-account tokens from
// the TokenRequest subresource (Authentication.swift); with `authorization: .rbac`,
// RBAC as kube-apiserver evaluates it, escalation prevention, the bootstrap policy
// and an access log (RBAC.swift, Authorizer.swift); SelfSubjectAccessReview,
// SelfSubjectRulesReview and SelfSubjectReview (`kubectl auth can-i`, `whoami`);
// fault injection; Kubernetes protobuf bodies (the `k8s\0` envelope) of the core,
// RBAC, authentication and authorization kinds kubectl's typed commands send, in
// requests and, when the client asks for protobuf first, in responses
// (KubernetesProtobuf.swift; kubectl's typed `create` commands send them); query
// strings decoded as Go's url.ParseQuery does (`+` is a space); with a data
// directory, state that survives restarts and kill -9 (Journal.swift).
//
// It does not do (yet), so tests must not rely on these:
// - Client certificates, impersonation (`--as`), aggregated ClusterRoles
//   (aggregationRule is stored, not evaluated), SubjectAccessReview for other users,
//   admission webhooks, audit, API priority and fairness. Authorization is
//   AlwaysAllow unless configured (every authenticated user may do anything).
// - Server-side apply (application/apply-patch+yaml) and managedFields; YAML bodies;
//   protobuf bodies of kinds other than those above (415 UnsupportedMediaType),
//   and protobuf lists, watch events and Status errors (answered as JSON, which
//   protobuf clients also accept).
// - OpenAPI v2 (/openapi/v2 answers 404; kubectl uses v3) and aggregated discovery
//   (the legacy discovery documents are served, which every client falls back to).
// - CRD conversion between versions (every served version shows the same stored object),
//   CEL validation rules (x-kubernetes-validations), list-type/map-type merge semantics,
//   scale subresources; `format` of strings is not checked.
// - Built-in types are not decoded into typed structs: unknown fields of a Secret or Job
//   are kept instead of dropped, and only the validations listed in Strategies.swift run.
// - A `continue` token lists the current objects after its key, not a snapshot at the
//   list's resourceVersion; resourceVersionMatch is ignored.
// - The garbage collector works synchronously and does not delete dependents whose
//   owner never existed; pods are never created (the job runner does not make pods).
// - No kubelet, scheduler or controllers: a Job's status is written by whoever runs it
//   (`db-operator job-runner`).

import Crypto
import Foundation
import KubeModel
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The fake kube-apiserver: create one, `run()` it in a task, talk to it over HTTP
/// with any Kubernetes client (its kubeconfig comes from `kubeconfig(user:)`).
public final class FakeAPIServer: Service, Sendable {
    /// How the server is set up; every field has a usable default.
    public struct Configuration: Sendable {
        /// Address to listen on; loopback by default.
        public var host = "127.0.0.1"
        /// Port; 0 picks a free one (see `port` once running).
        public var port = 0
        /// Bearer tokens and the user each one authenticates. By default one random
        /// token for the user "admin".
        public var tokens: [String: String] = [FakeAPIServer.randomToken(): "admin"]
        /// Groups of the users of `tokens` (each also gets `system:authenticated`). By
        /// default "admin" is in `system:masters`, which RBAC lets do anything.
        public var groups: [String: [String]] = ["admin": ["system:masters"]]
        /// AlwaysAllow (every authenticated request, the default) or RBAC: Roles,
        /// ClusterRoles and their bindings decide, as in a real cluster.
        public var authorization: AuthorizationMode = .alwaysAllow
        /// Changes kept for watches that resume from a resourceVersion.
        public var historyLimit = 100_000
        /// How often a watch that allows bookmarks gets one.
        public var bookmarkInterval: Duration = .seconds(5)
        /// Serve HTTPS with a CA made at startup (kubectl sends tokens only over TLS).
        /// Off only for debugging with plain HTTP tools.
        public var tls = true
        /// Namespaces that exist from the start.
        public var initialNamespaces = ["default", "kube-system", "kube-public", "kube-node-lease"]
        /// Keep every object, the CA and the tokens in this directory, so a restart
        /// changes nothing a client can see (see Journal.swift); nil keeps them in
        /// memory only. Saved tokens are used again; `tokens` adds users they lack.
        public var dataDirectory: String?
        /// Records in a journal segment before a snapshot replaces it.
        public var recordsPerSnapshot = 20_000
        /// How long to try for the data directory's lock before it counts as in use.
        public var dataDirectoryLockWait: Duration = .seconds(5)
        /// Waited before each write to the data directory: a slow disk, for tests
        /// that must catch an answer sent before its change is saved.
        public var slowDisk: Duration = .zero

        public init() {}
    }

    public let configuration: Configuration
    /// The CA and certificate it serves with, when TLS is on.
    public let tlsIdentity: TLSIdentity?
    let storage: Storage
    let faults = FaultInjector()
    let authenticator: Authenticator
    let authorizer: Authorizer
    private let logger: Logger
    private let boundPort = Mutex<Int?>(nil)
    private let bound = AsyncStream<Int>.makeStream()

    public init(configuration: Configuration = Configuration(), logger: Logger = Logger(label: "fake-apiserver")) throws {
        var configuration = configuration
        let signingKey: SymmetricKey
        self.logger = logger
        if let directory = configuration.dataDirectory {
            let (journal, restored) = try Journal.open(
                directory: directory, recordsPerSegment: configuration.recordsPerSnapshot, flushDelay: configuration.slowDisk,
                lockWait: configuration.dataDirectoryLockWait, logger: logger)
            do {
                let saved = try SavedIdentity.loadOrCreate(directory: directory, tls: configuration.tls, tokens: configuration.tokens)
                configuration.tokens = saved.tokens
                tlsIdentity = configuration.tls ? saved.tls : nil
                signingKey = SymmetricKey(data: saved.serviceAccountKey ?? Data())
            } catch {
                journal.close()
                throw error
            }
            storage = Storage(configuration: .init(historyLimit: configuration.historyLimit), persistence: (journal, restored))
            logger.info("restored from the data directory", metadata: [
                "directory": "\(directory)", "objects": "\(restored.objects.count)", "resourceVersion": "\(storage.currentRevision)",
            ])
        } else {
            tlsIdentity = configuration.tls ? try TLSIdentity.generate() : nil
            storage = Storage(configuration: .init(historyLimit: configuration.historyLimit))
            signingKey = SymmetricKey(size: .bits256)
        }
        self.configuration = configuration
        authenticator = Authenticator(tokens: configuration.tokens, groups: configuration.groups, signingKey: signingKey)
        authorizer = Authorizer(mode: configuration.authorization, storage: storage)
        let namespaces = storage.resourceType(group: "", version: "v1", plural: "namespaces")!
        for name in configuration.initialNamespaces {
            var unknownFields = UnknownFields(directive: .ignore)
            _ = try? storage.create(namespaces, namespace: nil, object: ["metadata": ["name": .string(name)]], dryRun: false, unknownFields: &unknownFields)
        }
        // The bootstrap roles and bindings, as a new cluster has them (kept if already there).
        for (plural, object) in BootstrapPolicy.objects {
            var unknownFields = UnknownFields(directive: .ignore)
            let type = storage.resourceType(group: Storage.rbacGroup, version: "v1", plural: plural)!
            _ = try? storage.create(type, namespace: nil, object: object, dryRun: false, unknownFields: &unknownFields)
        }
    }

    /// Serves until the calling task is cancelled or, in a ServiceGroup, until
    /// graceful shutdown.
    public func run() async throws {
        try await cancelWhenGracefulShutdown { try await self.serve() }
    }

    /// Saves what is pending and releases the data directory (if any); the server
    /// accepts no more changes after it. Call once `run()` has returned.
    public func close() {
        storage.journal?.close()
    }

    private func serve() async throws {
        let handler = APIHandler(
            storage: storage, faults: faults, authenticator: authenticator, authorizer: authorizer, bookmarkInterval: configuration.bookmarkInterval,
            serverAddress: { [self] in "\(configuration.host):\(port ?? configuration.port)" }, logger: logger)
        try await HTTPServer.run(
            host: configuration.host, port: configuration.port, tls: try tlsIdentity?.serverConfiguration(), group: MultiThreadedEventLoopGroup.singleton, logger: logger,
            onBound: { [self] port in
                boundPort.withLock { $0 = port }
                bound.continuation.yield(port)
                bound.continuation.finish()
                logger.info("fake API server listening", metadata: ["http.address": "\(configuration.host):\(port)"])
            },
            handler: { request in await handler.handle(request) })
    }

    /// The port it listens on, once `run()` has bound it.
    public var port: Int? { boundPort.withLock { $0 } }

    /// Waits until `run()` has bound its port, and returns it.
    public func waitUntilListening() async -> Int {
        if let port { return port }
        for await port in bound.stream { return port }
        return port ?? configuration.port
    }

    /// The objects whose kept JSON text (what lists, gets, watches and write answers
    /// send) is not their stored object's encoding, as "group/plural namespace/name":
    /// empty unless a change bypassed the store. The spec tests check it after each test.
    public func objectsWithStaleText() -> [String] {
        storage.state.withLock { state in
            var stale: [String] = []
            for (storeKey, objects) in state.objects {
                let texts = state.encoded[storeKey] ?? [:]
                if texts.count != objects.count { stale.append("\(storeKey.group)/\(storeKey.plural): \(texts.count) texts for \(objects.count) objects") }
                for (key, object) in objects {
                    var text: [UInt8] = []
                    object.write(to: &text)
                    if texts[key] != text { stale.append("\(storeKey.group)/\(storeKey.plural) \(key)") }
                }
            }
            return stale.sorted()
        }
    }

    /// How many objects of a resource are stored now (all namespaces): what a
    /// benchmark in the same process counts without a watch, whose events would cost
    /// this server the CPU the measured client needs.
    public func objectCount(group: String, plural: String) -> Int {
        storage.state.withLock { $0.objects[StoreKey(group: group, plural: plural)]?.count ?? 0 }
    }

    /// `http://host:port` of the running server.
    public var url: String { "\(tlsIdentity == nil ? "http" : "https")://\(configuration.host):\(port ?? configuration.port)" }

    /// A kubeconfig for one of the configured users, usable by kubectl and client libraries.
    public func kubeconfig(user: String = "admin", namespace: String = "default") -> String {
        let token = configuration.tokens.first { $0.value == user }?.key ?? configuration.tokens.keys.first ?? ""
        return kubeconfig(token: token, user: user, namespace: namespace)
    }

    /// A kubeconfig that authenticates with `token` (a service account's, say).
    public func kubeconfig(token: String, user: String, namespace: String = "default") -> String {
        let caLine = tlsIdentity.map { "\n    certificate-authority-data: \(Data($0.caPEM.utf8).base64EncodedString())" } ?? ""
        return """
            apiVersion: v1
            kind: Config
            clusters:
            - name: fake
              cluster:
                server: \(url)\(caLine)
            users:
            - name: \(user)
              user:
                token: \(token)
            contexts:
            - name: fake
              context:
                cluster: fake
                user: \(user)
                namespace: \(namespace)
            current-context: fake
            preferences: {}

            """
    }

    /// Writes `kubeconfig(user:)` to a file readable only by its owner (it holds a token).
    public func writeKubeconfig(to path: String, user: String = "admin") throws {
        try Self.writePrivately(kubeconfig(user: user), to: path)
    }

    /// Writes `kubeconfig(token:user:)` to a file readable only by its owner.
    public func writeKubeconfig(to path: String, token: String, user: String) throws {
        try Self.writePrivately(kubeconfig(token: token, user: user), to: path)
    }

    private static func writePrivately(_ text: String, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url, options: .atomic)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }

    // MARK: Test controls (also served over HTTP under /fake/)

    /// Makes matching requests fail or wait until `clearFaults()` (or `count` uses).
    public func injectFault(_ rule: FaultRule) { faults.add(rule) }

    public func clearFaults() { faults.clear() }

    /// The fault rules not used up yet (a rule with a count leaves when it has been served that often).
    public var activeFaults: [FaultRule] { faults.active }

    /// Ends open watches (of one resource plural when given); returns how many.
    @discardableResult
    public func dropWatches(resource: String? = nil) -> Int { storage.dropWatches(plural: resource) }

    /// Forgets the watch history: a watch from an earlier resourceVersion gets 410 Gone.
    public func compactHistory() { storage.compact() }

    /// Watches open right now.
    public var openWatches: Int { storage.openWatchCount }

    /// The global resourceVersion now.
    public var resourceVersion: UInt64 { storage.currentRevision }

    // MARK: Service accounts and RBAC

    /// A token for the service account `namespace/name` (which must exist), as
    /// `kubectl create token` gets one; it stops working when the account is deleted.
    public func serviceAccountToken(namespace: String, name: String, seconds: Int = 3600) throws -> String {
        let type = storage.resourceType(group: "", version: "v1", plural: "serviceaccounts")!
        let account = try storage.get(type, namespace: namespace, name: name)
        return authenticator.mint(serviceAccount: account, audiences: [], seconds: seconds).token
    }

    /// Every kind of request authorized since the start (or `clearAccessLog()`) while
    /// RBAC is on: who, what, allowed or not, by which role's rule, how often.
    public func accessLog() -> [(record: AccessRecord, count: Int)] { authorizer.accessLog() }

    public func clearAccessLog() { authorizer.clearAccessLog() }

    /// A random 32-character token.
    public static func randomToken() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<32).map { _ in alphabet.randomElement(using: &generator)! })
    }
}
