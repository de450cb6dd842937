import Foundation
import KubeModel

/// Pods as containers of an OCI image, run by runc, as a kubelet would run them:
/// the image's root read-only when the container asks, the pod's user, its env over
/// the image's, its command and args, an emptyDir as a tmpfs, the service account's
/// token, CA and namespace at /var/run/secrets/kubernetes.io/serviceaccount, and
/// KUBERNETES_SERVICE_HOST/PORT pointing at the API server: the program inside uses
/// its in-cluster configuration. Host network (the API server and the databases
/// listen on 127.0.0.1 here). Not done: resource limits, seccomp profiles, images
/// other than the one given.
public struct ContainerRuntime: Sendable {
    /// An image unpacked once: its root filesystem (shared, read-only, by every
    /// container) and the runtime configuration umoci wrote for it.
    public struct Image: Sendable {
        public var rootfs: String
        public var configuration: JSONValue
    }

    public var runc = "runc"
    /// runc's state directory (`runc --root`).
    public var stateRoot = "/run/db-operator-runc"
    public var image: Image
    /// Where each pod's bundle (config.json, service-account files) is written.
    public var bundleDirectory: String
    public var apiServerHost: String
    public var apiServerPort: Int
    public var certificateAuthorityPEM: String

    public init(image: Image, bundleDirectory: String, apiServerHost: String, apiServerPort: Int, certificateAuthorityPEM: String) {
        self.image = image
        self.bundleDirectory = bundleDirectory
        self.apiServerHost = apiServerHost
        self.apiServerPort = apiServerPort
        self.certificateAuthorityPEM = certificateAuthorityPEM
    }

    /// Unpacks an OCI archive (`ci/image.sh build` writes one) into `directory` with
    /// skopeo and umoci, once per archive content: an image store of one image.
    public static func unpack(archive: String, into directory: String) throws -> Image {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: archive), let size = attributes[.size] as? Int,
            let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970
        else { throw ContainerError(description: "no image archive at \(archive) (build it: ci/image.sh build)") }
        let unpacked = "\(directory)/unpacked-\(size)-\(Int(modified))"
        if !FileManager.default.fileExists(atPath: "\(unpacked)/config.json") {
            try? FileManager.default.removeItem(atPath: directory)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let layout = "\(directory)/layout"
            try run("skopeo", ["copy", "--quiet", "oci-archive:\(archive)", "oci:\(layout):image"])
            try run("umoci", ["unpack", "--image", "\(layout):image", unpacked])
            try? FileManager.default.removeItem(atPath: layout)
        }
        guard let data = FileManager.default.contents(atPath: "\(unpacked)/config.json"), let configuration = try? JSONValue.decode(data) else {
            throw ContainerError(description: "umoci wrote no readable config.json in \(unpacked)")
        }
        return Image(rootfs: "\(unpacked)/rootfs", configuration: configuration)
    }

    private static func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch { throw ContainerError(description: "cannot run \(tool): \(error.localizedDescription)") }
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ContainerError(description: "\(tool) \(arguments.first ?? "") failed: \(String(decoding: output, as: UTF8.self))")
        }
    }

    /// The bundle of one pod, written under `bundleDirectory`: runc's arguments to run it, and its handle.
    func prepare(
        pod: PodSpec, container: Container, environment podEnvironment: [String: String], token: String, namespace: String, podName: String
    ) throws -> (arguments: [String], handle: ContainerHandle) {
        let id = "\(namespace)_\(podName)".map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" }.map(String.init).joined()
        let bundle = "\(bundleDirectory)/\(id)"
        let accountDirectory = "\(bundle)/serviceaccount"
        try FileManager.default.createDirectory(atPath: accountDirectory, withIntermediateDirectories: true)
        let user = pod.securityContext?["runAsUser"]?.intValue ?? image.configuration[path: ["process", "user", "uid"]]?.intValue ?? 0
        let group = pod.securityContext?["runAsGroup"]?.intValue ?? image.configuration[path: ["process", "user", "gid"]]?.intValue ?? 0
        // As the kubelet projects them: readable by the pod's user only.
        for (file, text) in [("token", token), ("ca.crt", certificateAuthorityPEM), ("namespace", namespace)] {
            let path = "\(accountDirectory)/\(file)"
            guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o400]),
                chown(path, uid_t(user), gid_t(group)) == 0
            else { throw ContainerError(description: "cannot write the pod's service-account file \(path)") }
        }

        var config = image.configuration
        // The image's env, then the pod's over it, then what the kubelet adds.
        var environment: [String: String] = [:]
        for entry in config[path: ["process", "env"]]?.arrayValue?.compactMap(\.stringValue) ?? [] {
            if let equals = entry.firstIndex(of: "=") { environment[String(entry[..<equals])] = String(entry[entry.index(after: equals)...]) }
        }
        environment.merge(podEnvironment) { _, pod in pod }
        environment["HOSTNAME"] = podName
        environment["KUBERNETES_SERVICE_HOST"] = apiServerHost
        environment["KUBERNETES_SERVICE_PORT"] = String(apiServerPort)
        environment["KUBERNETES_SERVICE_PORT_HTTPS"] = String(apiServerPort)
        // The container's command replaces the image's entrypoint; args its cmd.
        let entrypoint = config[path: ["process", "args"]]?.arrayValue?.compactMap(\.stringValue) ?? []
        let argv = (container.command ?? Array(entrypoint.prefix(1))) + (container.args ?? [])
        guard !argv.isEmpty else { throw ContainerError(description: "the container has no command and the image no entrypoint") }

        config[path: ["process", "terminal"]] = false
        config[path: ["process", "args"]] = .array(argv.map(JSONValue.string))
        config[path: ["process", "env"]] = .array(environment.sorted { $0.key < $1.key }.map { .string("\($0.key)=\($0.value)") })
        config[path: ["process", "user"]] = ["uid": .int(user), "gid": .int(group)]
        if container.securityContext?["allowPrivilegeEscalation"] == false { config[path: ["process", "noNewPrivileges"]] = true }
        if container.securityContext?[path: ["capabilities", "drop"]]?.arrayValue?.contains("ALL") == true {
            config[path: ["process", "capabilities"]] = ["bounding": [], "effective": [], "permitted": [], "inheritable": [], "ambient": []]
        }
        config["hostname"] = .string(podName)
        config["root"] = ["path": .string(image.rootfs), "readonly": .bool(container.securityContext?["readOnlyRootFilesystem"] == true)]
        var namespaces = config[path: ["linux", "namespaces"]]?.arrayValue ?? []
        namespaces.removeAll { $0["type"] == "network" }  // host network
        config[path: ["linux", "namespaces"]] = .array(namespaces)
        var mounts = config["mounts"]?.arrayValue ?? []
        let emptyDirs = Set((pod.volumes?.arrayValue ?? []).filter { $0["emptyDir"] != nil }.compactMap { $0["name"]?.stringValue })
        for mount in container.volumeMounts?.arrayValue ?? [] {
            guard let name = mount["name"]?.stringValue, emptyDirs.contains(name), let path = mount["mountPath"]?.stringValue else { continue }
            mounts.removeAll { $0["destination"]?.stringValue == path }
            mounts.append(["destination": .string(path), "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]])
        }
        mounts.append([
            "destination": "/var/run/secrets/kubernetes.io/serviceaccount", "type": "bind", "source": .string(accountDirectory),
            "options": ["rbind", "ro"],
        ])
        mounts.append(["destination": "/etc/resolv.conf", "type": "bind", "source": "/etc/resolv.conf", "options": ["rbind", "ro"]])
        config["mounts"] = .array(mounts)
        guard FileManager.default.createFile(atPath: "\(bundle)/config.json", contents: Data(config.encoded())) else {
            throw ContainerError(description: "cannot write \(bundle)/config.json")
        }
        let handle = ContainerHandle(runc: runc, stateRoot: stateRoot, id: id, bundle: bundle)
        return (["--root", stateRoot, "run", "--bundle", bundle, id], handle)
    }
}

/// A container runc runs for a pod: how to signal it and to remove it once it ended.
struct ContainerHandle: Sendable {
    var runc: String
    var stateRoot: String
    var id: String
    var bundle: String

    /// `runc kill`: the signal reaches the container's process (a signal to `runc run`
    /// itself would not, for SIGKILL).
    func signal(_ signal: Int32) {
        runc(["kill", id, String(signal)])
    }

    /// `runc delete --force` and the bundle's files (the token among them).
    func remove() {
        runc(["delete", "--force", id])
        try? FileManager.default.removeItem(atPath: bundle)
    }

    private func runc(_ arguments: [String]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [runc, "--root", stateRoot] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return }
        process.waitUntilExit()
    }
}

struct ContainerError: Error, CustomStringConvertible {
    var description: String
}
