/// `apiextensions.k8s.io/v1` CustomResourceDefinition. The schema is kept as JSON:
/// the project writes CRDs (`db-operator crds`) and installs them, it does not
/// interpret them.
public struct CustomResourceDefinition: KubernetesObject, Hashable {
    public static let resource = ResourceDescriptor(
        group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions", kind: "CustomResourceDefinition",
        namespaced: false)
    public var apiVersion: String? = "apiextensions.k8s.io/v1"
    public var kind: String? = "CustomResourceDefinition"
    public var metadata: ObjectMeta
    public var spec: JSONValue
    public var status: JSONValue?

    public init(metadata: ObjectMeta, spec: JSONValue) {
        self.metadata = metadata
        self.spec = spec
    }

    /// Whether the server reports the CRD Established (its resources are served).
    public var isEstablished: Bool {
        status?["conditions"]?.arrayValue?.contains { $0["type"] == "Established" && $0["status"] == "True" } ?? false
    }
}
