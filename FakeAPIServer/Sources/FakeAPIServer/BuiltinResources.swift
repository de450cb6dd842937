/// The built-in resources the fake serves (SPEC section 7).
enum BuiltinResources {
    static let all: [ResourceType] = [
        ResourceType(
            group: "", version: "v1", plural: "namespaces", singular: "namespace", kind: "Namespace",
            namespaced: false, shortNames: ["ns"], hasStatusSubresource: true,
            fieldSelectors: ["status.phase": ["status", "phase"]]),
        ResourceType(
            group: "", version: "v1", plural: "secrets", singular: "secret", kind: "Secret", namespaced: true,
            fieldSelectors: ["type": ["type"]]),
        ResourceType(group: "", version: "v1", plural: "configmaps", singular: "configmap", kind: "ConfigMap", namespaced: true, shortNames: ["cm"]),
        ResourceType(
            group: "", version: "v1", plural: "events", singular: "event", kind: "Event", namespaced: true,
            shortNames: ["ev"], fieldSelectors: ["*": []]),
        ResourceType(
            group: "", version: "v1", plural: "serviceaccounts", singular: "serviceaccount", kind: "ServiceAccount",
            namespaced: true, shortNames: ["sa"]),
        ResourceType(
            group: "", version: "v1", plural: "pods", singular: "pod", kind: "Pod", namespaced: true,
            shortNames: ["po"], categories: ["all"], hasStatusSubresource: true, readOnly: true,
            fieldSelectors: ["status.phase": ["status", "phase"], "spec.nodeName": ["spec", "nodeName"]]),
        ResourceType(
            group: "batch", version: "v1", plural: "jobs", singular: "job", kind: "Job", namespaced: true,
            categories: ["all"], hasStatusSubresource: true, hasGeneration: true,
            fieldSelectors: ["status.successful": ["status", "succeeded"]],
            strategicMergeKeys: [
                "spec.template.spec.containers": "name", "spec.template.spec.containers[].env": "name",
                "spec.template.spec.volumes": "name", "spec.template.spec.containers[].volumeMounts": "mountPath",
            ]),
        ResourceType(
            group: "apps", version: "v1", plural: "deployments", singular: "deployment", kind: "Deployment", namespaced: true,
            shortNames: ["deploy"], categories: ["all"], hasStatusSubresource: true, hasGeneration: true,
            strategicMergeKeys: [
                "spec.template.spec.containers": "name", "spec.template.spec.containers[].env": "name",
                "spec.template.spec.containers[].ports": "containerPort", "spec.template.spec.volumes": "name",
                "spec.template.spec.containers[].volumeMounts": "mountPath",
            ]),
        ResourceType(
            group: "coordination.k8s.io", version: "v1", plural: "leases", singular: "lease", kind: "Lease",
            namespaced: true),
        ResourceType(
            group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions",
            singular: "customresourcedefinition", kind: "CustomResourceDefinition", namespaced: false,
            shortNames: ["crd", "crds"], categories: ["api-extensions"], hasStatusSubresource: true, hasGeneration: true),
        ResourceType(group: "rbac.authorization.k8s.io", version: "v1", plural: "roles", singular: "role", kind: "Role", namespaced: true),
        ResourceType(group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterroles", singular: "clusterrole", kind: "ClusterRole", namespaced: false),
        ResourceType(group: "rbac.authorization.k8s.io", version: "v1", plural: "rolebindings", singular: "rolebinding", kind: "RoleBinding", namespaced: true),
        ResourceType(
            group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterrolebindings", singular: "clusterrolebinding",
            kind: "ClusterRoleBinding", namespaced: false),
        ResourceType(
            group: "authorization.k8s.io", version: "v1", plural: "selfsubjectaccessreviews", singular: "selfsubjectaccessreview",
            kind: "SelfSubjectAccessReview", namespaced: false, createOnly: true),
        ResourceType(
            group: "authorization.k8s.io", version: "v1", plural: "selfsubjectrulesreviews", singular: "selfsubjectrulesreview",
            kind: "SelfSubjectRulesReview", namespaced: false, createOnly: true),
        ResourceType(
            group: "authentication.k8s.io", version: "v1", plural: "selfsubjectreviews", singular: "selfsubjectreview",
            kind: "SelfSubjectReview", namespaced: false, createOnly: true),
    ]

    /// Merge keys every built-in shares (metadata).
    static let metadataMergeKeys: [String: String] = ["metadata.ownerReferences": "uid"]
}
