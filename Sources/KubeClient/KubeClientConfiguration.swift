import Foundation
import Yams

/// Where the API server is and how to authenticate to it: from a kubeconfig file or
/// from the in-cluster service account.
public struct KubeClientConfiguration: Sendable {
    /// `https://host:port` (or `http://` for a plain test server).
    public var server: String
    /// PEM of the CA that signs the server's certificate; nil uses the system trust store.
    public var certificateAuthorityPEM: String?
    public var insecureSkipTLSVerify = false
    /// A bearer token; `tokenFile` is read instead when set (service-account tokens rotate).
    public var token: String?
    public var tokenFile: String?
    /// How long a token read from `tokenFile` is used before the file is read again
    /// (client-go: a minute; kubelets rotate projected tokens long before they expire).
    public var tokenFileRefresh: Duration = .seconds(60)
    public var clientCertificatePEM: String?
    public var clientKeyPEM: String?
    /// The namespace of the current context (or of the pod in cluster); "default" otherwise.
    public var namespace = "default"
    /// Attempts for a request that fails with 429, or 5xx on an idempotent verb.
    public var maxAttempts = 5
    /// First backoff between attempts; doubles up to `maxBackoff`, with jitter.
    public var initialBackoff: Duration = .milliseconds(200)
    public var maxBackoff: Duration = .seconds(5)
    /// How long one non-watch request may take.
    public var requestTimeout: Duration = .seconds(30)
    /// Sent as User-Agent.
    public var userAgent = "db-operator"

    public init(server: String) {
        self.server = server
    }

    /// The current context (or `context`) of a kubeconfig file.
    public static func kubeconfig(path: String, context: String? = nil) throws -> KubeClientConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw KubeError(code: .configuration, message: "cannot read kubeconfig \(path): \(error.localizedDescription)")
        }
        return try kubeconfig(yaml: text, context: context, directory: URL(fileURLWithPath: path).deletingLastPathComponent().path)
    }

    /// Parses kubeconfig text (YAML, or JSON, which YAML includes); relative file
    /// paths resolve against `directory`.
    public static func kubeconfig(yaml: String, context contextName: String? = nil, directory: String = ".") throws -> KubeClientConfiguration {
        let file: KubeconfigFile
        do {
            file = try decodeKubeconfig(yaml)
        } catch {
            throw KubeError(code: .configuration, message: "kubeconfig is not valid: \(error)")
        }
        guard let name = contextName ?? file.currentContext, !name.isEmpty else {
            throw KubeError(code: .configuration, message: "kubeconfig has no current-context")
        }
        guard let context = file.contexts?.first(where: { $0.name == name })?.context else {
            throw KubeError(code: .configuration, message: "kubeconfig has no context \"\(name)\"")
        }
        guard let cluster = file.clusters?.first(where: { $0.name == context.cluster })?.cluster else {
            throw KubeError(code: .configuration, message: "kubeconfig has no cluster \"\(context.cluster)\"")
        }
        let user = context.user.flatMap { userName in file.users?.first { $0.name == userName }?.user }
        func resolve(_ path: String) -> String { path.hasPrefix("/") ? path : "\(directory)/\(path)" }
        func pem(data: String?, file: String?, what: String) throws -> String? {
            if let data {
                guard let decoded = Data(base64Encoded: data) else {
                    throw KubeError(code: .configuration, message: "kubeconfig \(what) is not base64")
                }
                return String(decoding: decoded, as: UTF8.self)
            }
            if let file {
                do { return try String(contentsOfFile: resolve(file), encoding: .utf8) } catch {
                    throw KubeError(code: .configuration, message: "cannot read \(what) file \(resolve(file))")
                }
            }
            return nil
        }
        var configuration = KubeClientConfiguration(server: cluster.server)
        configuration.certificateAuthorityPEM = try pem(data: cluster.certificateAuthorityData, file: cluster.certificateAuthority, what: "certificate-authority")
        configuration.insecureSkipTLSVerify = cluster.insecureSkipTLSVerify ?? false
        configuration.token = user?.token
        configuration.tokenFile = user?.tokenFile.map(resolve)
        configuration.clientCertificatePEM = try pem(data: user?.clientCertificateData, file: user?.clientCertificate, what: "client-certificate")
        configuration.clientKeyPEM = try pem(data: user?.clientKeyData, file: user?.clientKey, what: "client-key")
        configuration.namespace = context.namespace ?? "default"
        return configuration
    }

    /// The in-cluster configuration: `KUBERNETES_SERVICE_HOST`/`_PORT` and the pod's
    /// service-account token, CA and namespace.
    public static func inCluster(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory: String = "/var/run/secrets/kubernetes.io/serviceaccount"
    ) throws -> KubeClientConfiguration {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"] else {
            throw KubeError(code: .configuration, message: "not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (pass --kubeconfig)")
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        var configuration = KubeClientConfiguration(server: "https://\(hostPart):\(port)")
        configuration.tokenFile = "\(serviceAccountDirectory)/token"
        guard FileManager.default.isReadableFile(atPath: configuration.tokenFile!) else {
            throw KubeError(code: .configuration, message: "no service-account token at \(configuration.tokenFile!)")
        }
        configuration.certificateAuthorityPEM = try? String(contentsOfFile: "\(serviceAccountDirectory)/ca.crt", encoding: .utf8)
        if let namespace = try? String(contentsOfFile: "\(serviceAccountDirectory)/namespace", encoding: .utf8) {
            configuration.namespace = namespace.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return configuration
    }
}

/// A kubeconfig in JSON (the job runner writes its pods' so) is read by JSONDecoder:
/// the YAML parser's start (its resolver compiles regular expressions) is a few
/// milliseconds of every driver Job's start. Anything else, or JSON that JSONDecoder
/// does not take as a kubeconfig, is YAML's to judge.
func decodeKubeconfig(_ text: String) throws -> KubeconfigFile {
    if text.utf8.first(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\t") && $0 != UInt8(ascii: "\r") }) == UInt8(ascii: "{"),
        let file = try? JSONDecoder().decode(KubeconfigFile.self, from: Data(text.utf8))
    {
        return file
    }
    return try YAMLDecoder().decode(KubeconfigFile.self, from: text)
}

/// The parts of the kubeconfig format the client reads.
struct KubeconfigFile: Decodable {
    struct NamedCluster: Decodable {
        var name: String
        var cluster: Cluster
    }

    struct Cluster: Decodable {
        var server: String
        var certificateAuthorityData: String?
        var certificateAuthority: String?
        var insecureSkipTLSVerify: Bool?

        enum CodingKeys: String, CodingKey {
            case server
            case certificateAuthorityData = "certificate-authority-data"
            case certificateAuthority = "certificate-authority"
            case insecureSkipTLSVerify = "insecure-skip-tls-verify"
        }
    }

    struct NamedUser: Decodable {
        var name: String
        var user: User
    }

    struct User: Decodable {
        var token: String?
        var tokenFile: String?
        var clientCertificateData: String?
        var clientCertificate: String?
        var clientKeyData: String?
        var clientKey: String?

        enum CodingKeys: String, CodingKey {
            case token
            case tokenFile
            case clientCertificateData = "client-certificate-data"
            case clientCertificate = "client-certificate"
            case clientKeyData = "client-key-data"
            case clientKey = "client-key"
        }
    }

    struct NamedContext: Decodable {
        var name: String
        var context: Context
    }

    struct Context: Decodable {
        var cluster: String
        var user: String?
        var namespace: String?
    }

    var clusters: [NamedCluster]?
    var users: [NamedUser]?
    var contexts: [NamedContext]?
    var currentContext: String?

    enum CodingKeys: String, CodingKey {
        case clusters, users, contexts
        case currentContext = "current-context"
    }
}
