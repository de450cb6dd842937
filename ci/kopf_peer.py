"""The peer of `db-operator-bench control-plane`: a minimal kopf operator that does
the operator's first job for each Database — create one Job, owned by it (a
controller ownerReference) — and nothing else. Run: kopf run --standalone -A ci/kopf_peer.py"""
import kopf
import kubernetes


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_):
    settings.posting.enabled = False
    kubernetes.config.load_kube_config()


@kopf.on.create("dboperator.io", "v1alpha1", "databases")
def create_job(name, namespace, uid, **_):
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": f"{name}-create", "namespace": namespace,
                     "ownerReferences": [{"apiVersion": "dboperator.io/v1alpha1", "kind": "Database", "name": name,
                                          "uid": uid, "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"backoffLimit": 2, "template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "driver", "image": "ghcr.io/db-operator/db-operator:latest", "command": ["db-operator", "driver"],
             "env": [{"name": "DB_OPERATOR_DATABASE", "value": name}, {"name": "DB_OPERATOR_NAMESPACE", "value": namespace},
                     {"name": "DB_OPERATOR_OPERATION", "value": "create"}]}]}}},
    }
    try:
        kubernetes.client.BatchV1Api().create_namespaced_job(namespace, job)
    except kubernetes.client.ApiException as error:
        if error.status != 409:
            raise
