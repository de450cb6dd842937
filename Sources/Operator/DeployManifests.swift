/// The operator's namespace and least-privilege RBAC as `deploy/` installs them
/// (`deploy/namespace.yaml`, `deploy/rbac.yaml` are these texts: a unit test compares
/// them byte for byte; regenerate with `db-operator manifests rbac > deploy/rbac.yaml`).
/// `db-operator dev` applies them too, so the operator and its Jobs run there under
/// exactly the rights a cluster gives them.
public enum DeployManifests {
    /// The service account of the operator, in `namespace`.
    public static let operatorServiceAccount = "db-operator"
    /// The service account of the driver Jobs (`--job-service-account`), in the
    /// operator's namespace and in each tenant namespace (`deploy/examples/tenant`).
    public static let driverServiceAccount = "db-operator-driver"
    /// The ClusterRole a tenant namespace binds its driver service account to.
    public static let driverClusterRole = "db-operator-driver"

    /// `deploy/namespace.yaml`.
    public static let namespaceYAML = """
# The operator's namespace: the operator, the DatabaseServers' Secrets, and the Jobs
# of Databases on a DatabaseServer.
apiVersion: v1
kind: Namespace
metadata:
  name: db-operator

"""

    /// `deploy/rbac.yaml`.
    public static let rbacYAML = """
# Least privilege for the operator (service account db-operator) and its driver Jobs
# (service account db-operator-driver). The end-to-end suites run the programs under
# exactly these rules (the fake API server with RBAC on, each program with its service
# account's token) and fail on any 403; ci/test.sh then fails if a rule, or a resource
# of a rule, was never used (RBACCoverageTests).
apiVersion: v1
kind: ServiceAccount
metadata:
  name: db-operator
  namespace: db-operator
---
# The operator reads Databases, Backups and Jobs, creates Jobs, and writes only
# conditions, status.expiresAt and Events (and deletes a Database whose ttl ran out); of DatabaseServers it writes the in-use finalizer and the
# count, and it reads namespaces' labels (a server's allowedNamespaces). It makes the
# Backups of BackupSchedules and writes the schedules' status.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: db-operator
rules:
- apiGroups: [dboperator.io]
  resources: [databases, backups, databaseservers, backupschedules]
  verbs: [get, list, watch]
- apiGroups: [dboperator.io]
  resources: [databases/status, backups/status, databaseservers/status, backupschedules/status]
  verbs: [update]
- apiGroups: [dboperator.io]
  resources: [backups]
  verbs: [create]
- apiGroups: [dboperator.io]
  resources: [databaseservers]
  verbs: [update]
# A Database whose spec.ttl ran out is deleted by the operator.
- apiGroups: [dboperator.io]
  resources: [databases]
  verbs: [delete]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [list, watch, create]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, create, update]
# Namespaces' labels, for DatabaseServers' allowedNamespaces; kube-system's UID is
# the cluster's identity, recorded with each database so a Database re-created after
# a Retain adopts it.
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: db-operator
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: db-operator}
subjects:
- {kind: ServiceAccount, name: db-operator, namespace: db-operator}
---
# The driver Jobs write phases, the finalizer, the connection Secret and final Backups,
# in their own namespace, and delete the Backups a schedule's retention expires. Bind this ClusterRole in each namespace that has Databases
# (see the RoleBinding example at the end) to the service account given by
# --job-service-account.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: db-operator-driver
rules:
- apiGroups: [dboperator.io]
  resources: [databases]
  verbs: [get, list, update]
- apiGroups: [dboperator.io]
  resources: [backups]
  verbs: [get, create, delete]
- apiGroups: [dboperator.io]
  resources: [databases/status, backups/status]
  verbs: [update]
# Secrets: the connection Secret; the in-use finalizer on the Secrets a Database
# needs (list: which of them no Database needs any more).
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, create, update, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
---
# The Jobs of Databases on DatabaseServers run in db-operator under the service
# account db-operator-driver (--job-service-account). They work for Databases of
# every namespace a server allows: the rights above cluster-wide, the servers (and
# namespaces' labels) to read, probe results to write. This makes the service
# account strong (Secrets in every namespace, as the operator's own Jobs must write
# connection Secrets anywhere); only who may create pods in db-operator can use it,
# and tenants cannot: they never get the servers' Secrets.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: db-operator-server-driver
rules:
- apiGroups: [dboperator.io]
  resources: [databaseservers]
  verbs: [get]
- apiGroups: [dboperator.io]
  resources: [databaseservers/status]
  verbs: [update]
# Namespaces' labels (a server's allowedNamespaces), and whether a Database's
# namespace is being deleted (its final Backup then stays in db-operator).
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get]
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: db-operator-driver
  namespace: db-operator
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: db-operator-server-driver
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: db-operator-server-driver}
subjects:
- {kind: ServiceAccount, name: db-operator-driver, namespace: db-operator}
---
# Databases, Backups, connection Secrets and Events in the tenants' namespaces, and
# the servers' Secrets in db-operator.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: db-operator-driver-for-servers
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: db-operator-driver}
subjects:
- {kind: ServiceAccount, name: db-operator-driver, namespace: db-operator}

"""
}
